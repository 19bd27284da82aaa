#!/usr/bin/env python3
"""Load benchmark: a busy hall on this box, all on 127.0.0.1.

`tongban serve` (gunicorn, one gthread worker, threads for the screens) and `tongban devices` run as
on a hall box. 50 clients work for 60 s: 25 kiosks issue tickets and 25 clerks call, start and
finish at their windows, each pausing about a second between rounds (``--think``; 0 turns them
into a closed loop that finds the box's ceiling). Issuing and serving keep pace, so the lines stay
as long as a busy hall's rather than growing without end. 100 hall-display screens hold the SSE stream
``/display/stream`` open throughout, read by worker processes so the measuring does not slow itself.

Printed: throughput and p50/p99 latency per endpoint; call-to-screen latency (from a clerk's call
request to each of the 100 screens receiving the called number over SSE); the peak resident memory
(VmHWM) of each process. Targets: issue p99 < 50 ms, call-to-screen p99 < 200 ms, web RSS < 150 MB.

    .venv/bin/python bench/bench_load.py [--seconds 60] [--clients 50] [--screens 100] [--think 1.0]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fault.hall import PASSWORD, HallProcesses, load_hall_doc, unit_environment  # noqa: E402

NUMBER = re.compile(rb"\b([A-Z]\d{4})\b")
TARGETS = {"issue_p99_ms": 50.0, "screen_p99_ms": 200.0, "web_rss_mb": 150.0}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Client:
    """One keep-alive connection, as a kiosk or a console holds one."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, float]:
        payload = json.dumps(body if body is not None else {}).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started = time.monotonic()
            try:
                self.conn.request(method, f"/api/v1{path}", body=payload, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.monotonic() - started
                return response.status, (json.loads(data) if data else None), elapsed
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    return 0, None, time.monotonic() - started
        raise AssertionError("unreachable")


def sse_worker(
    port: int, cookie: str, first: int, screens: int, start_at: float, stop_at: float, every: int, out
) -> None:
    """Hold ``screens`` SSE streams; report when every ``every``-th of them first saw each ticket number.
    The others only read their stream (the server does the same work for each), which keeps this
    process from taking the CPU the server is being measured on."""
    seen: list[tuple[int, str, float]] = []
    lock = threading.Lock()
    connected = []

    def screen(index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            f"GET /display/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: tongban_terminal={cookie}\r\n"
            f"Accept: text/event-stream\r\n\r\n".encode()
        )
        sock.settimeout(1.0)
        numbers: set[bytes] = set()
        buffer = b""
        with lock:
            connected.append(index)
        while time.monotonic() < stop_at:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            if index % every:
                continue
            now = time.monotonic()
            buffer += chunk
            # Whole events only (a blank line ends one); numbers split across chunks are not missed.
            cut = buffer.rfind(b"\n\n")
            if cut < 0:
                continue
            events, buffer = buffer[:cut], buffer[cut + 2 :]
            for number in NUMBER.findall(events):
                if number not in numbers:
                    numbers.add(number)
                    if now >= start_at:
                        with lock:
                            seen.append((index, number.decode(), now))
        sock.close()

    threads = [threading.Thread(target=screen, args=(first + i,), daemon=True) for i in range(screens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"seen": seen, "connected": len(connected)})


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def split(args) -> tuple[int, int]:
    kiosks = max(1, round(args.clients * args.kiosk_share))
    return kiosks, max(1, args.clients - kiosks)


def run(args) -> dict:
    load = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="tongban-bench-"))
    kiosk_count, clerk_count = split(args)
    # The web runs with the environment its unit gives it on a box (systemd/tongban-web.service).
    hall = HallProcesses(folder, doc=load_hall_doc(windows=clerk_count), screens=args.screens, env=unit_environment())
    kiosks = hall.seed(kiosks=kiosk_count)
    from tongban.queue.accounts import Accounts
    from tongban.queue.clock import SystemClock
    from tongban.queue.store import Store

    store = Store(hall.db)
    display_token = Accounts(store, SystemClock()).add_terminal("hall-display", "display", "综合屏")
    store.close()
    hall.start()
    if args.server_nice:
        # On this shared machine other jobs compete for the CPUs; a hall box runs nothing else.
        for pid in (hall.web.pid, *children(hall.web.pid), hall.devices.pid):
            os.setpriority(os.PRIO_PROCESS, pid, args.server_nice)
    try:
        return {**measure(args, hall, list(kiosks.values()), clerk_count, display_token), "load": load}
    finally:
        hall.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def measure(args, hall: HallProcesses, kiosk_tokens: list[str], clerk_count: int, display_token: str) -> dict:
    port = hall.port
    clerk_tokens = []
    for n in range(1, clerk_count + 1):
        status, body, _ = Client(port, "").request(
            "POST", "/login", {"username": f"clerk{n}", "password": PASSWORD, "window": n}
        )
        assert status == 200, body
        clerk_tokens.append(body["token"])
        Client(port, body["token"]).request("POST", f"/windows/{n}/open")

    warmup = 3.0
    start_at = time.monotonic() + warmup
    stop_at = start_at + args.seconds
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    per_worker = [
        args.screens // args.sse_procs + (1 if i < args.screens % args.sse_procs else 0) for i in range(args.sse_procs)
    ]
    firsts = [sum(per_worker[:i]) for i in range(len(per_worker))]
    workers = [
        ctx.Process(
            target=sse_worker, args=(port, display_token, first, n, start_at, stop_at + 1.0, args.measure_every, out)
        )
        for first, n in zip(firsts, per_worker)
        if n
    ]
    for w in workers:
        w.start()

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    calls: dict[str, float] = {}
    lock = threading.Lock()

    def record(name: str, status: int, ok: tuple[int, ...], seconds: float, when: float) -> None:
        if when < start_at:
            return
        with lock:
            if status in ok:
                latencies[name].append(seconds)
            else:
                errors[name] += 1

    def pause(rng: random.Random) -> None:
        if args.think > 0:
            time.sleep(rng.uniform(0.5 * args.think, 1.5 * args.think))

    def kiosk(i: int, token: str) -> None:
        rng = random.Random(i)
        client = Client(port, token)
        while time.monotonic() < stop_at:
            when = time.monotonic()
            status, _body, seconds = client.request("POST", "/tickets", {"line": rng.choice("AB")})
            record("POST /tickets (issue)", status, (201,), seconds, when)
            pause(rng)

    def clerk(window: int, token: str) -> None:
        rng = random.Random(1000 + window)
        client = Client(port, token)
        while time.monotonic() < stop_at:
            when = time.monotonic()
            status, body, seconds = client.request("POST", f"/windows/{window}/next")
            record("POST /windows/N/next (call)", status, (200, 409), seconds, when)
            if status != 200:
                pause(rng)
                continue
            if when >= start_at:
                with lock:
                    calls[body["number"]] = when
            for action in ("start", "finish"):
                when = time.monotonic()
                status, _b, seconds = client.request("POST", f"/tickets/{body['id']}/{action}")
                record(f"POST /tickets/N/{action}", status, (200,), seconds, when)
            pause(rng)

    threads = [threading.Thread(target=kiosk, args=(i, t), daemon=True) for i, t in enumerate(kiosk_tokens)]
    threads += [threading.Thread(target=clerk, args=(n + 1, t), daemon=True) for n, t in enumerate(clerk_tokens)]
    for t in threads:
        t.start()
    web_pids = [hall.web.pid, *children(hall.web.pid)]
    for t in threads:
        t.join()
    results = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(10)
    web_pids = list(dict.fromkeys(web_pids + children(hall.web.pid)))
    memory = {f"web {'master' if pid == hall.web.pid else 'worker'} (pid {pid})": peak_rss_mb(pid) for pid in web_pids}
    memory[f"devices (pid {hall.devices.pid})"] = peak_rss_mb(hall.devices.pid)

    screen_latency = [t - calls[number] for r in results for _i, number, t in r["seen"] if number in calls]
    seen_pairs = {(i, number) for r in results for i, number, _t in r["seen"] if number in calls}
    connected = sum(r["connected"] for r in results)
    measured = len(range(0, args.screens, args.measure_every))
    return {
        "seconds": args.seconds,
        "latencies": latencies,
        "errors": errors,
        "calls": len(calls),
        "screen_latency": screen_latency,
        "screens": connected,
        "screen_coverage": len(seen_pairs) / max(1, len(calls) * measured),
        "measured": measured,
        "memory": memory,
    }


