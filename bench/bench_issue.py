#!/usr/bin/env python3
"""Taking a ticket under contention: N clients issue back to back, all on 127.0.0.1.

A real `tongban serve` and `tongban devices` run on a small open hall, a fresh one for each path.
The clients take tickets as fast as the server answers (no pause), three ways:

- kiosk: the kiosk page, as the browser does it: the confirm form (its one-time key and CSRF token)
  is fetched first, then posted with htmx's headers; only the post is timed;
- api: `POST /api/v1/tickets` with a kiosk's bearer token and an Idempotency-Key, on a keep-alive
  connection;
- api-close: the same with `Connection: close`, a new TCP connection per ticket.

Printed: tickets a second and p50/p90/p99/max of the timed request, per path and per source tree.
`--compare TREE` runs another checkout (e.g. a worktree of the code before a change) the same way,
alternating rounds with this one, so both see the same noise on a shared machine.

    .venv/bin/python bench/bench_issue.py [--tickets 500] [--clients 8] [--rounds 2] [--compare TREE]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0
KEY = re.compile(r'name="key" value="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PATHS = ("kiosk", "api", "api-close")

# Seeds the hall with the tree's own code (module paths differ between versions): prints the tokens.
SEED = """
import json, sys
from pathlib import Path
from tests.fault.hall import HallProcesses, load_hall_doc
hall = HallProcesses(Path(sys.argv[1]), doc=load_hall_doc(lines=2, windows=4))
print(json.dumps(hall.seed(kiosks=int(sys.argv[2]))))
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`tongban serve` and `tongban devices` of one source tree, on a fresh database."""

    def __init__(self, tree: Path, kiosks: int):
        self.tree = tree
        self.folder = Path(tempfile.mkdtemp(prefix="tongban-bench-issue-"))
        self.port = free_port()
        seeded = subprocess.run(
            [sys.executable, "-c", SEED, str(self.folder), str(kiosks)],
            cwd=tree,
            capture_output=True,
            text=True,
            check=True,
        )
        self.tokens: dict[str, str] = json.loads(seeded.stdout.strip().splitlines()[-1])
        config, db = str(self.folder / "hall.toml"), str(self.folder / "tongban.db")
        env = {**os.environ, "TONGBAN_LOG": "WARNING"}
        log = open(self.folder / "server.log", "ab")
        serve = ["serve", "--config", config, "--db", db, "--host", "127.0.0.1", "--port", str(self.port)]
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tongban", *args], cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            for args in (serve, ["devices", "--config", config, "--db", db])
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{tree}: the server did not start; see {self.folder / 'server.log'}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def kiosk_client(port: int, kiosk: str, token: str, count: int, out: list[float], failures: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    cookies = {"tongban_terminal": token}
    for _ in range(count):
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request("GET", f"/kiosk/{kiosk}/lines/A", headers={"Cookie": cookie, "HX-Request": "true"})
        response = conn.getresponse()
        page = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = header.partition("=")
            cookies[name] = rest.split(";", 1)[0]  # the session cookie that holds the CSRF secret
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        key, csrf = KEY.search(page), CSRF.search(page)
        if not key or not csrf:
            failures.append("no confirm form")
            continue
        body = urllib.parse.urlencode({"csrf_token": csrf.group(1), "key": key.group(1), "line": "A"})
        headers = {
            "Cookie": cookie,
            "HX-Request": "true",
            "X-CSRFToken": csrf.group(1),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        started = time.monotonic()
        conn.request("POST", f"/kiosk/{kiosk}/tickets", body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        elapsed = time.monotonic() - started
        if response.status != 200 or "A0" not in text:
            failures.append(f"kiosk {response.status}: {text[:200]}")
        out.append(elapsed)


def api_client(port: int, token: str, count: int, out: list[float], failures: list[str], *, close: bool) -> None:
    conn = None
    for i in range(count):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"{token[:12]}-{i}-{time.monotonic_ns()}",
        }
        if close:
            headers["Connection"] = "close"
        started = time.monotonic()
        conn.request("POST", "/api/v1/tickets", body=json.dumps({"line": "A"}), headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.monotonic() - started
        if response.status != 201:
            failures.append(f"api {response.status}")
        out.append(elapsed)
        if close:
            conn.close()
            conn = None


def run_path(server: Server, path: str, tickets: int, clients: int) -> dict:
    per_client = [tickets // clients + (1 if i < tickets % clients else 0) for i in range(clients)]
    timings: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    kiosks = list(server.tokens.items())
    threads = []
    for i, count in enumerate(per_client):
        kiosk, token = kiosks[i % len(kiosks)]
        if path == "kiosk":
            target, args = kiosk_client, (server.port, kiosk, token, count, timings[i], failures)
            threads.append(threading.Thread(target=target, args=args))
        else:
            threads.append(
                threading.Thread(
                    target=api_client,
                    args=(server.port, token, count, timings[i], failures),
                    kwargs={"close": path == "api-close"},
                )
            )
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    flat = [t * 1000 for client in timings for t in client]
    return {
        "tickets": len(flat),
        "per_s": len(flat) / wall if wall else float("nan"),
        "p50": percentile(flat, 50),
        "p90": percentile(flat, 90),
        "p99": percentile(flat, 99),
        "max": max(flat, default=float("nan")),
        "failures": len(failures),
    }


def one_client_ms(server: Server) -> float:
    timings: list[float] = []
    api_client(server.port, next(iter(server.tokens.values())), 50, timings, [], close=False)
    return percentile([t * 1000 for t in timings], 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per tree")
    parser.add_argument("--compare", type=Path, help="another checkout to run the same way, alternating")
    args = parser.parse_args()
    trees = [("now", ROOT)] + ([("before", args.compare.resolve())] if args.compare else [])
    rows = []
    floor = {}
    for round_no in range(1, args.rounds + 1):
        for name, tree in trees if round_no % 2 else list(reversed(trees)):
            for path in PATHS:
                # A fresh hall per path: every path issues its tickets into the same empty queue (on
                # one database the third path would take tickets 1001-1500 behind the others').
                server = Server(tree, kiosks=args.clients)
                try:
                    if name not in floor:
                        floor[name] = one_client_ms(server)
                        server.stop()
                        server = Server(tree, kiosks=args.clients)
                    rows.append((name, round_no, path, run_path(server, path, args.tickets, args.clients)))
                finally:
                    server.stop()
    head = ("tree", "round", "path", "tickets", "tickets/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "failed")
    table = [head] + [
        (
            name,
            str(r),
            path,
            str(m["tickets"]),
            f"{m['per_s']:.0f}",
            f"{m['p50']:.1f}",
            f"{m['p90']:.1f}",
            f"{m['p99']:.1f}",
            f"{m['max']:.1f}",
            str(m["failures"]),
        )
        for name, r, path, m in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for j, row in enumerate(table):
        print("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for name, ms in floor.items():
        print(f"{name}: one client alone, p50 {ms:.1f} ms; {args.clients} clients' floor ≈ {args.clients * ms:.0f} ms")
    for name, _tree in trees:
        worst = max(m["p99"] for n, _r, _p, m in rows if n == name)
        verdict = "met" if worst <= TARGET_P99_MS else "MISSED"
        print(f"{name}: worst p99 {worst:.1f} ms (target ≤ {TARGET_P99_MS:.0f} ms on every path): {verdict}")


if __name__ == "__main__":
    main()
