"""Citizens' touchscreen kiosk (docs/kiosk.md): lines and matters, the one-time notice, tickets, closed states.

Every screen is one URL that answers with the whole page, or with just the ``#kiosk`` element when htmx
asks (``HX-Request``). Screens are swapped into the page, never reloaded, so a dropped network shows
"please wait" over the last screen instead of a browser error page (static/js/kiosk.js retries).

The kiosk's state travels in the query string, not in cookies, so the next citizen starts in Chinese
and normal mode when the idle timer takes the screen home: ``lang`` (zh/en), ``elder`` (1: larger
text, fewer items per screen) and ``idle`` (seconds before going home, for tests; the default is the
app's ``KIOSK_IDLE_S``, 30 s).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, url_for

from ...config import WEEKDAYS, Kiosk
from ...queue import appointments, calendar, card_tickets, errors, helpdesk, idcards, printing
from ...queue.service import HallService, Outlook, Ticket
from ...texts import split_bilingual
from .. import live, params
from ..access import page_requires
from ..context import get_broker, get_clock, get_search, get_service, get_store
from ..htmx import request
from ..qr import qr_svg

kiosk = Blueprint("kiosk", __name__, template_folder="templates", url_prefix="/kiosk")

DEFAULT_IDLE_S = 30
# The printer-failure screen stays this many idle times (60 s by default): long enough to read and
# remember the number, short enough that the next citizen does not find it (docs/kiosk.md).
FAILED_IDLE_FACTOR = 2
PRINT_POLL_MS = 500
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


# ---------- kiosk state and URLs ----------


def _idle_default() -> int:
    return int(current_app.config.get("KIOSK_IDLE_S", DEFAULT_IDLE_S))


def kiosk_state() -> dict:
    """lang / elder / idle from the query string (or the form, for posts), validated."""
    args = request.values
    lang = "en" if args.get("lang") == "en" else "zh"
    elder = args.get("elder") == "1"
    idle = params.value_int("idle", 0, 86400, default=None)  # seconds; a value outside a day is a 400
    if idle is not None:
        idle = min(max(idle, 2), 3600)
    return {"lang": lang, "elder": elder, "idle": idle}


def state_args(**override) -> dict:
    """The query arguments that carry the state into the next URL (defaults left out)."""
    state = {**g.kstate, **override}
    out = {}
    if state["lang"] != "zh":
        out["lang"] = state["lang"]
    if state["elder"]:
        out["elder"] = "1"
    if state["idle"] is not None:
        out["idle"] = str(state["idle"])
    return out


def kurl(endpoint: str, **values) -> str:
    return url_for(f"kiosk.{endpoint}", kiosk_id=g.kiosk_id, **state_args(), **values)


def switch_url(**override) -> str:
    """This screen again with another language or mode."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("lang", "elder", "idle")}
    assert request.endpoint is not None and request.view_args is not None  # set for a routed request
    return url_for(request.endpoint, **request.view_args, **args, **state_args(**override))


def home_url(**override) -> str:
    return url_for("kiosk.home", kiosk_id=g.kiosk_id, **state_args(**override))


def kiosk_config(kiosk_id: str) -> Kiosk | None:
    return next((k for k in get_service().config.kiosks if k.id == kiosk_id), None)


def kiosk_view(view):
    """An enrolled kiosk (or a manager previewing it); a kiosk only ever acts as itself."""

    @page_requires(terminals=("kiosk",))
    @wraps(view)
    def wrapper(kiosk_id: str, *args, **kwargs):
        principal = g.principal
        if principal.terminal is not None and principal.terminal.id != kiosk_id:
            return render_template("forbidden.html"), 403
        g.kiosk_id = kiosk_id
        g.kstate = kiosk_state()
        return view(kiosk_id, *args, **kwargs)

    return wrapper


def per_page(normal: int, elder: int) -> int:
    return elder if g.kstate["elder"] else normal


