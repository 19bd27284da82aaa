"""The manager's tools in chromium (issue 16, point 7): a line closed with a reason stops the kiosk,
which says why; reopening it lets the kiosk issue again; a week's report draws whole-number axes."""

from __future__ import annotations

import re

from tongban.config import load_hall_config
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.app import always_open

from .axe import violations
from .conftest import login, screenshot

HTMX_READY = "sel => !!((document.querySelector(sel) || {})['htmx-internal-data'] || {}).initHash"


def htmx_ready(page, selector: str) -> None:
    """Wait until htmx has taken over ``selector``: before that a click is a plain form post."""
    page.wait_for_function(HTMX_READY, arg=selector)


def test_a_line_closed_with_a_reason_is_explained_on_the_kiosk_and_reopened(live_hall, new_page):
    manager = new_page(1366, 768)
    login(manager, live_hall.url, "manager")
    htmx_ready(manager, '[data-line-state="A"] form.line-close')
    row = manager.locator('[data-line-state="A"]')
    row.locator("input[name=reason]").fill("系统升级 / System upgrade")
    # Another manager closes line B meanwhile: the live stream re-sends the lines panel, and the
    # reason being typed for A survives it.
    store = Store(live_hall.db, migrate=False)
    HallService(store, always_open(load_hall_config(live_hall.config)), SystemClock()).close_line("B", "午休 / Lunch")
    store.close()
    manager.locator('[data-line-state="B"][data-closed="yes"]').wait_for()
    assert row.locator("input[name=reason]").input_value() == "系统升级 / System upgrade"
    row.locator("button[type=submit]").click()
    manager.locator('[data-line-state="A"][data-closed="yes"]').wait_for()
    assert "系统升级" in manager.locator('[data-line-state="A"]').inner_text()

    kiosk_id = load_hall_config(live_hall.config).kiosks[0].id
    kiosk = new_page(1080, 1920)
    kiosk.goto(f"{live_hall.url}/enrol?token={live_hall.tokens[kiosk_id]}")
    kiosk.goto(f"{live_hall.url}/kiosk/{kiosk_id}/lines/A")
    reason = kiosk.locator("#k-closed-reason")
    assert "系统升级" in reason.inner_text() and "System upgrade" in reason.inner_text()
    assert kiosk.locator("#k-take").count() == 0
    assert violations(kiosk) == []

    htmx_ready(manager, '[data-line-state="A"] button')
    manager.locator('[data-line-state="A"] button').click()
    manager.locator('[data-line-state="A"][data-closed="no"]').wait_for()
    kiosk.goto(f"{live_hall.url}/kiosk/{kiosk_id}/lines/A")
    kiosk.wait_for_selector("#k-take")


def test_a_weeks_report_has_whole_number_count_axes(live_hall, new_page):
    store = Store(live_hall.db, migrate=False)
    service = HallService(store, always_open(load_hall_config(live_hall.config)), SystemClock())
    for line in "AAABBBBBCCD":  # counts per line and hour that an axis could split into quarters
        service.take_ticket(line=line)
    store.close()
    manager = new_page(1366, 768)
    login(manager, live_hall.url, "manager")
    manager.goto(f"{live_hall.url}/manage/report?period=week")
    manager.wait_for_selector("svg")
    # Tickets per hour: a count chart (the wait chart's minutes may have halves).
    ticks = [(t or "").strip() for t in manager.locator(".charts .card").first.locator("svg text").all_text_contents()]
    numbers = [t for t in ticks if re.fullmatch(r"\d+(\.\d+)?", t)]
    assert numbers and not any("." in n for n in numbers if n), numbers
    assert violations(manager) == []
    screenshot(manager, "report-week")
