"""What the hall's screens show, read from the store: one named query per thing shown.

The web asks these (and the services' own reading methods) and runs no SQL itself, so the manager's
live hall and the hall display, which show the same windows and lines, read them the same way.
Everything here is about today's service day (the hall's local date) unless it says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import calendar
from .service import HallService, Ticket, WindowState
from .store import parse_iso, utc_iso


def service_day(service: HallService) -> str:
    """Today's service day, YYYY-MM-DD in the hall's time zone."""
    return calendar.service_day(service.clock.now(), service.hall)


def line_waits(service: HallService) -> dict[str, dict]:
    """Waiting count and the oldest place in line, per line, today (one cheap query)."""
    rows = service.store.all(
        "SELECT line, COUNT(*) AS n, MIN(queued_at) AS oldest FROM tickets"
        " WHERE state = 'waiting' AND service_day = ? GROUP BY line",
        (service_day(service),),
    )
    now = service.clock.now()
    out = {}
    for line in service.config.lines:
        row = next((r for r in rows if r["line"] == line.prefix), None)
        oldest = parse_iso(row["oldest"]) if row else None
        out[line.prefix] = {
            "prefix": line.prefix,
            "name_zh": line.name_zh,
            "name_en": line.name_en,
            "waiting": row["n"] if row else 0,
            "oldest": utc_iso(oldest) if oldest else None,
            "longest_min": int((now - oldest).total_seconds() // 60) if oldest else 0,
        }
    return out


def current_by_window(service: HallService) -> dict[int, Ticket]:
    """The ticket called to or being served at each window that has one."""
    rows = service.store.all("SELECT * FROM tickets WHERE state IN ('called', 'serving') AND window IS NOT NULL")
    return {row["window"]: Ticket.from_row(row) for row in rows}


@dataclass(frozen=True)
class LiveHall:
    """The hall as the manager's console and the hall display show it."""

    windows: list[WindowState]
    current: dict[int, Ticket]  # window number → its called or serving ticket
    lines: list[dict]  # per line in hall order: line_waits' fields and ``serving``, the open windows serving it


def live_hall(service: HallService) -> LiveHall:
    windows = service.windows()
    waits = line_waits(service)
    return LiveHall(
        windows=windows,
        current=current_by_window(service),
        lines=[
            {
                **waits[line.prefix],
                "serving": [w.number for w in windows if w.state == "open" and w.clerk and line.prefix in w.serving],
            }
            for line in service.config.lines
        ],
    )


def hall_totals(service: HallService) -> dict:
    """Today's counts, mean wait to first call (minutes) and share of good ratings, for the manager."""
    day = service_day(service)
    counts = {
        r["state"]: r["n"]
        for r in service.store.all(
            "SELECT state, COUNT(*) AS n FROM tickets WHERE service_day = ? GROUP BY state", (day,)
        )
    }
    wait_row = service.store.one(
        "SELECT AVG((julianday(e.at) - julianday(t.issued_at)) * 1440) FROM events e JOIN tickets t"
        " ON t.id = e.ticket_id WHERE t.service_day = ? AND e.action = 'call' AND e.id = (SELECT MIN(id) FROM events"
        " WHERE ticket_id = t.id AND action = 'call')",
        (day,),
    )
    assert wait_row is not None  # an aggregate without GROUP BY returns exactly one row
    wait = wait_row[0]
    rated = service.store.all(
        "SELECT json_extract(e.data, '$.level') AS level FROM events e JOIN tickets t ON t.id = e.ticket_id"
        " WHERE t.service_day = ? AND e.action = 'rate' AND json_extract(e.data, '$.level') IS NOT NULL",
        (day,),
    )
    good = sum(1 for r in rated if r["level"] >= 3)
    return {
        "issued": sum(counts.values()),
        "done": counts.get("done", 0),
        "waiting": counts.get("waiting", 0),
        "in_service": counts.get("called", 0) + counts.get("serving", 0) + counts.get("suspended", 0),
        "no_show": counts.get("no_show", 0),
        "mean_wait": wait,
        "satisfaction": good / len(rated) if rated else None,
        "rated": len(rated),
    }


def recent_calls(service: HallService, *, window: int | None = None, limit: int = 40) -> list[dict]:
    """Call and recall events of today, newest first (one row per event)."""
    where = "AND e.window = ?" if window is not None else ""
    day = service_day(service)
    params = (day, window) if window is not None else (day,)
    rows = service.store.all(
        "SELECT e.id, e.at, e.window, e.action, t.id AS ticket_id, t.number, t.line, t.state, t.window AS now_window"
        " FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE e.action IN ('call', 'recall')"
        f" AND t.service_day = ? {where} ORDER BY e.id DESC LIMIT {int(limit)}",
        params,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class HallCalls:
    """Call and recall events as the hall display shows them, each marked whether it is still current.

    A call is current while its ticket is still called or being served at the window it was called
    to, and the event is that ticket's newest call or recall: the same ``current`` map the window
    tiles show (``LiveHall.current``) decides it, so the banner, the tiles, the recent calls and the
    voice never disagree. A ticket finished, struck out as a no-show, transferred to another line,
    or its window on a break or closed, is no longer current, and the banner lets it go at once.
    """

    events: list[dict]  # newest first; recent_calls' fields and ``current`` (bool)
    banner: dict | None  # the newest event that is still current, or None (the banner is idle)
    current_ids: frozenset[int]  # ids of the current events, at most one per window


def hall_calls(
    service: HallService,
    windows: list[WindowState],
    current: dict[int, Ticket],
    *,
    window: int | None = None,
    limit: int = 40,
) -> HallCalls:
    """Today's call and recall events (``recent_calls``), each marked current or not from the windows
    and the tickets the tiles show (``live_hall``'s ``windows`` and ``current``)."""
    events = recent_calls(service, window=window, limit=limit)
    open_windows = {w.number for w in windows if w.state == "open"}
    newest: dict[int, int] = {}  # ticket id → its newest call/recall event id
    for e in events:
        newest.setdefault(e["ticket_id"], e["id"])
    marked = []
    for e in events:
        ticket = current.get(e["window"])
        still = (
            ticket is not None
            and ticket.id == e["ticket_id"]
            and newest[e["ticket_id"]] == e["id"]
            and e["window"] in open_windows
        )
        marked.append({**e, "current": still})
    return HallCalls(
        events=marked,
        banner=next((e for e in marked if e["current"]), None),
        current_ids=frozenset(e["id"] for e in marked if e["current"]),
    )


def last_done(service: HallService, window: int) -> Ticket | None:
    """The ticket this window finished last today (its citizen may still need a case opened)."""
    row = service.store.one(
        "SELECT * FROM tickets WHERE window = ? AND state = 'done' AND service_day = ?"
        " ORDER BY finished_at DESC LIMIT 1",
        (window, service_day(service)),
    )
    return Ticket.from_row(row) if row else None


def ticket_numbered(service: HallService, number: str) -> Ticket | None:
    """Today's ticket with this number (A012), the newest if a number came round twice."""
    row = service.store.one(
        "SELECT * FROM tickets WHERE number = ? AND service_day = ? ORDER BY id DESC LIMIT 1",
        (number, service_day(service)),
    )
    return Ticket.from_row(row) if row else None
