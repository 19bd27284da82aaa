"""axe-core on every page, at the sizes the hall uses them: no serious or critical violation.

Kiosk 1080×1920 (Chinese, English, elder mode), console and manager 1366×768, displays
1920×1080, phone pages 390×844. A page is scanned as the user first sees it, with live data.
"""

from __future__ import annotations

import json

from tongban.config import load_hall_config
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.app import always_open

from .axe import violations
from .conftest import login


def staffed(hall) -> str:
    """Windows 1-3 open with their clerks, a called ticket at window 1; returns a waiting ticket's token."""
    store = Store(hall.db, migrate=False)
    try:
        service = HallService(store, always_open(load_hall_config(hall.config)), SystemClock())
        for number in (1, 2, 3):
            service.window_action(number, "open", clerk=f"clerk{number}")
        prefix = service.config.window(1).serving[0]
        for _ in range(3):
            service.take_ticket(line=prefix, kiosk=service.config.kiosks[0].id)
        service.call_next(1)
        waiting = service.waiting()
        return waiting[-1].token
    finally:
        store.close()


def scan(page, url: str, found: dict[str, list[str]], *, ready: str = "body") -> None:
    page.goto(url)
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle") if "stream" not in url else None
    found[url] = violations(page)


def assert_clean(found: dict[str, list[str]]) -> None:
    bad = {url: v for url, v in found.items() if v}
    assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)


def test_kiosk_screens_in_chinese_english_and_elder_mode(live_hall, new_page):
    staffed(live_hall)
    kiosk = load_hall_config(live_hall.config).kiosks[0].id
    page = new_page(1080, 1920)
    page.goto(f"{live_hall.url}/enrol?token={live_hall.tokens[kiosk]}")
    found: dict[str, list[str]] = {}
    for query in ("", "lang=en", "elder=1"):
        base = f"{live_hall.url}/kiosk/{kiosk}"
        scan(page, f"{base}?{query}", found, ready="#k-lines")
        scan(page, f"{base}/lines/A?{query}", found)
        scan(page, f"{base}/search?q=sb&{query}", found)
        scan(page, f"{base}/departments?{query}", found)
        scan(page, f"{base}/matters/SCJG-001?{query}", found)
        scan(page, f"{base}/green?{query}", found)
        # The ticket screen after a tap (no printer here: the full-screen ticket with its QR code).
        page.goto(f"{base}/lines/A?{query}")
        page.click("#k-take")
        page.wait_for_selector("#k-number")
        found[f"ticket screen {query or 'zh'}"] = violations(page)
    assert_clean(found)


def test_phone_and_public_pages(live_hall, new_page):
    token = staffed(live_hall)
    page = new_page(390, 844)
    found: dict[str, list[str]] = {}
    for lang in ("zh", "en"):
        scan(page, f"{live_hall.url}/info?lang={lang}", found)
        scan(page, f"{live_hall.url}/info?q=社保&lang={lang}", found)
        scan(page, f"{live_hall.url}/t/{token}?lang={lang}", found)
    assert_clean(found)


def test_clerk_console_and_manager_pages(live_hall, new_page):
    staffed(live_hall)
    found: dict[str, list[str]] = {}
    clerk = new_page(1366, 768)
    scan(clerk, f"{live_hall.url}/login", found)
    login(clerk, live_hall.url, "clerk1", window=1)
    clerk.wait_for_selector("body")
    found["/window/1"] = violations(clerk)
    manager = new_page(1366, 768)
    login(manager, live_hall.url, "manager")
    for path in ("/manage/", "/manage/report", "/cases"):
        scan(manager, f"{live_hall.url}{path}", found)
    assert_clean(found)


def test_hall_and_window_displays(live_hall, new_page):
    staffed(live_hall)
    page = new_page(1920, 1080)
    page.goto(f"{live_hall.url}/enrol?token={live_hall.tokens['hall-display']}")
    found: dict[str, list[str]] = {}
    found["/display"] = violations(page)
    pad = new_page(1280, 800)
    pad.goto(f"{live_hall.url}/enrol?token={live_hall.tokens['pad-1']}")
    pad.wait_for_url("**/window/*/pad**")
    found["rating pad"] = violations(pad)
    scan(page, f"{live_hall.url}/display/window/1", found)
    assert_clean(found)
