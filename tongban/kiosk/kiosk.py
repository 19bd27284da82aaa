"""Citizens' touchscreen kiosk (issue 4)."""
from flask import Blueprint

from .access import page_requires

kiosk = Blueprint("kiosk", __name__, url_prefix="/kiosk")


@kiosk.get("/<kiosk_id>")
@page_requires(terminals=("kiosk",))
def home(kiosk_id: str):
    return "kiosk"
