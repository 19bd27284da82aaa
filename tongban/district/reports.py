"""What the district sees (docs/district.md §Reports): one row per hall for a day, period reports by
hall, department, matter or window, the live state of every hall, and the cases across the district.

SQL over the district schema (migrations 0001 and 0003); no Flask. The definitions are the hall's own
(tongban/queue/reports.py ``period_report``), so a district figure equals the sum of the halls' day
reports:

* issued: tickets of the service day; waiting_now: those still waiting;
* served, no_show: "finish" and "no_show" events of those tickets, leaving out events an undo named
  (and the undo events themselves);
* wait: issue → the ticket's first call, in minutes; mean, and the nearest-rank p90 (PostgreSQL's
  ``percentile_disc(0.9)`` is the nearest rank);
* ratings: "rate" events with a level; satisfaction: the share of levels 3–5 among them;
* open cases: not delivered or withdrawn; overdue: time limit still running (cases.RUNNING) and the
  due day before the report's day.

Period reports read the day roll-ups of migration 0003, rebuilt first for the hall-days that changed
since (``refresh_rollups``), so a year of 20 halls is summed from a few hundred thousand rows. Their
p90 is the nearest-rank p90 of waits rounded up to the whole minute, which is the exact p90 rounded
up (rounding up keeps the values' order).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from ..queue.cases import FINAL_STATES, RUNNING, STATES
from ..queue.masking import mask_name
from ..queue.ratings import REASONS
from ..texts import Msg, both

#: The district's own day, for "today" on the live page (the halls of one district share a zone).
DISTRICT_TZ = ZoneInfo("Asia/Shanghai")
#: The longest period one report covers, as on the hall (a year and a day: any calendar year fits).
MAX_DAYS = 366
BY = ("hall", "department", "matter", "window")
PERIODS = ("day", "week", "month", "range")
#: At most this many cases on one page of the case list; the counts above it cover them all.
CASE_LIST_LIMIT = 500
#: Matter codes without a department anywhere (no catalogue entry, no case naming one).
OTHER_DEPARTMENT = "__other__"
_RATE_LEVEL = "CASE WHEN jsonb_typeof(e.data->'level') = 'number' THEN (e.data->>'level')::numeric END"
_RATE_WINDOW = "CASE WHEN jsonb_typeof(e.data->'window') = 'number' THEN (e.data->>'window')::numeric::int END"


class ReportError(ValueError):
    """A report asked for what cannot be given: a bad day, an upside-down or too long range, an
    unknown grouping. ``field`` names the form field; the words come from the text table."""

    def __init__(self, code: str, field: str, key: str, **values: object):
        self.code = code
        self.field = field
        self.message_zh, self.message_en = Msg(key, values).both()
        super().__init__(f"{field}: {self.message_en}")

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "field": self.field, "message_zh": self.message_zh, "message_en": self.message_en}


def _dicts(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# ---------- one row per hall for a day (the CLI's `district report`) ----------

_HALL_DAY_SQL = f"""
WITH t AS (
    SELECT hall,
           count(*) AS issued,
           count(*) FILTER (WHERE state = 'waiting') AS waiting_now,
           avg(extract(epoch FROM first_call_at - issued_at) / 60) AS mean_wait,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_call_at - issued_at) / 60) AS p90_wait
    FROM tickets WHERE service_day = %(day)s GROUP BY hall
), e AS (
    SELECT e.hall,
           count(*) FILTER (WHERE e.action = 'finish') AS served,
           count(*) FILTER (WHERE e.action = 'no_show') AS no_show,
           count(*) FILTER (WHERE e.action = 'rate' AND {_RATE_LEVEL} IS NOT NULL) AS ratings,
           count(*) FILTER (WHERE e.action = 'rate' AND {_RATE_LEVEL} >= 3) AS good
    FROM events e
    WHERE e.service_day = %(day)s AND e.action IN ('finish', 'no_show', 'rate') AND NOT e.undone
    GROUP BY e.hall
), c AS (
    SELECT hall,
           count(*) FILTER (WHERE state <> ALL(%(final)s)) AS open_cases,
           count(*) FILTER (WHERE state = ANY(%(running)s) AND due_day < %(day)s) AS overdue_cases
    FROM cases GROUP BY hall
)
SELECT h.id AS hall, h.last_sync_at,
       coalesce(t.issued, 0) AS issued, coalesce(e.served, 0) AS served, coalesce(e.no_show, 0) AS no_show,
       coalesce(t.waiting_now, 0) AS waiting_now, t.mean_wait, t.p90_wait,
       coalesce(e.ratings, 0) AS ratings, e.good,
       coalesce(c.open_cases, 0) AS open_cases, coalesce(c.overdue_cases, 0) AS overdue_cases
