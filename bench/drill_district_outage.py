#!/usr/bin/env python3
"""The district away for a while as the halls issue: hall latency, the backlog, and nothing lost or doubled.

The drill of issue 17 ("the district is stopped for 2 minutes while the halls issue"), with every part
as it runs for real, all on 127.0.0.1: a throwaway PostgreSQL cluster (tests/pgcluster.py),
`tongban district init`, `district hall add` for each hall and `district serve` (gunicorn, its own
process group); each hall a `tongban serve` + `tongban devices` pair on its own SQLite file and hall
file, joined to the district (`outbox.join`, as `tongban district join` does).

Three phases of equal length, clients issuing on every hall at a steady rate through the hall's API
(`POST /api/v1/tickets` with a kiosk's bearer token, as bench/bench_issue.py does) throughout:
- (a) connected: the district up;
- (b) outage: the district's process group sent SIGTERM, away for --outage-s seconds;
- (c) back: the district started again on the same port.

Printed: per phase the issue latency p50/p95/p99 and the tickets issued; the outage's p99 over the
connected p99 of (a), held to the noise, which is how far the two connected phases (a) and (c) differ
(max(a/c, c/a) of their p99s; (c) also carries the drain); the peak backlog during the outage (each
hall's `outbox.status`, read every second); the time from the district's return until every hall's
backlog is back to its level while connected (its peak in phase (a)); and the final check, after the
clients stop and the backlogs reach 0: per hall the district's ticket and event counts equal the
hall's own, with no uid twice. Targets missed say MISSED; the exit status is 0 either way (a
measurement), 2 when the set-up fails.

    .venv/bin/python bench/drill_district_outage.py [--outage-s 120] [--halls 3] [--rate 4]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import psycopg  # noqa: E402

from tests.fault.hall import HallProcesses, load_hall_doc  # noqa: E402
from tests.pgcluster import PgCluster  # noqa: E402
from tongban.queue import outbox  # noqa: E402
from tongban.queue.store import Store  # noqa: E402

TONGBAN = [sys.executable, "-m", "tongban"]
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")  # secrets.token_urlsafe(32)
FINAL_WAIT_S = 300  # the backlogs must reach 0 and the counts agree within this after the clients stop
PROCS: list[subprocess.Popen] = []  # every process group started here, stopped on any exit


class SetupFailed(SystemExit):
    def __init__(self, what: str) -> None:
        print(f"drill_district_outage: {what}", file=sys.stderr)
        super().__init__(2)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*TONGBAN, *args],
            cwd=ROOT,
            env={**os.environ, "TONGBAN_LOG": "WARNING"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: gunicorn's workers go with the master
        )
    PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc in PROCS:
        PROCS.remove(proc)


def wait_listening(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SetupFailed(f"{what} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SetupFailed(f"{what} did not listen within {timeout:.0f} s; see {log}")


def district_cli(*args: str) -> str:
    done = subprocess.run([*TONGBAN, "district", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SetupFailed(f"`tongban district {' '.join(args[:2])}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


class District:
    """`tongban district serve` on one port, stopped and started again on it."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.port = free_port()
        self.log = folder / "district-serve.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["district", "serve", "--db", self.url, "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = spawn(args, self.log)
        wait_listening(self.port, self.proc, "`tongban district serve`", self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the master binds before its workers have imported the app
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/nothing", timeout=2):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise SetupFailed(f"the district did not answer within 60 s; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


class Hall:
    """One hall box: its hall file and SQLite file, a kiosk token, `tongban serve` and `tongban devices`."""

    def __init__(self, folder: Path, hall_id: str, district_base: str, district_token: str) -> None:
        doc = load_hall_doc(lines=2, windows=4)
        doc["hall"]["id"] = hall_id
        doc["hall"]["name_zh"] = f"{hall_id}大厅"
        self.id = hall_id
        self.folder = folder
        self.boxes = HallProcesses(folder, doc=doc)
        self.token = next(iter(self.boxes.seed(kiosks=1).values()))
        self.db = str(self.boxes.db)
        with self.store() as store:
            outbox.join(store, district_base, district_token)
        self.port = free_port()
        config = str(self.boxes.config)
        serve = ["serve", "--config", config, "--db", self.db, "--host", "127.0.0.1", "--port", str(self.port)]
        self.web = spawn(serve, folder / "serve.log")
        self.devices = spawn(["devices", "--config", config, "--db", self.db], folder / "devices.log")
        wait_listening(self.port, self.web, f"{hall_id}'s `tongban serve`", folder / "serve.log")

    @contextlib.contextmanager
    def store(self):
        store = Store(self.db)
        try:
            yield store
        finally:
            store.close()

    def status(self) -> outbox.SyncStatus:
        with self.store() as store:
            return outbox.status(store, datetime.now(UTC))

    def counts(self) -> tuple[int, int]:
        with self.store() as store:
            return store.one("SELECT count(*) FROM tickets")[0], store.one("SELECT count(*) FROM events")[0]

    def stop(self) -> None:
        stop(self.web)
        stop(self.devices)


def district_counts(url: str, hall: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        t = conn.execute("SELECT count(*), count(DISTINCT uid) FROM tickets WHERE hall = %s", (hall,)).fetchone()
        e = conn.execute("SELECT count(*), count(DISTINCT uid) FROM events WHERE hall = %s", (hall,)).fetchone()
    assert t is not None and e is not None
    return {"tickets": t[0], "ticket_uids": t[1], "events": e[0], "event_uids": e[1]}


class Issuer(threading.Thread):
    """Issues on one hall at a steady rate (a schedule, not back to back); each latency goes to the phase
    current when its request started."""

    def __init__(self, hall: Hall, rate: float, phase: list[str], stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.hall, self.rate, self.phase, self.stopping = hall, rate, phase, stopping
        self.timings: dict[str, list[float]] = {}
        self.failures: dict[str, int] = {}

    def run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        due = time.monotonic()
        i = 0
        while not self.stopping.is_set():
            pause = due - time.monotonic()
            if pause > 0 and self.stopping.wait(pause):
                break
            due += 1.0 / self.rate
            i += 1
            phase = self.phase[0]
            headers = {
                "Authorization": f"Bearer {self.hall.token}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"{self.hall.id}-{i}-{time.monotonic_ns()}",
            }
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=60)
                conn.request("POST", "/api/v1/tickets", body=json.dumps({"line": "AB"[i % 2]}), headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 201
            except (OSError, http.client.HTTPException):
                ok = False
                conn = None
            elapsed = time.monotonic() - started
            if ok:
                self.timings.setdefault(phase, []).append(elapsed * 1000)
            else:
                self.failures[phase] = self.failures.get(phase, 0) + 1


class Watcher(threading.Thread):
    """Every second: each hall's backlog, tagged with the phase."""

    def __init__(self, halls: list[Hall], phase: list[str], stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.halls, self.phase, self.stopping = halls, phase, stopping
        self.samples: list[tuple[float, str, dict[str, int]]] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(Exception):  # a busy file now and then: the next second reads it
                self.samples.append((time.monotonic(), self.phase[0], {h.id: h.status().backlog for h in self.halls}))
            self.stopping.wait(1.0)


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(head, widths))))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


def drill(args: argparse.Namespace, cluster: PgCluster, folder: Path) -> None:
    url = cluster.new_database("drill")
    district_cli("init", "--db", url)
    ids = [f"hall-{n}" for n in range(1, args.halls + 1)]
    tokens = {}
    for hall_id in ids:
        found = TOKEN.findall(district_cli("hall", "add", hall_id, "--db", url))
        if not found:
            raise SetupFailed(f"`tongban district hall add {hall_id}` printed no token")
        tokens[hall_id] = max(found, key=len)
    district = District(url, folder)
    district.start()
    halls: list[Hall] = []
    try:
        for hall_id in ids:
            halls.append(Hall(folder / hall_id, hall_id, district.base, tokens[hall_id]))
        phase = ["warm-up"]
        stopping = threading.Event()
        issuers = [Issuer(h, args.rate, phase, stopping) for h in halls]
        watching = threading.Event()  # the backlog is watched on until the final check
        watcher = Watcher(halls, phase, watching)
        spans: dict[str, float] = {}
        for t in [*issuers, watcher]:
            t.start()
        time.sleep(5)  # first tickets, first pushes: not timed
        print(f"(a) connected, {args.outage_s:.0f} s", flush=True)
        phase[0] = "a"
        began = time.monotonic()
        time.sleep(args.outage_s)
        print(f"(b) outage: the district's process group sent SIGTERM, {args.outage_s:.0f} s", flush=True)
        phase[0] = "b"
        spans["a"] = time.monotonic() - began
        began = time.monotonic()
        district.stop()
        time.sleep(args.outage_s)
        print(f"(c) back: the district started again, {args.outage_s:.0f} s", flush=True)
        district.start()  # still (b) until it answers: its start-up is time away too
        returned = time.monotonic()
        phase[0] = "c"
        spans["b"] = returned - began
        time.sleep(args.outage_s)
        phase[0] = "end"
        spans["c"] = time.monotonic() - returned
        stopping.set()
        for t in issuers:
            t.join(timeout=90)
        print("the clients stopped; waiting for every backlog to reach 0 and the counts to agree", flush=True)
        deadline = time.monotonic() + FINAL_WAIT_S
        final: dict[str, tuple[tuple[int, int], dict[str, int]]] = {}
        while time.monotonic() < deadline:
            final = {h.id: (h.counts(), district_counts(url, h.id)) for h in halls}
            settled = all(h.status().backlog == 0 for h in halls) and all(
                (d["tickets"], d["events"]) == own for own, d in final.values()
            )
            if settled:
                break
            time.sleep(1)
        watching.set()
        watcher.join(timeout=30)
        report(args, issuers, watcher, returned, spans, final, halls)
    finally:
        for h in halls:
            h.stop()
        district.stop()


def report(
    args: argparse.Namespace,
    issuers: list[Issuer],
    watcher: Watcher,
    returned: float,
    spans: dict[str, float],
    final: dict[str, tuple[tuple[int, int], dict[str, int]]],
    halls: list[Hall],
) -> None:
    names = {"a": "(a) connected", "b": "(b) district away", "c": "(c) district back"}
    p99 = {}
    rows = []
    for key, name in names.items():
        ms = [t for i in issuers for t in i.timings.get(key, [])]
        failed = sum(i.failures.get(key, 0) for i in issuers)
        p99[key] = percentile(ms, 99)
        rows.append(
            (
                name,
                f"{spans[key]:.0f}",
                str(len(ms)),
                f"{percentile(ms, 50):.1f}",
                f"{percentile(ms, 95):.1f}",
                f"{p99[key]:.1f}",
                f"{max(ms, default=float('nan')):.1f}",
                str(failed),
            )
        )
    print(
        f"\nTongban district outage drill: {args.halls} halls × {args.rate:g} tickets/s each through the API,"
        f" phases of {args.outage_s:.0f} s, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f}\n"
    )
    table(("phase", "s", "tickets", "p50 ms", "p95 ms", "p99 ms", "max ms", "failed"), rows)
    print()
    noise = max(p99["a"] / p99["c"], p99["c"] / p99["a"])
    ratio = p99["b"] / p99["a"]
    verdict = "met" if ratio <= noise else "MISSED"
    print(
        f"outage p99 / connected p99 (b/a): {ratio:.2f}; noise, connected against connected (a vs c):"
        f" {noise:.2f}; within noise: {verdict}"
    )
    steady = {h.id: max((s[h.id] for _t, p, s in watcher.samples if p == "a"), default=0) for h in halls}
    peak = {h.id: max((s[h.id] for _t, p, s in watcher.samples if p == "b"), default=0) for h in halls}
    drained = {
        h: next((t - returned for t, _p, s in watcher.samples if t >= returned and s[h] <= steady[h]), None)
        for h in steady
    }
    timeline = [
        f"{t - returned:.0f}s {sum(s.values())}" for t, _p, s in watcher.samples if returned <= t <= returned + 90
    ]
    print(
        "peak backlog while away (changes): "
        + ", ".join(f"{h} {peak[h]}" for h in peak)
        + f"; total {sum(peak.values())}"
    )
    print("backlog while connected, each hall's peak in (a): " + ", ".join(f"{h} {steady[h]}" for h in steady))
    print("backlog of all halls after the district returned: " + ", ".join(timeline[::3]))
    if any(v is None for v in drained.values()):
        print("drain after the district returned: MISSED (a hall never came back to its connected level)")
    else:
        print(
            f"drain after the district returned: {max(drained.values()):.1f} s until the last hall is back to its"
            " connected level (" + ", ".join(f"{h} {v:.1f} s" for h, v in drained.items()) + "); the sync worker"
            " waits out its backoff first (doubling from 1 s, at most 60 s, a random half to whole of it)"
        )
    print()
    rows = []
    all_ok = True
    for hall_id, ((tickets, events), d) in final.items():
        ok = d["tickets"] == tickets and d["events"] == events
        ok = ok and d["ticket_uids"] == d["tickets"] and d["event_uids"] == d["events"]
        all_ok = all_ok and ok
        rows.append(
            (
                hall_id,
                str(tickets),
                str(d["tickets"]),
                str(events),
                str(d["events"]),
                str(d["tickets"] - d["ticket_uids"] + d["events"] - d["event_uids"]),
                "ok" if ok else "MISSED",
            )
        )
    table(("hall", "tickets", "at district", "events", "at district", "uids twice", "lost/doubled"), rows)
    print(f"\nnothing lost or doubled: {'met' if all_ok and final else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage-s", type=float, default=120.0, help="seconds away (and of each other phase)")
    parser.add_argument("--halls", type=int, default=3)
    parser.add_argument("--rate", type=float, default=4.0, help="tickets a second on each hall")
    args = parser.parse_args()

    def stopped(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stopped)
    folder = Path(tempfile.mkdtemp(prefix="tongban-drill-outage-"))
    cluster = None
    keep = False
    try:
        cluster = PgCluster()
        drill(args, cluster, folder)
    except KeyboardInterrupt:
        print("drill_district_outage: stopped; cleaning up", file=sys.stderr)
        return 130
    except SetupFailed:
        keep = True
        print(f"drill_district_outage: the logs are kept in {folder}", file=sys.stderr)
        raise
    finally:
        for proc in list(PROCS):
            stop(proc)
        if cluster is not None:
            cluster.destroy()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