def paginate(items: list, page: int, size: int) -> tuple[list, int, int]:
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 1), pages)
    return items[(page - 1) * size : page * size], page, pages


def _page_arg() -> int:
    return params.arg_page()


# ---------- what the screens show ----------


@dataclass(frozen=True)
class Refusal:
    """Why no ticket can be taken in a line now, and what the citizen can do instead."""

    code: str  # hall_closed, line_closed, quota_reached
    reason: str  # not_yet_open, lunch_break, closed_for_day, closed_today, past_last_issue,
    #                           closed_by_manager, quota
    message_zh: str
    message_en: str
    reopens_at: str | None = None
    detail: str | None = None

    @classmethod
    def from_error(cls, exc: errors.QueueError) -> Refusal:
        details = exc.details
        reason = details.get("reason") or ("quota" if exc.code == "quota_reached" else exc.code)
        return cls(exc.code, reason, exc.message_zh, exc.message_en, details.get("reopens_at"), details.get("detail"))

    @property
    def title_key(self) -> str:
        return f"k_refusal_{self.reason}"

    @property
    def short_key(self) -> str:
        return f"k_short_{self.reason}"


def refusal_for(service: HallService, prefix: str) -> Refusal | None:
    """What ``take_ticket`` would refuse for this line now, without issuing."""
    try:
        service.check_issuable(prefix)
    except errors.QueueError as exc:
        return Refusal.from_error(exc)
    return None


def next_opening(service: HallService) -> tuple[str, str] | None:
    """The next working day's first opening after today: (weekday key, 'HH:MM')."""
    local = calendar.local(service.clock.now(), service.hall)
    for ahead in range(1, 8):
        day = WEEKDAYS[(local.weekday() + ahead) % 7]
        periods = service.hall.hours.get(day, ())
        if periods:
            return ("tomorrow" if ahead == 1 else day), f"{periods[0].start:%H:%M}"
    return None


def window_groups(service: HallService, numbers: Iterable[int]) -> list[dict]:
    """Windows grouped by where they are, for "3、5 号窗口（二楼）" and "Window 3 / 5 (2nd floor)":
    ``location`` holds the place per language ('' where the hall file gives no English)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for number in numbers:
        window = service.config.window(number)
        groups.setdefault((window.location, window.location_en), []).append(number)
    return [{"location": {"zh": zh, "en": en}, "numbers": nums} for (zh, en), nums in groups.items()]


def line_cards(service: HallService) -> list[dict]:
    cards = []
    for summary in service.lines_summary():
        refusal = refusal_for(service, summary["prefix"])
        cards.append({**summary, "refusal": refusal})
    return cards


ELDER_CHOICES = 4  # at most this many choices (lines, departments, matters, results) a page in elder mode


def home_lines(service: HallService, page: int) -> tuple[list[dict], int, int]:
    """The line buttons of one home page: all of them, or four a page in elder mode."""
    cards = line_cards(service)
    return paginate(cards, page, per_page(max(len(cards), 1), ELDER_CHOICES))


def common_context() -> dict:
    state = g.kstate
    local = calendar.local(get_clock().now(), get_service().hall)
    offset = local.utcoffset()
    assert offset is not None  # calendar.local gives the hall's aware local time
    return {
        "k": state,
        "kurl": kurl,
        "switch_url": switch_url,
        "home_url": home_url,
        "kiosk_id": g.kiosk_id,
        "split": split_bilingual,
        "idle_s": state["idle"] or _idle_default(),
        "now_local": local,
        "tz_offset_min": int(offset.total_seconds() // 60),
        "is_htmx": bool(request.htmx),
        "help": helpdesk.help_state(get_store(), g.kiosk_id, get_clock().now()),
    }


def render_screen(screen: str, *, idle: bool = True, toggles: bool = True, status: int = 200, **ctx):
    """The whole page, or only the #kiosk element for htmx; ``idle`` False keeps the screen up until touched."""
    context = {**common_context(), "screen": screen, "idle_enabled": idle, "toggles": toggles, **ctx}
    template = "_kiosk_app.html" if context["is_htmx"] else "kiosk.html"
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------- screens ----------


