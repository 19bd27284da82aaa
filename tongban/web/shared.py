"""What the role pages share: a page's live stream, a staff member as screens show them, the
consoles' toast, a CSV download. Blueprints import these from here, not from one another."""

from __future__ import annotations

from flask import Response, render_template, request

from .. import csvout
from ..queue.accounts import AccountError
from .context import get_accounts, get_broker
from .live import sse_response


def live(cache_key: str, render_all) -> Response:
    """An SSE response for this page: the full state first, then whatever changed (live.stream),
    rendered once per database version and language for all its screens."""
    return sse_response(get_broker(), render_all, cache_key=f"{cache_key}:{request.cookies.get('lang', 'zh')}")


def person(username: str | None) -> dict | None:
    """A staff member as screens show them: name and staff number (halls must show both)."""
    if not username:
        return None
    try:
        account = get_accounts().get(username)
    except AccountError:
        return {"username": username, "name": username, "staff_no": ""}
    return {"username": username, "name": account.name, "staff_no": account.staff_no}


def toast(kind: str, zh: str, en: str, status: int = 200, *, oob: str = ""):
    """The consoles' answer to an action: a toast, and ``oob`` (out-of-band swaps) after it."""
    html = render_template("_console_toast.html", kind=kind, zh=zh, en=en) + oob
    return html, status


def csv_download(body: str, filename: str) -> Response:
    """A CSV file (written by tongban/csvout.py) to save: ``text/csv; charset=utf-8``, the charset said
    once (werkzeug adds it to a text/ type), and not kept by caches (exports may hold personal data)."""
    return Response(
        body,
        mimetype=csvout.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
