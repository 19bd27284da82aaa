"""The HTTP status of every refusal the web answers, in one table, and the answers for errors no
route answers itself.

The queue domain names its refusals (``code``) and words them; what a refusal is in HTTP is the
web's business, decided here for the JSON API and the pages alike. ``install`` makes every error
under /api a JSON body, werkzeug's own (no such URL, wrong method, body too large) and a crash
included, and turns a bad request value (``params.BadValue``) into a 400 that says what the field takes.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, jsonify, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from ..texts import both
from .htmx import request
from .params import BadValue

#: Refusal code -> HTTP status. A refusal whose own code is not listed takes the status of the first
#: code listed along its class's ancestry (UnknownTicket is a NotFound, so 404; any other QueueError 409).
STATUS = {
    # the queue domain (tongban/queue/errors.py, cases.py, ratelimit.py)
    "queue_error": 409,  # the hall's rules refuse it now: closed, quota reached, illegal transition...
    "not_found": 404,  # no such ticket, window, line, matter, case, balancer proposal
    "wrong_window": 403,  # another window's ticket
    "wrong_line": 403,  # a clerk acting on a line their window is not able to serve
    "invalid_input": 400,  # a case form's fields (the case pages answer 422: they redraw the form)
    "bad_green_reason": 400,  # a green-channel ticket's reason is not one of the listed ones
    "invalid_appointments": 400,  # booking rows with problems, each named by row and field (queue/appointments.py)
    "kiosk_rate_limited": 429,
    "request_key_reused": 422,  # an Idempotency-Key (or kiosk form key) sent again with another request
    # who is asking (web/auth.py, web/access.py)
    "unauthenticated": 401,  # AuthError: wrong password, expired session, unknown terminal...
    "disabled": 403,  # told only after the right password (docs/architecture.md §Web)
    "login_rate_limited": 429,  # too many failed sign-ins from one address, whatever the names
    "forbidden": 403,
    # the JSON API's own (web/api/routes.py)
    "bad_request": 400,
    "method_not_allowed": 405,
    "server_error": 500,  # a crash: under /api still a JSON body (install below)
    "database_damaged": 503,  # web/app.py: the nightly check failed, nothing is served (ops/damage.py)
    # what one request may carry (web/limits.py)
    "body_too_large": 413,
    "json_too_deep": 400,
}


def status_for(exc: Exception) -> int:
    """The status for a refusal: its code, else the nearest listed code of the classes it comes from."""
    codes = [getattr(exc, "code", None)] + [cls.__dict__.get("code") for cls in type(exc).__mro__]
    for code in codes:
        if code in STATUS:
            return STATUS[code]
    raise KeyError(f"no HTTP status for {type(exc).__name__} ({codes[0]!r}) in tongban/web/errors.py")


def refusal(code: str, key: str | None = None, /, details: Mapping | None = None, **values):
    """A JSON refusal the web makes itself: ``{"error": code, **details, "message_zh", "message_en"}``
    worded by ``key`` (``err_<code>`` unless given) and its ``values``, with the code's status."""
    zh, en = both(key or f"err_{code}", **values)
    return jsonify({"error": code, **(details or {}), "message_zh": zh, "message_en": en}), STATUS[code]


# ---------- errors no route answers itself ----------

#: werkzeug's errors under /api, as the API's codes and their words (anything else is "http_error").
HTTP_CODES = {
    400: ("bad_request", "err_http_error"),
    401: ("unauthenticated", None),
    403: ("forbidden", None),
    404: ("not_found", "err_no_endpoint"),
    405: ("method_not_allowed", None),
    413: ("body_too_large", "err_too_large"),
}


def install(app: Flask) -> None:
    """Register the app-wide error answers (app.py calls this before the blueprints are registered)."""
    app.register_error_handler(BadValue, bad_value)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, server_error)


def under_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def bad_value(exc: BadValue):
    """A value its field does not take: JSON under /api, a toast for htmx, else a page; always 400."""
    if under_api():
        return jsonify(exc.as_dict()), 400
    if request.htmx:
        return render_template("_console_toast.html", kind="error", zh=exc.message_zh, en=exc.message_en), 400
    return render_template("bad_value.html", error=exc), 400


def http_error(exc: HTTPException):
    """werkzeug's errors: under /api as JSON with the API's code; pages keep werkzeug's own answer."""
    if not under_api() or exc.code is None:
        return exc
    code, key = HTTP_CODES.get(exc.code, ("http_error", "err_http_error"))
    zh, en = both(key or f"err_{code}", status=exc.code, name=exc.name)
    response = jsonify({"error": code, "message_zh": zh, "message_en": en})
    response.status_code = exc.code
    for name, value in exc.get_headers():
        if name.lower() != "content-type":  # Allow (405), Retry-After (429)…
            response.headers[name] = value
    return response


def server_error(exc: InternalServerError):
    """A crash (already logged by Flask): a JSON 500 under /api, so a client never parses an HTML page."""
    if not under_api():
        return exc
    return refusal("server_error")