@kiosk.get("/<kiosk_id>")
@kiosk_view
def home(kiosk_id: str):
    service = get_service()
    state = g.kstate
    notices = [(n.zh, n.en or n.zh) for n in service.hall.notices]
    opening = calendar.opening(service.clock.now(), service.hall)
    if opening.reason == "lunch_break" and service.hall.issue_during_lunch:
        opening = calendar.Opening(True)  # tickets are issued over lunch in this hall: no banner
    at_default = state["lang"] == "zh" and not state["elder"]
    cards, page, pages = home_lines(service, _page_arg())
    return render_screen(
        "_kiosk_home.html",
        idle=not at_default or page > 1,
        cards=cards,
        page=page,
        pages=pages,
        notices=notices[:1] if state["elder"] else notices,
        opening=opening,
        next_open=next_opening(service),
        **card_context(kiosk_id),
    )


@kiosk.get("/<kiosk_id>/live")
@kiosk_view
def live_stream(kiosk_id: str):
    """The home screen's one SSE stream: the line buttons, whenever anything changes."""
    state = g.kstate
    context = common_context()
    page = _page_arg()

    def render_all() -> dict[str, str]:
        cards, _, _ = home_lines(get_service(), page)
        panel = card_context(kiosk_id)
        return {
            "lines": render_template("_kiosk_lines.html", cards=cards, card=panel["card"], **context),
            "idcard": render_template("_kiosk_idcard.html", **panel, **context),
        }

    key = f"kiosk:{kiosk_id}:{state['lang']}:{int(state['elder'])}:{state['idle']}:{page}"
    return live.sse_response(get_broker(), render_all, cache_key=key)


@kiosk.get("/<kiosk_id>/lines-now")
@kiosk_view
def lines_now(kiosk_id: str):
    """The line buttons alone: the home screen refreshes them each minute (opening hours change with
    the clock, not the database, so the stream alone would miss the lunch break)."""
    cards, _, _ = home_lines(get_service(), _page_arg())
    card = card_waiting(kiosk_id)
    return render_template("_kiosk_lines.html", cards=cards, card=card, **common_context())


def card_waiting(kiosk_id: str) -> idcards.CardSeen | None:
    """A card just read at this kiosk's ID-card reader (docs/idcard.md); only for kiosks that have one."""
    config = kiosk_config(kiosk_id)
    if config is None or not config.idcard:
        return None
    return idcards.waiting_card(get_store(), kiosk_id, get_clock().now())


def card_offer(kiosk_id: str) -> card_tickets.CardOffer | None:
    """What the card just read at this kiosk offers (check-in, recent matter, green), or None."""
    card = card_waiting(kiosk_id)
    if card is None:
        return None
    return card_tickets.offer(get_store(), get_service().config, card, get_clock().now())


def card_context(kiosk_id: str) -> dict[str, Any]:
    """The card panel's context: the offer, and the names and one-time form keys it shows."""
    offer = card_offer(kiosk_id)
    ctx: dict[str, Any] = {"offer": offer, "card": offer.card if offer else None}
    if offer is None:
        return ctx
    config = get_service().config
    ctx["min_age"] = config.kiosk.green_channel_min_age
    if offer.appointment is not None:
        booked = config.matter(offer.appointment.matter)
        ctx["booking"] = {"zh": booked.name_zh, "en": booked.name_en, "slot": offer.appointment.slot_text(config)}
    if offer.recent is not None:
        named = config.matter(offer.recent.matter) if offer.recent.matter else config.line(offer.recent.line)
        ctx["recent"] = {"zh": named.name_zh, "en": named.name_en}
    # The forms' one-time keys, made from the read's token rather than at random: the panel renders
    # the same for the same read, so the live stream does not resend it on every commit in the hall
    # (it sends only what changed), and a tap during a resend still posts the same key, answered
    # with the same ticket.
    ctx["checkin_key"] = f"ci-{offer.card.token}"
    ctx["recent_key"] = f"rc-{offer.card.token}"
    return ctx