FROM halls h LEFT JOIN t ON t.hall = h.id LEFT JOIN e ON e.hall = h.id LEFT JOIN c ON c.hall = h.id
ORDER BY h.id
"""


def hall_day_rows(conn: psycopg.Connection[Any], day: date, *, now: datetime) -> list[dict[str, Any]]:
    """Every hall of ``halls`` (one without data too) on service day ``day``; keys as the CLI prints
    them. ``now`` is taken for the contract's sake: the row's figures are those of the data held."""
    del now  # the figures describe the day as synced; last_sync_at says how fresh that is
    rows = _dicts(conn, _HALL_DAY_SQL, {"day": day, "final": list(FINAL_STATES), "running": list(RUNNING)})
    return [
        {
            "hall": r["hall"],
            "last_sync_at": r["last_sync_at"],
            "issued": r["issued"],
            "served": r["served"],
            "no_show": r["no_show"],
            "waiting_now": r["waiting_now"],
            "mean_wait_min": _float(r["mean_wait"]),
            "p90_wait_min": _float(r["p90_wait"]),
            "ratings": r["ratings"],
            "satisfaction": (r["good"] / r["ratings"]) if r["ratings"] else None,
            "open_cases": r["open_cases"],
            "overdue_cases": r["overdue_cases"],
        }
        for r in rows
    ]


# ---------- periods ----------


@dataclass(frozen=True)
class Period:
    kind: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


#: Days a report may name: a week or a month around them stays a real date (not year 1 or 9999).
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _parse_day(value: str | None, field: str) -> date:
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        raise ReportError("bad_day", field, "dw_err_bad_day", value=(value or "")[:40]) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ReportError("bad_day", field, "dw_err_day_out_of_range", first=EARLIEST_DAY, last=LATEST_DAY)
    return day


def parse_period(kind: str | None, day: str | None, first: str | None, last: str | None, *, today: date) -> Period:
    """A period from a form: ``kind`` day/week/month around ``day`` (default today), or ``range`` from
    ``first`` to ``last``; a form giving from/to without a kind is a range. Refusals name the field."""
    if not kind:
        kind = "range" if (first or last) else "day"
    if kind not in PERIODS:
        raise ReportError("bad_period", "period", "dw_err_bad_period", value=kind[:40])
    if kind == "range":
        start, end = _parse_day(first, "from"), _parse_day(last, "to")
        if end < start:
            raise ReportError("bad_range", "to", "dw_err_range_backwards", first=start, last=end)
        if (end - start).days + 1 > MAX_DAYS:
            raise ReportError("bad_range", "to", "dw_err_range_too_long", most=MAX_DAYS)
        return Period(kind, start, end)
    anchor = _parse_day(day, "day") if day else today
    if kind == "day":
        return Period(kind, anchor, anchor)
    if kind == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return Period(kind, monday, monday + timedelta(days=6))
    first_of_month = anchor.replace(day=1)
    following = (first_of_month + timedelta(days=32)).replace(day=1)
    return Period(kind, first_of_month, following - timedelta(days=1))


# ---------- roll-ups ----------

_REBUILD_TEMP = f"""
CREATE TEMP TABLE report_rebuild ON COMMIT DROP AS
WITH d(hall, day) AS (SELECT * FROM unnest(%(halls)s::text[], %(days)s::date[])),
first_call AS (
    SELECT DISTINCT ON (e.hall, e.ticket_uid) e.hall, e.ticket_uid, e."window"
    FROM events e JOIN d ON e.service_day = d.day AND e.hall = d.hall
    WHERE e.action = 'call'
    ORDER BY e.hall, e.ticket_uid, e.at
)
SELECT t.service_day AS day, t.hall, coalesce(t.matter, '') AS matter, coalesce(fc."window", 0) AS "window",
       1 AS issued, 0 AS served, 0 AS no_show,
       (extract(epoch FROM t.first_call_at - t.issued_at) / 60)::float8 AS wait,
       NULL::numeric AS level, NULL::jsonb AS reasons
