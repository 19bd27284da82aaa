"""The kiosk in chromium at 1080×1920 with touch (docs/kiosk.md), against one live hall for the module.

The hall is the demo hall with two changes: line E issues only 3 tickets a day (the quota test) and
a third kiosk has no printer. No devices process runs, so kiosk-1's print jobs time out unless a
test starts the fake printer below. Tests run in file order; the server restart comes last.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from tongban.config import load_hall_config
from tongban.queue import printing
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .conftest import DEMO_CONFIG, make_live_hall, screenshot

W, H = 1080, 1920
QUOTA_E = 3
CSP_ERRORS: list[str] = []


@pytest.fixture(scope="module")
def kiosk_hall(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kiosk-hall")
    config = DEMO_CONFIG.read_text(encoding="utf-8").replace("daily_quota = 120", f"daily_quota = {QUOTA_E}")
    config += (
        '\n[[kiosks]]\nid = "kiosk-3"\nname = "三楼取号机（无打印机）/ Kiosk 3 (no printer)"\n'
        'location = "三楼 / Second floor"\n'
    )
    path = tmp / "kiosk-hall.toml"
    path.write_text(config, encoding="utf-8")
    hall = make_live_hall(tmp, path)
    # A hall at work: every window open with its clerk, so every line has minutes to tell
    # (a window nobody staffs promises none).
    store = Store(hall.db, migrate=False)
    service = HallService(store, load_hall_config(path), SystemClock())
    for window in service.config.windows:
        service.window_action(window.number, "open", clerk=f"clerk{window.number}")
    store.close()
    yield hall
    hall.stop()


def open_kiosk(new_page, hall, kiosk_id: str = "kiosk-1", query: str = ""):
    page = new_page(W, H)
    # Nothing may be refused by the page's CSP (no inline scripts or styles anywhere).
    page.on("console", lambda m: CSP_ERRORS.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{hall.url}/enrol?token={hall.tokens[kiosk_id]}")
    if query:
        page.goto(f"{hall.url}/kiosk/{kiosk_id}?{query}")
    page.wait_for_selector("#k-lines")
    return page


def api_issue(hall, line: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{hall.url}/api/v1/tickets",
        data=json.dumps({"line": line}).encode(),
        headers={"Authorization": f"Bearer {hall.tokens['kiosk-2']}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def tickets_of(hall, kiosk_id: str) -> int:
    store = Store(hall.db, migrate=False)
    try:
        return store.one("SELECT COUNT(*) FROM tickets WHERE kiosk = ?", (kiosk_id,))[0]
    finally:
        store.close()


@contextmanager
def printer_online(hall):
    """A stand-in for the devices process: every print job comes out at once."""
    stop = threading.Event()

    def run():
        store = Store(hall.db, migrate=False)
        clock = SystemClock()
        try:
            while not stop.is_set():
                job = printing.claim_next(store, clock.now())
                if job:
                    printing.complete(store, job["id"], clock.now(), ok=True, status="ok")
                else:
                    stop.wait(0.1)
        finally:
            store.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(3)


# What a kiosk screen must satisfy: no text under 24 px, touch targets of at least 20 mm (76 px),
# text contrast of at least 4.5:1 against what is behind it, nothing wider than the screen.
SCREEN_CHECK = """() => {
  const lum = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const L = ([r, g, b]) => 0.2126 * lum(r) + 0.7152 * lum(g) + 0.0722 * lum(b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const out = {small: [], tiny: [], faint: [], wide: document.documentElement.scrollWidth > innerWidth};
  const root = document.querySelector('#kiosk');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement, text = node.textContent.trim();
    if (!text) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    if (size < 24) out.small.push(`${text.slice(0, 24)} (${size}px)`);
    const fg = rgb(style.color), bg = background(el);
    const [hi, lo] = [L(fg), L(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) out.faint.push(`${text.slice(0, 24)} (${ratio.toFixed(2)})`);
  }
  root.querySelectorAll('a, button, .k-key').forEach((e) => {
    const r = e.getBoundingClientRect();
    if (r.width && (r.width < 76 || r.height < 76))
      out.tiny.push(`${e.textContent.trim().slice(0, 16)} ${Math.round(r.width)}x${Math.round(r.height)}`);
  });
  return out;
}"""


def check_screen(page, *, no_scroll: bool = False) -> None:
    assert CSP_ERRORS == []
    found = page.evaluate(SCREEN_CHECK)
    assert found["small"] == [], f"text under 24 px: {found['small'][:5]}"
    assert found["tiny"] == [], f"touch targets under 76 px: {found['tiny'][:5]}"
    assert found["faint"] == [], f"contrast under 4.5:1: {found['faint'][:5]}"
    assert not found["wide"]
    if no_scroll:
        content = page.evaluate(
            "Math.max(...[...document.querySelectorAll('.k-main > *')].map(e => e.getBoundingClientRect().bottom))"
        )
        assert content <= H, f"the home screen needs scrolling ({content} px)"


# Counts the page's requests from now on (htmx sends XMLHttpRequests): sent, and done (answered,
# failed or aborted).
XHR_COUNTER = """() => {
  window.__xhr = {sent: 0, done: 0};
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    window.__xhr.sent += 1;
    this.addEventListener('loadend', () => { window.__xhr.done += 1; });
    return send.apply(this, args);
  };
}"""


def card(page, prefix: str):
    return page.locator(f"#k-lines [data-line={prefix}]")


# ---------- tests ----------


def test_take_a_ticket_by_line_with_live_counts_and_a_printed_slip(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall)
    page.wait_for_selector("[sse-connect][data-sse-open]")
    for line in ("A", "A", "A", "B", "B", "D"):
        assert api_issue(kiosk_hall, line)[0] == 201
    # The counts change on screen without a reload (the stream pushes the line buttons).
    card(page, "B").filter(has_text="等候 2 人").wait_for()
    card(page, "A").filter(has_text="等候 3 人").wait_for()
    check_screen(page, no_scroll=True)
    screenshot(page, "kiosk-home", docs=True)
    with printer_online(kiosk_hall):
        card(page, "B").tap()
        page.wait_for_selector("#k-confirm")
        assert "人社业务" in page.inner_text("#k-confirm")
        page.tap("#k-take")
        page.wait_for_selector("#k-take-slip")
    assert page.inner_text("#k-number") == "B003"
    assert int(page.inner_text("#k-ahead").split()[0]) >= 2  # B001, B002 (and A tickets a shared window takes first)
    assert "4、5、6 号窗口" in page.inner_text("#k-windows")
    assert page.get_attribute("#kiosk", "data-idle-s") == "30"  # back home after the idle time
    check_screen(page)
    screenshot(page, "kiosk-ticket", docs=True)
    page.tap("#k-done")
    card(page, "B").filter(has_text="等候 3 人").wait_for()


def test_find_a_matter_by_pinyin_initials_read_its_guide_and_take_a_ticket(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3")
    page.tap("#k-by-pinyin")
    typed = ""
    for letter in "sydj":
        page.tap(f".k-key[data-key={letter}]")
        typed += letter
        page.wait_for_selector(f".k-query-letters:text-is('{typed.upper()}')")
    first = page.locator("#k-results .k-matter").first
    assert "失业登记" in first.inner_text()
    assert page.locator(".k-key.dead[data-key=q]").count() == 1  # keys that find nothing are dimmed
    check_screen(page)
    screenshot(page, "kiosk-pinyin", docs=True)
    first.tap()
    page.wait_for_selector("#k-guide")
    guide = page.inner_text("#k-guide")
    assert "一次性告知" in guide and "居民身份证原件" in guide and "当场办结" in guide and "不收费" in guide
    check_screen(page)
    screenshot(page, "kiosk-matter-guide", docs=True)
    page.tap("#k-take")
    page.wait_for_selector("#k-qr svg")  # no printer: straight to the screen
    assert page.inner_text("#k-number").startswith("B")
    assert "失业登记" in page.inner_text("#k-ticket") and "请记住您的号码" in page.inner_text("#k-photo")
    assert page.get_attribute("#kiosk", "data-idle-s") == "0"
    screenshot(page, "kiosk-ticket-no-printer")


def test_find_a_matter_by_department(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3")
    page.tap("#k-by-dept")
    page.tap("[data-dept=gjj]")
    page.tap("[data-matter=GJJ-003]")
    page.wait_for_selector("#k-guide")
    assert "正常退休提取住房公积金" in page.inner_text("#k-guide")
    page.tap(".k-back")
    page.wait_for_selector("[data-matter=GJJ-001]")
    page.tap(".k-home")
    page.wait_for_selector("#k-lines")


def test_english_and_elder_mode(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3")
    page.tap("#k-lang")
    page.wait_for_selector("#kiosk.lang-en")
    normal = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.k-line-name .p')).fontSize)")
    assert page.inner_text(".k-title .p") == "Choose the service you need"
    assert page.inner_text(".k-title .s") == "请选择您要办理的业务"
    check_screen(page, no_scroll=True)
    page.tap("#k-elder")
    page.wait_for_selector("#kiosk.elder.lang-en")
    larger = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.k-line-name .p')).fontSize)")
    assert larger > normal
    assert page.locator(".k-notices li").count() == 1  # fewer items per screen
    check_screen(page, no_scroll=True)
    screenshot(page, "kiosk-home-en-elder", docs=True)
    page.tap("#k-by-dept")  # the mode carries on
    page.wait_for_selector("#kiosk.elder.lang-en .k-depts")
    check_screen(page)
    page.tap("#k-lang")
    page.wait_for_selector("#kiosk.elder.lang-zh")
    page.tap("#k-elder")
    page.wait_for_selector("#kiosk.lang-zh:not(.elder) .k-depts")
    check_screen(page)


def test_quota_reached_is_explained_with_what_to_do_instead(kiosk_hall, new_page):
    while True:
        status, body = api_issue(kiosk_hall, "E")
        if status != 201:
            assert body["error"] == "quota_reached"
            break
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3")
    assert "今日号已取完" in card(page, "E").inner_text()
    card(page, "E").tap()
    page.wait_for_selector("#k-closed[data-reason=quota]")
    closed = page.inner_text("#k-closed")
    assert "今日号已取完" in closed and f"每日限 {QUOTA_E} 个号" in closed
    assert "东苑街道便民服务中心" in closed and "咨询台" in closed
    check_screen(page)
    screenshot(page, "kiosk-quota", docs=True)


def test_printer_failure_shows_the_number_very_large_and_goes_home_by_itself(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-1", "idle=2")
    card(page, "C").tap()
    page.tap("#k-take")
    page.wait_for_selector("#k-printing")
    assert "正在打印" in page.inner_text("#k-printing")
    page.wait_for_selector("#k-failed")  # after the print deadline (printing.DEFAULT_DEADLINE_S)
    failed_at = time.monotonic()
    assert page.locator("#k-qr svg").is_visible()
    message = page.inner_text("#k-failed")
    assert "号票未能打印" in message and "请记住您的号码，或到咨询台补打" in message and "拍" not in message
    number = page.inner_text("#k-number")
    # The number is the largest text on the screen.
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('#kiosk *')].filter((e) => e.children.length === 0)"
        ".map((e) => [e.id, parseFloat(getComputedStyle(e).fontSize)])"
    )
    assert max(sizes, key=lambda s: s[1])[0] == "k-number"
    check_screen(page)
    screenshot(page, "kiosk-fallback", docs=True)
    # Twice the idle time (60 s in a hall, 4 s with idle=2), untouched: home again, in Chinese.
    assert page.get_attribute("#kiosk", "data-idle-s") == "4"
    page.wait_for_selector("#k-lines", timeout=15000)
    assert time.monotonic() - failed_at >= 3
    # The number stays valid: it still waits in line C.
    store = Store(kiosk_hall.db, migrate=False)
    try:
        assert store.one("SELECT state FROM tickets WHERE number = ?", (number,))["state"] == "waiting"
    finally:
        store.close()


def test_idle_timeout_returns_home_in_chinese(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3", "idle=2&lang=en")
    tapped = time.monotonic()
    page.tap("#k-by-dept")
    page.wait_for_selector(".k-depts")
    page.wait_for_selector("#k-lines")  # home again, untouched
    # Not at once: only after idle=2 s without a touch. Timed from before the tap, so a loaded
    # machine can only make this longer, never fail it.
    assert time.monotonic() - tapped >= 1.5
    assert page.inner_text(".k-title .p") == "请选择您要办理的业务"  # the next citizen starts in Chinese
    assert page.get_attribute("#kiosk", "data-home-url").endswith("idle=2")


def test_a_double_tap_takes_one_ticket(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3")
    card(page, "D").tap()
    page.wait_for_selector("#k-confirm")
    # htmx takes over a swapped-in form after it settles; a tap before that is a plain form post
    # (the server takes it just as well, but this test counts the page's requests).
    page.wait_for_function(
        "() => !!((document.querySelector('form.k-take') || {})['htmx-internal-data'] || {}).initHash"
    )
    before = tickets_of(kiosk_hall, "kiosk-3")
    page.evaluate(XHR_COUNTER)
    page.evaluate("() => { const b = document.querySelector('#k-take'); b.click(); b.click(); b.click(); }")
    page.wait_for_selector("#k-ticket")
    # The three taps sent whatever they sent before any answer could come back (one script):
    # once every request the page sent is answered, the server has seen them all.
    page.wait_for_function("() => window.__xhr.sent > 0 && window.__xhr.done === window.__xhr.sent")
    assert tickets_of(kiosk_hall, "kiosk-3") == before + 1


def test_the_kiosk_recovers_when_the_server_restarts_mid_use(kiosk_hall, new_page):
    page = open_kiosk(new_page, kiosk_hall, "kiosk-3")
    card(page, "A").tap()
    page.wait_for_selector("#k-confirm")
    before = tickets_of(kiosk_hall, "kiosk-3")
    kiosk_hall.stop()
    page.tap("#k-take")  # the server is gone
    page.wait_for_selector("#kiosk-wait:not([hidden])")
    assert "请稍候" in page.inner_text("#kiosk-wait")
    assert page.locator("#k-confirm").is_visible()  # the last screen stays, no error page
    screenshot(page, "kiosk-reconnecting")
    kiosk_hall.start()
    page.wait_for_selector("#k-ticket", timeout=20000)  # the same post, sent again
    page.wait_for_selector("#kiosk-wait", state="hidden")
    assert tickets_of(kiosk_hall, "kiosk-3") == before + 1
    # And the home screen's stream is live again.
    page.tap("#k-done")
    page.wait_for_selector("[sse-connect][data-sse-open]")
    waiting = int(page.inner_text("#k-lines [data-line=C] .k-waiting").split()[1])  # "等候 N 人"
    assert api_issue(kiosk_hall, "C")[0] == 201
    card(page, "C").filter(has_text=f"等候 {waiting + 1} 人").wait_for()
