"""JSON API under /api/v1: kiosks, consoles, hardware keypads and tests all use it.

Routes only translate HTTP to the service API and its named refusals to status codes.
"""

from __future__ import annotations

import re

from flask import Blueprint, g, jsonify, request

from ...queue import appointments, errors, ratings
from ...queue.accounts import AuthError
from ...queue.search import TIERS
from ...queue.service import GREEN_REASONS, TICKET_ACTIONS, WINDOW_TRANSITIONS, Issued, Outlook, Ticket
from .. import params
from ..access import requires
from ..context import client_address, get_accounts, get_clock, get_search, get_service, get_store
from ..errors import refusal, status_for
from .openapi import openapi_document

api = Blueprint("api", __name__, url_prefix="/api/v1")


class BadRequest(Exception):
    def __init__(self, field: str, expected: str):
        self.field = field
        self.expected = expected
        super().__init__(f"{field}: {expected}")


# A client's repeat-safe key for POST /tickets: a UUID or any token of that kind.
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,128}")


@api.errorhandler(errors.QueueError)
def queue_refusal(exc: errors.QueueError):
    return jsonify(exc.as_dict()), status_for(exc)


@api.errorhandler(BadRequest)
def bad_request(exc: BadRequest):
    return refusal("bad_request", field=exc.field, expected=exc.expected, details={"field": exc.field})


def not_found(_exc):
    return refusal("not_found", "err_no_endpoint")


# Anything else under /api/v1 that no view answers (no such URL, a wrong method, a value a field does
# not take, a crash) is answered as JSON by web/errors.py; ids in paths are <id:…> (web/params.py),
# so a number beyond SQLite's integers matches no route.


def _body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes
        raise BadRequest("(body)", "a JSON object") from None
    if body is None:
        if request.get_data():
            raise BadRequest("(body)", "a JSON object")
        return {}
    if not isinstance(body, dict):
        raise BadRequest("(body)", "a JSON object")
    return body


def _field(body: dict, name: str, kind: type, *, required: bool = False, expected: str = ""):
    if name not in body or body[name] is None:
        if required:
            raise BadRequest(name, expected or kind.__name__)
        return None
    value = body[name]
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise BadRequest(name, expected or kind.__name__)
    return value


def _unknown_fields(body: dict, known: set[str]) -> None:
    for key in body:
        if key not in known:
            raise BadRequest(key, f"no such field (expected {', '.join(sorted(known))})")


def ticket_json(ticket: Ticket, *, outlook: Outlook | None = None) -> dict:
    # The same outlook as the kiosk's screen, the slip and /t/<token> (docs/architecture.md §Forecast).
    outlook = outlook or get_service().ticket_outlook(ticket)
    return {
        "id": ticket.id,
        "number": ticket.number,
        "line": ticket.line,
        "matter": ticket.matter,
        "state": ticket.state,
        "green": ticket.green,
        "green_reason": ticket.green_reason,
        "transferred": ticket.transferred,
        "transfer": note.as_dict() if (note := get_service().transfer_note(ticket)) else None,
        "window": ticket.window,
        "recalls": ticket.recalls,
        "service_day": ticket.service_day,
        **outlook.as_dict(),
        "issued_at": ticket.issued_at.isoformat(),
        "status_token": ticket.token,
    }


def issued_json(issued: Issued) -> dict:
    body = ticket_json(issued.ticket, outlook=issued.outlook)
    body["print_job"] = issued.print_job
    return body


def window_json(window) -> dict:
    service = get_service()
    current = service.current_ticket(window.number)
    cfg = service.config.window(window.number)
    return {
        "number": window.number,
        "name": cfg.name,
        "name_en": cfg.name_en,
        "location": cfg.location,
        "location_en": cfg.location_en,
        "phone": cfg.phone,
        "state": window.state,
        "able": list(window.able),
        "serving": list(window.serving),
        "pinned": window.pinned,
        "clerk": window.clerk,
        "current": {"id": current.id, "number": current.number, "state": current.state} if current else None,
    }


# ---------- public ----------


@api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@api.get("/matters")
def matters():
    """Every matter in the hall file's order; with ``q``, the search's matches, best first, each with
    the tier it matched in (queue/search.py TIERS)."""
    config = get_service().config
    query = request.args.get("q", "")
    if not query.strip():
        return jsonify([matter_json(m) for m in config.matters])
    return jsonify(
        [{**matter_json(config.matter(hit.code)), "match": TIERS[hit.tier]} for hit in get_search().hits(query)]
    )


