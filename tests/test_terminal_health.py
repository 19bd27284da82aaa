"""The manager console shows every enrolled terminal's health from its live connection: connected
now, or when it was last seen (web/live.py, Broker.presence)."""

from __future__ import annotations

import re

from tongban.queue.clock import FakeClock
from tongban.web.live import Broker, stream

from .conftest import wait_for
from .test_staff_pages import Listener, hall, hall_config, staff, terminal, text  # noqa: F401 - fixtures


def test_a_terminal_stream_counts_as_connected_until_it_ends(tmp_path, clock: FakeClock):
    broker = Broker(str(tmp_path / "x.db"), now=clock.now)
    opened_at = clock.now()
    events = stream(broker, lambda: {"x": "1"}, keepalive_s=0.01, terminal="kiosk-1")
    assert next(events).startswith(b"retry:")
    seen = broker.presence()["kiosk-1"]
    assert seen.connected and seen.streams == 1 and seen.last_seen == opened_at
    assert next(events) == b"event: x\ndata: 1\n\n"
    clock.advance(minutes=3)
    assert next(events) == b": keep-alive\n\n"
    assert broker.presence()["kiosk-1"].last_seen == clock.now()  # kept alive: seen now

    second = stream(broker, lambda: {"x": "1"}, keepalive_s=5, terminal="kiosk-1")
    next(second)
    assert broker.presence()["kiosk-1"].streams == 2
    second.close()
    clock.advance(minutes=2)
    events.close()  # the screen went away
    gone = broker.presence()["kiosk-1"]
    assert not gone.connected and gone.streams == 0 and gone.last_seen == clock.now()
    broker.stop()


def test_streams_of_staff_and_phones_are_not_terminals(tmp_path):
    broker = Broker(str(tmp_path / "x.db"))
    events = stream(broker, lambda: {"x": "1"}, keepalive_s=5)
    next(events)
    assert broker.presence() == {}
    events.close()
    broker.stop()


def _terminal_row(page: str, terminal_id: str) -> str:
    match = re.search(rf'<tr data-terminal="{re.escape(terminal_id)}".*?</tr>', page, re.S)
    assert match, f"{terminal_id} not on the console"
    return match.group(0)


def test_the_console_shows_connected_never_seen_and_last_seen(hall, clock):  # noqa: F811 - the fixture
    manager = staff(hall, "manager")
    page = text(manager.get("/manage/"))
    assert "终端连接" in page
    for terminal_id in ("hall-display", "pad-1", "pad-2", "kiosk-1"):
        assert 'data-connected="no"' in _terminal_row(page, terminal_id)
    assert "未连接" in _terminal_row(page, "hall-display")

    display = terminal(hall, "display", "/display/")
    listener = Listener(display.client, "/display/stream")
    listener.until(lambda s: "event: announce" in s)
    row = _terminal_row(text(manager.get("/manage/")), "hall-display")
    assert 'data-connected="yes"' in row and "在线" in row
    assert 'data-connected="no"' in _terminal_row(text(manager.get("/manage/")), "pad-1")

    clock.advance(minutes=7)  # 09:07 in the hall
    broker = hall.app.extensions["tongban.broker"]
    broker.close_all()  # the screen's stream ends
    assert wait_for(lambda: not broker.presence()["hall-display"].connected)
    # A blip shorter than ACTIVE_S is not flagged; a screen gone longer is.
    assert 'data-connected="yes"' in _terminal_row(text(manager.get("/manage/")), "hall-display")
    clock.advance(minutes=2)
    row = _terminal_row(text(manager.get("/manage/")), "hall-display")
    assert 'data-connected="no"' in row and "已断开" in row and "09:07" in row
    broker.stop()


def test_a_revoked_terminal_is_not_listed(hall, clock):  # noqa: F811 - the fixture
    from tongban.queue.accounts import Accounts
    from tongban.queue.store import Store

    store = Store(hall.db)
    Accounts(store, clock).revoke_terminal("pad-2")
    store.close()
    page = text(staff(hall, "manager").get("/manage/"))
    assert 'data-terminal="pad-2"' not in page and 'data-terminal="pad-1"' in page


def test_a_kiosk_in_use_away_from_its_live_home_screen_counts_as_connected(hall, clock):  # noqa: F811
    manager = staff(hall, "manager")
    kiosk = hall.app.test_client()
    assert kiosk.get(f"/enrol?token={hall.kiosk}").status_code == 302
    assert kiosk.get("/kiosk/kiosk-1/lines/A").status_code == 200  # a screen with no stream
    assert 'data-connected="yes"' in _terminal_row(text(manager.get("/manage/")), "kiosk-1")
    clock.advance(minutes=5)
    row = _terminal_row(text(manager.get("/manage/")), "kiosk-1")
    assert 'data-connected="no"' in row and "09:00" in row
