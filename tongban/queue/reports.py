"""The hall report: what happened on one service day, or a week, a month or any run of days, from
the events log alone.

Nothing is ever deleted (docs/architecture.md §Ticket lifecycle), so any past period can be reported.
Pure over the store: no Flask, no clock. The manager console shows the tables with SVG charts (drawn
by web/manage/charts.py from these rows), and exports each table as CSV. Over more than one day the
report adds a row per day (``days``) and 好差评 satisfaction per day by matter, window and clerk
(``satisfaction_trend``), which the console draws as trend charts.

Definitions (the same on screen and in CSV):
* wait: from issue to the ticket's first call (what the citizen waited before being called);
* service: from the last "start" to each "finish" (suspended time included: the citizen was there);
* a ticket counts in the line that numbered it (its prefix), even if it was transferred later;
* satisfaction: 非常满意 + 满意 + 基本满意 over all ratings given (not-rated services left out);
* a rating counts on the service day of its ticket.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .. import csvout
from ..config import HallConfig
from ..texts import both, labels
from .appointments import day_counts as appointment_counts
from .cases import case_counts
from .ratings import BAD_LEVELS, LEVELS, NOT_RATED, REASONS
from .service import GREEN_REASONS
from .store import Store, parse_iso

NO_MATTER = both("report_no_matter")
#: Why a green-channel ticket had priority, by GREEN_REASONS key; None: not recorded.
GREEN_NAMES: dict[str | None, tuple[str, str]] = {
    **{key: both(f"green_reason_{key}") for key in GREEN_REASONS},
    None: both("green_reason_unrecorded"),
}


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def p90(values: list[float]) -> float | None:
    """Nearest-rank 90th percentile (a value that really occurred)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass
class _Group:
    """Counters for one row of a table (a line, a matter, a window or a clerk)."""

    issued: int = 0
    calls: int = 0
    recalls: int = 0
    served: int = 0
    no_shows: int = 0
    transfers: int = 0
    waits: list[float] = field(default_factory=list)
    services: list[float] = field(default_factory=list)
    levels: dict[Any, int] = field(default_factory=lambda: defaultdict(int))

    def rated(self) -> int:
        return sum(n for level, n in self.levels.items() if level is not None)

    def satisfaction(self) -> float | None:
        rated = self.rated()
        good = sum(n for level, n in self.levels.items() if level is not None and level >= 3)
        return good / rated if rated else None


#: The columns of each table, titled by report_col_<column> in the text table (queue.toml), or by
#: report_<table>_<column> where that table titles the column its own way (_OWN_TITLES).
_COLUMN_KEYS: dict[str, tuple[str, ...]] = {
    "lines": (
        "prefix",
        "name",
        "issued",
        "served",
        "no_shows",
        "transfers",
        "wait_mean",
        "wait_p90",
        "service_mean",
        "service_p90",
    ),
    "matters": (
        "code",
        "name",
        "line",
        "issued",
        "served",
        "no_shows",
        "wait_mean",
        "wait_p90",
        "service_mean",
        "service_p90",
    ),
    "windows": (
        "window",
        "calls",
        "recalls",
        "served",
        "no_shows",
        "transfers",
        "wait_mean",
        "service_mean",
        "service_p90",
        "rated",
        "satisfaction",
    ),
    "clerks": (
        "clerk",
        "staff_no",
        "calls",
        "served",
        "no_shows",
        "transfers",
        "service_mean",
        "service_p90",
        "rated",
        "satisfaction",
    ),
    "ratings": ("level", "count", "share"),
    "bad_ratings": ("time", "number", "window", "clerk", "matter", "level", "reasons", "comment"),
    "transfers": ("time", "number", "window", "from_line", "to_line", "reason"),
    "green": ("reason", "issued", "served", "wait_mean"),
    "hours": ("hour", "issued", "calls", "served"),
    "cases": ("opened", "sent", "delivered", "overdue"),
    "appointments": ("booked", "checked_in", "no_show", "cancelled"),
    "days": ("day", "issued", "served", "no_shows", "wait_mean", "wait_p90", "service_mean", "rated", "satisfaction"),
    "satisfaction_trend": ("day", "dimension", "name", "rated", "satisfaction"),
}

#: The groups satisfaction is followed by over the days (report_dimension_<name> words them).
DIMENSIONS = ("matter", "window", "clerk")
#: The longest period one report covers (a year and a day: any calendar year fits).
MAX_DAYS = 366


_OWN_TITLES = {("lines", "transfers"), ("matters", "name"), ("green", "reason")}

#: Columns of each table: key, 中文, English. HTML and CSV are both made from these.
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    name: [(key, *both(f"report_{name}_{key}" if (name, key) in _OWN_TITLES else f"report_col_{key}")) for key in keys]
    for name, keys in _COLUMN_KEYS.items()
}

