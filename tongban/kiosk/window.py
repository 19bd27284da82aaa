"""Clerk console and rating pad (issue 5)."""
from flask import Blueprint

from .access import page_requires

window = Blueprint("window", __name__, url_prefix="/window")


@window.get("/<int:number>")
@page_requires(staff=True)
def console(number: int):
    return "console"


@window.get("/<int:number>/pad")
@page_requires(terminals=("pad",))
def pad(number: int):
    return "pad"