def _card_token(source) -> str | None:
    """The card read's token from a form or the query string: None when absent; a malformed one is
    treated as a read that is gone (the domain refuses it by name) rather than an error page."""
    token = source.get("card") or None
    if token is None:
        return None
    return token if KEY_RE.match(token) else "-" * 8


@kiosk.get("/<kiosk_id>/idcard-now")
@kiosk_view
def idcard_now(kiosk_id: str):
    """The card panel alone: a read goes stale after a minute with no commit to say so, so the
    home screen asks again every 20 s besides the stream."""
    return render_template("_kiosk_idcard.html", **card_context(kiosk_id), **common_context())


@kiosk.get("/<kiosk_id>/departments")
@kiosk_view
def departments(kiosk_id: str):
    config = get_service().config
    counts = {d.code: sum(1 for m in config.matters if m.department == d.code) for d in config.departments}
    items = [d for d in config.departments if counts[d.code]]
    shown, page, pages = paginate(items, _page_arg(), per_page(12, ELDER_CHOICES))
    return render_screen("_kiosk_departments.html", departments=shown, counts=counts, page=page, pages=pages)


@kiosk.get("/<kiosk_id>/departments/<code>")
@kiosk_view
def department(kiosk_id: str, code: str):
    config = get_service().config
    try:
        dept = config.department(code)
    except KeyError:
        abort(404)
    matters = [m for m in config.matters if m.department == code]
    shown, page, pages = paginate(matters, _page_arg(), per_page(8, ELDER_CHOICES))
    return render_screen(
        "_kiosk_matters.html",
        dept=dept,
        matters=shown,
        page=page,
        pages=pages,
        lines={m.code: config.line_of_matter(m.code) for m in shown},
    )


@kiosk.get("/<kiosk_id>/search")
@kiosk_view
def search(kiosk_id: str):
    config = get_service().config
    finder = get_search()
    # The keyboard types letters: pinyin, full or initials (docs/kiosk.md "Everyday names").
    query = finder.letters(request.args.get("q", ""))
    codes = finder.search(query, keyboard=True)
    shown, page, pages = paginate(codes, _page_arg(), per_page(5, ELDER_CHOICES))
    matters = [config.matter(c) for c in shown]
    return render_screen(
        "_kiosk_search.html",
        query=query,
        matters=matters,
        total=len(codes),
        page=page,
        pages=pages,
        live_letters=finder.next_letters(query) if query else set("abcdefghijklmnopqrstuvwxyz"),
        keyboard=KEYBOARD,
        lines={m.code: config.line_of_matter(m.code) for m in matters},
    )


@kiosk.get("/<kiosk_id>/matters/<code>")
@kiosk_view
def matter(kiosk_id: str, code: str):
    """The matter's guide (一次性告知) with the button that takes the ticket."""
    service = get_service()
    try:
        item = service.config.matter(code)
    except KeyError:
        abort(404)
    line = service.config.line_of_matter(code)
    (summary,) = service.lines_summary([line.prefix])
    return render_screen(
        "_kiosk_matter.html",
        matter=item,
        line=line,
        summary=summary,
        dept=service.config.department(item.department),
        refusal=refusal_for(service, line.prefix),
        request_key=secrets.token_urlsafe(16),
        back=request.args.get("back"),
    )


@kiosk.get("/<kiosk_id>/lines/<prefix>")
@kiosk_view
def line(kiosk_id: str, prefix: str):
    """Confirm a line (or see why it is closed)."""
    service = get_service()
    try:
        cfg = service.config.line(prefix)
    except KeyError:
        abort(404)
    (summary,) = service.lines_summary([prefix])
    refusal = refusal_for(service, prefix)
    if refusal:
        return render_refusal(service, refusal, cfg)
    token = _card_token(request.args)
    card = card_waiting(kiosk_id) if token else None
    return render_screen(
        "_kiosk_confirm.html",
        line=cfg,
        summary=summary,
        matters=[service.config.matter(c) for c in cfg.matters],
        request_key=secrets.token_urlsafe(16),
        # the card rides along only while it is the read the home screen showed
        card=card if card is not None and card.token == token else None,
    )


