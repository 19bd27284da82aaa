"""The front server (tongban/front.py): Debian's nginx with the site file from tongban/nginx/, on a
temporary prefix, in front of the web on a unix socket. The web here is the Flask app under
werkzeug's threaded server (quick to start); tests/test_front_drills.py runs the real
`tongban demo --front` under attack."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from tongban.cli import main
from tongban.front import Front, screen_streams, site_config
from tongban.queue.accounts import Accounts
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.access import TERMINAL_COOKIE
from tongban.web.limits import MAX_BODY_BYTES
from tongban.web.live import PUBLIC_STREAMS

from .apiclient import make_hall_client
from .conftest import wait_for
from .fault.hall import free_port

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs Debian's nginx (scripts/setup --test)")


def test_the_site_file_is_filled_from_the_box_settings():
    site = site_config(listen="0.0.0.0:8000", upstream="unix:/run/tongban/web.sock", screens=40)
    assert "listen 0.0.0.0:8000 default_server;" in site and "server unix:/run/tongban/web.sock;" in site
    assert f"limit_conn tongban_screens {screen_streams(40)};" in site and screen_streams(40) == 60
    assert f"limit_conn tongban_phones {PUBLIC_STREAMS};" in site
    assert f"client_max_body_size {MAX_BODY_BYTES // 1024}k;" in site
    static = re.search(r"alias (\S+)/;", site).group(1)
    assert (Path(static) / "vendor" / "htmx.min.js").is_file()
    assert not re.search(r"@[A-Z_]+@", site)
    # Every live stream route of the web is unbuffered in the site file.
    for url in ("/display/stream", "/display/window/3/stream", "/window/2/stream", "/window/2/pad/stream"):
        assert any(re.match(p, url) for p in re.findall(r"location ~ (\S+) \{", site)), url
    assert "proxy_buffering off;" in site and "proxy_read_timeout 1h;" in site


def test_nginx_site_command_prints_it_for_this_box(tmp_path, monkeypatch):
    from tongban.ops import cli as ops_cli

    env = tmp_path / "tongban.env"
    env.write_text(
        "TONGBAN_HOST=0.0.0.0\nTONGBAN_PORT=8080\nTONGBAN_BIND=unix:/run/tongban/web.sock\nTONGBAN_SCREENS=10\n"
    )
    monkeypatch.setattr(ops_cli, "ENV_FILE", env)
    for name in ("TONGBAN_HOST", "TONGBAN_PORT", "TONGBAN_BIND", "TONGBAN_SCREENS"):
        monkeypatch.delenv(name, raising=False)
    printed = CliRunner().invoke(main, ["nginx-site"]).output
    assert printed == site_config(listen="0.0.0.0:8080", upstream="unix:/run/tongban/web.sock", screens=10)


def test_nginx_accepts_the_site_file(tmp_path):
    front = Front(tmp_path / "nginx", host="127.0.0.1", port=free_port(), upstream="unix:/run/tongban/web.sock")
    front.write()
    checked = subprocess.run([*front.command(), "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


# ---------- nginx in front of the app ----------


class Hall:
    pass


@pytest.fixture(scope="module")
def fronted(tmp_path_factory):
    """The app on a unix socket (a short path: sockets have a 108-byte limit), nginx in front."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tongban.config import parse_hall_config
    from tongban.queue.clock import FakeClock

    from .conftest import small_hall_doc

    folder = Path(tempfile.mkdtemp(prefix="tb-front-"))
    clock = FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    hall = make_hall_client(tmp_path_factory.mktemp("front"), parse_hall_config(small_hall_doc(), "small"), clock)
    hall.app.config.update(PUBLIC_STREAMS=1000, PUBLIC_STREAMS_PER_TICKET=1000)  # nginx's caps, not the app's
    store = Store(hall.app.config["DATABASE"])
    hall.display = Accounts(store, clock).add_terminal("display-1", "display", "综合屏")
    hall.service = HallService(store, hall.app.config["HALL"], clock)
    sock = folder / "web.sock"
    server = make_server(f"unix://{sock}", 0, hall.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hall.front = Front(folder / "nginx", host="127.0.0.1", port=free_port(), upstream=f"unix:{sock}", screens=2)
    hall.front.start(log=open(folder / "nginx.log", "wb"))
    hall.front.wait_ready()
    yield hall
    hall.front.stop()
    server.shutdown()
    hall.app.extensions["tongban.broker"].stop()
    store.close()
    shutil.rmtree(folder, ignore_errors=True)


def request(hall, method, path, body=None, headers=None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", hall.front.port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    return conn.getresponse()


EVENT = re.compile(rb"event: (\w+)\n(?:data: [^\n]*\n)+\n")


def open_stream(hall, path: str, headers: dict | None = None, *, until: bytes = b"") -> tuple[socket.socket, str]:
    """A raw stream: the socket (left open) and what came up to its first whole event (or ``until``)."""
    s = socket.create_connection(("127.0.0.1", hall.front.port), timeout=10)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: hall\r\n{extra}\r\n".encode())
    got = b""
    while not (until in got if until else EVENT.search(got)) and b" 503 " not in got[:20]:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return s, got.decode(errors="replace")


def test_static_files_come_from_nginx_and_pages_from_the_web(fronted):
    static = request(fronted, "GET", "/static/css/base.css")
    assert static.status == 200 and static.getheader("Content-Type") == "text/css"
    assert static.getheader("Content-Security-Policy") is None  # the web sets it on all it answers
    health = request(fronted, "GET", "/healthz")
    assert health.status == 200 and health.getheader("Server") == "nginx"
    assert health.getheader("Content-Security-Policy") and json.loads(health.read())["status"] == "ok"


def test_a_body_over_the_limit_is_refused_by_nginx_in_the_web_s_words(fronted):
    r = request(
        fronted,
        "POST",
        "/api/v1/login",
        body=b"x" * (MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert r.status == 413 and r.getheader("Content-Type").startswith("application/json")
    body = json.loads(r.read())
    assert body["error"] == "body_too_large" and "过大" in body["message_zh"]


def test_password_guessing_is_slowed_per_address(fronted):
    statuses = []
    for _ in range(40):
        r = request(
            fronted,
            "POST",
            "/api/v1/login",
            body=json.dumps({"username": "nobody", "password": "guess-guess"}),
            headers={"Content-Type": "application/json"},
        )
        statuses.append((r.status, r.read()))
        if r.status == 429:
            break
    status, body = statuses[-1]
    assert status == 429, [s for s, _ in statuses]
    assert json.loads(body)["error"] == "too_many_requests"
    assert statuses[0][0] == 401


def test_streams_pass_unbuffered_and_past_the_per_address_cap_phones_poll(fronted):
    tickets = [fronted.service.take_ticket(line="A").ticket for _ in range(9)]
    held = []
    try:
        for ticket in tickets[:8]:
            s, first = open_stream(fronted, f"/t/{ticket.token}/live")
            assert " 200 " in first.splitlines()[0] and "event: status" in first and ticket.number in first
            assert "every 10s" not in first
            held.append(s)
        s, refused = open_stream(fronted, f"/t/{tickets[8].token}/live", until=b"event: fallback")
        held.append(s)
        assert " 200 " in refused.splitlines()[0] and tickets[8].number in refused
        assert 'hx-trigger="every 10s"' in refused and "event: fallback" in refused
        # A client cannot ask for the fallback: nginx drops the header it sets itself.
        held.pop(0).close()
        s, first = None, ""
        for _ in range(50):  # until nginx has seen the close and freed the slot
            s, first = open_stream(fronted, f"/t/{tickets[0].token}/live", {"X-Tongban-Streams-Full": "1"})
            held.append(s)
            if "every 10s" not in first:
                break
        assert "event: status" in first and "every 10s" not in first
    finally:
        for s in held:
            s.close()


def test_screen_streams_are_capped_in_all(fronted):
    cookie = {"Cookie": f"{TERMINAL_COOKIE}={fronted.display}"}
    held = []
    try:
        for _ in range(screen_streams(2)):
            s, first = open_stream(fronted, "/display/stream", cookie)
            assert " 200 " in first.splitlines()[0] and "event: banner" in first  # the display sends its banner first
            held.append(s)
        assert request(fronted, "GET", "/display/stream", headers=cookie).status == 503
        assert request(fronted, "GET", "/healthz").status == 200  # ordinary requests still pass
    finally:
        for s in held:
            s.close()


def test_nginx_logs_paths_without_their_query_strings(fronted):
    request(fronted, "GET", "/info?q=13812345678&id=320102199001011234").read()
    log = fronted.front.prefix / "access.log"
    assert wait_for(lambda: log.exists() and "/info" in log.read_text(), timeout=10)
    written = log.read_text()
    assert "13812345678" not in written and "320102199001011234" not in written and "?" not in written


def test_behind_nginx_the_client_is_the_address_nginx_saw_not_one_it_was_told(tmp_path, clock):
    from flask import Flask

    from tongban.config import parse_hall_config
    from tongban.web.app import create_app
    from tongban.web.context import client_address

    from .conftest import small_hall_doc

    seen: list[str] = []
    for behind in (False, True):
        app: Flask = create_app(
            {
                "HALL": parse_hall_config(small_hall_doc(), "small"),
                "DATABASE": str(tmp_path / f"proxy-{behind}.db"),
                "CLOCK": clock,
                "TESTING": True,
                "BEHIND_PROXY": behind,
            }
        )
        app.add_url_rule("/whoami", "whoami", client_address)
        # A client that claims to be 6.6.6.6; nginx appends the address it really saw.
        answer = app.test_client().get(
            "/whoami", headers={"X-Forwarded-For": "6.6.6.6, 10.1.2.3"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        )
        seen.append(answer.get_data(as_text=True))
    assert seen == ["127.0.0.1", "10.1.2.3"]
