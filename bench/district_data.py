"""A generated district year in PostgreSQL, for timing the district's reports and live page.

``generate_year(conn, halls=20, days=365, tickets_per_day=900, seed=...)`` writes halls, tickets,
their events (issue, call, a recall now and then, start, finish or no-show, rate), windows, alerts
and cases straight into the district schema, as ingest would have left them: first_call_at set,
events' service_day set. Rows are made by PostgreSQL itself (generate_series and random() after
setseed), a hall at a time, so a year of 20 halls (~6.5 M tickets, ~35 M events) needs no rows
sent over the socket. Then the report roll-ups are built (tongban/district/reports.py), a month
of days at a time.

Shared by bench/bench_district_reports.py and anyone timing the district (bench/bench_district.py).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import psycopg

from tongban.district import reports

MATTERS = 12  # M01..M12; four per line A, B, C
WINDOWS = 12  # four per line
REASONS = ("long_wait", "attitude", "unclear", "slow", "come_back", "other")

_TICKETS = """
CREATE TEMP TABLE gen ON COMMIT DROP AS
SELECT g.*,
       g.first_call + make_interval(secs => 60 * (3 + random() * 15)) AS finished_at,
       CASE WHEN g.r_outcome < 0.08 THEN 'no_show' ELSE 'done' END AS state,
       CASE WHEN g.r_outcome < 0.08 OR g.r_level < 0.30 THEN NULL
            WHEN g.r_level < 0.685 THEN 5 WHEN g.r_level < 0.86 THEN 4 WHEN g.r_level < 0.944 THEN 3
            WHEN g.r_level < 0.979 THEN 2 ELSE 1 END AS level
FROM (
    SELECT s.*, s.issued_at + make_interval(secs => round(60 * -12 * ln(1 - random()))::int) AS first_call,
           random() AS r_outcome, random() AS r_level, random() AS r_recall, random() AS r_reason
    FROM (
        SELECT %(hall)s::text AS hall, d::date AS day, n, m,
               chr(64 + (m - 1) / 4 + 1) AS prefix,
               1 + 4 * ((m - 1) / 4) + floor(random() * 4)::int AS win,
               (d::date + time '08:30') AT TIME ZONE 'Asia/Shanghai'
                   + make_interval(secs => (n::float8 / %(per_day)s) * 8 * 3600 + random() * 20) AS issued_at
        FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d,
             generate_series(1, %(per_day)s) AS n,
             LATERAL (SELECT 1 + floor(random() * %(matters)s)::int + 0 * n AS m) mm
    ) s
) g
"""

_INSERT_TICKETS = """
INSERT INTO tickets (hall, uid, local_id, service_day, prefix, number, line, matter, state, issued_at,
                     called_at, first_call_at, finished_at, "window", clerk, kiosk)
SELECT hall, day || '-' || n, n, day, prefix, prefix || lpad(n::text, 3, '0'), prefix, 'M' || lpad(m::text, 2, '0'),
       state, issued_at, first_call, first_call, CASE WHEN state = 'done' THEN finished_at END, win,
       'clerk' || win, 'kiosk-1'
FROM gen
"""

_INSERT_EVENTS = """
INSERT INTO events (hall, uid, ticket_uid, service_day, "window", action, from_state, to_state, actor, at, data)
SELECT hall, day || '-' || n || '-' || e.kind, day || '-' || n, day, CASE WHEN e.kind = 'issue' THEN NULL ELSE win END,
       e.kind, e.from_state, e.to_state, 'clerk' || win, e.at, e.data
