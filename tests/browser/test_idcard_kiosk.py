"""An ID card at the kiosk in chromium (docs/kiosk.md#with-an-id-card): the card on a dummy reader,
read by the devices process's own worker, the check-in offer arriving through the live stream, one
touch, the ticket screen. The README's screenshot is taken here."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tongban.config import load_hall_config
from tongban.devices.idcard_worker import CardReaderWorker
from tongban.idcard.demo import demo_cards
from tongban.queue import appointments, calendar
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .conftest import DEMO_CONFIG, make_live_hall, screenshot

W, H = 1080, 1920
ELDERLY = demo_cards()["elderly"]
QUERIES = ("elder=1", "lang=en", "lang=en&elder=1")
HTMX_READY = "sel => !!((document.querySelector(sel) || {})['htmx-internal-data'] || {}).initHash"


@pytest.fixture
def card_hall(tmp_path):
    config = DEMO_CONFIG.read_text(encoding="utf-8").replace(
        'id = "kiosk-1"\n', 'id = "kiosk-1"\nidcard = "dummy://?card=elderly"\n', 1
    )
    config += "\n[kiosk]\ngreen_channel_min_age = 65\n"
    path = tmp_path / "card-hall.toml"
    path.write_text(config, encoding="utf-8")
    hall = make_live_hall(tmp_path, path)
    hall_config = load_hall_config(path)
    store = Store(hall.db, migrate=False)
    clock = SystemClock()
    service = HallService(store, hall_config, clock)
    for window in hall_config.windows:
        service.window_action(window.number, "open", clerk=f"clerk{window.number}")
    # A booking of the card's holder whose check-in is open now: from five minutes ago, within today
    # (hall time), as the real clock has it.
    now = calendar.local(clock.now(), hall_config.hall).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=5)
    end = min(now + timedelta(minutes=25), now.replace(hour=23, minute=59))
    if start.date() != now.date() or end <= now:
        store.close()
        hall.stop()
        pytest.skip("too close to midnight in hall time for a slot today")
    matter = hall_config.matters[0]
    appointments.import_rows(
        store,
        hall_config,
        [
            {
                "reference": "20261207001",
                "matter": matter.code,
                "slot_start": f"{start:%Y-%m-%d %H:%M}",
                "slot_end": f"{end:%Y-%m-%d %H:%M}",
                "id_number": ELDERLY.id_number,
            }
        ],
        source="file",
        now=clock.now(),
    )
    store.close()
    yield hall, hall_config
    hall.stop()


def test_card_on_the_reader_then_check_in_then_the_ticket(card_hall, new_page):
    hall, hall_config = card_hall
    page = new_page(W, H)
    page.goto(f"{hall.url}/enrol?token={hall.tokens['kiosk-1']}")
    page.wait_for_selector("#k-lines")
    # the stream is connected before the card is laid down, so the offer must come through it
    page.wait_for_function("() => !!(document.querySelector('.k-lines-live') || {})['htmx-internal-data']")
    assert page.locator("#k-idcard-read").count() == 0
    # how tall each home screen is before a card (the demo hall's home in elder English scrolls by
    # itself): the panel may not make one taller than the screen or than it was
    before = {}
    for query in QUERIES:
        page.goto(f"{hall.url}/kiosk/kiosk-1?{query}")
        page.wait_for_selector("#k-lines")
        before[query] = page.evaluate("() => document.documentElement.scrollHeight")
    page.goto(f"{hall.url}/kiosk/kiosk-1")
    page.wait_for_function("() => !!(document.querySelector('.k-lines-live') || {})['htmx-internal-data']")
    kiosk = next(k for k in hall_config.kiosks if k.id == "kiosk-1")
    worker = CardReaderWorker(kiosk, str(hall.db), hall_config, SystemClock(), poll_s=0.05)
    worker.start()
    try:
        page.wait_for_selector("#k-card-checkin")
        panel = page.inner_text("#k-idcard-read")
        assert "王**" in panel and "王秀英" not in panel and ELDERLY.id_number not in page.content()
        # 78 years old and the hall's rule is 65, but a check-in carries the booking's own credit
        assert page.locator("#k-card-green").count() == 0
        page.wait_for_function(HTMX_READY, arg="#k-idcard-read form")
        # the panel and the lines fit the screen, the finders and notices giving way (kiosk.css)
        assert page.evaluate("() => document.documentElement.scrollHeight") <= H
        screenshot(page, "kiosk-idcard-checkin", docs=True)
        for query in QUERIES:
            page.goto(f"{hall.url}/kiosk/kiosk-1?{query}")
            page.wait_for_selector("#k-card-checkin")
            height = page.evaluate("() => document.documentElement.scrollHeight")
            assert height <= max(H, before[query]), (query, height, before[query])
        page.goto(f"{hall.url}/kiosk/kiosk-1")
        page.wait_for_selector("#k-card-checkin")
        page.click("#k-card-checkin")
        page.wait_for_selector("#k-ticket, #k-printing")
        assert ELDERLY.id_number not in page.content() and "0020" not in page.inner_text("#kiosk")
    finally:
        worker.stop()
    store = Store(hall.db, migrate=False)
    try:
        (ticket,) = store.all("SELECT * FROM tickets WHERE kiosk = 'kiosk-1'")
        assert ticket["id_masked"] == "3201**********0020" and ticket["appointment_at"] is not None
        booking = store.one("SELECT state, ticket_id FROM appointments WHERE reference = '20261207001'")
        assert booking["state"] == "checked_in" and booking["ticket_id"] == ticket["id"]
        # the card still on the reader: read once, used once
        assert store.one("SELECT COUNT(*) FROM card_reads WHERE consumed_at IS NULL")[0] == 0
    finally:
        store.close()
    assert page.locator("#k-card-checkin").count() == 0
