"""The hall display never shows a call that is over (issue 16): what a citizen looking up sees.

The "now calling" banner, the window tiles, the recent calls and the announcements the page plays all
follow one decision (``views.hall_calls``): a call is current while its ticket is still called or
served at the window it was called to. Transfer, no-show, finish, a break and closing end it at once;
a window nobody is signed in at, on a break or closed is never shown as ready.
"""

from __future__ import annotations

import re

import pytest

from tongban.queue.accounts import Accounts
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .apiclient import make_hall_client
from .test_staff_pages import Listener, _events, staff, terminal, text


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    store = Store(tmp_path / "api.db")
    hall.terminals = {"display": Accounts(store, clock).add_terminal("hall-display", "display", "综合屏")}
    store.close()
    hall.db = tmp_path / "api.db"
    hall.config = hall_config
    hall.clock = clock
    return hall


def ticket(hall, matter="M1") -> dict:
    return hall.call("POST", "/tickets", hall.kiosk, json={"matter": matter}).get_json()


class Screen:
    """The hall display as a citizen reads it: the banner, one tile, the recent calls, what may be spoken."""

    def __init__(self, hall):
        self.display = terminal(hall, "display", "/display/")
        self.page = text(self.display.get("/display/"))

    @property
    def banner(self) -> str:
        part = self.page[self.page.index('<div class="b-now') :]
        return _plain(part[: part.index("</section>")])

    def tile(self, n: int) -> str:
        part = self.page[self.page.index(f'data-window="{n}">') :]
        return _plain(
            part[: part.index('<div class="tile ') if '<div class="tile ' in part else part.index("</section>")]
        )

    def recent(self) -> dict[str, str]:
        """number → how the list shows it: now (bright), past (muted) or gone (struck out)."""
        return dict(
            (number, cls) for cls, number in re.findall(r'<li class="(now|past|gone)" data-number="([^"]+)"', self.page)
        )

    def may_speak(self) -> list[str]:
        """Numbers of the announcements the page would still play (their ids are among the current)."""
        current = re.search(r'<ol data-current="([^"]*)">', self.page).group(1).split()
        found = re.findall(r'<li data-id="(\d+)" data-number="([^"]+)"', self.page)
        return [number for event_id, number in found if event_id in current]


