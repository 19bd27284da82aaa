#!/usr/bin/env python3
"""Front server benchmark: how fast the hall answers while it is attacked, behind nginx.

Runs `tongban demo --front` (nginx from the site file on a temporary prefix, the real gunicorn web
on a unix socket, the devices process) with the load test hall, all on 127.0.0.1. It times /healthz
and a kiosk's take-ticket (POST /api/v1/tickets), one request at a time on a fresh connection as a
kiosk makes them: first on a quiet hall, then under the drills' attack:

- 200 sockets sending a request header one line every 5 s, never finishing it;
- 300 open phone streams (GET /t/<token>/live) over 20 tickets;
- an anonymous 300 MB login body (streamed, refused by nginx) and a 100,000-deep JSON ticket request
  (refused by the web), one after the other, again and again.

Prints p50/p99 per endpoint and phase, errors (no answer within 5 s, or not 200/201), and the web
worker's resident memory. Target: p99 < 200 ms for both under attack. ``--direct`` runs the same
without nginx (`tongban demo`, gunicorn on TCP), to see what the front server is for.

    .venv/bin/python bench/bench_front.py [--samples 100] [--direct]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fault.front import (  # noqa: E402
    FrontDemo,
    SlowHeaders,
    deep_json,
    open_phone_streams,
    rss_mb,
    send_huge_body,
)
from tests.fault.hall import call as api  # noqa: E402

TIMEOUT_S = 5.0
TARGET_P99_MS = 200.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def timed(port: int, method: str, path: str, body: bytes | None = None, token: str | None = None):
    """(milliseconds, HTTP status or 0 when nothing answered in TIMEOUT_S)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return (time.perf_counter() - start) * 1000, status


def sample(hall: FrontDemo, kiosk: str, count: int) -> dict[str, tuple[list[float], int]]:
    """``count`` of each, alternating, one at a time: latencies of the good answers and the errors."""
    out: dict[str, tuple[list[float], int]] = {"GET /healthz": ([], 0), "POST /api/v1/tickets": ([], 0)}
    ticket = json.dumps({"line": "A"}).encode()
    for _ in range(count):
        for name, (method, path, body, token, ok) in {
            "GET /healthz": ("GET", "/healthz", None, None, 200),
            "POST /api/v1/tickets": ("POST", "/api/v1/tickets", ticket, kiosk, 201),
        }.items():
            ms, status = timed(hall.port, method, path, body, token)
            times, errors = out[name]
            if status == ok:
                times.append(ms)
            else:
                out[name] = (times, errors + 1)
        time.sleep(0.02)
    return out


class Bodies:
    """Huge and deeply nested bodies, one after the other, until stopped."""

    def __init__(self, hall: FrontDemo):
        self.hall = hall
        self.sent = {"300 MB body": 0, "deep JSON": 0}
        self.refused = {"300 MB body": 0, "deep JSON": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            status, _sent = send_huge_body(self.hall.port, "/api/v1/login", 300 * 2**20)
            self.sent["300 MB body"] += 1
            self.refused["300 MB body"] += " 413 " in f"{status} "
            ms, code = timed(self.hall.port, "POST", "/api/v1/tickets", deep_json(100_000))
            self.sent["deep JSON"] += 1
            self.refused["deep JSON"] += code == 400
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def _open_aside(port: int, tickets: list[str], count: int, into: list) -> None:
    try:
        into.extend(open_phone_streams(port, tickets, count))
    except OSError:
        pass  # not answered in 30 s: the point of --direct


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="requests of each kind per phase")
    parser.add_argument("--slow", type=int, default=200, help="slow-header sockets")
    parser.add_argument("--phones", type=int, default=300, help="open phone streams")
    parser.add_argument("--direct", action="store_true", help="without nginx: gunicorn on TCP, as before")
    parser.add_argument("--keep", action="store_true", help="keep the hall folder (database, logs) afterwards")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-front-"))
    hall = FrontDemo(folder, front=not args.direct)
    hall.start()
    rows = []
    try:
        kiosk = hall.tokens["kiosk-1"]
        worker = hall.web_worker()
        rss_before = rss_mb(worker)
        for name, (times, errors) in sample(hall, kiosk, args.samples).items():
            rows.append(("quiet", name, times, errors))
        tickets = [
            api(hall.url, "POST", "/tickets", kiosk, {"line": "B"}, timeout=10)[1]["status_token"] for _ in range(20)
        ]
        slow = SlowHeaders(hall.port, args.slow)
        phones = open_phone_streams(hall.port, tickets, args.phones) if not args.direct else []
        if args.direct:  # without nginx a phone stream may wait long for a thread: open them aside
            threading.Thread(target=_open_aside, args=(hall.port, tickets, args.phones, phones), daemon=True).start()
        bodies = Bodies(hall)
        try:
            for name, (times, errors) in sample(hall, kiosk, args.samples).items():
                rows.append(("under attack", name, times, errors))
        finally:
            bodies.stop()
            slow.close()
            for s in list(phones):
                s.close()
        rss_after = rss_mb(worker)
    finally:
        hall.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    front = "without nginx (gunicorn on TCP)" if args.direct else "behind nginx (tongban demo --front)"
    print(f"\nFront server benchmark, {front}: {args.slow} slow-header sockets, {args.phones} phone streams,")
    print(f"300 MB and 100,000-deep bodies sent {bodies.sent['300 MB body']} and {bodies.sent['deep JSON']} times")
    print(f"(refused: {bodies.refused['300 MB body']} and {bodies.refused['deep JSON']}); one request at a time.\n")
    print(f"| {'phase':<12} | {'endpoint':<22} | {'answered':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} |")
    print(f"|{'-' * 14}|{'-' * 24}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    missed = False
    for phase, name, times, errors in rows:
        p50, p99 = percentile(times, 50), percentile(times, 99)
        print(f"| {phase:<12} | {name:<22} | {len(times):>8} | {p50:>7.1f} | {p99:>7.1f} | {errors:>6} |")
        if phase == "under attack" and (errors or not p99 < TARGET_P99_MS):
            missed = True
    print(f"\nweb worker RSS: {rss_before:.0f} MB before, {rss_after:.0f} MB after the attack")
    print(f"target: p99 < {TARGET_P99_MS:.0f} ms under attack, no errors: {'MISSED' if missed else 'met'}")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
