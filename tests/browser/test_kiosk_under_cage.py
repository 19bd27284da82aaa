"""The screen unit's real program chain, on a headless Wayland output: cage runs systemd/tongban-kiosk,
which waits for the hall server (a screen boots before the hall box after a power cut), then Chromium
enrols with its link and shows the kiosk page with its live stream.

Needs Debian's cage, xwayland, curl and chromium, and root (cage refuses to run as root, so the
chain runs as ``nobody``, as the unit runs it as ``tongban-kiosk``); skipped otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tongban.config import load_hall_config
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

from ..conftest import wait_for
from .conftest import CHROMIUM, DEMO_CONFIG, ROOT, LiveHall, free_port

NEEDED = ("cage", "Xwayland", "curl")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(map(shutil.which, NEEDED)) or not Path(CHROMIUM).exists(),
    reason="needs root and Debian's cage, xwayland, curl and chromium",
)


def _log_has(hall: LiveHall, pattern: str, timeout: float) -> bool:
    log = hall.db.with_suffix(".log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and re.search(pattern, log.read_text(errors="replace")):
            return True
        time.sleep(0.2)
    return False


def _tries(home: Path) -> int:
    try:
        return len((home / "probes").read_text().splitlines())
    except OSError:
        return 0


def _kiosk_page(browser):
    pages = [page for context in browser.contexts for page in context.pages]
    return next((page for page in pages if "/kiosk/kiosk-1" in page.url), None)


def test_a_screen_booted_before_the_server_waits_then_opens_the_kiosk_page(tmp_path, browser):
    hall = LiveHall(config=DEMO_CONFIG, db=tmp_path / "live.db")
    store = Store(hall.db)
    HallService(store, load_hall_config(DEMO_CONFIG), SystemClock()).sync_with_config()
    store.close()
    hall.seed()

    # Owned by the unprivileged user: its runtime dir (the Wayland socket) and its profile.
    home = Path(tempfile.mkdtemp(prefix="tongban-cage-"))
    (home / "run").mkdir(mode=0o700)
    launcher = home / "tongban-kiosk"
    shutil.copy(ROOT / "systemd" / "tongban-kiosk", launcher)
    chromium = home / "chromium"
    # No GPU and no user namespaces in a test box; on a hall screen the unit runs Chromium as is.
    # The debugging port lets the test look at the page the screen shows.
    debug_port = free_port()
    chromium.write_text(
        f'#!/bin/sh\nexec {CHROMIUM} --no-sandbox --disable-gpu --remote-debugging-port={debug_port} "$@"\n'
    )
    # What the launcher checks the server with: curl, as on a hall screen, counting each try.
    probe = home / "probe"
    probe.write_text('#!/bin/sh\necho tried >> "$HOME/probes"\nexec curl "$@"\n')
    for path in (launcher, chromium, probe):
        path.chmod(0o755)
    shutil.chown(home, "nobody")
    shutil.chown(home / "run", "nobody")

    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "WLR_BACKENDS": "headless",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "WLR_RENDERER": "pixman",
        "STATE_DIRECTORY": str(home / "state"),
        "TONGBAN_CHROMIUM": str(chromium),
        "TONGBAN_KIOSK_RETRY_S": "0.5",
        "TONGBAN_KIOSK_PROBE": str(probe),
        "TONGBAN_KIOSK_URL": f"{hall.url}/enrol?token={hall.tokens['kiosk-1']}",
    }
    screen = subprocess.Popen(
        ["cage", "-d", "--", str(launcher)],
        env=env,
        user="nobody",
        group="nogroup",
        extra_groups=[],
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # The screen is up and asking, more than once: the server is not there yet.
        assert wait_for(lambda: _tries(home) >= 2 or screen.poll() is not None, timeout=60)
        assert screen.poll() is None, screen.stderr.read().decode(errors="replace")[-2000:]
        hall.start()
        assert _log_has(hall, r'"GET /healthz HTTP/1\.1" 200 .*curl', 15), "the launcher never asked the server"
        # The access log keeps paths only: the enrolment token is not written down.
        assert _log_has(hall, r'"GET /enrol HTTP/1\.1" 302', 20), "Chromium never opened the link"
        assert _log_has(hall, r'"GET /kiosk/kiosk-1 HTTP/1\.1" 200', 20), "the kiosk page never loaded"
        assert _log_has(hall, r'"GET /static/js/kiosk\.js HTTP/1\.1" 200', 20)
        # The page the screen shows opens its live stream (kiosk.js marks it when it is open).
        shown = browser.browser_type.connect_over_cdp(f"http://127.0.0.1:{debug_port}")
        try:
            assert wait_for(lambda: _kiosk_page(shown) is not None, timeout=30), "no kiosk page on the screen"
            _kiosk_page(shown).wait_for_selector("[sse-connect][data-sse-open]")
        finally:
            shown.close()  # only the connection: the screen's Chromium keeps running
    finally:
        screen.terminate()
        try:
            screen.wait(10)
        except subprocess.TimeoutExpired:
            screen.kill()
            screen.wait()
        hall.stop()
        shutil.rmtree(home, ignore_errors=True)
    # The stream is logged when it ends, here when Chromium went away with cage.
    assert _log_has(hall, r'"GET /kiosk/kiosk-1/live HTTP/1\.1" 200', 5), "the live stream never connected"
