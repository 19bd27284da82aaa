"""Hall display and voice in chromium against a real server (docs/architecture.md §Devices).

A clerk calls the next ticket: the hall display shows it and requests the clips of
``tongban.voice.call_sequence`` in order; a recall is announced again; calls arriving together are
each highlighted for at least ten seconds, one after another. How soon a call reaches a screen is
measured by bench/bench_sse.py, not here: on a loaded machine chromium alone can take a second.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

from tongban.voice import call_sequence

from .conftest import screenshot
from .test_staff_console import Api, busy_hall, console, enrol, live_page, wait_live


class VoiceLog:
    """Clip requests of one page, grouped by announcement (?a=<event id>), in request order."""

    def __init__(self, page):
        self.requests: list[tuple[str, str]] = []
        page.on("request", self._seen)

    def _seen(self, request):
        url = urlparse(request.url)
        if url.path.startswith("/static/voice/"):
            self.requests.append((parse_qs(url.query).get("a", [""])[0], url.path[len("/static/") :]))

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for announcement, path in self.requests:
            out.setdefault(announcement, []).append(path)
        return out

    def wait_for(self, page, count: int, clips: int, timeout_s: float = 30) -> dict[str, list[str]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            groups = self.groups()
            if len(groups) >= count and all(len(v) >= clips for v in groups.values()):
                return groups
            page.wait_for_timeout(100)
        raise AssertionError(f"voice requests so far: {self.groups()}")


def test_a_call_reaches_the_hall_display_with_its_clips_in_order(live_hall, new_page):
    busy_hall(live_hall)
    display = live_page(new_page, 1920, 1080)
    voice = VoiceLog(display)
    enrol(display, live_hall, "hall-display")
    assert display.url.endswith("/display/")
    wait_live(display)
    page = console(new_page, live_hall, 1)
    page.click(".call-next.open-first")
    page.wait_for_selector(".call-next[data-key=n]:not([disabled])")

    page.keyboard.press("Space")
    display.wait_for_selector(".tile[data-window='1'].flash .tile-ticket[data-number]")  # pushed, no reload
    number = display.locator(".tile[data-window='1'] .tile-ticket").inner_text()
    assert number == current_of(page)
    banner = display.locator("[data-banner]")
    assert "flash" in banner.get_attribute("class") and f"请 {number} 号到 1 号窗口办理" in banner.inner_text()
    assert display.locator("#d-recent li").first.get_attribute("data-number") == number
    expected = call_sequence(number, 1)
    [call_clips] = voice.wait_for(display, 1, len(expected)).values()
    assert call_clips == expected  # 请 A 0 0 1 号 到 一 号窗口办理, English, and all of it again
    screenshot(display, "display-hall", docs=True)

    # A recall is a new event in the log, so it is announced again, in full.
    page.keyboard.press("r")
    groups = voice.wait_for(display, 2, len(expected))
    assert list(groups.values()) == [expected, expected]
    ids = [int(a) for a in groups]
    assert ids[1] > ids[0]

    window_screen = new_page(1280, 720)
    enrol(window_screen, live_hall, "hall-display")
    window_screen.goto(f"{live_hall.url}/display/window/1")
    assert window_screen.locator(".w-ticket").inner_text() == number
    screenshot(window_screen, "display-window", docs=True)


def current_of(page) -> str:
    return page.locator("[data-current-number]").inner_text()


def test_calls_arriving_together_are_each_highlighted_for_ten_seconds(live_hall, new_page):
    api = Api(live_hall)
    api.issue(line="B")
    api.issue(line="C")
    for window in (4, 7):
        token = api.login(f"clerk{window}", window)
        api("POST", f"/windows/{window}/open", token)
    display = live_page(new_page, 1920, 1080)
    enrol(display, live_hall, "hall-display")
    display.goto(f"{live_hall.url}/display/?voice=0")
    wait_live(display)
    display.evaluate("""() => {
        window.__banner = [];
        const banner = document.querySelector('[data-banner]');
        const note = () => window.__banner.push({t: Number(banner.getAttribute('data-shown-at')),
                                                 n: banner.getAttribute('data-number'),
                                                 flash: banner.classList.contains('flash')});
        new MutationObserver(note).observe(banner, {attributes: true});
    }""")
    first = api("POST", "/windows/4/next", api.tokens["clerk4"])
    second = api("POST", "/windows/7/next", api.tokens["clerk7"])
    display.wait_for_function("() => window.__banner.some(b => b.flash)")
    # The second waits for the first's ten seconds (Playwright's default 30 s wait covers it).
    display.wait_for_function(f"() => window.__banner.some(b => b.flash && b.n === '{second['number']}')")
    log = display.evaluate("window.__banner")
    start_first = next(b["t"] for b in log if b["flash"] and b["n"] == first["number"])
    start_second = next(b["t"] for b in log if b["flash"] and b["n"] == second["number"])
    # The first was not cut short by the second (to the millisecond the page's timer keeps).
    assert start_second - start_first >= 10000 - 2
    assert display.locator(".tile[data-window='7']").get_attribute("class").split().count("flash") == 1
