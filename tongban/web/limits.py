"""What one request may carry: a body of at most ``MAX_BODY_BYTES`` and JSON nested at most
``MAX_JSON_DEPTH`` deep, refused as ``body_too_large`` (413) and ``json_too_deep`` (400). The front
server (nginx, tongban/front.py) refuses larger bodies before they reach the web; these limits hold
when the web is reached directly too.

The largest body a page or the API sends is a form or a JSON object of a few kilobytes. Without a
limit, an anonymous ``POST /api/v1/login`` of 300 MB was read whole into the worker's memory, and
JSON nested 100,000 deep made the parser raise RecursionError, a 500 with an HTML page.
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..texts import both
from .errors import STATUS, refusal

MAX_BODY_BYTES = 2**20  # 1 MiB
MAX_JSON_DEPTH = 32

_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


def json_too_deep(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Would parsing ``data`` nest arrays and objects more than ``limit`` deep? A scan of the raw
    bytes (brackets inside strings do not count), done before any parser sees them."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # every body a hall sends: no scan at all
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if match.group() in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refusal(code: str, **values):
    """JSON with the zh/en message under /api, the same words as plain text on pages."""
    if request.path.startswith("/api/"):
        return refusal(code, **values)
    zh, en = both(f"err_{code}", **values)
    return f"{zh} / {en}\n", STATUS[code], {"Content-Type": "text/plain; charset=utf-8"}


def install_limits(app: Flask) -> None:
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.errorhandler(RequestEntityTooLarge)
    def body_too_large(_exc):
        return _refusal("body_too_large", kb=app.config["MAX_CONTENT_LENGTH"] // 1024)

    @app.before_request
    def json_nesting():
        # Only a JSON body is ever parsed (request.get_json without force); get_data keeps it for
        # the view, and is bounded by MAX_CONTENT_LENGTH (a 413 above).
        if not request.is_json:
            return None
        data = request.get_data(cache=True)
        if request.content_length is None and len(data) >= app.config["MAX_CONTENT_LENGTH"]:
            # A chunked body is read up to the limit and cut there (werkzeug's LimitedStream).
            raise RequestEntityTooLarge()
        if json_too_deep(data):
            return _refusal("json_too_deep", depth=MAX_JSON_DEPTH)
        return None
