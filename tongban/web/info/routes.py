"""Public pages, no login (docs/kiosk.md): the cross-province matters with their guides, every cross-province
window of the district, and the ticket status page a phone opens from the ticket's QR code.

The status page is found by the ticket's unguessable token, never by its id, and shows nothing
personal: the number, the line, the matter, the position and the window.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, url_for

from ...config import WEEKDAYS, HallConfig
from ...queue import calendar, errors
from ...queue.service import HallService, Ticket
from ...texts import split_bilingual
from .. import live
from ..context import get_broker, get_search, get_service
from ..htmx import request
from ..kiosk.routes import window_groups

info = Blueprint("info", __name__, template_folder="templates")


def matching_matters(config: HallConfig, query: str) -> list:
    """Every matter without a query; with one, the matches of the hall's search, best first: Chinese as
    people say it, pinyin (full, initials, misspelled), everyday names, English (queue/search.py)."""
    if not query.strip():
        return list(config.matters)
    return [config.matter(code) for code in get_search().search(query)]


def grouped(config: HallConfig, matters: list, *, ranked: bool = False) -> list[dict]:
    """Department → batch → matters, in the order of the hall file; ``ranked`` (a search's answer):
    the department, batch and matter of the best match first."""
    departments = list(config.departments)
    if ranked:
        first: dict[str, int] = {}
        for i, m in enumerate(matters):
            first.setdefault(m.department, i)
        departments.sort(key=lambda d: first.get(d.code, len(matters)))
    out = []
    for dept in departments:
        mine = [m for m in matters if m.department == dept.code]
        if not mine:
            continue
        batch_order = list(dict.fromkeys(m.batch for m in mine)) if ranked else sorted({m.batch for m in mine})
        batches = [{"batch": batch, "matters": [m for m in mine if m.batch == batch]} for batch in batch_order]
        out.append({"dept": dept, "batches": batches, "count": len(mine)})
    return out


def hours_text(hall) -> list[tuple[str, str, str]]:
    """Opening hours as runs of weekdays with the same periods: (first day, last day, periods)."""
    runs: list[tuple[str, str, str]] = []
    for day in WEEKDAYS:
        periods = ", ".join(str(p) for p in hall.hours.get(day, ()))
        if not periods:
            continue
        if runs and runs[-1][2] == periods and WEEKDAYS.index(runs[-1][1]) == WEEKDAYS.index(day) - 1:
            runs[-1] = (runs[-1][0], day, periods)
        else:
            runs.append((day, day, periods))
    return runs


@info.get("/info")
def home():
    """Matters by department and batch with their guides, and the district's cross-province windows."""
    service = get_service()
    config = service.config
    query = request.args.get("q", "")[:40]
    matters = matching_matters(config, query)
    context = {
        "groups": grouped(config, matters, ranked=bool(query.strip())),
        "query": query,
        "total": len(matters),
        "all_total": len(config.matters),
        "split": split_bilingual,
        "line_of": config.line_of_matter,
        "hours": hours_text(service.hall),
        "windows": config.windows,
        "district": config.district_windows,
        "lang_url": url_for(
            "pages.set_lang", lang="en" if _lang() == "zh" else "zh", next=request.full_path.rstrip("?")
        ),
    }
    if request.htmx:
        return _no_store(Response(render_template("_info_matters.html", **context), mimetype="text/html"))
    return _no_store(Response(render_template("info.html", **context), mimetype="text/html"))


# ---------- ticket status for phones ----------


def _ticket(token: str) -> Ticket:
    if not token or len(token) > 64:
        abort(404)
    try:
        return get_service().ticket_by_token(token)
    except errors.UnknownTicket:
        abort(404)


def status_context(service: HallService, ticket: Ticket) -> dict:
    """What the status page shows: position and estimate, or the window that calls it. Nothing personal."""
    today = calendar.service_day(service.clock.now(), service.hall)
    outlook = service.ticket_outlook(ticket)  # the same as the kiosk, the slip and the API
    window = service.config.window(ticket.window) if ticket.window else None
    return {
        "number": ticket.number,
        "state": ticket.state,
        "recalls": ticket.recalls,
        "stale": ticket.service_day != today,
        "service_day": ticket.service_day,
        "line": service.config.line(ticket.line),
        "matter": service.config.matter(ticket.matter) if ticket.matter else None,
        "ahead": outlook.people_ahead,
        "is_next": outlook.is_next,
        "transfer": service.transfer_note(ticket),
        "estimate": outlook.estimate,
        "opens_at": outlook.opens_at,
        "window": window,
        "windows": window_groups(service, outlook.windows),
        "updated": calendar.local(service.clock.now(), service.hall),
    }


# Set by the front server (nginx, tongban/front.py) when its own cap on public streams refused one.
STREAMS_FULL_HEADER = "X-Tongban-Streams-Full"


def _public_slot(token: str) -> live.Slot:
    config = current_app.config
    return live.Slot(
        "public",
        token,
        config.get("PUBLIC_STREAMS", live.PUBLIC_STREAMS),
        config.get("PUBLIC_STREAMS_PER_TICKET", live.PUBLIC_STREAMS_PER_TICKET),
    )


@info.get("/t/<token>")
def ticket_status(token: str):
    service = get_service()
    ticket = _ticket(token)
    # Past the caps on phone streams the page asks again every 10 s instead of holding a stream
    # (a thread of the server); ?poll=1 is that question.
    poll = request.args.get("poll") == "1" or not get_broker().has_room(_public_slot(token))
    context = {
        **status_context(service, ticket),
        "token": token,
        "poll": poll,
        "lang_url": url_for(
            "pages.set_lang", lang="en" if _lang() == "zh" else "zh", next=request.full_path.rstrip("?")
        ),
    }
    template = "_status_state.html" if request.htmx else "status.html"
    return _no_store(Response(render_template(template, **context), mimetype="text/html"))


@info.get("/t/<token>/live")
def ticket_status_live(token: str):
    """One SSE stream: the ticket's state whenever anything in the hall changes. Beyond the caps, the
    state once with polling switched on, then ``fallback``, which closes the page's stream."""
    _ticket(token)

    def render_all() -> dict[str, str]:
        service = get_service()
        return {"status": render_template("_status_state.html", **status_context(service, _ticket(token)))}

    def overflow() -> dict[str, str]:
        context = status_context(get_service(), _ticket(token))
        return {"status": render_template("_status_state.html", **context, token=token, poll=True), "fallback": ""}

    if request.headers.get(STREAMS_FULL_HEADER):
        return live.overflow_response(get_broker(), overflow)
    return live.sse_response(get_broker(), render_all, slot=_public_slot(token), overflow=overflow)


@info.errorhandler(404)
def missing(_exc):
    return render_template("status_missing.html"), 404


def _lang() -> str:
    from ..context import current_lang

    return current_lang()


def _no_store(response: Response) -> Response:
    response.headers["Vary"] = "HX-Request"
    response.headers["Cache-Control"] = "no-store"
    return response
