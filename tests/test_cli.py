"""The tongban command as a hall's IT person uses it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from tongban.cli import main, threads_for
from tongban.queue.store import Store

from .browser.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_check_config_passes_shipped_halls():
    result = CliRunner().invoke(main, ["check-config", "config/demo-hall.toml", "config/street-hall.toml"])
    assert result.exit_code == 0, result.output
    assert "58 matters" in result.output


def test_check_config_prints_every_problem_and_fails(tmp_path):
    bad = tmp_path / "bad.toml"
    text = (ROOT / "config" / "street-hall.toml").read_text(encoding="utf-8")
    bad.write_text(
        text.replace('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"') + "\n[surprise]\nkey = 1\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 1
    assert "hall.timezone: 'Mars/Olympus' is not a known time zone" in result.output
    assert "(top level).surprise: unknown key" in result.output


def test_accounts_and_terminals(tmp_path):
    db = str(tmp_path / "t.db")
    runner = CliRunner()
    r = runner.invoke(
        main,
        ["account", "add", "li", "--db", db, "--name", "李明", "--role", "clerk", "--staff-no", "C007"],
        input="secret-pass\nsecret-pass\n",
    )
    assert r.exit_code == 0, r.output
    assert "li" in runner.invoke(main, ["account", "list", "--db", db]).output
    r = runner.invoke(main, ["terminal", "add", "kiosk-9", "--db", db, "--kind", "kiosk", "--name", "9号机"])
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("t_")
    store = Store(db)
    assert store.one("SELECT COUNT(*) FROM terminals WHERE token_hash = ?", (token,))[0] == 0
    store.close()
    assert runner.invoke(main, ["terminal", "revoke", "kiosk-9", "--db", db]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["terminal", "list", "--db", db]).output
    r = runner.invoke(
        main, ["account", "add", "li", "--db", db, "--name", "x", "--role", "clerk"], input="secret-pass\nsecret-pass\n"
    )
    assert r.exit_code != 0 and "exists already" in r.output


def test_thread_pool_grows_with_screens():
    # 1.5 per screen, 48 capped phone streams, 16 for requests.
    assert threads_for(10) == 79 and threads_for(100) == 214


def _wait_healthy(url: str, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return json.load(r)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_demo_starts_web_and_devices_and_stops_both_on_ctrl_c(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tongban", "demo", "--db", str(tmp_path / "demo.db"), "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}/healthz")
        assert health["status"] == "ok" and health["db"] == "ok"
        # It is gunicorn, not Flask's development server, that answers.
        children = subprocess.run(["ps", "-o", "args=", "--ppid", str(proc.pid)], capture_output=True, text=True).stdout
        assert "serve" in children and "devices" in children
        # The devices process ran the day's roll-over at start and recorded it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            store = Store(tmp_path / "demo.db", migrate=False)
            ran = store.one("SELECT COUNT(*) FROM job_runs WHERE job = 'rollover'")[0]
            store.close()
            if ran:
                break
            time.sleep(0.2)
        assert ran == 1
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 or proc.returncode == -signal.SIGINT
    assert re.search(r"manager login .*/login", out)
    assert "kiosk-1" in out and "/enrol?token=t_" in out
    leftovers = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True).stdout.strip()
    assert leftovers == ""


def test_check_config_warns_when_a_printer_could_outlast_the_kiosk_deadline(tmp_path):
    slow = tmp_path / "slow.toml"
    text = (ROOT / "config" / "street-hall.toml").read_text(encoding="utf-8")
    slow.write_text(text.replace('url = "dummy://"', 'url = "dummy://"\ntimeout_s = 8', 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["check-config", str(slow)])
    assert result.exit_code == 0, result.output
    assert "warning: printers.printer-1: timeout_s 8 s is not inside the kiosk's 5 s print deadline" in result.output


def test_serve_ends_live_streams_when_it_stops(tmp_path):
    """Every screen holds an SSE request open. On SIGTERM the server ends them itself, cleanly, so
    screens reconnect to the restarted server at once instead of being cut off after gunicorn's
    graceful timeout (5 s)."""
    import http.client

    from .browser.conftest import make_live_hall

    hall = make_live_hall(tmp_path)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", hall.port, timeout=10)
        conn.request("GET", "/kiosk/kiosk-1/live", headers={"Cookie": f"tongban_terminal={hall.tokens['kiosk-1']}"})
        stream = conn.getresponse()
        assert stream.status == 200 and stream.getheader("Content-Type").startswith("text/event-stream")
        assert stream.readline().startswith(b"retry:")
        hall.proc.send_signal(signal.SIGTERM)
        # The rest of the state, then the chunked body's last chunk: the server ended the stream
        # itself. Left to gunicorn, the worker would exit at the graceful timeout with the stream
        # still open, and read() would raise IncompleteRead (how soon it ends is not timed here: on a
        # loaded machine any bound is a guess).
        assert b"event: lines" in stream.read()
        assert hall.proc.wait(10) == 0
    finally:
        hall.stop()
