"""Hall display and per-window screens (issue 5)."""
from flask import Blueprint

from .access import page_requires

display = Blueprint("display", __name__, url_prefix="/display")


@display.get("/")
@page_requires(staff=True, terminals=("display",))
def hall():
    return "display"
