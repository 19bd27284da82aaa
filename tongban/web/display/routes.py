"""Hall display (``/display``, 1920×1080) and per-window screens (``/display/window/<n>``).

One SSE stream per screen (docs/architecture.md §Web): window tiles, the last calls, waiting per line, and the
announcements. Every call and recall event in the events log is one announcement (so a recall is
announced again); its clips come from ``tongban.voice.call_sequence`` and the page plays them in
order, one announcement at a time (static/js/display.js).
"""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, abort, render_template, request

from ... import voice
from ...queue import errors
from ...queue.service import HallService, Ticket
from ...queue.store import utc_iso
from ..access import page_requires
from ..context import get_clock, get_service
from ..window.routes import line_waits, live, person, today

display = Blueprint("display", __name__, template_folder="templates", url_prefix="/display")

RECENT_CALLS = 8
ANNOUNCEMENTS = 6


VOICE_PREFIX = "voice/"


@lru_cache(maxsize=4096)
def clips(number: str, window: int) -> tuple[str, ...]:
    """The clips of one call, relative to static/voice/ (``zh/qing.ogg`` …), from voice.call_sequence."""
    try:
        return tuple(path[len(VOICE_PREFIX) :] for path in voice.call_sequence(number, window))
    except voice.VoiceError:
        return ()  # a window or number the clips cannot say is still shown, just not spoken


def recent_calls(service: HallService, *, window: int | None = None, limit: int = 40) -> list[dict]:
    """Call and recall events of today, newest first (one row per event)."""
    where = "AND e.window = ?" if window is not None else ""
    params = (today(service), window) if window is not None else (today(service),)
    rows = service.store.all(
        "SELECT e.id, e.at, e.window, e.action, t.id AS ticket_id, t.number, t.line, t.state, t.window AS now_window"
        " FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE e.action IN ('call', 'recall')"
        f" AND t.service_day = ? {where} ORDER BY e.id DESC LIMIT {int(limit)}",
        params,
    )
    return [dict(r) for r in rows]


def _last_per_ticket(calls: list[dict], n: int) -> list[dict]:
    seen, out = set(), []
    for call in calls:
        if call["ticket_id"] in seen:
            continue
        seen.add(call["ticket_id"])
        out.append(call)
        if len(out) == n:
            break
    return out


def _announcements(calls: list[dict]) -> list[dict]:
    """The newest call/recall events, oldest first, each with its clips (relative to static/voice/;
    the page puts ``?a=<event id>&p=<n>`` on each, see display.js)."""
    return [
        {**call, "clips": " ".join(clips(call["number"], call["window"]))} for call in reversed(calls[:ANNOUNCEMENTS])
    ]


def _current_by_window(service: HallService) -> dict[int, Ticket]:
    rows = service.store.all("SELECT * FROM tickets WHERE state IN ('called', 'serving') AND window IS NOT NULL")
    return {row["window"]: Ticket.from_row(row) for row in rows}


def _hall_context() -> dict:
    service = get_service()
    calls = recent_calls(service)
    waits = line_waits(service)
    windows = service.windows()
    current = _current_by_window(service)
    return {
        "windows": windows,
        "current": current,
        "recent": _last_per_ticket(calls, RECENT_CALLS),
        "announce": _announcements(calls),
        "latest": calls[0] if calls else None,
        "lines": [
            {
                **waits[line.prefix],
                "serving": [w.number for w in windows if w.state == "open" and line.prefix in w.serving],
            }
            for line in service.config.lines
        ],
    }


def _hall_fragments() -> dict[str, str]:
    ctx = _hall_context()
    return {
        name: render_template(f"_display_{name}.html", **ctx) for name in ("windows", "recent", "lines", "announce")
    }


@display.get("/")
@page_requires(staff=True, terminals=("display",))
def hall():
    return render_template(
        "display.html",
        **_hall_context(),
        voice_on=request.args.get("voice") != "0",
        server_time=utc_iso(get_clock().now()),
    )


@display.get("/stream")
@page_requires(staff=True, terminals=("display",))
def hall_stream():
    return live("display:hall", _hall_fragments)


# ---------- per-window screen ----------


def _window_context(number: int) -> dict:
    service = get_service()
    try:
        state = service.window(number)
    except errors.UnknownWindow:
        abort(404)
    calls = recent_calls(service, window=number, limit=20)
    waits = line_waits(service)
    return {
        "number": number,
        "win": state,
        "win_cfg": service.config.window(number),
        "clerk": person(state.clerk),
        "ticket": service.current_ticket(number),
        "recent": _last_per_ticket(calls, 4)[1:],
        "announce": _announcements(calls),
        "latest": calls[0] if calls else None,
        "lines": [waits[p] for p in state.serving],
    }


@display.get("/window/<int:number>")
@page_requires(staff=True, terminals=("display",))
def window_screen(number: int):
    # Small screens over a window usually have no speaker: voice only when asked for (?voice=1).
    return render_template(
        "display_window.html",
        **_window_context(number),
        voice_on=request.args.get("voice") == "1",
        server_time=utc_iso(get_clock().now()),
    )


@display.get("/window/<int:number>/stream")
@page_requires(staff=True, terminals=("display",))
def window_stream(number: int):
    _window_context(number)  # 404 for an unknown window before the stream starts

    def fragments() -> dict[str, str]:
        ctx = _window_context(number)
        return {
            "screen": render_template("_display_window_screen.html", **ctx),
            "announce": render_template("_display_announce.html", **ctx),
        }

    return live(f"display:window:{number}", fragments)
