"""Clerk console (``/window/<n>``) and rating pad (``/window/<n>/pad``).

Both pages hold one SSE stream (docs/architecture.md §Web): the console's named events are the window's state, the
current ticket with its matter's guide, the window's lines, suspended tickets and the hall's alerts;
the pad's one event is what the citizen should see (idle card, or the 好差评 question). Actions are
htmx posts that answer with a toast and, for the current ticket, an out-of-band swap so the clerk
sees the result at once; every other screen learns of it through the broker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, g, render_template, request, url_for

from ...queue import errors, printing, ratings, views
from ...queue.service import (
    BREAK_REASONS,
    GREEN_REASONS,
    SUSPEND_REASONS,
    TICKET_ACTIONS,
    TRANSFER_REASONS,
    UNDOABLE,
    WINDOW_TRANSITIONS,
    HallService,
    Ticket,
    ticket_actions,
    window_actions,
)
from ...queue.store import parse_iso, utc_iso
from .. import params
from ..access import page_requires
from ..context import get_clock, get_search, get_service, get_store
from ..errors import status_for
from ..i18n import Msg, both
from ..shared import live, person, toast

window = Blueprint("window", __name__, template_folder="templates", url_prefix="/window")

# The ticket actions the console has buttons for: the domain's TICKET_ACTIONS but "cancel" (the API's,
# for a citizen who leaves) and "late_return" (its own form, by number). Window actions are all of
# WINDOW_TRANSITIONS. Which buttons show is what the transition tables allow from the current state.
CONSOLE_ACTIONS = tuple(a for a in TICKET_ACTIONS if a not in ("cancel", "late_return"))
MODE_KEYS = {"on-site": "mode_on_site", "proxy": "mode_proxy", "multi-place": "mode_multi_place"}


# ---------- shared by the staff and screen pages ----------


def forbidden():
    return render_template("forbidden.html"), 403


def printer_ids(config) -> list[str]:
    """The ids of the hall's printers."""
    return [printer.id for printer in config.printers]


def _halves(text: str) -> tuple[str, str]:
    zh, _, en = text.partition(" / ")
    return zh.strip(), (en or zh).strip()


def printer_places(config) -> dict[str, tuple[str, str]]:
    """Each printer by where it stands, as staff know it: the kiosks that print on it and their
    locations ("一楼大厅取号机 1（一楼大厅入口）"); a printer no kiosk uses keeps its id."""
    places: dict[str, tuple[str, str]] = {}
    for printer in config.printers:
        zh: list[str] = []
        en: list[str] = []
        for k in config.kiosks:
            if k.printer != printer.id:
                continue
            name_zh, name_en = _halves(k.name or k.id)
            where_zh, where_en = _halves(k.location) if k.location else ("", "")
            zh.append(f"{name_zh}（{where_zh}）" if where_zh else name_zh)
            en.append(f"{name_en} ({where_en})" if where_en else name_en)
        places[printer.id] = ("、".join(zh), ", ".join(en)) if zh else (printer.id, printer.id)
    return places


GREEN_PICKS = 8  # matters the green-channel picker lists for one search


