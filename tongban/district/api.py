"""The district's JSON API for halls: sync batches in (docs/district.md §Protocol)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("district_api", __name__, url_prefix="/api/v1")
