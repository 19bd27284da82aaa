"""Drills against a hall behind its front server, run as `tongban demo --front` runs it (nginx from
the site file on a temporary prefix, the real gunicorn web on a unix socket, the devices process).

Before the front server: 80 sockets sending one header line every 5 s made /healthz time out for
40 s; 70 open phone streams made a kiosk's take-ticket time out; an anonymous 300 MB login body took
the worker from 113 MB to 1 GB; deeply nested JSON gave an HTML 500. Here each attack is bigger and
the hall must still answer. How fast is bench/bench_front.py's business, not these tests'.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.fault.front import (
    CLERK_PASSWORD,
    FrontDemo,
    SlowHeaders,
    StreamReader,
    deep_json,
    open_phone_streams,
    rss_mb,
    send_huge_body,
)
from tests.fault.hall import call as api
from tongban.front import nginx_binary
from tongban.web.access import TERMINAL_COOKIE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(nginx_binary() is None, reason="needs Debian's nginx (scripts/setup --test)"),
]


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    demo = FrontDemo(tmp_path_factory.mktemp("front-drill"))
    demo.start()
    yield demo
    demo.stop()


def test_the_demo_runs_nginx_in_front_and_stops_it(tmp_path):
    demo = FrontDemo(tmp_path / "demo")
    demo.start()
    try:
        assert demo.prefix.is_dir() and (demo.prefix / "web.sock").is_socket()
        assert "kiosk-1" in demo.tokens and "hall-display" in demo.tokens
        nginx = int((demo.prefix / "nginx.pid").read_text())
        assert Path(f"/proc/{nginx}").exists()
    finally:
        demo.stop()
    assert demo.proc.returncode == 0
    assert not Path(f"/proc/{nginx}").exists() or "zombie" in Path(f"/proc/{nginx}/status").read_text()
    assert not demo.prefix.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", demo.port), timeout=2).close()


def test_the_hall_answers_under_slow_headers_and_300_phone_streams(hall):
    kiosk = hall.tokens["kiosk-1"]
    tickets = [api(hall.url, "POST", "/tickets", kiosk, {"line": "A"}, timeout=10) for _ in range(20)]
    assert all(status == 201 for status, _ in tickets), tickets[:3]
    display = StreamReader(hall.port, "/display/stream", f"{TERMINAL_COOKIE}={hall.tokens['hall-display']}")
    assert display.saw("event: announce")
    slow = SlowHeaders(hall.port, 200)
    phones = open_phone_streams(hall.port, [body["status_token"] for _, body in tickets], 300)
    try:
        assert hall.health(timeout=10) == 200
        status, taken = api(hall.url, "POST", "/tickets", kiosk, {"line": "A"}, timeout=10)
        assert status == 201, taken
        # A clerk calls: the hall display still hears of it.
        status, session = api(
            hall.url, "POST", "/login", body={"username": "clerk1", "password": CLERK_PASSWORD, "window": 1}, timeout=10
        )
        assert status == 200, session
        api(hall.url, "POST", "/windows/1/open", session["token"], timeout=10)
        status, called = api(hall.url, "POST", "/windows/1/next", session["token"], timeout=10)
        assert status == 200, called
        assert display.saw(f'data-number="{called["number"]}"'), display.text[-500:]
        assert hall.health(timeout=10) == 200
    finally:
        slow.close()
        for s in phones:
            s.close()
        display.close()


def test_huge_and_deep_bodies_are_refused_at_once_and_the_worker_stays_small(hall):
    worker = hall.web_worker()
    before = rss_mb(worker)
    for chunked in (False, True):
        status, sent = send_huge_body(hall.port, "/api/v1/login", 300 * 2**20, chunked=chunked)
        assert " 413 " in f"{status} ", status
        assert sent < 8 * 2**20, f"{sent} bytes went out before the refusal"
    # Straight to the web's socket, past nginx: the web's own cap refuses it from the header.
    status, sent = send_huge_body(0, "/api/v1/login", 300 * 2**20, unix=str(hall.prefix / "web.sock"))
    assert " 413 " in f"{status} ", status
    for path in ("/api/v1/login", "/api/v1/tickets"):
        status, body = _post_raw(hall, path, deep_json(100_000))
        assert status == 400 and body["error"] == "json_too_deep", (status, body)
    after = rss_mb(worker)
    assert after < 150, f"worker RSS {before:.0f} MB -> {after:.0f} MB"
    assert hall.health() == 200


def _post_raw(hall, path: str, data: bytes):
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{hall.url}{path}", data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