FROM tickets t JOIN d ON t.service_day = d.day AND t.hall = d.hall
LEFT JOIN first_call fc ON fc.hall = t.hall AND fc.ticket_uid = t.uid
UNION ALL
SELECT e.service_day, e.hall, coalesce(t.matter, ''),
       coalesce(CASE WHEN e.action = 'rate' THEN {_RATE_WINDOW} ELSE e."window" END, 0),
       0, (e.action = 'finish')::int, (e.action = 'no_show')::int, NULL,
       CASE WHEN e.action = 'rate' THEN {_RATE_LEVEL} END,
       CASE WHEN e.action = 'rate' AND jsonb_typeof(e.data->'reasons') = 'array' THEN e.data->'reasons' END
FROM events e JOIN d ON e.service_day = d.day AND e.hall = d.hall
JOIN tickets t ON t.hall = e.hall AND t.uid = e.ticket_uid
WHERE e.action IN ('finish', 'no_show', 'rate') AND NOT e.undone
"""

_REBUILD_STEPS = (
    """INSERT INTO report_groups (day, hall, matter, "window", issued, served, no_show, waited, wait_sum,
                                  ratings, good, bad)
       SELECT day, hall, matter, "window", sum(issued), sum(served), sum(no_show), count(wait),
              coalesce(sum(wait), 0), count(level), count(*) FILTER (WHERE level >= 3),
              count(*) FILTER (WHERE level <= 2)
       FROM report_rebuild GROUP BY day, hall, matter, "window" """,
    """INSERT INTO report_waits_hall (day, hall, minute, n)
       SELECT day, hall, ceil(wait)::int, count(*) FROM report_rebuild WHERE wait IS NOT NULL
       GROUP BY 1, 2, 3""",
    """INSERT INTO report_waits_window (day, hall, "window", minute, n)
       SELECT day, hall, "window", ceil(wait)::int, count(*) FROM report_rebuild WHERE wait IS NOT NULL
       GROUP BY 1, 2, 3, 4""",
    """INSERT INTO report_reasons (day, hall, matter, "window", reason, n)
       SELECT day, hall, matter, "window", r.reason, count(*)
       FROM report_rebuild, jsonb_array_elements_text(reasons) AS r(reason)
       WHERE level <= 2 GROUP BY 1, 2, 3, 4, 5""",
)


def refresh_rollups(conn: psycopg.Connection[Any], *, limit: int | None = None) -> int:
    """Rebuild the roll-ups of every hall-day marked changed (at most ``limit``, oldest days first, for
    a bulk load done in steps); returns how many. One refresher at a time (a transaction lock): a
    second report waits for the first's rebuild and reads its result. Nothing marked: no lock at all,
    so reports over settled days never wait for each other."""
    pending = conn.execute("SELECT EXISTS (SELECT 1 FROM report_dirty)").fetchone()
    if not pending or not pending[0]:
        return 0
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('tongban.report_refresh'))")
    if limit is None:
        marked = conn.execute("DELETE FROM report_dirty RETURNING hall, day").fetchall()
    else:
        marked = conn.execute(
            "DELETE FROM report_dirty WHERE (hall, day) IN"
            " (SELECT hall, day FROM report_dirty ORDER BY day, hall LIMIT %s) RETURNING hall, day",
            (limit,),
        ).fetchall()
    if not marked:
        return 0
    params = {"halls": [h for h, _d in marked], "days": [d for _h, d in marked]}
    pairs = "unnest(%(halls)s::text[], %(days)s::date[]) AS d(hall, day)"
    for table in ("report_groups", "report_waits_hall", "report_waits_window", "report_reasons"):
        conn.execute(f"DELETE FROM {table} r USING {pairs} WHERE r.day = d.day AND r.hall = d.hall", params)
    conn.execute(_REBUILD_TEMP, params)
    for step in _REBUILD_STEPS:
        conn.execute(step)
    conn.execute("DROP TABLE report_rebuild")
    # By matter across halls: a changed hall-day changes its day's sums over every hall.
    days = sorted({d for _h, d in marked})
    conn.execute("DELETE FROM report_waits_matter WHERE day = ANY(%s)", (days,))
    conn.execute(
        """INSERT INTO report_waits_matter (day, matter, minute, n)
           SELECT service_day, coalesce(matter, ''), ceil(extract(epoch FROM first_call_at - issued_at) / 60)::int,
                  count(*)
           FROM tickets WHERE service_day = ANY(%s) AND first_call_at IS NOT NULL GROUP BY 1, 2, 3""",
        (days,),
    )
    # The month tier: months over whose days changed, and the month just over if not built yet.
    current = datetime.now(DISTRICT_TZ).date().replace(day=1)
    previous = (current - timedelta(days=1)).replace(day=1)
    months = {d.replace(day=1) for d in days if d < current}
    if conn.execute("SELECT 1 FROM report_months WHERE month = %s", (previous,)).fetchone() is None:
        months.add(previous)
    _rebuild_months(conn, sorted(months))
    return len(marked)


#: Each roll-up table: its key columns and the columns summed (the month tier sums the days).
_TIERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "report_groups": (
        ("hall", "matter", '"window"'),
        ("issued", "served", "no_show", "waited", "wait_sum", "ratings", "good", "bad"),
    ),
    "report_waits_hall": (("hall", "minute"), ("n",)),
    "report_waits_matter": (("matter", "minute"), ("n",)),
    "report_waits_window": (("hall", '"window"', "minute"), ("n",)),
    "report_reasons": (("hall", "matter", '"window"', "reason"), ("n",)),
}


def _rebuild_months(conn: psycopg.Connection[Any], months: list[date]) -> None:
    """The month tier of ``months`` (first days), summed again from their days."""
    if not months:
        return
    conn.execute("INSERT INTO report_months (month) SELECT unnest(%s::date[]) ON CONFLICT DO NOTHING", (months,))
    for table, (keys, values) in _TIERS.items():
        conn.execute(f"DELETE FROM {table}_month WHERE day = ANY(%s)", (months,))
        cols = ", ".join(keys)
        sums = ", ".join(f"sum({v})" for v in values)
        conn.execute(
            f"""INSERT INTO {table}_month (day, {cols}, {", ".join(values)})
                SELECT m.start, {", ".join(f"r.{k}" for k in keys)}, {sums}
                FROM {table} r JOIN unnest(%s::date[]) AS m(start)
                  ON r.day >= m.start AND r.day < (m.start + interval '1 month')::date
                GROUP BY m.start, {", ".join(f"r.{k}" for k in keys)}""",
            (months,),
        )


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _span(conn: psycopg.Connection[Any], period: Period) -> dict[str, date]:
    """The whole months inside ``period`` whose tier is built, one run of them (read from the month
    tier), and the period's other days (read from the day tier)."""
    first, last = period.first, period.last
    month_first = first if first.day == 1 else _next_month(first)
    after_last = last + timedelta(days=1)
    month_end = after_last if after_last.day == 1 else after_last.replace(day=1)
    built = {
        row[0]
        for row in conn.execute(
            "SELECT month FROM report_months WHERE month >= %s AND month < %s", (month_first, month_end)
        ).fetchall()
    }
    end = month_first
    while end < month_end and end in built:
        end = _next_month(end)
    if month_first >= end:  # no whole month built: every day from the day tier
        month_first = end = first
    return {"first": first, "last": last, "mfirst": month_first, "mend": end}


