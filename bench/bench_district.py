#!/usr/bin/env python3
"""The district service under load: many halls pushing at once, and reports on a year of data.

Everything runs on this machine, on 127.0.0.1 and a throwaway PostgreSQL cluster on a unix socket
(tests/pgcluster.py: fsync off, 32 MB shared buffers, as in the tests), through the real commands:
`tongban district init`, `tongban district hall add` and `tongban district serve` (gunicorn).

Part 1, ingest. N simulated halls push a busy day each, at once, as the hall's sync worker does
(docs/district.md §Protocol): batches of at most 500 changes, seq ascending from the district's
acked + 1, resent from acked + 1 after a refusal. The changes come from a generator in this file that
stands in for N hall boxes: it writes exactly the protocol's change bodies (ticket, event, window,
case, case_event, alert, day_summary) for a day of ~900 tickets per hall: issue, call, sometimes a
recall, start and finish or a no-show (now and then undone), a rating for most, window opens, breaks
and closes, a few alerts and cases, and the day summary at the close.
- lag: day 1 is produced at an accelerated pace (the 8.5-hour day in --day-seconds) and each hall
  pushes every 0.5 s; a change's lag is the time from its creation at the hall to the district's ack
  of it (the 200 answer that covers its seq). Target: p99 < 5 s.
- ingest: day 2 is pushed all at once, as after a network outage (every hall's backlog drains at
  full speed); changes per second from the first push to the last ack. Target: more than 50 times
  the real rate of a busy district (N halls' changes of one day spread over an 8-hour day).
- the district's CPU seconds and peak memory in each phase: gunicorn's master and workers and the
  PostgreSQL server processes, read from /proc.
- the rows the district holds afterwards: every ticket and event once (nothing lost or doubled).

Part 2, reports. A year of N halls is written straight into the district's tables (with
bench/district_data.generate_year when it is present, else with this file's own COPY generator;
weekdays only, as halls close at weekends) and each district report is timed: `hall_day_rows` for a
day (in process), and over HTTP, signed in as district staff: the report pages for a week, a month
and the year, by hall, department, matter and window, one CSV export and the live page. Each is
asked once to warm up, then 5 times; the median is held to the target (< 300 ms), the max shown.

The table says met or MISSED per target; the exit status is 0 either way (it is a measurement), 2 when
a piece the bench needs is missing (it says which).

    .venv/bin/python bench/bench_district.py [--halls 20] [--tickets 900] [--days 365] [--part all]
    .venv/bin/python bench/bench_district.py --quick        # 4 halls, 200 tickets, 30 days
"""

from __future__ import annotations

import argparse
import bisect
import http.client
import http.cookiejar
import importlib
import itertools
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