#: Columns holding text (left-aligned); the rest are numbers.
TEXT_KEYS = frozenset(
    {
        "prefix",
        "name",
        "code",
        "line",
        "clerk",
        "staff_no",
        "level",
        "time",
        "number",
        "matter",
        "reasons",
        "comment",
        "from_line",
        "to_line",
        "reason",
        "hour",
        "day",
        "dimension",
    }
)

TABLE_TITLES: dict[str, tuple[str, str]] = labels("report_title_", _COLUMN_KEYS)


@dataclass
class DayReport:
    """The report of the service days ``day`` to ``last`` (the same day for a day report)."""

    day: str
    totals: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    last: str = ""

    def __post_init__(self) -> None:
        self.last = self.last or self.day

    @property
    def days(self) -> list[str]:
        return days_between(self.day, self.last)

    def rows(self, name: str) -> list[dict[str, Any]]:
        return self.tables[name]


def _minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60.0


def _row_stats(group: _Group) -> dict[str, Any]:
    return {
        "issued": group.issued,
        "calls": group.calls,
        "recalls": group.recalls,
        "served": group.served,
        "no_shows": group.no_shows,
        "transfers": group.transfers,
        "wait_mean": mean(group.waits),
        "wait_p90": p90(group.waits),
        "service_mean": mean(group.services),
        "service_p90": p90(group.services),
        "rated": group.rated(),
        "satisfaction": group.satisfaction(),
    }