def matter_json(m) -> dict:
    config = get_service().config
    return {
        "code": m.code,
        "name_zh": m.name_zh,
        "name_en": m.name_en,
        "aliases": list(m.aliases),
        "department": m.department,
        "department_zh": config.department(m.department).name_zh,
        "batch": m.batch,
        "mode": m.mode,
        "line": config.line_of_matter(m.code).prefix,
        "time_limit_days": m.time_limit_days,
        "fee": m.fee,
        "materials": list(m.materials),
    }


# ---------- sessions ----------


@api.post("/login")
def login():
    body = _body()
    _unknown_fields(body, {"username", "password", "new_password", "window"})
    username = _field(body, "username", str, required=True, expected="a user name")
    password = _field(body, "password", str, required=True, expected="the password")
    new_password = _field(body, "new_password", str, expected="the new password (when password_change_required)")
    window = params.json_int(body, "window")
    if window is not None:
        get_service().window(window)  # an unknown window is refused before any session opens
    try:
        token, session = get_accounts().login(
            username, password, window=window, new_password=new_password, source=client_address()
        )
    except AuthError as exc:
        return jsonify(exc.as_dict()), status_for(exc)
    return jsonify(
        {
            "token": token,
            "role": session.account.role,
            "window": session.window,
            "name": session.account.name,
            "expires_at": session.expires_at,
        }
    )


@api.post("/logout")
@requires(staff=True)
def logout():
    get_accounts().logout(request.headers["Authorization"].partition(" ")[2])
    return jsonify({"ok": True})


# ---------- tickets ----------


@api.post("/tickets")
@requires(staff=True, terminals=("kiosk",))
def issue_ticket():
    body = _body()
    _unknown_fields(body, {"matter", "line", "green", "green_reason", "appointment_at"})
    matter = _field(body, "matter", str, expected="a matter code")
    line = _field(body, "line", str, expected="a line prefix")
    green = _field(body, "green", bool, expected="true or false") or False
    green_reason = _field(body, "green_reason", str, expected="one of " + ", ".join(GREEN_REASONS))
    if green_reason is not None and (green_reason not in GREEN_REASONS or not green):
        raise BadRequest("green_reason", "one of " + ", ".join(GREEN_REASONS) + ", with green true")
    if matter is None and line is None:
        raise BadRequest("matter", "a matter code, or a line prefix in 'line'")
    if green and not g.principal.is_staff:
        # Green-channel priority is confirmed by staff, never self-service at a kiosk.
        return refusal("forbidden", "err_green_by_staff")
    appointment_at = None
    if body.get("appointment_at") is not None:
        appointment_at = params.moment(body["appointment_at"], "appointment_at")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest("Idempotency-Key", "8 to 128 letters, digits or - _ . :")
    terminal = g.principal.terminal
    issued = get_service().take_ticket(
        line=line,
        matter=matter,
        green=green,
        appointment_at=appointment_at,
        kiosk=terminal.id if terminal else None,
        actor=g.principal.actor,
        window=g.principal.clerk_window,
        request_key=key,
        green_reason=green_reason,
    )
    # The same key again (the first answer was lost): the same ticket, and 200 says it is not new.
    return jsonify(issued_json(issued)), 200 if issued.repeated else 201


@api.get("/tickets/<id:ticket_id>")
@requires(staff=True, terminals=("kiosk", "display", "pad"))
def get_ticket(ticket_id: int):
    service = get_service()
    ticket = service.ticket(ticket_id)
    body = ticket_json(ticket)
    if g.principal.is_staff:
        body["events"] = [
            {k: e[k] for k in ("action", "from_state", "to_state", "window", "actor", "at", "data")}
            for e in service.events(ticket_id)
        ]
    return jsonify(body)


@api.post("/tickets/<id:ticket_id>/<action>")
@requires(staff=True)
def ticket_action(ticket_id: int, action: str):
    if action not in TICKET_ACTIONS:
        return not_found(None)
    body = _body()
    _unknown_fields(body, {"to_line", "reason", "confirm"})
    to_line = _field(body, "to_line", str, required=action == "transfer", expected="a line prefix")
    reason = _field(body, "reason", str, expected="text")
    # A no-show soon after the call needs "confirm": true, the API's second press: a caller's own
    # screen asks its clerk again on no_show_unconfirmed (docs/architecture.md §Ticket lifecycle).
    confirm = _field(body, "confirm", bool, expected="true or false") or False
    principal = g.principal
    service = get_service()
    window = principal.clerk_window  # the domain holds a clerk to this window and its lines
    if window is not None:
        # Refuse another window's ticket before the service judges the action: a clerk elsewhere
        # learns nothing of its state (the service checks the window too, but after the state).
        ticket = service.ticket(ticket_id)
        if ticket.window is not None and ticket.window != window and action != "late_return":
            return refusal("wrong_window", "err_not_this_windows_ticket", number=ticket.number, window=ticket.window)
    ticket = service.act(
        ticket_id, action, window=window, actor=principal.actor, to_line=to_line, reason=reason, confirmed=confirm
    )
    return jsonify(ticket_json(ticket))


