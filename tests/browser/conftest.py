"""Browser tests: a real `tongban serve` (gunicorn) on 127.0.0.1 and Debian's chromium via Playwright.

Launch flags (Chromium 156 with Playwright 1.65: headless=False plus --headless=new).
Screenshots go to test-artifacts/ (and the README's ones are copied to docs/ by the tests that own them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest

from tongban.queue import accounts as auth
from tongban.queue.accounts import Accounts
from tongban.queue.clock import SystemClock
from tongban.queue.store import Store

from ..conftest import CHEAP_HASHER

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEMO_CONFIG = ROOT / "config" / "demo-hall.toml"
PASSWORD = "browser-test-pw"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveHall:
    """One hall server process; ``restart()`` kills it and starts it again on the same port and file."""

    config: Path
    db: Path
    port: int = field(default_factory=free_port)
    always_open: bool = True
    proc: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveHall:
        cmd = [
            sys.executable,
            "-m",
            "tongban",
            "serve",
            "--config",
            str(self.config),
            "--db",
            str(self.db),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.always_open:
            cmd.append("--always-open")
        log = open(self.db.with_suffix(".log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"tongban serve did not come up; see {self.db.with_suffix('.log')}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def store(self) -> Store:
        return Store(self.db)

    def seed(self) -> None:
        """Staff accounts (manager, clerk<N> for every window) and terminals (kiosk-1, hall-display, pad-1)."""
        store = Store(self.db)
        accounts = Accounts(store, SystemClock())
        # Module-scoped halls are seeded outside the per-test cheap-hash fixture: same cheap cost here.
        cheap = mock.patch.object(auth, "_hasher", CHEAP_HASHER)
        cheap.start()
        try:
            from tongban.config import load_hall_config

            hall = load_hall_config(self.config)
            accounts.add("manager", PASSWORD, name="测试经理", role="manager", staff_no="M001")
            for w in hall.windows:
                accounts.add(
                    f"clerk{w.number}",
                    PASSWORD,
                    name=f"{w.number}号窗口人员",
                    role="clerk",
                    staff_no=f"C{w.number:03d}",
                )
            for k in hall.kiosks:
                self.tokens[k.id] = accounts.add_terminal(k.id, "kiosk", k.name)
            self.tokens["hall-display"] = accounts.add_terminal("hall-display", "display", "综合屏")
            first = hall.windows[0].number
            self.tokens[f"pad-{first}"] = accounts.add_terminal(f"pad-{first}", "pad", "评价器", window=first)
        finally:
            cheap.stop()
            store.close()


def make_live_hall(tmp_path: Path, config: Path = DEMO_CONFIG, *, always_open: bool = True) -> LiveHall:
    hall = LiveHall(config=config, db=tmp_path / "live.db", always_open=always_open)
    # Create the schema and the hall's windows before seeding: the server does the same at start.
    from tongban.config import load_hall_config
    from tongban.queue.service import HallService

    store = Store(hall.db)
    HallService(store, load_hall_config(config), SystemClock()).sync_with_config()
    store.close()
    hall.seed()
    return hall.start()


@pytest.fixture
def live_hall(tmp_path):
    hall = make_live_hall(tmp_path)
    yield hall
    hall.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=False, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """new_page(width, height) -> a page in a fresh context (own cookies), closed after the test."""
    contexts = []

    def make(width: int = 1080, height: int = 1920, **kw):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", has_touch=True, **kw)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str, *, docs: bool = False) -> Path:
    """Every screenshot goes to test-artifacts/. The README's (docs=True) are copied to
    docs/screenshots/ only with TONGBAN_UPDATE_SCREENSHOTS=1, so a test run leaves the checkout clean."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if docs and os.environ.get("TONGBAN_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / f"{name}.png")
    return path


def login(page, base: str, username: str, window: int | None = None) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    if window is not None:
        page.select_option("select[name=window]", str(window))
    page.click("button[type=submit]")
    page.wait_for_load_state()


pytestmark = pytest.mark.browser
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