def _rows_of(table: str) -> str:
    """A roll-up table's rows for the span: whole months from its month tier, the other days from it."""
    return f"""(SELECT * FROM {table}_month WHERE day >= %(mfirst)s AND day < %(mend)s
                UNION ALL
                SELECT * FROM {table} WHERE day BETWEEN %(first)s AND %(last)s
                  AND (day < %(mfirst)s OR day >= %(mend)s)) AS r"""


# ---------- period reports ----------


@dataclass
class _Sums:
    issued: int = 0
    served: int = 0
    no_show: int = 0
    waited: int = 0
    wait_sum: float = 0.0
    ratings: int = 0
    good: int = 0
    bad: int = 0
    minutes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, row: dict[str, Any]) -> None:
        for name in ("issued", "served", "no_show", "waited", "ratings", "good", "bad"):
            setattr(self, name, getattr(self, name) + int(row[name]))
        self.wait_sum += float(row["wait_sum"])

    def p90(self) -> int | None:
        """Nearest rank over the whole-minute counts (the exact p90 rounded up)."""
        total = sum(self.minutes.values())
        if not total:
            return None
        rank, seen = max(1, math.ceil(0.9 * total)), 0
        for minute in sorted(self.minutes):
            seen += self.minutes[minute]
            if seen >= rank:
                return minute
        return None  # not reached: seen ends at total >= rank


