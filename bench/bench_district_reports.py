#!/usr/bin/env python3
"""The district's reports and live page on a generated year (bench/district_data.py).

A throwaway PostgreSQL cluster (tests/pgcluster.py) is filled with a year of 20 halls × 900 tickets a
day (~6.5 M tickets, ~35 M events), then each report is run a few times warm and its median and
worst time printed against the 300 ms target (docs/district.md §Growing).

    .venv/bin/python bench/bench_district_reports.py [--halls 20] [--days 365] [--tickets 900] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.district_data import generate_year  # noqa: E402
from tests.pgcluster import PgCluster  # noqa: E402
from tongban.district import db, reports  # noqa: E402

TARGET_MS = 300.0


class BenchCluster(PgCluster):
    """The test cluster with a district server's memory rather than a test box's 32 MB."""

    def start(self) -> None:
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -F -c shared_buffers=1GB -c work_mem=64MB"
            " -c max_parallel_workers_per_gather=4 -c max_connections=50"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60", "-l", str(self.root / "log"), "start"
        )


def timed(conn: psycopg.Connection, fn, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
        conn.rollback()  # each report is a request of its own: its own transaction
    return statistics.median(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halls", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tickets", type=int, default=900)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    cluster = BenchCluster()
    try:
        url = cluster.new_database("bench")
        db.migrate(url)
        with psycopg.connect(url) as conn:
            print(f"generating {args.halls} halls × {args.days} days × {args.tickets} tickets …", flush=True)
            # The year ends today, as on a district server in use: the current month is read from its days,
            # and "every hall's day changed" is today's changes during opening hours.
            made = generate_year(
                conn,
                halls=args.halls,
                days=args.days,
                tickets_per_day=args.tickets,
                last_day=datetime.now(reports.DISTRICT_TZ).date(),
                progress=lambda s: print(s, flush=True),
            )
            print(
                f"tickets {made['tickets']:,}  events {made['events']:,}  roll-up rows {made['report_groups']:,}"
                f" (+{made['report_waits_window']:,} window waits)\n"
                f"insert {made['insert_s']:.0f} s  roll-ups {made['rollup_s']:.0f} s  analyze {made['analyze_s']:.0f} s"
            )
            last: date = made["last_day"]
            now = datetime.combine(last, datetime.min.time(), tzinfo=UTC) + timedelta(hours=3)
            cases_today = last
            year = reports.Period("range", made["first_day"], last)
            month = reports.parse_period("month", last.isoformat(), None, None, today=last)
            week = reports.parse_period("week", last.isoformat(), None, None, today=last)
            day = reports.Period("day", last, last)
            checks = [("hall_day_rows (CLI, one day)", lambda: reports.hall_day_rows(conn, last, now=now))]
            for name, period in (("day", day), ("week", week), ("month", month), ("year", year)):
                for by in reports.BY:
                    checks.append(
                        (f"period {name:5} by {by}", lambda p=period, b=by: reports.period_report(conn, p, b))
                    )
            checks += [
                ("live", lambda: reports.live(conn, now=now)),
                ("live alerts", lambda: reports.open_alerts(conn)),
                ("cases (all)", lambda: reports.cases(conn, today=cases_today)),
                ("cases overdue", lambda: reports.cases(conn, today=cases_today, overdue=True)),
            ]
            worst = 0.0
            print(f"\n{'report':34} {'median ms':>10} {'max ms':>8}")
            for name, fn in checks:
                median, most = timed(conn, fn, args.runs)
                worst = max(worst, median)
                flag = "" if median < TARGET_MS else "  over target"
                print(f"{name:34} {median:10.1f} {most:8.1f}{flag}", flush=True)
            # Days changed since the last report (a late push; every hall syncing during opening
            # hours): the next report rebuilds them first, in its own transaction as the pages do.
            for label, where in (("one hall-day", "hall = 'hall-01'"), ("every hall's day", "true")):
                conn.execute(f"UPDATE events SET undone = undone WHERE service_day = %s AND {where}", (last,))
                conn.commit()
                median, most = timed(conn, lambda: reports.period_report(conn, year, "hall"), 1)
                title = f"year by hall, {label} changed"
                print(f"{title:38} {median:10.1f} {most:8.1f}")
                conn.execute("DELETE FROM report_dirty")
                conn.commit()
            print(f"\nslowest median {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")
            return 0 if worst < TARGET_MS else 1
    finally:
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main())