@kiosk.get("/<kiosk_id>/green")
@kiosk_view
def green(kiosk_id: str):
    """Green-channel tickets are confirmed by staff, never self-service: say where to go."""
    return render_screen("_kiosk_green.html")


def render_refusal(service: HallService, refusal: Refusal, line=None):
    public = service.hall.public_url
    info_qr = qr_svg(f"{public.rstrip('/')}/info") if public else None
    return render_screen(
        "_kiosk_closed.html",
        refusal=refusal,
        line=line,
        next_open=next_opening(service),
        district=service.config.district_windows[:3],
        info_qr=info_qr,
    )


# ---------- asking for help ----------


@kiosk.post("/<kiosk_id>/help")
@kiosk_view
def ask_for_help(kiosk_id: str):
    """请工作人员帮助: one alert for the manager and the help desks (docs/kiosk.md#asking-for-help);
    answers with the help bar, which now says that staff were told."""
    cfg = kiosk_config(kiosk_id) or Kiosk(id=kiosk_id, name=kiosk_id)
    helpdesk.ask_for_help(get_store(), cfg, get_clock().now())
    if not request.htmx:
        return redirect(home_url())
    return _help_bar()


@kiosk.get("/<kiosk_id>/help")
@kiosk_view
def help_status(kiosk_id: str):
    """The help bar alone, polled while a request is open or staff are on their way."""
    return _help_bar()


