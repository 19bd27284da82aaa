"""Installation: Type=notify readiness for `tongban serve` (gunicorn's when_ready hook) and
`tongban devices` (READY from the running scheduler, then WATCHDOG pings), without systemd: a unix
datagram socket stands in for the service manager, as NOTIFY_SOCKET names it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._toml import dumps
from tongban.ops import notify

from .browser.conftest import free_port
from .conftest import small_hall_doc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def manager(tmp_path):
    """A fake service manager: the socket and what it received."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)

    def received(until: float, want: str | None = None, count: int = 1) -> list[str]:
        got = []
        deadline = time.monotonic() + until
        while time.monotonic() < deadline:
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
            if want is not None and sum(want in m for m in got) >= count:
                break
        return got

    yield path, received
    sock.close()


def test_no_manager_no_message(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.ready() is False
    assert notify.watchdog_interval() is None


def test_messages_reach_the_socket(manager, monkeypatch):
    path, received = manager
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    assert notify.ready("up") and notify.watchdog_ping() and notify.stopping()
    messages = received(2, "STOPPING=1")
    assert messages[0].splitlines()[:2] == ["READY=1", "STATUS=up"]
    assert "WATCHDOG=1" in messages and any(m.startswith("STOPPING=1") for m in messages)


def test_abstract_socket_names(monkeypatch):
    name = f"tongban-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.status("hello")
        assert sock.recv(100) == b"STATUS=hello"
    finally:
        sock.close()


def test_a_missing_manager_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert notify.ready() is False


def test_watchdog_interval_is_a_third_of_watchdog_sec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert notify.watchdog_interval() == pytest.approx(10.0)
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert notify.watchdog_interval() is None


def _hall_file(tmp_path) -> Path:
    path = tmp_path / "hall.toml"
    path.write_text(dumps(small_hall_doc()), encoding="utf-8")
    return path


def _spawn(args, env_extra, tmp_path):
    env = {**os.environ, **env_extra, "TONGBAN_LOG": "WARNING"}
    log = open(tmp_path / f"{args[0]}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "tongban", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


@pytest.mark.slow
def test_serve_says_ready_once_listening(manager, tmp_path):
    path, received = manager
    port = free_port()
    proc = _spawn(
        ["serve", "--config", str(_hall_file(tmp_path)), "--db", str(tmp_path / "t.db"), "--port", str(port)],
        {"NOTIFY_SOCKET": str(path)},
        tmp_path,
    )
    try:
        # gunicorn announces itself too ("Gunicorn arbiter booted"); ours comes from when_ready.
        messages = received(30, "listening on")
        ready = [m for m in messages if "listening on" in m]
        assert ready, (tmp_path / "serve.log").read_text()
        assert ready[0].startswith("READY=1")
        assert f"MAINPID={proc.pid}" in ready[0]  # the gunicorn master: the unit's main process
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # bound before READY
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_devices_says_ready_and_pings_the_watchdog(manager, tmp_path):
    path, received = manager
    proc = _spawn(
        ["devices", "--config", str(_hall_file(tmp_path)), "--db", str(tmp_path / "t.db")],
        {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "1500000"},
        tmp_path,
    )
    try:
        messages = received(30, "WATCHDOG=1", count=3)
        assert any(m.startswith("READY=1") for m in messages), (tmp_path / "devices.log").read_text()
        assert sum(m == "WATCHDOG=1" for m in messages) >= 3
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
    assert any(m.startswith("STOPPING=1") for m in received(2, "STOPPING=1"))


@pytest.mark.slow
def test_serve_refuses_a_damaged_file_and_says_how_to_restore(tmp_path):
    db = tmp_path / "t.db"
    from tongban.ops.damage import mark_damaged
    from tongban.queue.store import Store

    Store(db).close()
    mark_damaged(db, "integrity_check failed on 2026-11-26")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tongban",
            "serve",
            "--config",
            str(_hall_file(tmp_path)),
            "--db",
            str(db),
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert "marked damaged" in done.stderr and "tongban restore" in done.stderr


@pytest.mark.slow
def test_serve_refuses_a_file_that_fails_quick_check(tmp_path):
    db = tmp_path / "t.db"
    from tongban.queue.store import Store

    Store(db).close()
    data = bytearray(db.read_bytes())
    data[4096 + 8 : 4096 + 64] = b"\x00" * 56  # scribble over the first table's page
    db.write_bytes(bytes(data))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tongban",
            "serve",
            "--config",
            str(_hall_file(tmp_path)),
            "--db",
            str(db),
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "tongban-web not starting" in done.stderr and "How to restore" in done.stderr
