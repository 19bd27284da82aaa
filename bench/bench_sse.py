"""SSE fan-out benchmark: how long after a call's API response does the event reach a screen?

Starts a real ``tongban serve`` (gunicorn, one gthread worker) on 127.0.0.1 with a fresh database,
connects N listeners to the hall display's stream (``/display/stream``, as an enrolled display
terminal), and has the ten windows of the demo hall call tickets through the JSON API at R calls per
second (each call followed by a no-show, so the window is free for its next turn). For every call and
every listener it measures from the moment the driver has read the call's HTTP response to the moment
the listener has read an SSE ``recent`` event naming that ticket, and prints a table.

Bounded: the run lasts --duration seconds of calls (default 10 s, so 200 calls at 20/s), every wait
has a timeout, and the server is stopped at the end.

    .venv/bin/python bench/bench_sse.py                # 100 listeners, 20 calls/s, 10 s
    .venv/bin/python bench/bench_sse.py --listeners 200 --rate 30 --duration 5

Listeners read on one asyncio loop and the driver runs on its own threads; both stamp times with the
same ``time.perf_counter``. A sample can be slightly negative when a listener's read is scheduled
before the driver thread gets to stamp its response; it is kept as measured.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tongban.config import load_hall_config  # noqa: E402
from tongban.queue.accounts import Accounts  # noqa: E402
from tongban.queue.clock import SystemClock  # noqa: E402
from tongban.queue.service import HallService  # noqa: E402
from tongban.queue.store import Store  # noqa: E402
from tongban.web.access import TERMINAL_COOKIE  # noqa: E402
from tongban.web.app import always_open  # noqa: E402

CONFIG = ROOT / "config" / "demo-hall.toml"
PASSWORD = "bench-password"
NUMBER = re.compile(r'data-number="([A-Z][0-9]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Hall:
    def __init__(self, workdir: Path, calls: int):
        self.db = workdir / "bench.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = load_hall_config(CONFIG)
        self.windows = [w.number for w in config.windows]
        store = Store(self.db)
        service = HallService(store, always_open(config), SystemClock())
        service.sync_with_config()
        accounts = Accounts(store, SystemClock())
        for n in self.windows:
            accounts.add(f"clerk{n}", PASSWORD, name=f"{n}号窗口", role="clerk", staff_no=f"C{n:03d}")
        self.display_token = accounts.add_terminal("bench-display", "display", "bench")
        # Enough waiting tickets in every window's first line for its share of the calls.
        per_window = calls // len(self.windows) + 2
        for n in self.windows:
            line = service.window(n).serving[0]
            for _ in range(per_window):
                service.take_ticket(line=line)
            service.window_action(n, "open", clerk=f"clerk{n}")
        store.close()
        self.proc: subprocess.Popen | None = None

    def start(self, screens: int) -> None:
        log = open(self.db.with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tongban",
                "serve",
                "--config",
                str(CONFIG),
                "--db",
                str(self.db),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--always-open",
                "--screens",
                str(screens),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"tongban serve did not start; see {self.db.with_suffix('.log')}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def login(self, n: int) -> str:
        body = json.dumps({"username": f"clerk{n}", "password": PASSWORD, "window": n}).encode()
        req = urllib.request.Request(
            f"{self.url}/api/v1/login", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)["token"]


# ---------- listeners: one asyncio loop, HTTP/1.0 so the body is the raw event stream ----------


class Listeners:
    def __init__(self, hall: Hall, count: int):
        self.hall = hall
        self.count = count
        self.seen: list[dict[str, float]] = [{} for _ in range(count)]
        self.connected = 0
        self.ended = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        tasks = [asyncio.create_task(self._listen(i)) for i in range(self.count)]
        while not self.stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self, i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.hall.port)
        writer.write(
            (
                f"GET /display/stream HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                f"Cookie: {TERMINAL_COOKIE}={self.hall.display_token}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(head.decode(errors="replace"))
        self.connected += 1
        if self.connected == self.count:
            self.ready.set()
        seen = self.seen[i]
        try:
            while True:
                block = await reader.readuntil(b"\n\n")
                now = time.perf_counter()
                if block.startswith(b"event: recent\n"):
                    for number in NUMBER.findall(block.decode()):
                        seen.setdefault(number, now)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.ended += 1  # dropped by the server (too slow) or server gone
        finally:
            writer.close()


# ---------- driver: one thread per window, calls spread evenly ----------


def drive(
    hall: Hall, tokens: dict[int, str], rate: float, duration: float
) -> tuple[dict[str, float], list[float], int, float]:
    responses: dict[str, float] = {}
    sent_at: list[float] = []
    api_ms: list[float] = []
    errors = 0
    lock = threading.Lock()
    period = len(hall.windows) / rate  # each window calls every `period` seconds
    turns = int(duration * rate / len(hall.windows))
    start = time.perf_counter() + 0.5

    def window_loop(k: int, n: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", hall.port, timeout=10)
        headers = {"Authorization": f"Bearer {tokens[n]}", "Content-Type": "application/json"}
        for turn in range(turns):
            at = start + turn * period + k * (1 / rate)
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            with lock:
                sent_at.append(sent)
            conn.request("POST", f"/api/v1/windows/{n}/next", body=b"{}", headers=headers)
            response = conn.getresponse()
            body = response.read()
            done = time.perf_counter()
            if response.status != 200:
                with lock:
                    errors += 1
                continue
            ticket = json.loads(body)
            with lock:
                responses[ticket["number"]] = done
                api_ms.append((done - sent) * 1000)
            # Frees the window at once: the second press an early no-show needs over the API.
            conn.request("POST", f"/api/v1/tickets/{ticket['id']}/no_show", body=b'{"confirm": true}', headers=headers)
            conn.getresponse().read()
        conn.close()

    threads = [threading.Thread(target=window_loop, args=(k, n)) for k, n in enumerate(hall.windows)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 30)
    span = max(responses.values(), default=start) - min(sent_at, default=start)
    return responses, api_ms, errors, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second (all windows together)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of calls")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait for the last events")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and log")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-"))
    calls = int(args.rate * args.duration)
    hall = Hall(workdir, calls)
    hall.start(screens=args.listeners)
    listeners = Listeners(hall, args.listeners)
    try:
        listeners.thread.start()
        if not listeners.ready.wait(30):
            raise SystemExit(f"only {listeners.connected} of {args.listeners} listeners connected")
        tokens = {n: hall.login(n) for n in hall.windows}
        time.sleep(0.5)  # the full state first, then quiet
        responses, api_ms, errors, elapsed = drive(hall, tokens, args.rate, args.duration)
        time.sleep(args.settle)
    finally:
        listeners.stop.set()
        listeners.thread.join(10)
        hall.stop()

    samples, lost = [], 0
    for seen in listeners.seen:
        for number, answered in responses.items():
            if number in seen:
                samples.append((seen[number] - answered) * 1000)
            else:
                lost += 1
    if not samples:
        raise SystemExit("no samples: did any call succeed?")
    rows = [
        ("listeners (SSE, /display/stream)", f"{args.listeners}"),
        ("calls answered / refused", f"{len(responses)} / {errors}"),
        ("call rate achieved", f"{len(responses) / elapsed:.1f} /s (target {args.rate:g})"),
        ("call API time p50 / p99", f"{statistics.median(api_ms):.1f} / {percentile(api_ms, 0.99):.1f} ms"),
        ("samples (call × listener)", f"{len(samples)}"),
        ("response → event p50", f"{percentile(samples, 0.50):.1f} ms"),
        ("response → event p90", f"{percentile(samples, 0.90):.1f} ms"),
        ("response → event p99", f"{percentile(samples, 0.99):.1f} ms"),
        ("response → event max", f"{max(samples):.1f} ms"),
        ("events never seen", f"{lost}"),
        ("listener streams ended (dropped)", f"{listeners.ended}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 28}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    verdict = "PASS" if percentile(samples, 0.99) < 200 else "FAIL"
    print(f"\np99 < 200 ms: {verdict}")
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
