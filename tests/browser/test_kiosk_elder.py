"""Elder mode and asking for help, in chromium at 1080×1920 (docs/kiosk.md#elder-mode,
docs/kiosk.md#asking-for-help).

What a citizen notices, measured on the rendered page: every text is at least 24 px (32 px in elder
mode), the same text is half as large again in elder mode, an elder page offers at most four choices
and fills the screen, elder mode in Chinese shows no English, and the help button brings an alert
naming the kiosk to the manager, whose acknowledgement the kiosk then shows.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from tongban.config import load_hall_config
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .conftest import login, make_live_hall, screenshot

W, H = 1080, 1920
TICKET = [0]  # the fixture's ticket id, filled in when the hall starts


@pytest.fixture(scope="module")
def elder_hall(tmp_path_factory):
    hall = make_live_hall(tmp_path_factory.mktemp("elder-hall"))
    store = Store(hall.db, migrate=False)
    service = HallService(store, load_hall_config(hall.config), SystemClock())
    for window in service.config.windows:
        service.window_action(window.number, "open", clerk=f"clerk{window.number}")
    # A ticket of this kiosk, for the on-screen ticket with its QR code (the screen an elder keeps longest).
    store.close()
    request = urllib.request.Request(
        f"{hall.url}/api/v1/tickets",
        data=json.dumps({"matter": "RSJ-001"}).encode(),
        headers={"Authorization": f"Bearer {hall.tokens['kiosk-1']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:  # the server is always open; the clock may not be
        TICKET[0] = json.load(answer)["id"]
    yield hall
    hall.stop()


# Every visible text node under #kiosk: its element's "signature" (the tags and classes from #kiosk
# down, so the same element is found in both modes), its computed font size and its text.
TEXTS = """() => {
  const root = document.querySelector('#kiosk');
  const sig = (el) => {
    const parts = [];
    for (let e = el; e && e !== root; e = e.parentElement) {
      const classes = [...e.classList].filter((c) => c !== 'on' && c !== 'dead').sort().join('.');
      parts.unshift(e.tagName.toLowerCase() + (classes ? '.' + classes : '') + (e.id ? '#' + e.id : ''));
    }
    return parts.join('>');
  };
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement, text = walker.currentNode.textContent.trim();
    if (!text) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    out.push({sig: sig(el), size: parseFloat(getComputedStyle(el).fontSize), text,
              lang: el.closest('#k-lang') ? 'switch' : el.closest('.k-query-letters') ? 'pinyin' : ''});
  }
  return out;
}"""

SCREENS = [
    "",
    "/departments",
    "/departments/rsj",
    "/search?q=sy",
    "/matters/RSJ-001",
    "/lines/B",
    "/green",
    "/tickets/{ticket}",
    "/matters/NOPE",  # "this page does not exist"
]


def texts(page, url: str) -> list[dict]:
    page.goto(url.replace("{ticket}", str(TICKET[0])))
    page.wait_for_selector("#kiosk #k-help")
    # Every screen fits at 1080×1920, larger text or not (the on-screen ticket is photographed whole).
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= H, f"{url}: the screen needs scrolling ({height} px)"
    return page.evaluate(TEXTS)


def open_kiosk(new_page, hall):
    page = new_page(W, H)
    page.goto(f"{hall.url}/enrol?token={hall.tokens['kiosk-1']}")
    page.wait_for_selector("#k-lines")
    return page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_text_is_large_and_half_as_large_again_in_elder_mode(elder_hall, new_page, lang):
    page = open_kiosk(new_page, elder_hall)
    base = f"{elder_hall.url}/kiosk/kiosk-1"
    for screen in SCREENS:
        sep = "&" if "?" in screen else "?"
        query = "" if lang == "zh" else "lang=en"
        normal = texts(page, f"{base}{screen}{sep}{query}")
        elder = texts(page, f"{base}{screen}{sep}{query}&elder=1")
        small = [(t["text"][:20], t["size"]) for t in normal if t["size"] < 24]
        assert small == [], f"{screen}: text under 24 px in normal mode: {small[:5]}"
        small = [(t["text"][:20], t["size"]) for t in elder if t["size"] < 32]
        assert small == [], f"{screen}: text under 32 px in elder mode: {small[:5]}"
        largest = {}
        for t in normal:
            largest[t["sig"]] = max(largest.get(t["sig"], 0), t["size"])
        same = [t for t in elder if t["sig"] in largest]
        assert len({t["sig"] for t in same}) >= 4, f"{screen}: too few elements found in both modes"
        short = [(t["text"][:20], largest[t["sig"]], t["size"]) for t in same if t["size"] < 1.5 * largest[t["sig"]]]
        assert short == [], f"{screen}: not 1.5× in elder mode (text, normal, elder): {short[:5]}"


# The "please wait" bar lies outside #kiosk (it must outlive a failed swap): its texts, shown.
WAIT_TEXTS = """() => {
  const wait = document.getElementById('kiosk-wait');
  wait.hidden = false;
  return [...wait.querySelectorAll('span')].filter((e) => e.getBoundingClientRect().height > 0)
    .map((e) => ({text: e.textContent.trim(), size: parseFloat(getComputedStyle(e).fontSize)}));
}"""


def test_the_please_wait_bar_follows_elder_mode(elder_hall, new_page):
    page = open_kiosk(new_page, elder_hall)
    base = f"{elder_hall.url}/kiosk/kiosk-1"
    page.goto(base)
    normal = page.evaluate(WAIT_TEXTS)
    assert min(t["size"] for t in normal) >= 24 and len(normal) == 2  # both languages
    page.goto(f"{base}?elder=1")
    (zh,) = page.evaluate(WAIT_TEXTS)
    assert zh["text"] == "请稍候，正在重新连接…" and zh["size"] >= 1.5 * max(t["size"] for t in normal)
    page.goto(f"{base}?elder=1&lang=en")
    (en,) = page.evaluate(WAIT_TEXTS)
    assert en["text"].startswith("Please wait") and en["size"] >= 32


def test_elder_pages_offer_at_most_four_choices_and_fill_the_screen(elder_hall, new_page):
    page = open_kiosk(new_page, elder_hall)
    base = f"{elder_hall.url}/kiosk/kiosk-1"
    lists = {
        "?elder=1": "#k-lines .k-line",
        "?elder=1&page=2": "#k-lines .k-line",
        "/departments?elder=1": ".k-dept",
        "/departments?elder=1&page=3": ".k-dept",
        "/departments/rsj?elder=1": ".k-matter",
        "/departments/rsj?elder=1&page=4": ".k-matter",
        "/search?q=s&elder=1": ".k-matter",
    }
    for screen, choices in lists.items():
        page.goto(f"{base}{screen}")
        page.wait_for_selector("#kiosk.elder #k-help")
        count = page.locator(choices).count()
        assert 1 <= count <= 4, f"{screen}: {count} choices"
        # What the page leaves empty: the main area's height less what its parts take.
        empty = page.evaluate("""() => {
          const main = document.querySelector('.k-main'), style = getComputedStyle(main);
          const parts = [...main.children].filter((e) => e.getBoundingClientRect().height > 0);
          const used = parts.reduce((sum, e) => sum + e.getBoundingClientRect().height, 0)
            + parseFloat(style.rowGap || 0) * (parts.length - 1);
          const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
          return main.getBoundingClientRect().height - padding - used;
        }""")
        assert empty < 0.1 * H, f"{screen}: {empty:.0f} px of the screen left empty"
        bottom = page.evaluate("document.documentElement.scrollHeight")
        assert bottom <= H, f"{screen}: the page needs scrolling ({bottom} px)"
    # 人社: 16 matters, four to a page.
    page.goto(f"{base}/departments/rsj?elder=1")
    assert "第 1 / 4 页" in page.inner_text(".k-pager")


def test_elder_mode_in_chinese_shows_no_english_and_in_english_no_chinese(elder_hall, new_page):
    page = open_kiosk(new_page, elder_hall)
    base = f"{elder_hall.url}/kiosk/kiosk-1"
    for screen in SCREENS:
        sep = "&" if "?" in screen else "?"
        # The language switch says "English": it is how someone who reads no Chinese finds their way.
        # The pinyin typed on the search screen is letters too.
        shown = [t for t in texts(page, f"{base}{screen}{sep}elder=1") if not t["lang"]]
        english = [t["text"] for t in shown if re.search(r"[A-Za-z]{2,}", t["text"])]
        assert english == [], f"{screen}: English in elder mode: {english[:5]}"
        # The windows' places ("Window 4 / 5 / 6 (一楼西区)") are written in the hall file in Chinese only.
        shown = [
            t
            for t in texts(page, f"{base}{screen}{sep}elder=1&lang=en")
            if not t["lang"] and "k-windows-line" not in t["sig"]
        ]
        chinese = [t["text"] for t in shown if re.search(r"[\u3400-\u9fff]", t["text"])]
        assert chinese == [], f"{screen}: Chinese in elder English mode: {chinese[:5]}"
    page.goto(f"{base}?elder=1")
    page.wait_for_selector("#kiosk.elder #k-lines")
    screenshot(page, "kiosk-home-elder", docs=True)


def test_the_help_button_alerts_the_manager_naming_the_kiosk(elder_hall, new_page):
    kiosk = open_kiosk(new_page, elder_hall)
    kiosk.goto(f"{elder_hall.url}/kiosk/kiosk-1/departments?elder=1")
    kiosk.tap("#k-help-button")
    kiosk.wait_for_selector("#k-help-status:has-text('已通知工作人员')")
    kiosk.tap(".k-home")  # the next screen still says so
    kiosk.wait_for_selector("#k-lines")
    assert "已通知工作人员" in kiosk.inner_text("#k-help")

    manager = new_page(1366, 768)
    login(manager, elder_hall.url, "manager")
    manager.goto(f"{elder_hall.url}/manage/")
    alert = manager.locator(".alert[data-kind=help]")
    alert.wait_for()
    assert "一楼大厅取号机 1（一楼大厅入口）有群众请求工作人员帮助" in alert.inner_text()
    assert "Ground floor kiosk 1 (Ground floor entrance)" in alert.inner_text()
    screenshot(manager, "manage-help-alert")
    alert.locator("button").click()
    manager.wait_for_selector(".alert[data-kind=help]", state="detached")
    # The kiosk polls while help is asked for: it now says someone is coming.
    kiosk.wait_for_selector("#k-help-status:has-text('工作人员正在赶来')", timeout=15000)
    screenshot(kiosk, "kiosk-help-coming")


def test_the_help_bars_poll_does_not_keep_the_screen_from_going_home(elder_hall, new_page):
    kiosk = open_kiosk(new_page, elder_hall)
    # kiosk-2's own request, so the poll runs; the idle time is longer than one poll (5 s).
    kiosk.goto(f"{elder_hall.url}/enrol?token={elder_hall.tokens['kiosk-2']}")
    kiosk.goto(f"{elder_hall.url}/kiosk/kiosk-2/departments?elder=1&idle=7")
    kiosk.tap("#k-help-button")
    kiosk.wait_for_selector("#k-help[data-help=asked]")
    kiosk.wait_for_selector("#kiosk:not(.elder) #k-lines", timeout=20000)  # home, in normal mode
    assert "已通知工作人员" in kiosk.inner_text("#k-help")  # and still says staff were told