HALL_TZ = timezone(timedelta(hours=8))  # the halls' local time (China)
OPENS = 8 * 3600 + 50 * 60  # 08:50: windows open; tickets from 09:00 to 17:00, service runs on a little
REAL_DAY_S = 8 * 3600  # the real day the ingest target compares with
BATCH = 500  # the hall sync worker's batch size
PUSH_EVERY_S = 0.5  # the hall sync worker's pause between pushes while connected
TARGET_LAG_P99_S = 5.0
TARGET_INGEST_X = 50.0
TARGET_REPORT_MS = 300.0
REPEATS = 5
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")  # secrets.token_urlsafe(32) is 43 such characters
LINES = {"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1}
MATTERS = {line: [f"{line.lower()}{i:02d}" for i in range(1, 6)] for line in LINES}
DEPARTMENTS = ("社保", "医保", "公积金", "不动产", "户政")
HOUR_SHAPE = (1.4, 1.6, 1.3, 0.8, 0.6, 1.0, 1.2, 0.9)  # arrivals per hour 09:00-17:00, morning peak
WINDOWS = 12


class Missing(SystemExit):
    """A piece of the district the bench needs is not in this tree: say which, exit 2."""

    def __init__(self, what: str) -> None:
        print(f"bench_district: {what}", file=sys.stderr)
        super().__init__(2)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the district's commands


def district(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tongban", "district", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise Missing(f"`tongban district {' '.join(args[:2])}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def need_cli() -> str:
    """The serve command's help (to see its options); stops with a clear message if the group is missing."""
    done = district("--help", check=False)
    if done.returncode != 0 or not all(word in done.stdout for word in ("init", "serve", "hall")):
        raise Missing(
            "the district command group is missing or incomplete (`tongban district --help` must list init,"
            " serve and hall: tongban/district/cli.py, registered in tongban/cli.py)\n" + done.stderr[-800:]
        )
    return district("serve", "--help").stdout


def add_hall(url: str, hall: str) -> str:
    out = district("hall", "add", hall, "--db", url).stdout
    tokens = TOKEN.findall(out)
    if not tokens:
        raise Missing(f"`tongban district hall add {hall}` printed no token:\n{out[-500:]}")
    return max(tokens, key=len)


SERVERS: list[Serve] = []  # the servers running now, for a bench stopped by SIGTERM


class Serve:
    """`tongban district serve` on a free port; stop() sends SIGTERM to the gunicorn master it started."""

    def __init__(self, url: str, serve_help: str, workers: int | None, log: Path) -> None:
        self.port = free_port()
        args = ["serve", "--db", url, "--host", "127.0.0.1", "--port", str(self.port)]
        if workers and "--workers" in serve_help:
            args += ["--workers", str(workers)]
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tongban", "district", *args],
                cwd=ROOT,
                env={**os.environ, "TONGBAN_LOG": "WARNING"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        SERVERS.append(self)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Missing(f"`tongban district serve` exited with {self.proc.returncode}; see {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise Missing(f"`tongban district serve` did not listen within 60 s; see {log}")
        time.sleep(1.0)  # gunicorn's master binds before its workers have imported the app

    def stop(self) -> None:
        if self in SERVERS:
            SERVERS.remove(self)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- CPU and memory from /proc

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from "state" on: the name may hold spaces


def tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            parents[int(entry)] = int(fields[1])
    out, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        out += frontier
    return out


def cpu_seconds(root: int) -> float:
    """User + system time of the process tree now, with the children it already reaped (cutime):
    a PostgreSQL backend or a gunicorn worker that ended during the phase still counts."""
    total = 0.0
    for pid in tree(root):
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])
            if pid == root:
                total += int(fields[13]) + int(fields[14])
    return total / TICK


def memory(root: int) -> tuple[float, float]:
    """(RSS, PSS) of the tree in bytes. RSS counts shared pages (PostgreSQL's shared buffers, the
    pages gunicorn's workers share with their master) once per process; PSS shares them out."""
    rss = pss = 0.0
    for pid in tree(root):
        try:
            rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
            pss += int(found.group(1)) * 1024 if found else 0
        except (OSError, IndexError, ValueError):
            continue
    return rss, pss


class Watch:
    """Samples the memory of each process tree every 0.2 s; CPU seconds between start and stop."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self.peak = {name: (0.0, 0.0) for name in roots}
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in roots.items()}
        self.cpu: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, pid in self.roots.items():
                rss, pss = memory(pid)
                old = self.peak[name]
                self.peak[name] = (max(old[0], rss), max(old[1], pss))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu = {name: cpu_seconds(pid) - self.cpu0[name] for name, pid in self.roots.items()}


def postmaster_pid(cluster: Any) -> int:
    return int((Path(cluster.data) / "postmaster.pid").read_text().split()[0])


# ---------------------------------------------------------------- the halls' changes (stand-in for N boxes)


def uid(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def iso(day: date, seconds: float) -> str:
    return (datetime.combine(day, datetime.min.time(), HALL_TZ) + timedelta(seconds=seconds)).isoformat(
        timespec="microseconds"
    )


@dataclass
class HallDay:
    """One hall's changes for one day, in the order the hall's triggers would have written them."""

    at: list[float] = field(default_factory=list)  # seconds after 08:50 when each change was made
    changes: list[dict[str, Any]] = field(default_factory=list)  # without seq: numbered when pushed
    tickets: int = 0
    events: int = 0


def hall_day(hall: str, day: date, tickets: int, rng: random.Random, ids: dict[str, int]) -> HallDay:
    """A busy day's change bodies, exactly as docs/district.md §Protocol lists them."""
    made: list[tuple[float, int, str, str, dict[str, Any]]] = []
    order = iter(range(10**9))  # keeps the hall's own order among changes made in the same instant

    def change(t: float, kind: str, key: str, body: dict[str, Any]) -> None:
        made.append((t, next(order), kind, key, dict(body)))

    def event(
        t: float,
        action: str,
        *,
        ticket: str | None,
        window: int | None,
        frm: str | None,
        to: str | None,
        actor: str,
        data: dict[str, Any] | None = None,
        undone: str | None = None,
    ) -> str:
        ids["event"] += 1
        e = uid(rng)
        change(t, "event", e, {
            "uid": e, "id": ids["event"], "ticket_uid": ticket, "window": window, "action": action,
            "from_state": frm, "to_state": to, "actor": actor, "at": iso(day, OPENS + t), "data": data or {},
            "undone_uid": undone,
        })  # fmt: skip
        return e

    serving = {w: sorted(rng.sample(list(LINES), k=rng.choice((1, 2, 2, 3)))) for w in range(1, WINDOWS + 1)}
    for w in range(1, WINDOWS + 1):  # open, one break (lunch for half), close
        clerk = f"clerk{w}"
        win = {"number": w, "state": "closed", "serving": serving[w], "clerk": None, "updated_at": None}
        pause = rng.uniform(3.0, 4.0) * 3600 if w % 2 else rng.uniform(1.5, 6.5) * 3600
        back = pause + (3600 if w % 2 else rng.uniform(600, 1200))
        for t, state, action, c in (
            (rng.uniform(0, 600), "open", "open", clerk),
            (pause, "paused", "pause", clerk),
            (back, "open", "resume", clerk),
            (8.5 * 3600 + rng.uniform(0, 900), "closed", "close", None),
        ):
            previous = win["state"]
            win.update(state=state, clerk=c, updated_at=iso(day, OPENS + t))
            change(t, "window", str(w), win)
            data = {"reason": "lunch" if w % 2 else "rest"} if action == "pause" else {}
            event(t, f"window_{action}", ticket=None, window=w, frm=previous, to=state, actor=clerk, data=data)

    counts = dict.fromkeys(LINES, 0)
    waits: list[float] = []
    served = no_shows = rated = good = 0
    weights = [w / sum(HOUR_SHAPE) for w in HOUR_SHAPE]
    for _ in range(tickets):
        hour = rng.choices(range(8), weights)[0]
        t = 600 + (hour + rng.random()) * 3600
        line = rng.choices(list(LINES), list(LINES.values()))[0]
        counts[line] += 1
        ids["ticket"] += 1
        u = uid(rng)
        kiosk = f"kiosk-{rng.randint(1, 3)}"
        green = rng.random() < 0.05
        ticket = {
            "uid": u, "id": ids["ticket"], "service_day": day.isoformat(), "prefix": line, "seq": counts[line],
            "number": f"{line}{counts[line]:03d}", "line": line, "matter": rng.choice(MATTERS[line]),
            "state": "waiting", "green": green, "green_reason": "elder" if green else None, "transferred": False,
            "issued_at": iso(day, OPENS + t), "called_at": None, "finished_at": None, "window": None,
            "clerk": None, "kiosk": kiosk,
        }  # fmt: skip
        change(t, "ticket", u, ticket)
        event(t, "issue", ticket=u, window=None, frm=None, to="waiting", actor=kiosk, data={"line": line})
        wait = min(rng.expovariate(1 / 540), 3600)
        waits.append(wait / 60)
        t += wait
        w = rng.randint(1, WINDOWS)
        clerk = f"clerk{w}"
        ticket.update(state="called", called_at=iso(day, OPENS + t), window=w, clerk=clerk)
        change(t, "ticket", u, ticket)
        event(t, "call", ticket=u, window=w, frm="waiting", to="called", actor=clerk)
        if rng.random() < 0.15:
            t += 60
            ticket.update(called_at=iso(day, OPENS + t))
            change(t, "ticket", u, ticket)
            event(t, "recall", ticket=u, window=w, frm="called", to="called", actor=clerk)
        if rng.random() < 0.08:
            t += 90
            ticket.update(state="no_show", finished_at=iso(day, OPENS + t))
            change(t, "ticket", u, ticket)
            gone = event(t, "no_show", ticket=u, window=w, frm="called", to="no_show", actor=clerk)
            if rng.random() > 0.1:
                no_shows += 1
                continue
            t += 10  # the citizen came running: the clerk undoes the no-show within its 30 s
            ticket.update(state="called", finished_at=None)
            change(t, "ticket", u, ticket)
            event(t, "undo", ticket=u, window=w, frm="no_show", to="called", actor=clerk, undone=gone)
        t += rng.uniform(15, 60)
        ticket.update(state="serving")
        change(t, "ticket", u, ticket)
        event(t, "start", ticket=u, window=w, frm="called", to="serving", actor=clerk)
        t += min(rng.lognormvariate(math.log(300), 0.6), 3600)
        ticket.update(state="done", finished_at=iso(day, OPENS + t))
        change(t, "ticket", u, ticket)
        event(t, "finish", ticket=u, window=w, frm="serving", to="done", actor=clerk)
        served += 1
        if rng.random() < 0.65:
            level = rng.choices((5, 4, 3, 2, 1), (0.7, 0.2, 0.05, 0.03, 0.02))[0]
            rated += 1
            good += level >= 4
            reasons = [rng.choice(("long_wait", "slow", "unclear"))] if level <= 2 else []
            data = {"level": level, "reasons": reasons, "comment": None, "window": w, "clerk": clerk,
                    "matter": ticket["matter"], "line": line, "number": ticket["number"]}  # fmt: skip
            event(t + rng.uniform(5, 40), "rate", ticket=u, window=w, frm="done", to="done", actor="pad", data=data)

    for _ in range(rng.randint(2, 5)):  # a printer low on paper, a display gone quiet; acked later
        a, t = uid(rng), rng.uniform(0, 8 * 3600)
        alert = {"uid": a, "device": rng.choice(("printer-1", "printer-2", "display-bus")),
                 "kind": "device_down", "message_zh": "设备无响应", "message_en": "The device does not answer",
                 "at": iso(day, OPENS + t), "acked_at": None}  # fmt: skip
        change(t, "alert", a, alert)
        alert["acked_at"] = iso(day, OPENS + t + rng.uniform(60, 1200))
        change(t + 600, "alert", a, alert)

    for _ in range(rng.randint(8, 15)):  # cases received today: masked only (docs/district.md §Privacy)
        c, t = uid(rng), rng.uniform(600, 8 * 3600)
        ids["case"] += 1
        line = rng.choice(list(LINES))
        case = {
            "uid": c, "id": ids["case"], "number": f"{day:%Y%m%d}-{ids['case']:04d}", "mode": "receive",
            "matter": rng.choice(MATTERS[line]), "matter_zh": "事项", "matter_en": "Matter",
            "department": rng.choice(DEPARTMENTS), "state": "received", "opened_day": day.isoformat(),
            "due_day": (day + timedelta(days=14)).isoformat(), "due_flag": None, "closed_day": None,
            "handling_dept": None, "applicant_masked": "张*", "phone_last4": f"{rng.randint(0, 9999):04d}",
            "updated_at": iso(day, OPENS + t), "origin_hall": hall, "origin_case_uid": None, "target_hall": None,
        }  # fmt: skip
        change(t, "case", c, case)
        e = uid(rng)
        change(t, "case_event", e, {
            "uid": e, "case_uid": c, "action": "receive", "from_state": None, "to_state": "received",
            "actor": f"clerk{rng.randint(1, WINDOWS)}", "at": iso(day, OPENS + t), "day": day.isoformat(), "data": {},
        })  # fmt: skip

    totals = {"issued": tickets, "served": served, "no_show": no_shows, "ratings": rated,
              "satisfaction": round(good / rated, 4) if rated else None,
              "mean_wait_min": round(statistics.fmean(waits), 2) if waits else None,
              "p90_wait_min": round(percentile(waits, 90), 2) if waits else None}  # fmt: skip
    end = max(t for t, *_ in made) + 1
    change(end, "day_summary", day.isoformat(), {"day": day.isoformat(), "totals": totals})

    made.sort(key=lambda m: (m[0], m[1]))
    out = HallDay(tickets=tickets)
    for t, _n, kind, key, body in made:
        out.at.append(t)
        out.changes.append({"kind": kind, "key": key, "body": body})
        out.events += kind == "event"
    return out


# ---------------------------------------------------------------- part 1: N halls push


@dataclass
class Pushed:
    lags: list[float] = field(default_factory=list)
    pushes: int = 0
    refusals: list[str] = field(default_factory=list)
    last_ack: float = 0.0


def push_day(
    port: int, hall: str, token: str, generation: str, day: HallDay, first_seq: int, start: float,
    speed: float | None, out: Pushed,
) -> None:  # fmt: skip
    """The hall sync worker's loop: push what exists from acked + 1 (≤ 500), every 0.5 s, at once again
    while a full batch was sent. ``speed`` None: everything exists at ``start`` (a backlog)."""
    due = [start + (t / speed if speed else 0.0) for t in day.at]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    acked = first_seq - 1  # the district's acked for this generation before the day began
    last = first_seq - 1 + len(day.changes)
    give_up = due[-1] + 300  # a district that never takes the day must not hang the bench
    while acked < last:
        tick = time.monotonic()
        if tick > give_up:
            out.refusals.append(f"{hall}: gave up at acked {acked} of {last}")
            break
        exists = first_seq - 1 + bisect.bisect_right(due, tick)
        full = False
        if exists > acked:
            lo = acked - first_seq + 1
            hi = min(exists, acked + BATCH) - first_seq + 1
            changes = [{"seq": first_seq + i, **day.changes[i]} for i in range(lo, hi)]
            body = json.dumps({"hall": hall, "generation": generation, "changes": changes}, ensure_ascii=False)
            try:
                conn.request("POST", "/api/v1/sync", body=body.encode(), headers=headers)
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as error:
                out.refusals.append(f"{hall}: {error!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                time.sleep(PUSH_EVERY_S)
                continue
            now = time.monotonic()
            out.pushes += 1
            if response.status != 200:
                out.refusals.append(f"{hall}: {response.status} {answer[:200]!r}")
                time.sleep(PUSH_EVERY_S)
                continue
            new = int(json.loads(answer)["acked"])
            for seq in range(acked + 1, min(new, last) + 1):
                out.lags.append(now - due[seq - first_seq])
            if new < acked + 1:
                out.refusals.append(f"{hall}: acked {new}, expected up to {hi + first_seq - 1}")
            full = new > acked and hi - lo == BATCH
            acked = max(acked, new)
            out.last_ack = now
        if not full:
            time.sleep(max(0.0, tick + PUSH_EVERY_S - time.monotonic()))
    conn.close()


def ask_acked(port: int, hall: str, token: str, generation: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"hall": hall, "generation": generation, "changes": []})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request("POST", "/api/v1/sync", body=body, headers=headers)
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    if response.status != 200:
        raise Missing(
            f"POST /api/v1/sync answered {response.status} {answer[:300]!r} to an empty batch (the district"
            " ingest, tongban/district/api.py and ingest.py, must answer 200 with acked)"
        )
    return int(json.loads(answer)["acked"])


def run_phase(
    port: int, halls: dict[str, str], generation: dict[str, str], days: dict[str, HallDay],
    first: dict[str, int], speed: float | None, roots: dict[str, int],
) -> tuple[list[Pushed], float, Watch]:  # fmt: skip
    results = {hall: Pushed() for hall in halls}
    start = time.monotonic() + 1.0  # every hall's clock starts at the same instant
    watch = Watch(roots)
    threads = [
        threading.Thread(
            target=push_day,
            args=(port, hall, token, generation[hall], days[hall], first[hall], start, speed, results[hall]),
            daemon=True,
        )
        for hall, token in halls.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    watch.stop()
    wall = max(r.last_ack for r in results.values()) - start
    return list(results.values()), wall, watch


def part1(args: argparse.Namespace, cluster: Any, serve_help: str, folder: Path, rows: list[Row]) -> None:
    import psycopg

    url = cluster.new_database("ingest")
    district("init", "--db", url)
    halls = {f"hall-{i:02d}": add_hall(url, f"hall-{i:02d}") for i in range(1, args.halls + 1)}
    generation = {hall: secrets.token_hex(8) for hall in halls}
    rng = random.Random(args.seed)
    today = datetime.now(HALL_TZ).date()
    ids = {hall: {"ticket": 0, "event": 0, "case": 0} for hall in halls}
    print(f"generating {args.halls} halls × 2 days × {args.tickets} tickets of changes …", file=sys.stderr)
    day1 = {hall: hall_day(hall, today - timedelta(days=1), args.tickets, rng, ids[hall]) for hall in halls}
    day2 = {hall: hall_day(hall, today, args.tickets, rng, ids[hall]) for hall in halls}
    per_day = statistics.fmean(len(d.changes) for d in day1.values())
    real_rate = args.halls * per_day / REAL_DAY_S

    server = Serve(url, serve_help, args.workers, folder / "district-serve.log")
    try:
        roots = {"gunicorn": server.proc.pid, "postgres": postmaster_pid(cluster)}
        for hall, token in halls.items():
            if ask_acked(server.port, hall, token, generation[hall]) != 0:
                raise Missing(f"{hall}: a new generation was not acked 0")
        span = max(d.at[-1] for d in day1.values())
        speed = span / args.day_seconds
        print(f"part 1, lag: day 1 paced at {speed:.0f}× ({args.day_seconds:g} s) …", file=sys.stderr)
        first = dict.fromkeys(halls, 1)
        lag_runs, lag_wall, lag_watch = run_phase(server.port, halls, generation, day1, first, speed, roots)
        print("part 1, ingest: day 2 all at once …", file=sys.stderr)
        first = {hall: 1 + len(day1[hall].changes) for hall in halls}
        burst_runs, burst_wall, burst_watch = run_phase(server.port, halls, generation, day2, first, None, roots)
    finally:
        server.stop()

    lags = [lag for r in lag_runs for lag in r.lags]
    sent = sum(len(d.changes) for d in day2.values())
    events = sum(d.events for d in day2.values())
    rate = sent / burst_wall if burst_wall > 0 else float("nan")
    refusals = [x for r in (*lag_runs, *burst_runs) for x in r.refusals]
    with psycopg.connect(url) as conn:
        held_tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        held_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        acked = dict(conn.execute("SELECT hall, acked FROM hall_generations").fetchall())
    want_tickets = sum(d.tickets for d in (*day1.values(), *day2.values()))
    want_events = sum(d.events for d in (*day1.values(), *day2.values()))
    want_acked = {hall: len(day1[hall].changes) + len(day2[hall].changes) for hall in halls}

    n = args.halls
    rows += [
        Row("Part 1", f"{n} halls × {args.tickets} tickets/day, {per_day:,.0f} changes per hall-day", "", None),
        Row("real rate of this district", f"{real_rate:.1f} changes/s ({n} × {per_day:,.0f} / 8 h)", "", None),
        Row("lag p50 (day 1, paced, push every 0.5 s)", f"{percentile(lags, 50):.2f} s", "", None),
        Row(
            "lag p99",
            f"{percentile(lags, 99):.2f} s (max {max(lags, default=float('nan')):.2f} s, {len(lags):,} changes)",
            f"< {TARGET_LAG_P99_S:g} s",
            percentile(lags, 99) < TARGET_LAG_P99_S,
        ),
        Row(
            "  pace of day 1",
            f"{speed:.0f}× real time: {n * per_day / lag_wall:,.0f} changes/s for {lag_wall:.0f} s",
            "",
            None,
        ),
        Row(
            "ingest (day 2 as one backlog)",
            f"{rate:,.0f} changes/s ({events / burst_wall:,.0f} events/s), {sent:,} in {burst_wall:.1f} s",
            f"> {TARGET_INGEST_X:g}× real = {TARGET_INGEST_X * real_rate:,.0f}/s",
            rate > TARGET_INGEST_X * real_rate,
        ),
        Row("  that is", f"{rate / real_rate:,.0f}× the real rate", "", None),
    ]
    for label, watch, wall in (("day 1 paced", lag_watch, lag_wall), ("day 2 backlog", burst_watch, burst_wall)):
        rows.append(
            Row(
                f"district CPU, {label}",
                f"gunicorn {watch.cpu['gunicorn']:.1f} s, PostgreSQL {watch.cpu['postgres']:.1f} s"
                f" in {wall:.0f} s wall ({(watch.cpu['gunicorn'] + watch.cpu['postgres']) / wall:.2f} cores)",
                "",
                None,
            )
        )
    for name in ("gunicorn", "postgres"):
        rss = max(lag_watch.peak[name][0], burst_watch.peak[name][0]) / 2**20
        pss = max(lag_watch.peak[name][1], burst_watch.peak[name][1]) / 2**20
        label = "gunicorn master + workers" if name == "gunicorn" else "PostgreSQL server processes"
        rows.append(Row(f"peak memory, {label}", f"PSS {pss:.0f} MB (RSS summed {rss:.0f} MB)", "", None))
    rows += [
        Row(
            "rows held: tickets, events",
            f"{held_tickets:,} / {want_tickets:,}, {held_events:,} / {want_events:,}",
            "all, once",
            held_tickets == want_tickets and held_events == want_events,
        ),
        Row(
            "acked = last seq, every hall",
            f"{sum(acked.get(h) == want for h, want in want_acked.items())} of {n}",
            f"{n} of {n}",
            all(acked.get(h) == want for h, want in want_acked.items()),
        ),
        Row("refused or failed pushes", f"{len(refusals)}" + (f": {refusals[0]}" if refusals else ""), "", None),
    ]


# ---------------------------------------------------------------- part 2: a year, then the reports


def workdays(days: int, last: date) -> list[date]:
    span = [last - timedelta(days=i) for i in range(days - 1, -1, -1)]
    return [d for d in span if d.weekday() < 5]


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class Copier:
    """Rows into one table through COPY, sent in chunks of a few MB (a year is tens of millions of rows)."""

    def __init__(self, conn: Any, table: str, columns: tuple[str, ...]) -> None:
        cols = ", ".join(f'"{c}"' for c in columns)
        self._copy = conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN")
        self._cm = self._copy.__enter__()
        self._parts: list[str] = []
        self._size = 0
        self.rows = 0

    def add(self, *values: Any) -> None:
        line = "\t".join(map(_copy_text, values)) + "\n"
        self._parts.append(line)
        self._size += len(line)
        self.rows += 1
        if self._size > 4_000_000:
            self.flush()

    def lines(self, lines: list[str]) -> None:
        """Lines already in COPY's text format, each ending in a newline."""
        self._parts += lines
        self._size += sum(map(len, lines))
        self.rows += len(lines)
        if self._size > 4_000_000:
            self.flush()

    def flush(self) -> None:
        self._cm.write("".join(self._parts).encode())
        self._parts, self._size = [], 0

    def close(self) -> None:
        self.flush()
        self._copy.__exit__(None, None, None)


TICKET_COLS = ("hall", "uid", "local_id", "service_day", "prefix", "number", "line", "matter", "state", "green",
               "green_reason", "transferred", "issued_at", "called_at", "first_call_at", "finished_at", "window",
               "clerk", "kiosk")  # fmt: skip
EVENT_COLS = ("hall", "uid", "ticket_uid", "service_day", "window", "action", "from_state", "to_state", "actor",
              "at", "data")  # fmt: skip


def generate_year_here(
    conn: Any, url: str, *, halls: int, days: int, tickets_per_day: int, seed: int
) -> dict[str, int]:
    """A year straight into the 0001 tables with COPY: what the ingest would hold after a year of the
    stand-in halls above, less the window and recall events the reports do not read. The last day is
    today, up to now in the halls' time, its latest tickets still waiting (the live page reads them).

    Tens of millions of rows: each COPY line is written by hand (the values hold no tab, newline or
    backslash), as the generic formatting took most of the time."""
    import psycopg

    rng = random.Random(seed)
    now = datetime.now(HALL_TZ)
    today_s = (now - datetime.combine(now.date(), datetime.min.time(), HALL_TZ)).total_seconds() - OPENS
    names = [f"hall-{i:02d}" for i in range(1, halls + 1)]
    with conn.cursor() as cur:
        for name in names:
            cur.execute(
                "INSERT INTO halls (id, name, token_hash, last_sync_at) VALUES (%s, %s, %s, now())",
                (name, f"{name} 政务服务中心", secrets.token_hex(32)),
            )
            cur.execute("INSERT INTO hall_generations (hall, generation, acked) VALUES (%s, %s, 0)", (name, "y"))
            for w in range(1, WINDOWS + 1):
                cur.execute(
                    "INSERT INTO windows (hall, number, state, serving, clerk, updated_at) VALUES"
                    " (%s, %s, 'open', %s, %s, now())",
                    (name, w, json.dumps(sorted(rng.sample(list(LINES), 2))), f"clerk{w}"),
                )
    # Secondary indexes are dropped for the load and built again after it, with the migration's own
    # definitions: one sort per index is several times faster than keeping them up to date row by row.
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        " AND tablename IN ('tickets', 'events') AND indexname NOT LIKE '%_pkey'"
    ).fetchall()
    for name, _ddl in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    # One connection holds one COPY at a time: the events stream through a second connection, so
    # tickets and events go in side by side, a day at a time.
    second = psycopg.connect(url)
    # Every row's foreign key to halls would be checked by a trigger queued until the COPY ends
    # (minutes for 20 million events); the rows name only the halls made above, so the checks are
    # skipped for the load (the bench's cluster user is its superuser).
    for c in (conn, second):
        c.execute("SET session_replication_role = replica")
    tickets = Copier(conn, "tickets", TICKET_COLS)
    events = Copier(second, "events", EVENT_COLS)
    hours = list(itertools.accumulate(w / sum(HOUR_SHAPE) for w in HOUR_SHAPE))
    shares = list(itertools.accumulate(LINES.values()))
    line_names = list(LINES)
    levels = list(itertools.accumulate((0.7, 0.2, 0.05, 0.03, 0.02)))
    random_, uniform, randint, expo, lognorm = rng.random, rng.uniform, rng.randint, rng.expovariate, rng.lognormvariate
    mu = math.log(300)
    null = r"\N"
    for day in workdays(days, now.date()):
        is_today = day == now.date()
        d = day.isoformat()

        def at(seconds: float, d: str = d) -> str:
            total = OPENS + seconds
            return f"{d}T{int(total // 3600):02d}:{int(total % 3600 // 60):02d}:{total % 60:09.6f}+08:00"

        for hall in names:
            counts = dict.fromkeys(LINES, 0)
            t_lines: list[str] = []
            e_lines: list[str] = []
            for n in range(1, tickets_per_day + 1):
                t = 600 + (bisect.bisect_left(hours, random_() * hours[-1]) + random_()) * 3600
                if is_today and t > today_s:
                    continue
                line = line_names[min(bisect.bisect_left(shares, random_() * shares[-1]), len(line_names) - 1)]
                counts[line] += 1
                u, number, matter = (
                    f"{rng.getrandbits(64):016x}",
                    f"{line}{counts[line]:03d}",
                    rng.choice(MATTERS[line]),
                )
                w = randint(1, WINDOWS)
                clerk = f"clerk{w}"
                issued = at(t)
                head = f"{hall}\t{{}}\t{u}\t{d}\t"
                e_lines.append(
                    head.format(f"{rng.getrandbits(64):016x}")
                    + f'{null}\tissue\t{null}\twaiting\tkiosk-1\t{issued}\t{{"line":"{line}"}}\n'
                )
                ticket = f"{hall}\t{u}\t{n}\t{d}\t{line}\t{number}\t{line}\t{matter}\t"
                called_t = t + min(expo(1 / 540), 3600)
                if is_today and called_t > today_s:  # still waiting now
                    t_lines.append(ticket + f"waiting\tf\t{null}\tf\t{issued}" + f"\t{null}" * 5 + "\tkiosk-1\n")
                    continue
                called = at(called_t)
                e_lines.append(
                    head.format(f"{rng.getrandbits(64):016x}")
                    + f"{w}\tcall\twaiting\tcalled\t{clerk}\t{called}\t{{}}\n"
                )
                if random_() < 0.08:
                    gone = at(called_t + 90)
                    e_lines.append(
                        head.format(f"{rng.getrandbits(64):016x}")
                        + f"{w}\tno_show\tcalled\tno_show\t{clerk}\t{gone}\t{{}}\n"
                    )
                    t_lines.append(
                        ticket + f"no_show\tf\t{null}\tf\t{issued}\t{called}\t{called}\t{gone}\t{w}\t{clerk}\tkiosk-1\n"
                    )
                    continue
                start_t = called_t + uniform(15, 60)
                end_t = start_t + min(lognorm(mu, 0.6), 3600)
                done = at(end_t)
                e_lines.append(
                    head.format(f"{rng.getrandbits(64):016x}")
                    + f"{w}\tstart\tcalled\tserving\t{clerk}\t{at(start_t)}\t{{}}\n"
                )
                e_lines.append(
                    head.format(f"{rng.getrandbits(64):016x}") + f"{w}\tfinish\tserving\tdone\t{clerk}\t{done}\t{{}}\n"
                )
                t_lines.append(
                    ticket + f"done\tf\t{null}\tf\t{issued}\t{called}\t{called}\t{done}\t{w}\t{clerk}\tkiosk-1\n"
                )
                if random_() < 0.65:
                    level = 5 - bisect.bisect_left(levels, random_() * levels[-1])
                    reasons = '["long_wait"]' if level <= 2 else "[]"
                    data = (
                        f'{{"level":{max(level, 1)},"reasons":{reasons},"comment":null,"window":{w},'
                        f'"clerk":"{clerk}","matter":"{matter}","line":"{line}","number":"{number}"}}'
                    )
                    e_lines.append(
                        head.format(f"{rng.getrandbits(64):016x}")
                        + f"{w}\trate\tdone\tdone\tpad\t{at(end_t + 20)}\t{data}\n"
                    )
            tickets.lines(t_lines)
            events.lines(e_lines)
    tickets.close()
    events.close()
    second.commit()
    second.close()
    conn.execute("SET session_replication_role = DEFAULT")
    for _name, ddl in indexes:
        conn.execute(ddl)
    conn.commit()
    cases = Copier(conn, "cases", ("hall", "uid", "number", "mode", "matter", "department", "state", "opened_day",
                                   "due_day", "closed_day", "applicant_masked", "phone_last4"))  # fmt: skip
    for i, day in enumerate(workdays(days, now.date())):
        for hall in names:
            for j in range(10):
                closed = day + timedelta(days=rng.randint(1, 20))
                open_now = closed >= now.date()
                cases.add(hall, uid(rng), f"{day:%Y%m%d}-{i:03d}{j}", "receive", rng.choice(MATTERS["A"]),
                          rng.choice(DEPARTMENTS), "received" if open_now else "closed", day, day + timedelta(days=14),
                          None if open_now else closed, "张*", f"{rng.randint(0, 9999):04d}")  # fmt: skip
    cases.close()
    conn.execute("ANALYZE")
    return {"tickets": tickets.rows, "events": events.rows, "cases": cases.rows}


def time_it(call: Any) -> tuple[float, float, float]:
    """(first, median, max) of REPEATS timed calls after the first, in ms."""
    started = time.perf_counter()
    call()
    first = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return first, statistics.median(times), max(times)


class Staff:
    """A signed-in district staff browser: the login form's hidden fields (CSRF) are sent back as found."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), urllib.request.ProxyHandler({})
        )
        page = self.get("/district/login")
        hidden = dict(
            re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
            + re.findall(r'<input[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', page)
        )
        form = urllib.parse.urlencode({**hidden, "username": username, "password": password}).encode()
        try:
            self.opener.open(self.base + "/district/login", data=form, timeout=60).read()
        except urllib.error.HTTPError as error:
            raise Missing(f"POST /district/login answered {error.code}: {error.read()[:300]!r}") from error
        if 'name="password"' in self.get("/district/"):
            raise Missing("could not sign in at /district/login as district staff (tongban/district/pages.py)")

    def get(self, path: str) -> str:
        try:
            with self.opener.open(self.base + path, timeout=60) as response:
                return response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            raise Missing(f"GET {path} answered {error.code}: {error.read()[:300]!r}") from error


def part2(args: argparse.Namespace, cluster: Any, serve_help: str, folder: Path, rows: list[Row]) -> None:
    import psycopg

    from tongban.queue.clock import SystemClock

    url = cluster.new_database("year")
    district("init", "--db", url)
    started = time.monotonic()
    with psycopg.connect(url) as conn:
        try:
            made = importlib.import_module("district_data")
            generator = "bench/district_data.generate_year"
        except ImportError:
            made, generator = None, "this bench's own COPY generator (bench/district_data.py is missing)"
        print(f"part 2: {args.halls} halls × {args.days} days with {generator} …", file=sys.stderr)
        if made is not None:
            made.generate_year(conn, halls=args.halls, days=args.days, tickets_per_day=args.tickets, seed=args.seed)
            conn.commit()
            conn.execute("ANALYZE")
        else:
            generate_year_here(
                conn, url, halls=args.halls, days=args.days, tickets_per_day=args.tickets, seed=args.seed
            )
        conn.commit()
        counted = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("tickets", "events")}
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        last = conn.execute("SELECT max(service_day) FROM tickets WHERE service_day < current_date").fetchone()[0]
    generated = time.monotonic() - started
    rows += [
        Row("Part 2", f"{args.halls} halls × {args.days} days ({generator.split(' (')[0]})", "", None),
        Row(
            "  data",
            f"{counted['tickets']:,} tickets, {counted['events']:,} events, {size / 2**30:.2f} GB,"
            f" made in {generated:.0f} s",
            "",
            None,
        ),
    ]
    last = last or date.today()

    def report_row(label: str, call: Any) -> None:
        first, median, worst = time_it(call)
        rows.append(
            Row(
                label,
                f"{median:.0f} ms (max {worst:.0f}, first {first:.0f})",
                f"< {TARGET_REPORT_MS:g} ms",
                median < TARGET_REPORT_MS,
            )  # fmt: skip
        )

    try:
        reports = importlib.import_module("tongban.district.reports")
        hall_day_rows = reports.hall_day_rows
    except (ImportError, AttributeError):
        rows.append(Row("hall_day_rows", "not measured: tongban/district/reports.py is missing", "", False))
    else:
        with psycopg.connect(url) as conn:
            now = datetime.now(UTC)

            def day_report() -> None:
                hall_day_rows(conn, last, now=now)
                conn.rollback()

            report_row(f"hall_day_rows, one day ({last}), in process", day_report)

    try:
        accounts = importlib.import_module("tongban.district.accounts")
        importlib.import_module("tongban.district.pages")
    except ImportError as error:
        rows.append(Row("report pages", f"not measured: {error}", "", False))
        return
    password = secrets.token_urlsafe(12)
    with psycopg.connect(url) as conn:
        accounts.add(conn, "bench", password, name="bench", clock=SystemClock())
    server = Serve(url, serve_help, args.workers, folder / "district-serve-year.log")
    try:
        staff = Staff(server.port, "bench", password)
        report_row("live page /district/", lambda: staff.get("/district/"))
        periods = (("week", 7), ("month", 30), ("year", args.days))
        for period, length in periods:
            start = max(last - timedelta(days=length - 1), last - timedelta(days=args.days - 1))
            for by in ("hall", "department", "matter", "window"):
                query = urllib.parse.urlencode({"from": start.isoformat(), "to": last.isoformat(), "by": by})
                report_row(f"report, {period}, by {by}", lambda q=query: staff.get(f"/district/reports?{q}"))
        query = urllib.parse.urlencode(
            {"from": (last - timedelta(days=args.days - 1)).isoformat(), "to": last, "by": "matter", "format": "csv"}
        )
        report_row("report CSV, year, by matter", lambda: staff.get(f"/district/reports?{query}"))
    finally:
        server.stop()


# ---------------------------------------------------------------- the table


@dataclass
class Row:
    what: str
    measured: str
    target: str
    met: bool | None  # None: no target


def print_table(args: argparse.Namespace, rows: list[Row], *, complete: bool = True) -> None:
    print(
        f"\nTongban district benchmark: {args.halls} halls, {args.tickets} tickets a day, {args.days} days of"
        f" history, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| measure | measured | target | |\n|---|---|---|---|")
    for row in rows:
        mark = "" if row.met is None else ("met" if row.met else "**MISSED**")
        print(f"| {row.what} | {row.measured} | {row.target} | {mark} |")
    missed = [row.what for row in rows if row.met is False]
    if not complete:
        print("\nINCOMPLETE: the run stopped early (the reason is above); the rows shown are all it measured.")
    if missed:
        print(f"\nMISSED ({len(missed)}): " + "; ".join(missed))
    elif complete:
        print("\nEvery target met.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--halls", type=int, default=20)
    parser.add_argument("--tickets", type=int, default=900, help="tickets per hall and day")
    parser.add_argument("--days", type=int, default=365, help="days of history for part 2 (weekdays are filled)")
    parser.add_argument(
        "--day-seconds", type=float, default=None, help="part 1: wall seconds for the paced day (120; quick 40)"
    )
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: serve's own)")
    parser.add_argument("--part", choices=("1", "2", "all"), default="all")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--quick", action="store_true", help="4 halls, 200 tickets, 30 days, a 40 s day")
    parser.add_argument("--keep", action="store_true", help="keep the cluster folder (logs) afterwards")
    args = parser.parse_args()
    if args.quick:
        args.halls, args.tickets, args.days = 4, 200, 30
    if args.day_seconds is None:
        args.day_seconds = 40.0 if args.quick else 120.0

    try:
        from tests.pgcluster import PgCluster
    except ImportError as error:
        raise Missing(f"tests/pgcluster.py cannot be imported ({error}): run scripts/setup --test") from error
    serve_help = need_cli()
    cluster = PgCluster()

    def stopped(*_: Any) -> None:
        # A bench stopped with SIGTERM (kill, a timeout) still stops its servers and removes its
        # cluster. Done here and not by unwinding: a connection in the middle of a COPY would wait
        # for the server in its rollback, for ever.
        for server in SERVERS:
            server.stop()
        cluster.destroy()
        os._exit(143)

    signal.signal(signal.SIGTERM, stopped)
    folder = Path(cluster.root)
    rows: list[Row] = []
    try:
        if args.part in ("1", "all"):
            part1(args, cluster, serve_help, folder, rows)
        if args.part in ("2", "all"):
            part2(args, cluster, serve_help, folder, rows)
    except Missing:
        print_table(args, rows, complete=False)
        raise
    finally:
        if args.keep:
            cluster.stop()
            print(f"kept: {folder}", file=sys.stderr)
        else:
            cluster.destroy()
    print_table(args, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
