"""Hall manager console (issue 5)."""
from flask import Blueprint

from .access import page_requires

manage = Blueprint("manage", __name__, url_prefix="/manage")


@manage.get("/")
@page_requires(manager=True)
def home():
    return "manage"
