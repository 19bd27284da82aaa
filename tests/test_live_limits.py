"""Live streams hold a server thread each (tongban/web/live.py): phone streams of a ticket's status
page are capped in total and per ticket, with the page polling every 10 s beyond the caps; and a
stream let in by a staff session or a terminal ends when that session ends or expires or the
terminal is revoked."""

from __future__ import annotations

import queue
import re
import threading

import pytest

from tongban.queue.accounts import Accounts
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web import live
from tongban.web.access import TERMINAL_COOKIE
from tongban.web.info.routes import STREAMS_FULL_HEADER

from .apiclient import PASSWORD, csrf_token, make_hall_client
from .conftest import wait_for


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    hall.app.config.update(PUBLIC_STREAMS=3, PUBLIC_STREAMS_PER_TICKET=2)
    hall.broker = hall.app.extensions["tongban.broker"]
    hall.service = HallService(Store(hall.app.config["DATABASE"]), hall.app.config["HALL"], clock)
    yield hall
    hall.broker.stop()
    hall.service.store.close()


def text(response) -> str:
    return response.get_data(as_text=True)


def events(raw: str) -> list[tuple[str, str]]:
    out = []
    for block in raw.split("\n\n"):
        name = re.search(r"^event: (.+)$", block, re.M)
        if name:
            out.append((name.group(1), "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))))
    return out


class Reader:
    """A stream read on a thread of its own (a streamed response belongs to the thread that opened
    it); ``ended`` is set when the server ends it, ``close`` ends it from the browser's side at the
    next chunk (short keep-alives make that soon)."""

    def __init__(self, client, url):
        self.chunks: queue.Queue[str] = queue.Queue()
        self.ended = threading.Event()
        self._closing = threading.Event()
        threading.Thread(target=self._run, args=(client, url), daemon=True).start()

    def _run(self, client, url):
        response = client.get(url, buffered=False)
        try:
            for chunk in response.response:
                self.chunks.put(chunk.decode())
                if self._closing.is_set():
                    break
        finally:
            response.close()
            self.ended.set()

    def close(self):
        self._closing.set()
        assert self.ended.wait(3)

    def until(self, needle: str, timeout: float = 3.0) -> str:
        got = ""
        while needle not in got:
            got += self.chunks.get(timeout=timeout)
        return got


# ---------- phone streams: caps and polling ----------


def test_slots_are_capped_in_total_and_per_key():
    broker = live.Broker(":memory:")
    a, b, c = (live.Slot("public", key, 3, 2) for key in "abc")
    assert broker.claim(a) and broker.claim(a)
    assert not broker.claim(a) and not broker.has_room(a)  # two for a already
    assert broker.claim(b) and broker.held("public") == 3
    assert not broker.claim(c)  # three in all
    broker.release(a)
    assert broker.has_room(c) and broker.claim(c)
    for slot in (a, b, c):
        broker.release(slot)
    assert broker.held("public") == 0 and broker.has_room(a)


def test_a_ticket_has_at_most_two_streams_then_its_page_polls(hall):
    hall.broker.keepalive_s = 0.05
    ticket = hall.service.take_ticket(line="A").ticket
    client = hall.app.test_client()
    url = f"/t/{ticket.token}/live"
    opened = [Reader(client, url) for _ in range(2)]
    for o in opened:
        first = o.until("event: status")
        assert "A001" in first and 'hx-trigger="every 10s"' not in first
    assert hall.broker.held("public") == 2

    refused = client.get(url)  # the third: the state once, polling on, then the end
    got = events(text(refused))
    assert refused.status_code == 200 and refused.mimetype == "text/event-stream"
    assert [name for name, _ in got] == ["status", "fallback"]
    assert "A001" in got[0][1] and 'hx-trigger="every 10s"' in got[0][1]
    assert f'hx-get="/t/{ticket.token}?poll=1' in got[0][1]
    assert hall.broker.held("public") == 2

    page = text(client.get(f"/t/{ticket.token}"))
    assert "sse-connect" not in page and 'hx-trigger="every 10s"' in page and "A001" in page

    opened[0].close()
    assert hall.broker.held("public") == 1
    page = text(client.get(f"/t/{ticket.token}"))
    assert 'sse-connect="/t/' in page and 'sse-close="fallback"' in page and "every 10s" not in page
    opened[1].close()


def test_all_phone_streams_together_are_capped(hall):
    hall.broker.keepalive_s = 0.05
    tickets = [hall.service.take_ticket(line="A").ticket for _ in range(4)]
    client = hall.app.test_client()
    opened = [Reader(client, f"/t/{t.token}/live") for t in tickets[:3]]
    for o in opened:
        o.until("event: status")
    got = events(text(client.get(f"/t/{tickets[3].token}/live")))
    assert [name for name, _ in got] == ["status", "fallback"] and "A004" in got[0][1]
    assert "every 10s" in text(client.get(f"/t/{tickets[3].token}"))
    for o in opened:
        o.close()
    assert hall.broker.held("public") == 0
    assert "every 10s" not in text(client.get(f"/t/{tickets[3].token}"))


def test_the_polling_page_follows_the_ticket_and_stops_when_it_is_done(hall):
    ticket = hall.service.take_ticket(line="A").ticket
    hall.service.window_action(1, "open", clerk="clerk1")
    hall.service.call_next(1, clerk="clerk1")
    client = hall.app.test_client()
    poll = {"HX-Request": "true"}
    called = text(client.get(f"/t/{ticket.token}?poll=1", headers=poll))
    assert "<html" not in called and "请到 1 号窗口办理" in called and 'hx-trigger="every 10s"' in called
    hall.service.act(ticket.id, "start", window=1)
    assert "正在 1 号窗口办理" in text(client.get(f"/t/{ticket.token}?poll=1", headers=poll))
    hall.service.act(ticket.id, "finish", window=1)
    done = text(client.get(f"/t/{ticket.token}?poll=1", headers=poll))
    assert "已办结" in done and "every 10s" not in done  # nothing more will change


def test_the_front_server_saying_it_is_full_gets_the_polling_answer(hall):
    """nginx caps phone streams per address and in total; past them it asks the web for this answer
    (error_page in the site file) instead of showing its own 503."""
    ticket = hall.service.take_ticket(line="A").ticket
    got = events(text(hall.app.test_client().get(f"/t/{ticket.token}/live", headers={STREAMS_FULL_HEADER: "1"})))
    assert [name for name, _ in got] == ["status", "fallback"] and "every 10s" in got[0][1]
    assert hall.broker.held("public") == 0


# ---------- streams end with their sign-in ----------


def _terminal(hall, kind: str, **kw) -> tuple[str, object]:
    store = Store(hall.app.config["DATABASE"])
    try:
        token = Accounts(store, SystemClock()).add_terminal(f"{kind}-x", kind, kind, **kw)
    finally:
        store.close()
    client = hall.app.test_client()
    client.set_cookie(TERMINAL_COOKIE, token)
    return token, client


def _revoke(hall, terminal_id: str):
    store = Store(hall.app.config["DATABASE"])
    try:
        Accounts(store, SystemClock()).revoke_terminal(terminal_id)
    finally:
        store.close()


@pytest.mark.parametrize(
    "kind, url, first",
    [("display", "/display/stream", "event: announce"), ("kiosk", "/kiosk/kiosk-x/live", "event: lines")],
)
def test_a_terminal_stream_ends_when_the_terminal_is_revoked(hall, kind, url, first):
    _token, client = _terminal(hall, kind)
    stream = Reader(client, url)
    stream.until(first)
    hall.service.take_ticket(line="A")  # a change: the stream renders again and stays
    assert not stream.ended.wait(0.3)
    _revoke(hall, f"{kind}-x")
    assert stream.ended.wait(3), "the revoked terminal's stream is still open"
    assert client.get(url).status_code in (302, 401)  # and it cannot come back


def test_a_pad_stream_ends_on_the_keep_alive_after_a_revoke_by_another_process(hall):
    _token, client = _terminal(hall, "pad", window=1)
    hall.broker.keepalive_s = 0.05
    stream = Reader(client, "/window/1/pad/stream")
    stream.until("event: pad")
    hall.broker.stop()  # no change is pushed any more: only the keep-alive looks again
    _revoke(hall, "pad-x")
    assert stream.ended.wait(3)


def _signed_in(hall, username: str, window: int | None):
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")},
    )
    assert r.status_code == 302
    return client


def test_a_console_stream_ends_when_its_session_is_signed_out(hall):
    client = _signed_in(hall, "clerk1", 1)
    stream = Reader(client, "/window/1/stream")
    stream.until("event:")
    other = Reader(_signed_in(hall, "manager", None), "/manage/stream")
    other.until("event:")
    home = client.get("/window/1").get_data(as_text=True)
    token = re.search(r'X-CSRFToken": "([^"]+)"', home).group(1)
    assert client.post("/logout", headers={"X-CSRFToken": token}).status_code in (200, 302)
    assert stream.ended.wait(3), "the signed-out console's stream is still open"
    assert not other.ended.wait(0.3)  # the manager's session is still good


def test_a_manager_stream_ends_when_the_session_expires(hall, clock):
    hall.broker.keepalive_s = 0.05
    stream = Reader(_signed_in(hall, "manager", None), "/manage/stream")
    stream.until("event:")
    assert not stream.ended.wait(0.3)
    clock.advance(hours=13)  # sessions last 12 h
    assert stream.ended.wait(3)


def test_a_stream_with_no_sign_in_to_check_stays_open(hall):
    hall.broker.keepalive_s = 0.05
    ticket = hall.service.take_ticket(line="A").ticket
    stream = Reader(hall.app.test_client(), f"/t/{ticket.token}/live")
    stream.until("event: status")
    assert stream.until(": keep-alive") and not stream.ended.is_set()
    assert wait_for(lambda: hall.broker.held("public") == 1)