@dataclass
class PeriodReport:
    period: Period
    by: str
    rows: list[dict[str, Any]]
    totals: dict[str, Any]


def _row(key: Any, name_zh: str, name_en: str, sums: _Sums) -> dict[str, Any]:
    reasons = [(code, n) for code, n in sorted(sums.reasons.items(), key=lambda kv: (-kv[1], kv[0])) if code in REASONS]
    return {
        "key": key,
        "name": name_zh,
        "name_en": name_en,
        "tickets": sums.issued,
        "served": sums.served,
        "no_shows": sums.no_show,
        "wait_mean": sums.wait_sum / sums.waited if sums.waited else None,
        "wait_p90": sums.p90(),
        "rated": sums.ratings,
        "satisfaction": sums.good / sums.ratings if sums.ratings else None,
        "bad_ratings": sums.bad,
        "reasons": "、".join(f"{REASONS[code][0]} {n}" for code, n in reasons),
        "reasons_en": ", ".join(f"{REASONS[code][1]} {n}" for code, n in reasons),
    }


def _departments(conn: psycopg.Connection[Any]) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """matter code → department code, and department code → (中文, English). From the district's
    catalogue when there is one (migration 0004), else from the departments the halls' cases name."""
    matter_dept: dict[str, str] = {}
    names: dict[str, tuple[str, str]] = {}
    has_catalogue = conn.execute("SELECT to_regclass('catalogue_versions') IS NOT NULL").fetchone()
    if has_catalogue and has_catalogue[0]:
        row = conn.execute("SELECT body FROM catalogue_versions ORDER BY id DESC LIMIT 1").fetchone()
        body = row[0] if row and isinstance(row[0], dict) else {}
        for dept in body.get("departments") or []:
            if isinstance(dept, dict) and dept.get("code"):
                code = str(dept["code"])
                zh = str(dept.get("name_zh") or code)
                names[code] = (zh, str(dept.get("name_en") or zh))
        for matter in body.get("matters") or []:
            if isinstance(matter, dict) and matter.get("code") and matter.get("department"):
                matter_dept[str(matter["code"])] = str(matter["department"])
    for matter, dept in conn.execute(
        "SELECT DISTINCT ON (matter) matter, department FROM cases WHERE department <> ''"
        " ORDER BY matter, updated_at DESC NULLS LAST"
    ).fetchall():
        matter_dept.setdefault(matter, dept)
    names[OTHER_DEPARTMENT] = both("dw_other_department")
    return matter_dept, names


def _matter_names(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, str]]:
    """Names the halls' cases gave each matter (the catalogue's, when there is one, win)."""
    names = {
        matter: (zh or matter, en or zh or matter)
        for matter, zh, en in conn.execute(
            "SELECT DISTINCT ON (matter) matter, matter_zh, matter_en FROM cases"
            " ORDER BY matter, updated_at DESC NULLS LAST"
        ).fetchall()
    }
    has_catalogue = conn.execute("SELECT to_regclass('catalogue_versions') IS NOT NULL").fetchone()
    if has_catalogue and has_catalogue[0]:
        row = conn.execute("SELECT body FROM catalogue_versions ORDER BY id DESC LIMIT 1").fetchone()
        body = row[0] if row and isinstance(row[0], dict) else {}
        for matter in body.get("matters") or []:
            if isinstance(matter, dict) and matter.get("code"):
                code = str(matter["code"])
                zh = str(matter.get("name_zh") or code)
                names[code] = (zh, str(matter.get("name_en") or zh))
    return names