def _plain(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_transferred_ticket_leaves_the_banner_its_tile_and_the_voice_at_once(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = ticket(hall)
    clerk.post("/window/1/next")
    screen = Screen(hall)
    assert "正在呼叫" in screen.banner and "请 A001 号到 1 号窗口办理" in screen.banner
    assert "A001" in screen.tile(1) and screen.recent() == {"A001": "now"} and screen.may_speak() == ["A001"]

    clerk.post("/window/1/transfer", {"ticket": t["id"], "target": "line:B"})
    screen = Screen(hall)
    assert "A001" not in screen.banner and "欢迎光临" in screen.banner and "正在呼叫" not in screen.banner
    assert "A001" not in screen.tile(1) and "等待叫号" in screen.tile(1)  # open, clerk1 at it, nobody called
    assert screen.recent() == {"A001": "past"} and screen.may_speak() == []

    # Window 1 goes on a break: still not a word of A001 to window 1, and the tile is not "ready".
    clerk.post("/window/1/state/pause", {"reason": "rest"})
    screen = Screen(hall)
    assert "A001" not in screen.banner and "暂停服务" in screen.tile(1) and "等待叫号" not in screen.tile(1)
    assert "Ready" not in screen.tile(1) and "On a break" in screen.tile(1)

    # Called again at window 2 (it serves B): the banner sends the citizen there, not to window 1.
    other = staff(hall, "clerk2", window=2)
    other.post("/window/2/state/open")
    other.post("/window/2/next")
    screen = Screen(hall)
    assert "请 A001 号到 2 号窗口办理" in screen.banner and "1 号窗口" not in screen.banner
    assert screen.recent() == {"A001": "now"} and screen.may_speak() == ["A001"]
    window_screen = text(screen.display.get("/display/window/1"))
    main = _plain(window_screen[window_screen.index('<main class="w-main') : window_screen.index("</main>")])
    assert "A001" not in main and "暂停服务" in main  # it may still be listed under "called before"


def test_a_no_show_is_never_the_banner_even_when_it_was_called_last(hall):
    one, two = staff(hall, "clerk1", window=1), staff(hall, "clerk2", window=2)
    one.post("/window/1/state/open")
    two.post("/window/2/state/open")
    ticket(hall)
    second = ticket(hall)
    one.post("/window/1/next")  # A001
    two.post("/window/2/next")  # A002, the newest call
    assert "请 A002 号到 2 号窗口办理" in Screen(hall).banner
    two.post(f"/window/2/ticket/{second['id']}/no_show", {"confirm": "yes"})  # the second press
    screen = Screen(hall)
    # The newest call that is still current is A001's, so that is what the banner says.
    assert "请 A001 号到 1 号窗口办理" in screen.banner and "A002" not in screen.banner
    assert screen.recent() == {"A001": "now", "A002": "gone"} and screen.may_speak() == ["A001"]
    assert "A002" not in screen.tile(2) and "等待叫号" in screen.tile(2)


def test_finishing_and_closing_clear_the_banner_and_a_closed_window_is_not_ready(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = ticket(hall)
    clerk.post("/window/1/next")
    clerk.post(f"/window/1/ticket/{t['id']}/start")
    screen = Screen(hall)
    # Being served is still current: the citizen is at window 1.
    assert "请 A001 号到 1 号窗口办理" in screen.banner and "正在办理" in screen.tile(1)
    clerk.post(f"/window/1/ticket/{t['id']}/finish")
    screen = Screen(hall)
    assert "A001" not in screen.banner and "欢迎光临" in screen.banner and screen.recent() == {"A001": "past"}
    clerk.post("/window/1/state/close")
    screen = Screen(hall)
    assert "暂未开放" in screen.tile(1) and "等待叫号" not in screen.tile(1) and "A001" not in screen.banner


def test_a_window_nobody_is_signed_in_at_is_not_ready(hall):
    store = Store(hall.db, migrate=False)
    HallService(store, hall.config, hall.clock).window_action(1, "open")  # the manager opened it
    store.close()
    screen = Screen(hall)
    assert "暂无工作人员" in screen.tile(1) and "No clerk yet" in screen.tile(1)
    assert "等待叫号" not in screen.tile(1) and "Ready" not in screen.tile(1)
    assert "暂未开放" in screen.tile(2) and "等待叫号" not in screen.tile(2)  # closed, never opened
    assert "欢迎光临" in screen.banner


def test_the_stream_sends_the_banner_and_changes_it_when_the_call_ends(hall):
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/state/open")
    t = ticket(hall)
    display = terminal(hall, "display", "/display/")
    listener = Listener(display.client, "/display/stream")
    listener.until(lambda s: "event: banner" in s and "欢迎光临" in s)  # the first state: idle
    clerk.post("/window/1/next")
    got = listener.until(lambda s: "请 A001 号到 1 号窗口办理" in s)
    banners = [data for name, data in _events(got) if name == "banner"]
    assert banners and "正在呼叫" in banners[-1] and "欢迎光临" not in banners[-1]  # the idle label is gone
    clerk.post(f"/window/1/ticket/{t['id']}/no_show", {"confirm": "yes"})  # the second press
    listener.until(lambda s: any(n == "banner" and "欢迎光临" in d for n, d in _events([s])))
    hall.app.extensions["tongban.broker"].stop()


def test_the_window_leds_never_call_a_window_nobody_can_serve_at_ready(service):
    """The LED strip over a window and the keypad follow the same window states (devices process)."""
    from tongban.devices.display_follower import display_state
    from tongban.displays.world import DisplayWorld

    world = DisplayWorld()

    def led(n: int) -> tuple[str, str]:
        state, number = display_state(service, n)
        return world.window_text(state, n, number), world.keypad_text(state, n, number)

    assert led(1) == ("窗口关闭", "")  # closed
    service.window_action(1, "open")  # opened by the manager, nobody signed in: just its name
    assert led(1) == ("1号窗口", "----")
    service.window_action(2, "open", clerk="clerk2")
    service.window_action(2, "pause", actor="clerk2")
    assert led(2) == ("暂停服务", "P")
