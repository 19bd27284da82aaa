"""Shared page plumbing: staff sign-in with CSRF, terminal enrolment, who may open what, headers."""

from __future__ import annotations

import threading

import pytest

from tongban.queue.store import Store
from tongban.web.access import TERMINAL_COOKIE
from tongban.web.i18n import table
from tongban.web.live import Broker, stream

from .apiclient import PASSWORD, csrf_token, make_hall_client


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def _login(client, username, window=None, next_url=None):
    page = client.get("/login").get_data(as_text=True)
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(
        url,
        data={"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")},
    )


def test_login_needs_the_csrf_token(hall):
    r = hall.http.post("/login", data={"username": "manager", "password": PASSWORD})
    assert r.status_code == 400


def test_clerk_signs_in_at_a_window_and_cannot_open_manage(hall):
    client = hall.app.test_client()
    r = _login(client, "clerk1", window=1)
    assert r.status_code == 302 and r.headers["Location"].endswith("/window/1")
    assert client.get("/window/1").status_code == 200
    assert client.get("/manage/").status_code == 403


def test_wrong_password_is_refused_with_a_message(hall):
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    r = client.post("/login", data={"csrf_token": csrf_token(page), "username": "clerk1", "password": "nope"})
    assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)


def test_pages_send_unauthenticated_browsers_to_login(hall):
    r = hall.app.test_client().get("/manage/")
    assert r.status_code == 302 and "/login?next=/manage/" in r.headers["Location"]


def test_login_does_not_redirect_off_site(hall):
    r = _login(hall.app.test_client(), "manager", next_url="https://elsewhere.example/")
    assert r.headers["Location"].endswith("/manage/")


def test_enrolled_kiosk_reaches_its_screen_and_nothing_staff(hall):
    client = hall.app.test_client()
    r = client.get(f"/enrol?token={hall.kiosk}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/kiosk/kiosk-1")
    assert client.get_cookie(TERMINAL_COOKIE).value == hall.kiosk
    assert client.get("/kiosk/kiosk-1").status_code == 200
    assert client.get("/manage/").status_code == 403
    assert client.get("/window/1").status_code == 403
    assert client.get("/enrol?token=t_forged").status_code == 403


def test_security_headers_forbid_inline_scripts_and_framing(hall):
    headers = hall.http.get("/login").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_translation_table_has_both_languages():
    for key, entry in table().items():
        assert entry["zh"].strip() and entry["en"].strip(), key


def test_stream_sends_state_first_then_each_change(tmp_path, store, service):
    broker = Broker(str(tmp_path / "hall.db"), poll_s=0.02)
    reader = Store(tmp_path / "hall.db", migrate=False)
    render = lambda: {"waiting": str(reader.one("SELECT COUNT(*) FROM tickets")[0])}  # noqa: E731
    events = stream(broker, render, keepalive_s=5)
    assert next(events).startswith(b"retry:")
    assert next(events) == b"event: waiting\ndata: 0\n\n"
    got = []
    reading = threading.Thread(target=lambda: got.append(next(events)))
    reading.start()
    service.take_ticket(line="A")
    reading.join(timeout=3)
    assert got == [b"event: waiting\ndata: 1\n\n"]
    broker.stop()
    reader.close()


def test_a_slow_listener_is_dropped_not_waited_for(tmp_path):
    broker = Broker(str(tmp_path / "x.db"))
    slow = broker.subscribe()
    for _ in range(20):
        broker.publish()
    assert slow.dropped and broker.listener_count == 0


def test_screens_of_one_page_share_one_render_per_change(tmp_path):
    """A change wakes every screen at once; they must not each render the same page."""
    broker = Broker(str(tmp_path / "x.db"))
    renders = []

    def slow_render():
        renders.append(1)
        threading.Event().wait(0.2)
        return {"calls": "A001"}

    results = []
    screens = [threading.Thread(target=lambda: results.append(broker.cached("display", slow_render))) for _ in range(8)]
    for screen in screens:
        screen.start()
    for screen in screens:
        screen.join()
    assert len(renders) == 1 and results == [{"calls": "A001"}] * 8
    broker.publish()  # the next change renders again, once
    broker.cached("display", slow_render)
    assert len(renders) == 2