def period_report(conn: psycopg.Connection[Any], period: Period, by: str, *, refresh: bool = True) -> PeriodReport:
    """The halls' figures over ``period``, one row per hall, department, matter or (hall, window),
    busiest first, and the totals over all of them. ``refresh=False`` when the caller has just run
    ``refresh_rollups`` in a transaction of its own (the pages do, to hold the lock briefly)."""
    if by not in BY:
        raise ReportError("bad_by", "by", "dw_err_bad_by", value=str(by)[:40])
    if refresh:
        refresh_rollups(conn)
    span = _span(conn, period)
    group_key = {"hall": "hall", "department": "matter", "matter": "matter", "window": 'hall, "window"'}[by]
    sums: dict[Any, _Sums] = defaultdict(_Sums)
    total = _Sums()

    def key_of(row: dict[str, Any]) -> Any:
        return (row["hall"], row["window"]) if by == "window" else row[group_key]

    for row in _dicts(
        conn,
        f"""SELECT {group_key}, sum(issued) AS issued, sum(served) AS served, sum(no_show) AS no_show,
                   sum(waited) AS waited, sum(wait_sum) AS wait_sum, sum(ratings) AS ratings,
                   sum(good) AS good, sum(bad) AS bad
            FROM {_rows_of("report_groups")} GROUP BY {group_key}""",
        span,
    ):
        sums[key_of(row)].add(row)
        total.add(row)
    for row in _dicts(
        conn,
        f"""SELECT {group_key}, reason, sum(n) AS n FROM {_rows_of("report_reasons")}
            GROUP BY {group_key}, reason""",
        span,
    ):
        sums[key_of(row)].reasons[row["reason"]] += int(row["n"])
        total.reasons[row["reason"]] += int(row["n"])
    wait_table = {"hall": "report_waits_hall", "department": "report_waits_matter", "matter": "report_waits_matter"}
    for row in _dicts(
        conn,
        f"""SELECT {group_key}, minute, sum(n) AS n FROM {_rows_of(wait_table.get(by, "report_waits_window"))}
            GROUP BY {group_key}, minute""",
        span,
    ):
        sums[key_of(row)].minutes[row["minute"]] += int(row["n"])
        total.minutes[row["minute"]] += int(row["n"])

    if by == "department":
        matter_dept, dept_names = _departments(conn)
        merged: dict[Any, _Sums] = defaultdict(_Sums)
        for matter, s in sums.items():
            m = merged[matter_dept.get(matter, OTHER_DEPARTMENT)]
            m.add(vars(s))
            for minute, n in s.minutes.items():
                m.minutes[minute] += n
            for reason, n in s.reasons.items():
                m.reasons[reason] += n
        sums = merged

    rows = []
    matter_names = _matter_names(conn) if by == "matter" else {}
    hall_names = dict(conn.execute("SELECT id, coalesce(nullif(name, ''), id) FROM halls").fetchall())
    for key, s in sums.items():
        if by == "hall":
            zh = en = hall_names.get(key, key)
        elif by == "department":
            zh, en = dept_names.get(key, (key, key))
        elif by == "matter":
            zh, en = matter_names.get(key, (key, key)) if key else both("dw_no_matter")
        else:
            hall, window = key
            hall = hall_names.get(hall, hall)
            zh, en = (
                Msg("dw_hall_window", hall=hall, n=window).both()
                if window
                else Msg("dw_hall_not_called", hall=hall).both()
            )
        rows.append(_row(key, zh, en, s))
    rows.sort(key=lambda r: (-r["tickets"], str(r["key"])))
    return PeriodReport(period, by, rows, _row(None, *both("dw_total"), total))


#: The columns of a period report: key and the text-table key that titles it.
REPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "dw_col_name"),
    ("tickets", "dw_col_tickets"),
    ("served", "dw_col_served"),
    ("no_shows", "dw_col_no_shows"),
    ("wait_mean", "dw_col_wait_mean"),
    ("wait_p90", "dw_col_wait_p90"),
    ("rated", "dw_col_rated"),
    ("satisfaction", "dw_col_satisfaction"),
    ("bad_ratings", "dw_col_bad_ratings"),
    ("reasons", "dw_col_reasons"),
)


# ---------- live ----------


def live(conn: psycopg.Connection[Any], *, now: datetime) -> list[dict[str, Any]]:
    """Every hall now: tickets waiting today, the longest current wait (minutes), windows open,
    minutes since the last sync (None: never synced), open alerts."""
    today = now.astimezone(DISTRICT_TZ).date()
    rows = _dicts(
        conn,
        """SELECT h.id AS hall, h.name, h.last_sync_at, h.revoked_at,
                  coalesce(w.waiting, 0) AS waiting, w.oldest,
                  (SELECT count(*) FROM windows x WHERE x.hall = h.id AND x.state = 'open') AS open_windows,
                  (SELECT count(*) FROM windows x WHERE x.hall = h.id AND x.state = 'paused') AS paused_windows,
                  (SELECT count(*) FROM alerts a WHERE a.hall = h.id AND a.acked_at IS NULL) AS open_alerts
           FROM halls h
           LEFT JOIN (SELECT hall, count(*) AS waiting, min(issued_at) AS oldest FROM tickets
                      WHERE state = 'waiting' AND service_day = %(today)s GROUP BY hall) w ON w.hall = h.id
           ORDER BY h.id""",
        {"today": today},
    )
    out = []
    for r in rows:
        oldest, synced = r["oldest"], r["last_sync_at"]
        out.append(
            {
                "hall": r["hall"],
                "name": r["name"] or r["hall"],
                "revoked": r["revoked_at"] is not None,
                "waiting": r["waiting"],
                "longest_wait_min": max(0.0, (now - oldest).total_seconds() / 60) if oldest else None,
                "open_windows": r["open_windows"],
                "paused_windows": r["paused_windows"],
                "last_sync_at": synced,
                "sync_age_min": max(0.0, (now - synced).total_seconds() / 60) if synced else None,
                "open_alerts": r["open_alerts"],
            }
        )
    return out


