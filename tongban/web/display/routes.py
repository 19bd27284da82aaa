"""Hall display (``/display``, 1920×1080) and per-window screens (``/display/window/<n>``).

One SSE stream per screen (docs/architecture.md §Web): the "now calling" banner, window tiles, the last
calls, waiting per line, and the announcements. Every call and recall event in the events log is one
announcement (so a recall is announced again); its clips come from ``tongban.voice.call_sequence``
and the page plays them in order, one announcement at a time (static/js/display.js).

Which calls are still current is decided once, by ``views.hall_calls`` from the same windows and
tickets the tiles show: the banner shows the newest current call (or the idle welcome), and each
announcement says whether it is still current, so the page never speaks or highlights a call whose
ticket was finished, struck out, transferred, or whose window went on a break or closed.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, abort, render_template, request

from ... import voice
from ...queue import errors, views
from ...queue.store import utc_iso
from ..access import page_requires
from ..context import get_clock, get_service
from ..shared import live, person

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


def _hall_context() -> dict:
    service = get_service()
    hall = views.live_hall(service)
    calls = views.hall_calls(service, hall.windows, hall.current)
    return {
        "windows": hall.windows,
        "current": hall.current,
        "recent": _last_per_ticket(calls.events, RECENT_CALLS),
        "announce": _announcements(calls.events),
        "current_ids": sorted(calls.current_ids),
        "latest": calls.banner,
        "lines": hall.lines,
    }


def _hall_fragments() -> dict[str, str]:
    ctx = _hall_context()
    return {
        name: render_template(f"_display_{name}.html", **ctx)
        for name in ("banner", "windows", "recent", "lines", "announce")
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
    ticket = service.current_ticket(number)
    calls = views.hall_calls(service, [state], {number: ticket} if ticket else {}, window=number, limit=20)
    waits = views.line_waits(service)
    return {
        "number": number,
        "win": state,
        "win_cfg": service.config.window(number),
        "clerk": person(state.clerk),
        "ticket": ticket,
        # Called before: the window's last calls other than the one it shows now.
        "recent": [c for c in _last_per_ticket(calls.events, 4) if not c["current"]][:3],
        "announce": _announcements(calls.events),
        "current_ids": sorted(calls.current_ids),
        "latest": calls.banner,
        "lines": [waits[p] for p in state.serving],
    }


@display.get("/window/<id:number>")
@page_requires(staff=True, terminals=("display",))
def window_screen(number: int):
    # Small screens over a window usually have no speaker: voice only when asked for (?voice=1).
    return render_template(
        "display_window.html",
        **_window_context(number),
        voice_on=request.args.get("voice") == "1",
        server_time=utc_iso(get_clock().now()),
    )


@display.get("/window/<id:number>/stream")
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