@api.post("/tickets/<id:ticket_id>/rate")
@requires(terminals=("pad",))
def rate_ticket(ticket_id: int):
    """好差评 from the rating pad of the window that served the ticket; one rating per service."""
    terminal = g.principal.terminal
    if terminal is None:
        # Ratings are the citizen's own: staff, managers included, cannot give them.
        return refusal("forbidden", "err_rating_by_citizen")
    body = _body()
    _unknown_fields(body, {"level", "reasons", "comment"})
    level = _field(body, "level", int, required=True, expected=ratings.LEVEL_EXPECTED)
    reasons = params.json_items(body, "reasons", str)
    comment = _field(body, "comment", str, expected="text")
    try:
        result = ratings.rate(
            get_store(),
            ticket_id,
            level,
            reasons,
            comment,
            now=get_clock().now(),
            actor=g.principal.actor,
            window=terminal.window,
        )
    except ratings.InvalidRating as exc:
        raise BadRequest(exc.field, exc.expected) from None
    return jsonify(result), 201


# ---------- windows ----------


@api.get("/windows")
@requires(staff=True, terminals=("kiosk", "display", "pad"))
def list_windows():
    return jsonify([window_json(w) for w in get_service().windows()])


@api.post("/windows/<id:number>/next")
@requires(staff=True)
def call_next(number: int):
    if not g.principal.may_act_for_window(number):
        return _not_your_window(number)
    ticket = get_service().call_next(number, clerk=g.principal.actor)
    return jsonify(ticket_json(ticket))


@api.post("/windows/<id:number>/<action>")
@requires(staff=True)
def window_action(number: int, action: str):
    if action not in WINDOW_TRANSITIONS:
        return not_found(None)
    if not g.principal.may_act_for_window(number):
        return _not_your_window(number)
    _unknown_fields(_body(), set())
    clerk = g.principal.actor if action == "open" else None
    window = get_service().window_action(number, action, clerk=clerk, actor=g.principal.actor)
    return jsonify(window_json(window))


@api.put("/windows/<id:number>/lines")
@requires(manager=True)
def set_lines(number: int):
    body = _body()
    _unknown_fields(body, {"lines", "pinned", "reason"})
    lines = params.json_items(body, "lines", str, required=True)
    pinned = _field(body, "pinned", bool, expected="true or false")
    service = get_service()
    window = service.set_serving(
        number, lines, actor=g.principal.actor, reason=_field(body, "reason", str) or "manager"
    )
    if pinned is not None:
        window = service.set_pinned(number, pinned, actor=g.principal.actor)
    return jsonify(window_json(window))


def _not_your_window(number: int):
    return refusal("wrong_window", "err_not_signed_in_here", number=number)


# ---------- lines ----------


@api.get("/lines")
@requires(staff=True, terminals=("kiosk", "display", "pad"))
def lines():
    return jsonify(get_service().lines_summary())


@api.post("/lines/<prefix>/close")
@requires(manager=True)
def close_line(prefix: str):
    """Stop issuing for a line, with the reason the kiosks show (docs/architecture.md §Numbering)."""
    body = _body()
    _unknown_fields(body, {"reason"})
    reason = _field(body, "reason", str, required=True, expected="why the line is closed (the kiosks show it)")
    return jsonify(get_service().close_line(prefix, reason, actor=g.principal.actor).as_dict())


@api.post("/lines/<prefix>/open")
@requires(manager=True)
def open_line(prefix: str):
    _unknown_fields(_body(), set())
    return jsonify(get_service().open_line(prefix, actor=g.principal.actor).as_dict())


# ---------- appointments ----------


@api.post("/appointments")
@requires(manager=True)
def import_appointments():
    """Book the rows of ``appointments`` all or none, as ``tongban appointments import`` does
    (docs/appointments.md); a refusal lists every problem by row (from 1) and field."""
    body = _body()
    _unknown_fields(body, {"appointments"})
    rows = _field(body, "appointments", list, required=True, expected="an array of bookings")
    service = get_service()
    result = appointments.import_rows(
        get_store(), service.config, rows, source="api", now=get_clock().now(), first_row=1
    )
    return jsonify(result.as_dict()), 201