FROM gen, LATERAL (VALUES
    ('issue', NULL, 'waiting', issued_at, '{}'::jsonb, true),
    ('call', 'waiting', 'called', first_call, '{}'::jsonb, true),
    ('recall', 'called', 'called', first_call + interval '1 minute', '{}'::jsonb, r_recall < 0.1),
    ('start', 'called', 'serving', first_call + interval '2 minutes', '{}'::jsonb, state = 'done'),
    ('finish', 'serving', 'done', finished_at, '{}'::jsonb, state = 'done'),
    ('no_show', 'called', 'no_show', first_call + interval '3 minutes', '{}'::jsonb, state = 'no_show'),
    ('rate', 'done', 'done', finished_at + interval '30 seconds',
     jsonb_build_object('level', level, 'window', win, 'number', prefix || lpad(n::text, 3, '0'),
                        'reasons', CASE WHEN level <= 2
                                        THEN jsonb_build_array((%(reasons)s::text[])[1 + floor(r_reason * 6)::int])
                                        ELSE '[]'::jsonb END),
     state = 'done')
) AS e(kind, from_state, to_state, at, data, happened)
WHERE e.happened
"""


def generate_year(
    conn: psycopg.Connection[Any],
    halls: int = 20,
    days: int = 365,
    tickets_per_day: int = 900,
    seed: float = 0.17,
    *,
    last_day: date = date(2026, 11, 30),
    progress: Any = None,
) -> dict[str, Any]:
    """Fill an empty, migrated district database; ``conn`` must be autocommit off (each hall is one
    transaction). Returns counts and the time each step took."""
    first_day = last_day - timedelta(days=days - 1)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    conn.execute("SELECT setseed(%s)", (seed,))
    for h in range(1, halls + 1):
        hall = f"hall-{h:02d}"
        conn.execute(
            "INSERT INTO halls (id, name, token_hash, last_sync_at) VALUES (%s, %s, md5(%s), now())",
            (hall, f"Hall {h}", hall),
        )
        params = {
            "hall": hall,
            "first": first_day,
            "last": last_day,
            "per_day": tickets_per_day,
            "matters": MATTERS,
            "reasons": list(REASONS),
        }
        conn.execute(_TICKETS, params)
        conn.execute(_INSERT_TICKETS)
        conn.execute(_INSERT_EVENTS, params)
        conn.execute(
            """INSERT INTO windows (hall, number, state, clerk, updated_at)
               SELECT %s, w, CASE WHEN w %% 5 = 0 THEN 'paused' WHEN w %% 7 = 0 THEN 'closed' ELSE 'open' END,
                      'clerk' || w, now() FROM generate_series(1, %s) w""",
            (hall, WINDOWS),
        )
        conn.execute(
            """INSERT INTO cases (hall, uid, number, mode, matter, matter_zh, matter_en, department, state,
                                  opened_day, due_day, applicant_masked, phone_last4, updated_at)
               SELECT %(hall)s, 'c' || i, 'KS-' || i, 'proxy', 'M' || lpad((1 + i %% 12)::text, 2, '0'),
                      '事项' || (1 + i %% 12), 'Matter ' || (1 + i %% 12), 'dept' || (1 + (i %% 12) / 4),
                      (ARRAY['received', 'checked', 'sent', 'result_received', 'delivered', 'withdrawn'])[1 + i %% 6],
                      %(last)s::date - (i %% 300), %(last)s::date - (i %% 300) + 15, '张*',
                      lpad((i %% 10000)::text, 4, '0'), now()
               FROM generate_series(1, 2000) i""",
            params,
        )
        conn.execute(
            """INSERT INTO alerts (hall, uid, device, kind, message_zh, message_en, at, acked_at)
               SELECT %s, 'a' || i, 'printer-1', 'paper_out', '打印机缺纸', 'Printer out of paper',
                      now() - make_interval(hours => i), CASE WHEN i > 2 THEN now() END
               FROM generate_series(1, 50) i""",
            (hall,),
        )
        conn.commit()
        if progress:
            progress(f"{hall}: {time.perf_counter() - started:.0f} s")
    timings["insert_s"] = time.perf_counter() - started
    started = time.perf_counter()
    # Roll-ups a month of days at a time: each step one transaction of bounded size.
    while reports.refresh_rollups(conn, limit=halls * 31):
        conn.commit()
        if progress:
            progress(f"roll-ups: {time.perf_counter() - started:.0f} s")
    conn.commit()
    timings["rollup_s"] = time.perf_counter() - started
    started = time.perf_counter()
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = False
    timings["analyze_s"] = time.perf_counter() - started
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        for table in ("tickets", "events", "report_groups", "report_waits_window")
    }
    conn.commit()
    return {"first_day": first_day, "last_day": last_day, **counts, **timings}
