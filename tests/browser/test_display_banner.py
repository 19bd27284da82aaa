"""The hall display at 1920×1080 in chromium: a call that is over leaves the banner at once, the first
call after the screen started replaces the welcome, quick calls that end before their turn are not
spoken, and every text is at least 28 px with the Notice label readable (issue 16).
"""

from __future__ import annotations

from .conftest import screenshot
from .test_staff_console import Api, busy_hall, enrol, live_page, wait_live

# Every Audio.play() the page makes, by clip URL (the announcement is its ?a=<event id>).
PLAY_LOG = """
window.__played = [];
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () { window.__played.push(this.src); return play.call(this); };
"""

MIN_TEXT_PX = 28

# Each visible element with its own text, and its computed font size (the hidden announcement list
# and sound button hold no text a citizen sees).
SMALL_TEXTS = """(min) => {
  const out = [];
  let checked = 0;
  for (const el of document.querySelectorAll('.hall-display *')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const box = el.getBoundingClientRect();
    if (!el.checkVisibility() || box.width === 0 || box.height === 0) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    checked += 1;
    if (size < min) out.push(`${el.className || el.tagName}: ${size}px "${el.textContent.trim().slice(0, 30)}"`);
  }
  return {checked, small: out};
}"""

COLOURS = """(sel) => {
  const el = document.querySelector(sel);
  let bg = el, colour = getComputedStyle(el).backgroundColor;
  while (colour === 'rgba(0, 0, 0, 0)' && bg.parentElement) {
    bg = bg.parentElement;
    colour = getComputedStyle(bg).backgroundColor;
  }
  return [getComputedStyle(el).color, colour];
}"""


def _luminance(rgb: str) -> float:
    parts = [float(v) / 255 for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def banner_number(page) -> str | None:
    return page.locator("[data-b-now]").get_attribute("data-number")


def test_a_transferred_call_leaves_the_banner_and_the_text_is_large_enough(live_hall, new_page):
    busy_hall(live_hall)  # windows 2, 4, 5, 7, 8, 10 have called or are serving; 10 was called last
    api = Api(live_hall)
    clerk = api.login("clerk3", 3)
    api("POST", "/windows/3/open", clerk)
    display = live_page(new_page, 1920, 1080)
    enrol(display, live_hall, "hall-display")
    display.goto(f"{live_hall.url}/display/?voice=0")
    wait_live(display)
    before = banner_number(display)
    assert before and display.locator(f".tile[data-window='10'] [data-number='{before}']").count() == 1

    called = api("POST", "/windows/3/next", clerk)
    display.wait_for_function(f"() => document.querySelector('[data-b-now]').dataset.number === '{called['number']}'")
    # The server's banner can come a moment before the announcement that highlights it.
    display.wait_for_selector("[data-banner].flash")
    assert f"请 {called['number']} 号到 3 号窗口办理" in display.locator("[data-banner]").inner_text()

    # Sent on to another line, well inside its ten seconds of highlight: the banner lets it go at
    # once and goes back to the newest call that is still current, window 10's.
    api("POST", f"/tickets/{called['id']}/transfer", clerk, {"to_line": "C"})
    display.wait_for_function(f"() => document.querySelector('[data-b-now]').dataset.number !== '{called['number']}'")
    assert banner_number(display) == before
    banner = display.locator("[data-banner]").inner_text()
    assert called["number"] not in banner and "10 号窗口" in banner and "正在呼叫" in banner
    assert "flash" not in display.locator("[data-banner]").get_attribute("class")
    tile = display.locator(".tile[data-window='3']")
    display.wait_for_function("() => !document.querySelector(\".tile[data-window='3'] .tile-ticket[data-number]\")")
    assert "等待叫号" in tile.inner_text()
    recent = display.locator(f"#d-recent li[data-number='{called['number']}']")
    assert recent.get_attribute("data-current") == "0"

    # Window 3 goes on a break: its tile says so, and nothing sends anyone there.
    api("POST", "/windows/3/pause", clerk)
    display.wait_for_function(
        "() => document.querySelector(\".tile[data-window='3']\").classList.contains('state-paused')"
    )
    assert "暂停服务" in tile.inner_text() and "等待叫号" not in tile.inner_text()
    assert "3 号窗口" not in display.locator("[data-banner]").inner_text()
    screenshot(display, "display-banner-after-move", docs=True)

    texts = display.evaluate(SMALL_TEXTS, MIN_TEXT_PX)
    assert texts["checked"] > 60 and texts["small"] == [], texts
    for sel in (".l-name small", ".tile-label small", ".d-notice-label", ".d-notice-label small"):
        assert (
            float(display.evaluate(f"() => parseFloat(getComputedStyle(document.querySelector('{sel}')).fontSize)"))
            >= 28
        ), sel
    fg, bg = display.evaluate(COLOURS, ".d-notice-label small")
    assert contrast(fg, bg) >= 4.5, (fg, bg)
    fg, bg = display.evaluate(COLOURS, ".d-notice-label")
    assert contrast(fg, bg) >= 4.5, (fg, bg)


def test_the_first_call_replaces_the_welcome_and_a_quick_no_show_is_not_spoken(live_hall, new_page):
    api = Api(live_hall)
    for line in "BBC":
        api.issue(line=line)
    for window in (4, 7):
        api("POST", f"/windows/{window}/open", api.login(f"clerk{window}", window))
    display = live_page(new_page, 1920, 1080)
    display.add_init_script(PLAY_LOG)
    enrol(display, live_hall, "hall-display")
    assert display.url.endswith("/display/")
    wait_live(display)
    assert "欢迎光临" in display.locator("[data-b-kind]").inner_text()

    first = api("POST", "/windows/4/next", api.tokens["clerk4"])
    display.wait_for_function(f"() => document.querySelector('[data-b-now]').dataset.number === '{first['number']}'")
    kind = display.locator("[data-b-kind]").inner_text()
    assert "正在呼叫" in kind and "欢迎光临" not in kind

    # A second call, struck out as a no-show while the first is still being announced: its turn
    # never comes, and the banner never shows it.
    display.evaluate("""() => {
        window.__shown = [];
        const banner = document.querySelector('[data-banner]');
        new MutationObserver(() => window.__shown.push(banner.getAttribute('data-number')))
            .observe(banner, {attributes: true, childList: true, subtree: true});
    }""")
    second = api("POST", "/windows/7/next", api.tokens["clerk7"])
    display.wait_for_selector(f".tile[data-window='7'] [data-number='{second['number']}']")  # queued by now
    api("POST", f"/tickets/{second['id']}/no_show", api.tokens["clerk7"], {"confirm": True})  # the second press
    # The first's announcement ends (ten seconds at least) and the page has nothing more to say.
    display.wait_for_function(
        "() => !document.querySelector('[data-banner]').classList.contains('flash')", timeout=40000
    )
    display.wait_for_timeout(500)
    played = display.evaluate("window.__played")
    assert played and all(f"a={played[0].split('a=')[1].split('&')[0]}" in url for url in played)
    assert not any(second["number"] == n for n in display.evaluate("window.__shown"))
    assert banner_number(display) == first["number"]
    assert display.locator(f"#d-recent li[data-number='{second['number']}']").get_attribute("class") == "gone"
