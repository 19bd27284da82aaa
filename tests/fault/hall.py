"""A hall run the way a box runs it: `tongban serve` and `tongban devices` as separate processes on
127.0.0.1, each in its own process group so a test can cut its power (SIGKILL to every process of
it, the gunicorn master and its worker alike). Shared by the fault tests, the fuzz test and
bench/bench_load.py."""

from __future__ import annotations

import copy
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests._toml import dumps
from tests.conftest import small_hall_doc

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fault-test-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_hall_doc(lines: int = 2, windows: int = 4) -> dict:
    """The small test hall without quotas, open all day, no kiosk rate limit in the way of load."""
    doc = copy.deepcopy(small_hall_doc())
    for line in doc["lines"]:
        line.pop("daily_quota", None)
        line.pop("last_issue", None)
        line["number_width"] = 4
    doc["lines"] = doc["lines"][:lines]
    doc["windows"] = [
        {
            "number": n,
            "name": f"{n}号窗口",
            "location": "一楼",
            "phone": f"0571-{n}",
            "able": ["A", "B"],
            "serving": ["A", "B"] if n % 2 else ["B", "A"],
        }
        for n in range(1, windows + 1)
    ]
    doc["hall"]["hours"] = {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    doc["operations"] = {"kiosk_max_per_minute": 100000}
    return doc


@dataclass
class HallProcesses:
    folder: Path
    doc: dict = field(default_factory=load_hall_doc)
    port: int = field(default_factory=free_port)
    screens: int = 32
    env: dict = field(default_factory=dict)  # extra environment, e.g. the unit's Environment= lines
    web: subprocess.Popen | None = None
    devices: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "hall.toml"
        self.config.write_text(dumps(self.doc), encoding="utf-8")
        self.db = self.folder / "tongban.db"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seed(self, kiosks: int = 4) -> dict[str, str]:
        """A manager, a clerk per window, kiosk terminals; returns the kiosk tokens."""
        from tongban.config import load_hall_config
        from tongban.queue.accounts import Accounts
        from tongban.queue.clock import SystemClock
        from tongban.queue.service import HallService
        from tongban.queue.store import Store

        store = Store(self.db)
        try:
            HallService(store, load_hall_config(self.config), SystemClock()).sync_with_config()
            accounts = Accounts(store, SystemClock())
            accounts.add("manager", PASSWORD, name="经理", role="manager")
            for w in self.doc["windows"]:
                accounts.add(f"clerk{w['number']}", PASSWORD, name=f"{w['number']}号", role="clerk")
            return {
                f"kiosk-{i}": accounts.add_terminal(f"kiosk-{i}", "kiosk", f"{i}号机") for i in range(1, kiosks + 1)
            }
        finally:
            store.close()

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        env = {**os.environ, "TONGBAN_LOG": "WARNING", **self.env}
        out = open(self.folder / log, "ab")
        return subprocess.Popen(
            [sys.executable, "-m", "tongban", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            [
                "serve",
                "--config",
                str(self.config),
                "--db",
                str(self.db),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--screens",
                str(self.screens),
            ],
            "web.log",
        )

    def start_devices(self) -> None:
        self.devices = self._spawn(["devices", "--config", str(self.config), "--db", str(self.db)], "devices.log")

    def start(self, timeout: float = 30) -> None:
        self.start_web()
        self.start_devices()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise RuntimeError(f"tongban serve exited {self.web.returncode}: {self.log('web.log')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"tongban serve not up in {timeout} s: {self.log('web.log')[-2000:]}")

    def log(self, name: str) -> str:
        return (self.folder / name).read_text(errors="replace")

    @staticmethod
    def _kill(proc: subprocess.Popen | None, sig: int) -> None:
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def power_cut(self, which: str = "both") -> None:
        """SIGKILL: nothing gets to clean up, as when the power goes."""
        if which in ("web", "both"):
            self._kill(self.web, signal.SIGKILL)
        if which in ("devices", "both"):
            self._kill(self.devices, signal.SIGKILL)

    def stop(self) -> None:
        self._kill(self.web, signal.SIGTERM)
        self._kill(self.devices, signal.SIGTERM)


def unit_environment(unit: str = "tongban-web.service") -> dict[str, str]:
    """The Environment= settings of one of the units in systemd/, so a run here matches a box."""
    env = {}
    for line in (ROOT / "systemd" / unit).read_text().splitlines():
        if line.startswith("Environment="):
            for pair in line.split("=", 1)[1].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def call(
    url: str, method: str, path: str, token: str | None = None, body: dict | None = None, timeout: float = 5.0
) -> tuple[int, dict | None]:
    """One JSON API call; (status, body), or (0, None) when the server is not there."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}/api/v1{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError, http.client.HTTPException):
        return 0, None
