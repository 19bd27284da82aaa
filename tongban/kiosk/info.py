"""Public pages: matters directory, windows directory, ticket status for phones (issue 4)."""
from flask import Blueprint

info = Blueprint("info", __name__)


@info.get("/info")
def home():
    return "info"