def _help_bar() -> Response:
    response = Response(render_template("_kiosk_help.html", **common_context()), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------- taking the ticket ----------


@kiosk.post("/<kiosk_id>/tickets")
@kiosk_view
def take_ticket(kiosk_id: str):
    """Take the ticket once per confirm form (its one-time key) and answer with the next screen.

    A double tap or a retried post of the same form is answered with the ticket the first one took:
    the key is recorded in the ticket's own transaction (HallService.take_ticket)."""
    service = get_service()
    form = request.form
    line_prefix = form.get("line") or None
    matter_code = form.get("matter") or None
    key = form.get("key", "")
    token = _card_token(form)
    if not KEY_RE.match(key) or (line_prefix is None and matter_code is None):
        abort(400)
    try:
        if token is not None:
            issued = card_tickets.take_with_card(
                service,
                kiosk_id,
                token,
                line=line_prefix,
                matter=matter_code,
                actor=g.principal.actor,
                request_key=key,
            )
        else:
            issued = service.take_ticket(
                line=line_prefix, matter=matter_code, kiosk=kiosk_id, actor=g.principal.actor, request_key=key
            )
    except card_tickets.CardGone:
        return render_screen("_kiosk_card_gone.html")
    except errors.NotFound:
        abort(404)
    except errors.RequestKeyReused:
        abort(400)
    except errors.QueueError as exc:
        prefix = line_prefix
        if prefix is None:
            assert matter_code is not None  # a form with neither a line nor a matter was refused above
            prefix = service.config.line_of_matter(matter_code).prefix
        return render_refusal(service, Refusal.from_error(exc), service.config.line(prefix))
    return ticket_screen(service, issued.ticket, issued.print_job, outlook=issued.outlook)


@kiosk.get("/<kiosk_id>/tickets/<id:ticket_id>/print/<id:job_id>")
@kiosk_view
def print_status(kiosk_id: str, ticket_id: int, job_id: int):
    """Polled while the slip prints: the printing screen again, or the ticket / the fallback."""
    service = get_service()
    ticket = _own_ticket(service, kiosk_id, ticket_id)
    return ticket_screen(service, ticket, job_id)


@kiosk.get("/<kiosk_id>/tickets/<id:ticket_id>")
@kiosk_view
def ticket_page(kiosk_id: str, ticket_id: int):
    """The on-screen ticket with its QR again (what a no-printer kiosk shows)."""
    service = get_service()
    return ticket_screen(service, _own_ticket(service, kiosk_id, ticket_id), None)


def _own_ticket(service: HallService, kiosk_id: str, ticket_id: int) -> Ticket:
    try:
        ticket = service.ticket(ticket_id)
    except errors.UnknownTicket:
        abort(404)
    if ticket.kiosk != kiosk_id:
        abort(404)
    return ticket


def ticket_screen(service: HallService, ticket: Ticket, job_id: int | None, *, outlook: Outlook | None = None):
    """Printing → printed (back home after the idle time) or the full-screen fallback with a QR code."""
    job = None
    if job_id is not None:
        # A job past its deadline is failed here if nobody did yet (docs/architecture.md §Print jobs).
        job = printing.job(get_store(), job_id, get_clock().now(), names=printing.printer_names(service.config))
        if job is None or job["ticket_id"] != ticket.id:
            abort(404)
    outlook = outlook or service.ticket_outlook(ticket)
    line = service.config.line(ticket.line)
    context: dict[str, Any] = {
        "ticket": ticket,
        "line": line,
        "outlook": outlook,
        "ahead": outlook.people_ahead,
        "estimate": outlook.estimate,
        "matter": service.config.matter(ticket.matter) if ticket.matter else None,
        "windows": window_groups(service, outlook.windows),
        "job": job,
        "transfer": service.transfer_note(ticket),
    }
    if job is not None and job["state"] not in printing.FINAL:
        return render_screen(
            "_kiosk_printing.html",
            idle=False,
            toggles=False,
            poll_ms=PRINT_POLL_MS,
            poll_url=kurl("print_status", ticket_id=ticket.id, job_id=job_id),
            **context,
        )
    if job is not None and job["state"] == "done":
        return render_screen("_kiosk_ticket.html", toggles=False, printed=True, **context)
    failed = job is not None
    if failed:
        # The slip did not print: the number, very large, to remember (or reprint at the desk). It
        # stays valid, and the screen goes home by itself so the next citizen does not have to.
        return render_screen(
            "_kiosk_ticket.html",
            idle_s=FAILED_IDLE_FACTOR * (g.kstate["idle"] or _idle_default()),
            toggles=False,
            printed=False,
            failed=True,
            qr=qr_svg(service.qr_text(ticket)),
            qr_is_link=bool(service.hall.public_url),
            **context,
        )
    # No printer at all: the on-screen ticket is the citizen's only copy; it stays until touched.
    return render_screen(
        "_kiosk_ticket.html",
        idle=False,
        toggles=False,
        printed=False,
        failed=False,
        qr=qr_svg(service.qr_text(ticket)),
        qr_is_link=bool(service.hall.public_url),
        **context,
    )


@kiosk.errorhandler(404)
def kiosk_not_found(_exc):
    if getattr(g, "kiosk_id", None) is None:
        return "Not found", 404
    return render_screen("_kiosk_missing.html", status=200 if request.htmx else 404)


# ---------- appointments: check-in by booking reference ----------

REFERENCE_MAX = 20  # digits a booking reference has at most (queue/appointments.REFERENCE)


def _reference_arg() -> str:
    """The digits typed so far: anything else in the query string is dropped, never an error."""
    return "".join(ch for ch in request.values.get("ref", "") if "0" <= ch <= "9")[:REFERENCE_MAX]


@kiosk.get("/<kiosk_id>/appointment")
@kiosk_view
def appointment_pad(kiosk_id: str):
    """预约签到: the booking reference typed on a digits pad (docs/appointments.md#at-the-kiosk)."""
    return render_screen("_kiosk_appointment_pad.html", ref=_reference_arg(), not_found=False)


@kiosk.get("/<kiosk_id>/appointment/found")
@kiosk_view
def appointment_found(kiosk_id: str):
    """The booking of the typed reference with one button to check in, or why it cannot be now."""
    service = get_service()
    ref = _reference_arg()
    found = appointments.find_for_checkin(get_store(), service.config, reference=ref, now=get_clock().now())
    if found is None:
        return render_screen("_kiosk_appointment_pad.html", ref=ref, not_found=True)
    return _appointment_screen(service, found)


def _appointment_screen(service: HallService, found: appointments.Appointment, refused=None):
    why = refused or appointments.refusal(get_store(), service.config, found, get_clock().now())
    line = service.config.line_of_matter(found.matter)
    closed = None if why else refusal_for(service, line.prefix)
    return render_screen(
        "_kiosk_appointment.html",
        appointment=found,
        matter=service.config.matter(found.matter),
        line=line,
        slot=found.slot_text(service.config),
        day=found.service_day,
        today=calendar.service_day(get_clock().now(), service.hall),
        why=why,
        closed=closed,
        request_key=secrets.token_urlsafe(16),
    )


@kiosk.post("/<kiosk_id>/appointment/checkin")
@kiosk_view
def appointment_checkin(kiosk_id: str):
    """Check in (one transaction: the ticket with the slot's start as its appointment time, and the
    booking marked) and answer with the usual ticket screen; a double tap gets the same ticket."""
    service = get_service()
    ref = _reference_arg()
    key = request.form.get("key", "")
    if not KEY_RE.match(key) or not ref:
        abort(400)
    try:
        _, issued = appointments.check_in(service, ref, kiosk=kiosk_id, actor=g.principal.actor, request_key=key)
    except appointments.UnknownAppointment:
        return render_screen("_kiosk_appointment_pad.html", ref=ref, not_found=True)
    except errors.RequestKeyReused:
        abort(400)
    except (appointments.CheckinTooEarly, appointments.CheckinTooLate, appointments.AppointmentNotBooked) as exc:
        found = appointments.get(get_store(), service.config, ref)
        return _appointment_screen(service, found, exc)
    except errors.QueueError as exc:
        found = appointments.get(get_store(), service.config, ref)
        line = service.config.line_of_matter(found.matter)
        return render_refusal(service, Refusal.from_error(exc), line)
    return ticket_screen(service, issued.ticket, issued.print_job, outlook=issued.outlook)


# ---------- an ID card on the reader (docs/kiosk.md#with-an-id-card) ----------


@kiosk.post("/<kiosk_id>/card/checkin")
@kiosk_view
def card_checkin(kiosk_id: str):
    """The card panel's one touch: check in the holder's booking today, the card used up in the same
    transaction; the usual ticket screen, or why not (too early, too late) with the usual choice."""
    service = get_service()
    key = request.form.get("key", "")
    token = _card_token(request.form)
    if not KEY_RE.match(key) or token is None:
        abort(400)
    try:
        _, issued = card_tickets.check_in_with_card(service, kiosk_id, token, actor=g.principal.actor, request_key=key)
    except (card_tickets.CardGone, card_tickets.NoBookingForCard):
        return render_screen("_kiosk_card_gone.html")
    except errors.RequestKeyReused:
        abort(400)
    except (appointments.CheckinTooEarly, appointments.CheckinTooLate, appointments.AppointmentNotBooked) as exc:
        # the panel offered check-in a moment ago: the window closed since (the clock, not a commit)
        card = card_waiting(kiosk_id)
        found = None
        if card is not None:
            found = card_tickets.booking_for_card(get_store(), service.config, card.id_hash, get_clock().now())
        if found is None:
            return render_screen("_kiosk_card_gone.html")
        return _appointment_screen(service, found, exc)
    except errors.QueueError as exc:
        return render_refusal(service, Refusal.from_error(exc))
    return ticket_screen(service, issued.ticket, issued.print_job, outlook=issued.outlook)
