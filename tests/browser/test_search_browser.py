"""Finding a matter by the name people use (issue 16, point 1), in chromium: the kiosk's letter
keyboard at 1080×1920 and the public /info page on a phone at 390×844."""

from __future__ import annotations

from tongban.config import load_hall_config

from .axe import violations
from .conftest import screenshot
from .test_accessibility import staffed


def test_the_kiosk_finds_the_social_security_card_by_sb(live_hall, new_page):
    kiosk = load_hall_config(live_hall.config).kiosks[0].id
    page = new_page(1080, 1920)
    page.goto(f"{live_hall.url}/enrol?token={live_hall.tokens[kiosk]}")
    page.tap("#k-by-pinyin")
    typed = ""
    for letter in "sb":
        page.tap(f".k-key[data-key={letter}]")
        typed += letter
        page.wait_for_selector(f".k-query-letters:text-is('{typed.upper()}')")
    results = page.locator("#k-results .k-matter")
    # 社保 is what people call it: the card comes first, not 工伤保险 or 特种设备 (what "SB" found before).
    assert "社会保障卡" in results.first.inner_text()
    top = [results.nth(i).inner_text() for i in range(3)]
    assert not any("特种设备" in t for t in top), top
    assert violations(page) == []
    screenshot(page, "kiosk-search", docs=True)


def test_info_finds_the_social_insurance_matters_by_shebao_in_words(live_hall, new_page):
    page = new_page(390, 844)
    page.goto(f"{live_hall.url}/info")
    page.fill("#i-q", "社保")
    page.press("#i-q", "Enter")
    page.wait_for_selector(".i-matter")
    first = page.locator(".i-matter").first
    assert "社会保障卡" in first.inner_text()
    assert page.locator(".i-dept").first.get_attribute("data-dept") == "rsj"
    page.fill("#i-q", "异地就医怎么办")
    page.press("#i-q", "Enter")
    page.wait_for_selector("#m-YBJ-001")
    assert page.locator(".i-matter").first.get_attribute("data-matter") == "YBJ-001"


def test_an_english_kiosk_ticket_has_no_chinese_in_its_english_lines(live_hall, new_page):
    """Issue 16, point 6: the windows line names places in English ("Window 4 / 5 / 6 (1st floor,
    west)"), and no English line carries a code or a Chinese string from the hall file."""
    staffed(live_hall)  # windows 1-3 open with their clerks: the ticket is told its windows
    kiosk = load_hall_config(live_hall.config).kiosks[0].id
    page = new_page(1080, 1920)
    page.goto(f"{live_hall.url}/enrol?token={live_hall.tokens[kiosk]}")
    page.goto(f"{live_hall.url}/kiosk/{kiosk}/lines/A?lang=en")
    page.click("#k-take")
    page.wait_for_selector("#k-number")
    english = page.locator("#k-ticket .p, #k-windows .p").all_inner_texts()
    assert any(line.startswith("Window") and "(1st floor, east)" in line for line in english), english
    han = [line for line in english if any("\u3400" <= ch <= "\u9fff" for ch in line)]
    assert han == [], han