def days_between(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last`` (YYYY-MM-DD), both included."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def day_report(store: Store, config: HallConfig, day: str) -> DayReport:
    return period_report(store, config, day, day)


def period_report(store: Store, config: HallConfig, first: str, last: str) -> DayReport:
    """The report of the service days ``first`` to ``last`` (YYYY-MM-DD, both included)."""
    if last < first or len(days_between(first, last)) > MAX_DAYS:
        raise ValueError(f"a report covers 1 to {MAX_DAYS} days, not {first}..{last}")
    tz = config.hall.tz
    tickets = {
        r["id"]: dict(r)
        for r in store.all("SELECT * FROM tickets WHERE service_day BETWEEN ? AND ? ORDER BY id", (first, last))
    }
    events = [
        dict(r)
        for r in store.all(
            "SELECT e.* FROM events e JOIN tickets t ON t.id = e.ticket_id"
            " WHERE t.service_day BETWEEN ? AND ? ORDER BY e.id",
            (first, last),
        )
    ]
    # An undone no-show, finish or transfer did not happen for the day's counts: leave out it and its undo.
    undone = {json.loads(e["data"]).get("undone_event") for e in events if e["action"] == "undo"}
    events = [e for e in events if e["action"] != "undo" and e["id"] not in undone]
    names = {
        r["username"]: (r["name"], r["staff_no"]) for r in store.all("SELECT username, name, staff_no FROM accounts")
    }

    by_line: dict[str, _Group] = defaultdict(_Group)
    by_matter: dict[str | None, _Group] = defaultdict(_Group)
    by_window: dict[int, _Group] = defaultdict(_Group)
    by_clerk: dict[str, _Group] = defaultdict(_Group)
    by_hour: dict[int, dict[str, int]] = defaultdict(lambda: {"issued": 0, "calls": 0, "served": 0})
    overall = _Group()
    by_day: dict[str, _Group] = defaultdict(_Group)
    # (dimension, key) -> day -> ratings given that day
    trend: dict[tuple[str, Any], dict[str, _Group]] = defaultdict(lambda: defaultdict(_Group))
    levels: dict[Any, int] = defaultdict(int)
    bad: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []

    for t in tickets.values():
        issued = parse_iso(t["issued_at"])
        by_hour[issued.astimezone(tz).hour]["issued"] += 1
        for group in (by_line[t["prefix"]], by_matter[t["matter"]], overall, by_day[t["service_day"]]):
            group.issued += 1

    first_call: dict[int, datetime] = {}
    last_start: dict[int, datetime] = {}
    rated_tickets: set[int] = set()
    for e in events:
        t = tickets[e["ticket_id"]]
        at = parse_iso(e["at"])
        data = json.loads(e["data"])
        action, window, actor = e["action"], e["window"], e["actor"]
        ticket_groups = (by_line[t["prefix"]], by_matter[t["matter"]], overall, by_day[t["service_day"]])
        staff_groups = [
            g
            for g in (
                by_window[window] if window is not None else None,
                by_clerk[actor] if actor and actor in names else None,
            )
            if g is not None
        ]
        if action == "call":
            by_hour[at.astimezone(tz).hour]["calls"] += 1
            for group in staff_groups + [overall]:
                group.calls += 1
            if t["id"] not in first_call:
                first_call[t["id"]] = at
                wait = _minutes(parse_iso(t["issued_at"]), at)
                for group in (*ticket_groups, *staff_groups):
                    group.waits.append(wait)
        elif action == "recall":
            for group in staff_groups + [overall]:
                group.recalls += 1
        elif action == "start":
            last_start[t["id"]] = at
        elif action == "finish":
            by_hour[at.astimezone(tz).hour]["served"] += 1
            service = _minutes(last_start[t["id"]], at) if t["id"] in last_start else None
            for group in (*ticket_groups, *staff_groups):
                group.served += 1
                if service is not None:
                    group.services.append(service)
        elif action == "no_show":
            for group in (*ticket_groups, *staff_groups):
                group.no_shows += 1
        elif action == "transfer":
            for group in (*ticket_groups, *staff_groups):
                group.transfers += 1
            transfers.append(
                {
                    "time": at.astimezone(tz).strftime("%H:%M"),
                    "number": t["number"],
                    "window": window,
                    "from_line": data.get("from_line"),
                    "to_line": data.get("to_line"),
                    "reason": data.get("reason") or "",
                }
            )
        elif action == "rate":
            rated_tickets.add(t["id"])
            level = data.get("level")
            levels[level] += 1
            clerk = data.get("clerk")
            day_of = t["service_day"]
            trend[("matter", t["matter"])][day_of].levels[level] += 1
            if data.get("window") is not None:
                trend[("window", data["window"])][day_of].levels[level] += 1
            if clerk in names:
                trend[("clerk", clerk)][day_of].levels[level] += 1
            for group in (
                by_line[t["prefix"]],
                by_matter[t["matter"]],
                overall,
                by_day[day_of],
                *(
                    g
                    for g in (
                        by_window[data["window"]] if data.get("window") is not None else None,
                        by_clerk[clerk] if clerk in names else None,
                    )
                    if g is not None
                ),
            ):
                group.levels[level] += 1
            if level in BAD_LEVELS:
                bad.append(
                    {
                        "time": at.astimezone(tz).strftime("%H:%M"),
                        "number": data.get("number", t["number"]),
                        "window": data.get("window"),
                        "clerk": _clerk_label(clerk, names),
                        "matter": _matter_name(config, data.get("matter")),
                        "level": LEVELS[level][0],
                        "reasons": "、".join(REASONS[r][0] for r in data.get("reasons", []) if r in REASONS),
                        "comment": data.get("comment") or "",
                    }
                )

    # Finished services the pad never closed count as not rated too.
    unclosed = [t for t in tickets.values() if t["state"] == "done" and t["id"] not in rated_tickets]
    levels[None] += len(unclosed)
    for t in unclosed:
        by_day[t["service_day"]].levels[None] += 1

    # Green-channel tickets by why they had priority (the clerk's choice when issuing; none recorded
    # for those issued through the API without one).
    by_green: dict[str | None, _Group] = defaultdict(_Group)
    for t in tickets.values():
        if t["green"]:
            group = by_green[t["green_reason"] if t["green_reason"] in GREEN_REASONS else None]
            group.issued += 1
            if t["state"] == "done":
                group.served += 1
            if t["id"] in first_call:
                group.waits.append(_minutes(parse_iso(t["issued_at"]), first_call[t["id"]]))
    green = [
        {
            "reason": GREEN_NAMES[key][0],
            "reason_en": GREEN_NAMES[key][1],
            "value": key,
            **_row_stats(by_green.get(key, _Group())),
        }
        for key in (*GREEN_REASONS, None)
        if key is not None or None in by_green
    ]
    rated_total = sum(n for level, n in levels.items() if level is not None)

    lines = []
    for line in config.lines:
        group = by_line.get(line.prefix, _Group())
        lines.append({"prefix": line.prefix, "name": line.name_zh, "name_en": line.name_en, **_row_stats(group)})
    matters = []
    for code, group in sorted(by_matter.items(), key=lambda kv: (-kv[1].issued, kv[0] or "")):
        prefix = config.line_of_matter(code).prefix if code and _known_matter(config, code) else ""
        matters.append({"code": code or "", "name": _matter_name(config, code), "line": prefix, **_row_stats(group)})
    windows = [{"window": n, **_row_stats(group)} for n, group in sorted(by_window.items())]
    clerks = [
        {"clerk": names[u][0], "username": u, "staff_no": names[u][1], **_row_stats(group)}
        for u, group in sorted(by_clerk.items(), key=lambda kv: names[kv[0]][1] or kv[0])
    ]
    rating_rows = [
        {
            "level": LEVELS[level][0],
            "level_en": LEVELS[level][1],
            "value": level,
            "count": levels.get(level, 0),
            "share": levels.get(level, 0) / rated_total if rated_total else None,
        }
        for level in LEVELS
    ]
    rating_rows.append(
        {"level": NOT_RATED[0], "level_en": NOT_RATED[1], "value": None, "count": levels.get(None, 0), "share": None}
    )
    hours = [{"hour": f"{h:02d}:00", **by_hour[h]} for h in sorted(by_hour)]
    days = [{"day": d, **_row_stats(by_day.get(d, _Group()))} for d in days_between(first, last)]
    satisfaction_trend = [
        {
            "day": d,
            "dimension": both(f"report_dimension_{dimension}")[0],
            "dimension_key": dimension,
            "key": key,
            "name": _trend_name(config, dimension, key, names),
            "rated": per_day[d].rated(),
            "satisfaction": per_day[d].satisfaction(),
        }
        for (dimension, key), per_day in sorted(
            trend.items(), key=lambda kv: (DIMENSIONS.index(kv[0][0]), str(kv[0][1] or ""))
        )
        for d in sorted(per_day)
    ]

    totals = {
        **_row_stats(overall),
        "waiting": sum(1 for t in tickets.values() if t["state"] == "waiting"),
        "in_service": sum(1 for t in tickets.values() if t["state"] in ("called", "serving", "suspended")),
        "not_rated": levels.get(None, 0),
        "bad_ratings": len(bad),
        "green": sum(row["issued"] for row in green),
    }
    return DayReport(
        first,
        totals,
        {
            "lines": lines,
            "matters": matters,
            "windows": windows,
            "clerks": clerks,
            "ratings": rating_rows,
            "bad_ratings": bad,
            "transfers": transfers,
            "green": green,
            "hours": hours,
            "cases": [case_counts(store, last, first=first)],
            # Bookings of the period's slots: booked (not cancelled), checked in, no-shows, cancelled.
            "appointments": [appointment_counts(store, config, first, last)],
            "days": days,
            "satisfaction_trend": satisfaction_trend,
        },
        last,
    )


def _trend_name(config: HallConfig, dimension: str, key: Any, names: dict[str, tuple[str, str]]) -> str:
    if dimension == "matter":
        return _matter_name(config, key)
    if dimension == "window":
        return both("report_window_n", n=key)[0]
    return _clerk_label(key, names)


def trend_series(report: DayReport, dimension: str, most: int = 6) -> list[tuple[str, list[float | None]]]:
    """Satisfaction per day of the ``most`` most-rated groups of a dimension, for a trend chart: one
    series per group (its name, one value per day of the report, None for a day without ratings)."""
    rows = [r for r in report.rows("satisfaction_trend") if r["dimension_key"] == dimension]
    totals: dict[Any, int] = defaultdict(int)
    for r in rows:
        totals[r["key"]] += r["rated"]
    chosen = sorted(totals, key=lambda k: (-totals[k], str(k or "")))[:most]
    series = []
    for key in chosen:
        per_day = {r["day"]: r["satisfaction"] for r in rows if r["key"] == key}
        name = next(r["name"] for r in rows if r["key"] == key)
        series.append((name, [per_day.get(d) for d in report.days]))
    return series


def _known_matter(config: HallConfig, code: str) -> bool:
    try:
        config.matter(code)
        return True
    except KeyError:
        return False


def _matter_name(config: HallConfig, code: str | None) -> str:
    if not code:
        return NO_MATTER[0]
    return config.matter(code).name_zh if _known_matter(config, code) else code


def _clerk_label(username: str | None, names: dict[str, tuple[str, str]]) -> str:
    if not username:
        return ""
    if username in names:
        name, staff_no = names[username]
        return f"{name}（{staff_no}）" if staff_no else name
    return username


# ---------- formatting (shared by the page and the CSV) ----------


def cell(key: str, value: Any) -> str:
    if value is None:
        return "—" if key not in ("reason", "reasons", "comment", "code", "line") else ""
    if key in ("satisfaction", "share"):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def csv_cell(key: str, value: Any) -> Any:
    """A value for the CSV: a number stays a number (one decimal, as on screen), a share stays a
    percentage, a missing number is an empty cell (the page's "—" would be text in a number column,
    which a spreadsheet cannot sum), the rest is what the page shows; csvout neutralises text a
    spreadsheet would run."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and key not in ("satisfaction", "share"):
        return round(value, 1) if isinstance(value, float) else value
    return cell(key, value)


def csv_table(report: DayReport, name: str) -> str:
    """One table as CSV (tongban/csvout.py: BOM, formulas neutralised), headers in Chinese and English."""
    columns = COLUMNS[name]
    return csvout.document(
        [f"{zh} / {en}" for _key, zh, en in columns],
        ([csv_cell(key, row.get(key)) for key, _zh, _en in columns] for row in report.rows(name)),
    )