def open_alerts(conn: psycopg.Connection[Any], *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest open device alerts of every hall, their times in the district's zone."""
    rows = _dicts(
        conn,
        """SELECT hall, device, kind, message_zh, message_en, at FROM alerts WHERE acked_at IS NULL
           ORDER BY at DESC LIMIT %s""",
        (limit,),
    )
    return [{**r, "at": r["at"].astimezone(DISTRICT_TZ)} for r in rows]


# ---------- cases ----------

CASE_FILTERS = ("", "open", *STATES)


def _masked_applicant(value: str | None) -> str:
    """The hall sends "张*"; anything that arrived unmasked is masked here again, so a full name never
    shows even if a hall sent one."""
    if not value:
        return ""
    return value if value[1:] and set(value[1:]) == {"*"} else mask_name(value)


def _masked_phone(value: str | None) -> str:
    digits = "".join(ch for ch in (value or "") if ch.isdigit())
    return f"****{digits[-4:]}" if len(digits) >= 4 else ""


def cases(
    conn: psycopg.Connection[Any],
    *,
    today: date,
    state: str = "",
    overdue: bool = False,
    hall: str = "",
    due_by: str = "",
) -> dict[str, Any]:
    """The district's cases, masked: counts by hall and state, and the list (due first) filtered by
    state (a state, "open", or all), overdue only (running and due before ``today``), hall, and due
    on or before ``due_by`` (YYYY-MM-DD)."""
    if state not in CASE_FILTERS:
        raise ReportError("bad_state", "state", "dw_err_bad_state", value=state[:40])
    where: list[str] = ["true"]
    params: dict[str, Any] = {"today": today, "running": list(RUNNING), "final": list(FINAL_STATES)}
    if due_by:
        where.append("due_day <= %(due_by)s")
        params["due_by"] = _parse_day(due_by, "due_by")
    if state == "open":
        where.append("state <> ALL(%(final)s)")
    elif state:
        where.append("state = %(state)s")
        params["state"] = state
    if overdue:
        where.append("state = ANY(%(running)s) AND due_day < %(today)s")
    if hall:
        where.append("hall = %(hall)s")
        params["hall"] = hall
    counts = _dicts(
        conn,
        """SELECT hall, state, count(*) AS n,
                  count(*) FILTER (WHERE state = ANY(%(running)s) AND due_day < %(today)s) AS overdue
           FROM cases GROUP BY hall, state ORDER BY hall, state""",
        params,
    )
    listed = _dicts(
        conn,
        f"""SELECT hall, number, mode, matter, matter_zh, matter_en, department, state, opened_day, due_day,
                   closed_day, handling_dept, applicant_masked, phone_last4,
                   (state = ANY(%(running)s) AND due_day < %(today)s) AS overdue
            FROM cases WHERE {" AND ".join(where)}
            ORDER BY due_day NULLS LAST, hall, number LIMIT {CASE_LIST_LIMIT + 1}""",
        params,
    )
    by_hall: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in counts:
        by_hall[r["hall"]][r["state"]] += r["n"]
        by_hall[r["hall"]]["overdue"] += r["overdue"]
    return {
        "counts": {h: dict(c) for h, c in sorted(by_hall.items())},
        "cases": [
            {
                **{k: v for k, v in r.items() if k not in ("applicant_masked", "phone_last4")},
                "applicant": _masked_applicant(r["applicant_masked"]),
                "phone": _masked_phone(r["phone_last4"]),
            }
            for r in listed[:CASE_LIST_LIMIT]
        ],
        "more": len(listed) > CASE_LIST_LIMIT,
    }