def report(args, r: dict) -> bool:
    ms = 1000.0
    rows = []
    for name in sorted(r["latencies"]):
        values = r["latencies"][name]
        rows.append(
            (
                name,
                len(values),
                len(values) / r["seconds"],
                percentile(values, 50) * ms,
                percentile(values, 99) * ms,
                r["errors"].get(name, 0),
            )
        )
    screen = r["screen_latency"]
    kiosks, clerks = split(args)
    print(
        f"\nTongban load benchmark: {args.clients} clients ({kiosks} kiosks issuing, {clerks} clerks calling, "
        f"think {args.think:g} s), {r['screens']} SSE screens, {r['seconds']:g} s, {os.cpu_count()} CPU(s), "
        f"load average {r['load']:.1f} before the run"
        + (f", server processes at nice {args.server_nice}" if args.server_nice else "")
        + "\n"
    )
    print(f"| {'endpoint':<34} | {'requests':>8} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | {'errors':>6} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 8}|")
    for name, n, rate, p50, p99, err in rows:
        print(f"| {name:<34} | {n:>8} | {rate:>7.1f} | {p50:>7.1f} | {p99:>7.1f} | {err:>6} |")
    print(
        f"| {'call → screen (SSE)':<34} | {len(screen):>8} | {len(screen) / r['seconds']:>7.1f} | "
        f"{percentile(screen, 50) * ms:>7.1f} | {percentile(screen, 99) * ms:>7.1f} | {'':>6} |"
    )
    print(
        f"\ncall → screen measured on {r['measured']} of the {r['screens']} connected screens (every "
        f"{args.measure_every}th); they saw {r['screen_coverage'] * 100:.1f} % of {r['calls']} calls"
    )
    print("\n| process | peak RSS (VmHWM) |\n|---|---|")
    for name, mb in r["memory"].items():
        print(f"| {name} | {mb:.0f} MB |")
    issue = r["latencies"].get("POST /tickets (issue)", [])
    web_rss = max((mb for name, mb in r["memory"].items() if name.startswith("web")), default=float("nan"))
    checks = [
        ("issue p99 < 50 ms", percentile(issue, 99) * ms, TARGETS["issue_p99_ms"]),
        ("call-to-screen p99 < 200 ms", percentile(screen, 99) * ms, TARGETS["screen_p99_ms"]),
        ("web RSS < 150 MB (largest web process)", web_rss, TARGETS["web_rss_mb"]),
    ]
    print("\n| target | measured | |\n|---|---|---|")
    met = True
    for label, value, limit in checks:
        ok = value < limit
        met &= ok
        print(f"| {label} | {value:.1f} | {'met' if ok else 'MISSED'} |")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time (after a 3 s warm-up)")
    parser.add_argument("--clients", type=int, default=50, help="kiosks and clerks together")
    parser.add_argument("--kiosk-share", type=float, default=0.5, help="share of the clients that are kiosks")
    parser.add_argument("--screens", type=int, default=100, help="SSE screens on /display/stream")
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a client's actions (s)")
    parser.add_argument("--sse-procs", type=int, default=2, help="processes reading the SSE streams")
    parser.add_argument(
        "--measure-every",
        type=int,
        default=10,
        help="time the calls on every n-th screen (1: all; costs this process CPU)",
    )
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="niceness for the web and devices processes (negative needs root): on a shared "
        "machine, stands in for a box that runs nothing else",
    )
    parser.add_argument("--keep", action="store_true", help="keep the hall folder (database, logs) afterwards")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    met = report(args, run(args))
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
