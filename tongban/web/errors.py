"""The HTTP status of every refusal the web answers, in one table.

The queue domain names its refusals (``code``) and words them; what a refusal is in HTTP is the
web's business, decided here for the JSON API and the pages alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import jsonify

from ..texts import both

#: Refusal code -> HTTP status. A refusal whose own code is not listed takes the status of the first
#: code listed along its class's ancestry (UnknownTicket is a NotFound, so 404; any other QueueError 409).
STATUS = {
    # the queue domain (tongban/queue/errors.py, cases.py, ratelimit.py)
    "queue_error": 409,  # the hall's rules refuse it now: closed, quota reached, illegal transition...
    "not_found": 404,  # no such ticket, window, line, matter, case, balancer proposal
    "wrong_window": 403,  # another window's ticket
    "wrong_line": 403,  # a clerk acting on a line their window is not able to serve
    "invalid_input": 400,  # a case form's fields (the case pages answer 422: they redraw the form)
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