def minutes_since(moment: datetime | None, now: datetime) -> int:
    return int((now - moment).total_seconds() // 60) if moment else 0


def matter_guide(service: HallService, ticket: Ticket | None) -> dict | None:
    if ticket is None or not ticket.matter:
        return None
    try:
        matter = service.config.matter(ticket.matter)
    except KeyError:
        return None
    department = service.config.department(matter.department)
    return {"matter": matter, "department": department, "mode_key": MODE_KEYS.get(matter.mode, "mode_on_site")}


def console_actions(state: str) -> tuple[str, ...]:
    """The console's buttons for a ticket in this state (CONSOLE_ACTIONS that TRANSITIONS allows)."""
    return tuple(a for a in ticket_actions(state) if a in CONSOLE_ACTIONS)


def _refusal(exc: errors.QueueError):
    return toast("error", exc.message_zh, exc.message_en, status_for(exc))


def for_window(access: Callable[[int], Any]) -> Callable:
    """The route acts for window <number>: ``access`` refuses whoever may not act there (403) or an
    unknown window (404) before the view runs."""

    def decorate(view):
        @wraps(view)
        def wrapper(number: int, *args, **kwargs):
            return access(number) or view(number, *args, **kwargs)

        return wrapper

    return decorate


# ---------- clerk console ----------


def _known_window(number: int) -> None:
    try:
        get_service().window(number)
    except errors.UnknownWindow:
        abort(404)


def _console_access(number: int):
    if not g.principal.may_act_for_window(number):
        return forbidden()
    _known_window(number)
    return None


def _console_context(number: int) -> dict:
    service = get_service()
    now = service.clock.now()
    state = service.window(number)
    current = service.current_ticket(number)
    suspended = service.tickets_at_window(number, ("suspended",))
    waits = views.line_waits(service)
    return {
        "last_done": views.last_done(service, number) if current is None else None,
        "number": number,
        "win": state,
        "win_cfg": service.config.window(number),
        "clerk": person(state.clerk),
        "current": current,
        "guide": matter_guide(service, current),
        "now": now,
        "waited_min": minutes_since(current.issued_at, current.called_at or now) if current else 0,
        "max_recalls": service.hall.max_recalls,
        "line_name": {line.prefix: (line.name_zh, line.name_en) for line in service.config.lines},
        "my_lines": [waits[p] for p in state.serving],
        "other_able": [waits[p] for p in state.able if p not in state.serving],
        "suspended": suspended,
        "suspend_reasons": service.suspend_reasons(t.id for t in suspended),
        "suspend_reason_codes": SUSPEND_REASONS,
        "on_break": service.on_break(number),
        "break_reasons": BREAK_REASONS,
        # Overdue print jobs become alerts here too, with or without a devices process (§Print jobs).
        # Kiosks' help requests only at help desks (docs/kiosk.md#asking-for-help).
        "alerts": printing.open_alerts(
            service.store,
            now,
            names=printing.printer_names(service.config),
            help_requests=service.config.window(number).help_desk,
        ),
        "alert_ack_url": url_for("window.ack_alert", number=number, alert_id=0),
        "windows": service.windows(),
        "console_actions": console_actions,
        "window_actions": window_actions,
    }


def _console_fragments(number: int) -> dict[str, str]:
    ctx = _console_context(number)
    return {
        name: render_template(f"_console_{name}.html", **ctx)
        for name in ("state", "current", "lines", "suspended", "alerts")
    }


@window.get("/<id:number>")
@page_requires(staff=True)
@for_window(_console_access)
def console(number: int):
    service = get_service()
    ctx = _console_context(number)
    return render_template(
        "console.html",
        **ctx,
        me=person(g.principal.actor),
        lines=service.config.lines,
        matters=service.config.matters,
        printers=printer_places(service.config),
        transfer_reasons=TRANSFER_REASONS,
        green_reasons=GREEN_REASONS,
        **_green_picks(service, number, ""),
        server_time=utc_iso(ctx["now"]),
        **{k: v for k, v in _undo_vars(number).items() if k != "number"},
    )


@window.get("/<id:number>/stream")
@page_requires(staff=True)
@for_window(_console_access)
def console_stream(number: int):
    return live(f"console:{number}", lambda: _console_fragments(number))


def _current_oob(number: int, *, undo: bool = False) -> str:
    """The current ticket and the window's state at once; with ``undo``, the undo control too (the
    action just taken, or nothing left to undo)."""
    ctx = _console_context(number)
    html = (
        f'<div id="current" hx-swap-oob="innerHTML">{render_template("_console_current.html", **ctx)}</div>'
        f'<div id="win-state" hx-swap-oob="innerHTML">{render_template("_console_state.html", **ctx)}</div>'
    )
    if undo:
        control = render_template("_console_undo.html", **_undo_vars(number))
        html += f'<div id="undo" hx-swap-oob="innerHTML">{control}</div>'
    return html


def _undo_vars(number: int) -> dict:
    """What the undo control shows: this clerk's last undoable action at the window, and its seconds left."""
    service = get_service()
    found = service.last_undoable(number, g.principal.actor)
    left = max(0, math.ceil((found.until - service.clock.now()).total_seconds())) if found else 0
    return {"undo": found, "undo_left": left, "number": number}


@window.post("/<id:number>/next")
@page_requires(staff=True)
@for_window(_console_access)
def call_next(number: int):
    try:
        ticket = get_service().call_next(number, clerk=g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    zh, en = both("toast_called", number=ticket.number)
    return toast("ok", zh, en, oob=_current_oob(number))


@window.post("/<id:number>/ticket/<id:ticket_id>/<action>")
@page_requires(staff=True)
@for_window(_console_access)
def ticket_action(number: int, ticket_id: int, action: str):
    if action not in CONSOLE_ACTIONS:
        abort(404)
    service = get_service()
    to_line = reason = None
    said: dict[str, Any] = {}
    if action == "transfer":
        try:
            to_line, reason, said = _transfer_target(service)
        except errors.QueueError as exc:
            return _refusal(exc)
    elif action == "suspend":
        # Why the citizen steps away, from the console's short list; shown where suspended tickets are.
        reason = request.form.get("reason", "")
        if reason not in SUSPEND_REASONS:
            return toast("error", *both("suspend_choose_reason"), 400)
    try:
        ticket = service.act(
            ticket_id,
            action,
            window=g.principal.clerk_window,
            actor=g.principal.actor,
            to_line=to_line,
            reason=reason,
            # A person's no-show: the first press may be refused for a second (docs/architecture.md §Ticket lifecycle).
            confirmed=request.form.get("confirm") == "yes",
            **said,
        )
    except errors.NoShowUnconfirmed as exc:
        html = render_template(
            "_console_confirm_no_show.html", exc=exc, number=number, ticket_id=ticket_id, url=request.path
        )
        return html, status_for(exc)
    except errors.QueueError as exc:
        return _refusal(exc)
    if action == "recall":
        zh, en = both("toast_recalled", number=ticket.number, n=ticket.recalls, max=service.hall.max_recalls)
    elif action == "transfer":
        zh, en = both("toast_transferred", number=ticket.number, line=ticket.line)
    elif action == "suspend":
        zh, en = both("toast_suspend", number=ticket.number, reason=Msg(f"suspend_reason_{reason}"))
    else:
        zh, en = both(f"toast_{action}", number=ticket.number)
    return toast("ok", zh, en, oob=_current_oob(number, undo=action in UNDOABLE))


@window.post("/<id:number>/undo/<id:ticket_id>")
@page_requires(staff=True)
@for_window(_console_access)
def undo(number: int, ticket_id: int):
    """撤销: take back this clerk's no-show, finish or transfer of the last few seconds."""
    service = get_service()
    try:
        ticket = service.undo(ticket_id, window=g.principal.clerk_window, actor=g.principal.actor)
    except errors.QueueError as exc:
        return toast("error", exc.message_zh, exc.message_en, status_for(exc), oob=_current_oob(number, undo=True))
    zh, en = both("toast_undone", number=ticket.number, state=Msg(f"ticket_state_{ticket.state}"))
    return toast("ok", zh, en, oob=_current_oob(number, undo=True))


@window.post("/<id:number>/transfer")
@page_requires(staff=True)
def transfer(number: int):
    """The transfer dialog: the ticket id comes in the form (one dialog serves whatever is current)."""
    try:
        ticket_id = params.form_int("ticket")
    except params.BadValue:
        return toast("error", *both("transfer_no_ticket"), 400)
    return ticket_action(number, ticket_id, "transfer")


def _transfer_target(service: HallService) -> tuple[str, str, dict[str, Any]]:
    """To a line, or to a window: the pull policy binds no ticket to a window (docs/architecture.md §Dispatch),
    so a transfer to a window puts the ticket in the line that window serves first, and says so. Also
    what the citizen is told (the reason's key, the note, the window), for act()."""
    target = request.form.get("target", "")
    kind, _, value = target.partition(":")
    reason_key = request.form.get("reason_key", "")
    reason = both(reason_key)[0] if reason_key in TRANSFER_REASONS else ""
    note = " ".join(request.form.get("note", "").split())[:100]
    reason = "：".join(p for p in (reason, note) if p)
    said: dict[str, Any] = {"reason_key": reason_key if reason_key in TRANSFER_REASONS else None, "note": note or None}
    if kind == "line" and value:
        if not said["reason_key"] and not note:
            said["reason_key"] = "transfer_reason_other"
        return value, reason or both("transfer_reason_other")[0], said
    if kind == "window" and value:
        other = service.window(params.whole(value, "target"))
        prefix = other.serving[0]
        said["to_window"] = other.number
        return prefix, both("transfer_to_window", number=other.number)[0] + (f"：{reason}" if reason else ""), said
    raise errors.UnknownLine("err_choose_transfer_target", field="target")


@window.post("/<id:number>/state/<action>")
@page_requires(staff=True)
@for_window(_console_access)
def window_state(number: int, action: str):
    if action not in WINDOW_TRANSITIONS:
        abort(404)
    clerk = g.principal.actor if action == "open" else None
    reason = None
    if action == "pause":
        # A break says why, from a short list; the console shows it with a timer.
        reason = request.form.get("reason", "")
        if reason not in BREAK_REASONS:
            return toast("error", *both("break_choose_reason"), 400)
    try:
        get_service().window_action(number, action, clerk=clerk, actor=g.principal.actor, reason=reason)
    except errors.QueueError as exc:
        return _refusal(exc)
    if action == "pause":
        zh, en = both("toast_window_break", n=number, reason=Msg(f"break_reason_{reason}"))
    else:
        zh, en = both(f"toast_window_{action}", n=number)
    return toast("ok", zh, en, oob=_current_oob(number))


@window.post("/<id:number>/green")
@page_requires(staff=True)
@for_window(_console_access)
def green_ticket(number: int):
    """A green-channel ticket issued by the clerk, who has checked the citizen's eligibility."""
    if request.form.get("confirmed") != "yes":
        return toast("error", *both("green_confirm_needed"), 400)
    green_reason = request.form.get("green_reason", "")
    if green_reason not in GREEN_REASONS:
        return toast("error", *both("green_reason_needed"), 400)
    matter = request.form.get("matter") or None
    line = None
    if matter and matter.startswith("line:"):
        line, matter = matter[5:], None
    service = get_service()
    try:
        issued = service.take_ticket(
            line=line,
            matter=matter,
            green=True,
            actor=g.principal.actor,
            window=g.principal.clerk_window,
            green_reason=green_reason,
        )
    except errors.QueueError as exc:
        return _refusal(exc)
    printer = request.form.get("printer", "")
    places = printer_places(service.config)
    if printer and printer in places:
        printing.enqueue(get_store(), issued.ticket.id, printer, get_clock().now())
        zh = both("toast_green_printed", number=issued.ticket.number, printer=places[printer][0])[0]
        en = both("toast_green_printed", number=issued.ticket.number, printer=places[printer][1])[1]
    else:
        zh, en = both("toast_green", number=issued.ticket.number)
    return toast("ok", zh, en)


def _green_picks(service: HallService, number: int, query: str) -> dict[str, Any]:
    """What the green-channel picker lists: the matters the hall's one search finds (queue/search.py),
    within the lines this window is able to serve, and each of those lines as a whole."""
    config = service.config
    able = service.window(number).able
    codes = get_search().search(query) if query.strip() else []
    found = [m for m in (config.matter(c) for c in codes) if config.line_of_matter(m.code).prefix in able]
    return {
        "green_query": query,
        "green_found": [(m, config.line_of_matter(m.code).prefix) for m in found[:GREEN_PICKS]],
        "green_more": max(0, len(found) - GREEN_PICKS),
        "green_lines": [config.line(p) for p in able],
    }


@window.get("/<id:number>/green/matters")
@page_requires(staff=True)
@for_window(_console_access)
def green_matters(number: int):
    """The green-channel picker's choices for what the clerk typed (htmx, as they type)."""
    query = request.args.get("q", "")[:40]
    return render_template("_console_green_matters.html", number=number, **_green_picks(get_service(), number, query))


@window.post("/<id:number>/reprint")
@page_requires(staff=True)
@for_window(_console_access)
def reprint(number: int):
    """补打: print a ticket of today again on a chosen printer."""
    service = get_service()
    code = request.form.get("number", "").strip().upper()
    printer = request.form.get("printer", "")
    places = printer_places(service.config)
    if printer not in places:
        return toast("error", *both("reprint_choose_printer"), 400)
    ticket = views.ticket_numbered(service, code)
    if ticket is None:
        return toast("error", *both("reprint_unknown", number=code or "—"), 404)
    printing.enqueue(get_store(), ticket.id, printer, get_clock().now(), reprint=True)
    zh = both("toast_reprinted", number=code, printer=places[printer][0])[0]
    en = both("toast_reprinted", number=code, printer=places[printer][1])[1]
    return toast("ok", zh, en)


@window.post("/<id:number>/late-return")
@page_requires(staff=True)
@for_window(_console_access)
def late_return(number: int):
    """过号重排: a citizen whose number was passed comes back to this window; put them back in line."""
    service = get_service()
    code = request.form.get("number", "").strip().upper()
    found = views.ticket_numbered(service, code)
    if found is None:
        return toast("error", *both("reprint_unknown", number=code or "—"), 404)
    try:
        ticket = service.act(found.id, "late_return", window=g.principal.clerk_window, actor=g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    outlook = service.ticket_outlook(ticket)  # the same as the citizen's /t/ page and the API
    if outlook.is_next:
        return toast("ok", *both("toast_late_return_next", number=ticket.number))
    return toast("ok", *both("toast_late_return", number=ticket.number, ahead=outlook.people_ahead))


@window.post("/<id:number>/alerts/<id:alert_id>/ack")
@page_requires(staff=True)
@for_window(_console_access)
def ack_alert(number: int, alert_id: int):
    help_desk = get_service().config.window(number).help_desk
    printing.ack_alert(get_store(), alert_id, g.principal.actor, get_clock().now(), help_requests=help_desk)
    return toast("ok", *both("toast_alert_acked"))


# ---------- rating pad ----------


def rating_timeout_s() -> float:
    return float(current_app.config.get("RATING_TIMEOUT_S", ratings.RATING_TIMEOUT_S))


def _pad_access(number: int):
    terminal = g.principal.terminal
    if terminal is not None and terminal.window != number:
        return forbidden()
    _known_window(number)
    return None


def _pad_context(number: int) -> dict:
    service = get_service()
    now = service.clock.now()
    state = service.window(number)
    pending = ratings.pending(service.store, number, now, timeout_s=rating_timeout_s())
    ctx = {
        "number": number,
        "win": state,
        "win_cfg": service.config.window(number),
        "clerk": person(state.clerk),
        "pending": pending,
        "levels": ratings.LEVELS,
        "bad_levels": ratings.BAD_LEVELS,
        "reasons": ratings.REASONS,
        "comment_max": ratings.COMMENT_MAX,
    }
    if pending:
        ctx["served_by"] = person(pending.clerk)
        ctx["matter"] = service.config.matter(pending.matter) if pending.matter else None
        ctx["deadline"] = utc_iso(pending.deadline)
    return ctx


@window.get("/<id:number>/pad")
@page_requires(terminals=("pad",))
@for_window(_pad_access)
def pad(number: int):
    ctx = _pad_context(number)
    return render_template("pad.html", **ctx, server_time=utc_iso(get_clock().now()))


@window.get("/<id:number>/pad/stream")
@page_requires(terminals=("pad",))
@for_window(_pad_access)
def pad_stream(number: int):
    return live(f"pad:{number}", lambda: {"pad": render_template("_pad_state.html", **_pad_context(number))})


@window.post("/<id:number>/pad/rate")
@page_requires(terminals=("pad",))
@for_window(_pad_access)
def pad_rate(number: int):
    if g.principal.terminal is None:
        return render_template("_pad_thanks.html", ok=False, message=both("pad_staff_cannot_rate")), 403
    try:
        ticket_id = params.form_int("ticket")
        level = params.form_int("level", min(ratings.LEVELS), max(ratings.LEVELS))
    except params.BadValue:  # the citizen sees the pad's own words, not a field name
        return render_template("_pad_thanks.html", ok=False, message=both("pad_choose_level")), 400
    bad = level in ratings.BAD_LEVELS
    # Reasons and a comment belong to a bad rating only; a good tap after opening them drops them.
    reasons = request.form.getlist("reasons") if bad else []
    comment = (request.form.get("comment") or None) if bad else None
    try:
        ratings.rate(
            get_store(),
            ticket_id,
            level,
            reasons,
            comment,
            now=get_clock().now(),
            actor=g.principal.actor,
            window=number,
        )
    except ratings.InvalidRating:
        return render_template("_pad_thanks.html", ok=False, message=both("pad_choose_level")), 400
    except errors.QueueError as exc:
        return render_template("_pad_thanks.html", ok=False, message=(exc.message_zh, exc.message_en)), status_for(exc)
    return render_template("_pad_thanks.html", ok=True, message=both("pad_thanks"))


@window.post("/<id:number>/pad/timeout")
@page_requires(terminals=("pad",))
@for_window(_pad_access)
def pad_timeout(number: int):
    """The pad's timer ran out: services past their rating time are recorded as not rated."""
    closed = ratings.expire_stale(
        get_store(), number, get_clock().now(), timeout_s=rating_timeout_s(), actor=g.principal.actor
    )
    return {"closed": closed}


@window.app_template_filter("local_hm")
def local_hm(moment) -> str:
    """HH:MM in the hall's time zone, from a datetime or a stored UTC timestamp."""
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = parse_iso(moment)
    return moment.astimezone(current_app.config["HALL"].hall.tz).strftime("%H:%M")
