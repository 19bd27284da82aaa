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

from .conftest import CHROMIUM, DEMO_CONFIG, ROOT, LiveHall

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


def test_a_screen_booted_before_the_server_waits_then_opens_the_kiosk_page(tmp_path):
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
    chromium.write_text(f'#!/bin/sh\nexec {CHROMIUM} --no-sandbox --disable-gpu "$@"\n')
    for path in (launcher, chromium):
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
        time.sleep(2)  # the screen is up and asking; the server is not
        assert screen.poll() is None, screen.stderr.read().decode(errors="replace")[-2000:]
        hall.start()
        assert _log_has(hall, r'"GET /healthz HTTP/1\.1" 200 .*curl', 15), "the launcher never asked the server"
        # The access log keeps paths only: the enrolment token is not written down.
        assert _log_has(hall, r'"GET /enrol HTTP/1\.1" 302', 20), "Chromium never opened the link"
        assert _log_has(hall, r'"GET /kiosk/kiosk-1 HTTP/1\.1" 200', 20), "the kiosk page never loaded"
        assert _log_has(hall, r'"GET /static/js/kiosk\.js HTTP/1\.1" 200', 20)
        time.sleep(2)  # let the page open its live stream
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
