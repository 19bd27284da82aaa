"""What a card on the kiosk's reader does (docs/kiosk.md#with-an-id-card), through Flask's test client:
check-in for today's booking, the recent matter first, the green channel by age, the read used once
and ignored when stale, and the full number nowhere (pages, slip bytes, logs, exports, database)."""

from __future__ import annotations

import logging
import re
from datetime import datetime

import pytest

from tests.apiclient import make_hall_client
from tests.conftest import SHANGHAI, small_hall_doc
from tests.test_appointments import ID_NUMBER, OTHER_ID, booking
from tests.test_kiosk import kiosk, service_of, text
from tongban.config import ConfigError, parse_hall_config
from tongban.devices.print_worker import build_slip, printer_configs
from tongban.printers.ticket import build_ticket_bytes
from tongban.queue import appointments as appts
from tongban.queue import card_tickets, idcards
from tongban.queue.identity import id_hash, mask_id
from tongban.queue.store import Store

HX = {"HX-Request": "true"}
MASKED = "3201**********1238"


def card_hall(tmp_path, clock, **kiosk_settings):
    doc = small_hall_doc()
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}]
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机", "printer": "printer-1", "idcard": "dummy://?card=none"}]
    if kiosk_settings:
        doc["kiosk"] = kiosk_settings
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "card-hall"), clock)
    service = service_of(hall)
    service.window_action(1, "open", clerk="clerk1")
    service.store.close()
    return hall


@pytest.fixture
def hall(tmp_path, clock):
    return card_hall(tmp_path, clock)


def read_card(hall, number=ID_NUMBER, birth=(1980, 1, 1)):
    """What the devices process does on a read (devices/idcard_worker.py)."""
    store = Store(hall.app.config["DATABASE"])
    try:
        return idcards.record_read(
            store,
            "kiosk-1",
            id_number=number,
            name="张三丰",
            sex="1",
            birth_date=datetime(*birth).date(),
            now=hall.app.config["CLOCK"].now(),
        )
    finally:
        store.close()


def book(hall, **row):
    service = service_of(hall)
    try:
        appts.import_rows(service.store, service.config, [booking(**row)], source="file", now=service.clock.now())
    finally:
        service.store.close()


def panel(html: str) -> str:
    """The card panel of a page (the live stream's "idcard" part)."""
    if 'id="k-idcard-read"' not in html:
        return ""
    start = html.index('<section class="k-banner k-idcard"')
    return html[start : html.index("</section>", start)]


def form_of(html: str, button_id: str) -> dict:
    end = html.index(f'id="{button_id}"')
    start = html.rindex("<form", 0, end)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html[start:end]))


def tickets(hall):
    store = Store(hall.app.config["DATABASE"])
    try:
        return store.all("SELECT * FROM tickets ORDER BY id")
    finally:
        store.close()


# ---------- check-in for today's booking ----------


def test_a_card_with_a_booking_checks_in_with_one_touch(hall):
    book(hall, id_number=ID_NUMBER)  # 09:30–10:00; the clock is at 09:00, check-in open from 09:00
    client = kiosk(hall)
    read_card(hall)
    home = text(client.get("/kiosk/kiosk-1"))
    card = panel(home)
    assert 'id="k-card-checkin"' in card and "09:30–10:00" in card and "失业登记" in card
    assert "张**" in card and ID_NUMBER not in home and "张三丰" not in home
    form = form_of(card, "k-card-checkin")
    first = text(client.post("/kiosk/kiosk-1/card/checkin", data=form, headers=HX))
    assert 'data-screen="kiosk_printing"' in first
    again = text(client.post("/kiosk/kiosk-1/card/checkin", data=form, headers=HX))  # a double tap
    (ticket,) = tickets(hall)
    assert ticket["number"] in again
    assert ticket["appointment_at"] == "2026-11-26T01:30:00.000000+00:00"
    assert ticket["id_masked"] == MASKED and ticket["kiosk"] == "kiosk-1"
    store = Store(hall.app.config["DATABASE"])
    try:
        assert ticket["id_hash"] == id_hash(store, ID_NUMBER)
        assert store.one("SELECT COUNT(*) FROM print_jobs")[0] == 1
        assert appts.get(store, hall.app.config["HALL"], "20261126001").state == "checked_in"
    finally:
        store.close()
    # The read is used up: the panel is gone, and the card left on the reader issues nothing more.
    assert panel(text(client.get("/kiosk/kiosk-1/idcard-now"))) == ""
    other = dict(form, key="another-key-123")
    gone = text(client.post("/kiosk/kiosk-1/card/checkin", data=other, headers=HX))
    assert 'id="k-card-gone"' in gone and len(tickets(hall)) == 1


def test_elder_mode_and_english_carry_through_the_check_in(hall):
    book(hall, id_number=ID_NUMBER)
    client = kiosk(hall)
    read_card(hall)
    home = text(client.get("/kiosk/kiosk-1?lang=en&elder=1"))
    card = panel(home)
    assert "Check in for my booking" in card and "预约签到取号" not in card  # elder: one language only
    assert 'action="/kiosk/kiosk-1/card/checkin?lang=en&amp;elder=1"' in card
    ticket = text(client.post("/kiosk/kiosk-1/card/checkin?lang=en&elder=1", data=form_of(card, "k-card-checkin")))
    assert 'class="kiosk elder lang-en"' in ticket


def test_too_early_says_when_to_come_back_and_offers_the_usual_choice(hall):
    book(hall, reference="20261126002", start="2026-11-26 14:00", end="2026-11-26 14:30", id_number=ID_NUMBER)
    client = kiosk(hall)
    read_card(hall)
    home = text(client.get("/kiosk/kiosk-1?lang=en"))
    card = panel(home)
    assert 'data-code="checkin_too_early"' in card and "from 13:30" in card
    assert "k-card-checkin" not in card
    # the usual choice: the line buttons carry the card
    assert re.search(r'href="/kiosk/kiosk-1/lines/A\?lang=en&amp;card=[\w-]+"', home)


def test_too_late_says_so(hall, clock):
    book(hall, reference="20261126002", start="2026-11-26 14:00", end="2026-11-26 14:30", id_number=ID_NUMBER)
    clock.set(datetime(2026, 11, 26, 14, 16, tzinfo=SHANGHAI))
    client = kiosk(hall)
    read_card(hall)
    card = panel(text(client.get("/kiosk/kiosk-1")))
    assert 'data-code="checkin_too_late"' in card and "k-card-checkin" not in card


# ---------- no booking: the usual choice, the recent matter first ----------


def test_the_recent_matter_comes_first_when_the_hall_keeps_it(tmp_path, clock):
    hall = card_hall(tmp_path, clock, remember_recent_matter_days=30)
    client = kiosk(hall)
    read_card(hall)
    assert "k-card-recent" not in panel(text(client.get("/kiosk/kiosk-1")))  # nothing taken before
    # take M3 with the card through the usual choice: line B's confirm screen carries the card
    token = re.search(r"card=([\w-]+)", text(client.get("/kiosk/kiosk-1"))).group(1)
    confirm = text(client.get(f"/kiosk/kiosk-1/lines/B?card={token}", headers=HX))
    assert 'id="k-card-with"' in confirm and MASKED in confirm
    client.post("/kiosk/kiosk-1/tickets", data=form_of(confirm, "k-take"), headers=HX)
    clock.advance(days=1)  # Friday
    read_card(hall)
    card = panel(text(client.get("/kiosk/kiosk-1")))
    assert 'id="k-card-recent"' in card and 'data-line="B"' in card and "公积金" in card
    taken = text(client.post("/kiosk/kiosk-1/tickets", data=form_of(card, "k-card-recent"), headers=HX))
    assert 'data-screen="kiosk_printing"' in taken
    first, second = tickets(hall)
    assert first["line"] == second["line"] == "B" and second["id_masked"] == MASKED
    assert first["id_hash"] == second["id_hash"] and not second["green"]


def test_no_recent_matter_by_default(hall, clock):
    client = kiosk(hall)
    read_card(hall)
    token = re.search(r"card=([\w-]+)", text(client.get("/kiosk/kiosk-1"))).group(1)
    confirm = text(client.get(f"/kiosk/kiosk-1/lines/A?card={token}", headers=HX))
    client.post("/kiosk/kiosk-1/tickets", data=form_of(confirm, "k-take"), headers=HX)
    read_card(hall)
    card = panel(text(client.get("/kiosk/kiosk-1")))
    assert card and "k-card-recent" not in card


# ---------- green channel by age ----------


def test_green_by_age_when_the_hall_file_sets_it(tmp_path, clock):
    hall = card_hall(tmp_path, clock, green_channel_min_age=65)
    client = kiosk(hall)
    read_card(hall, OTHER_ID, birth=(1949, 12, 31))
    home = text(client.get("/kiosk/kiosk-1?elder=1"))
    card = panel(home)
    assert 'id="k-card-green"' in card and "65" in card
    token = re.search(r"card=([\w-]+)", home).group(1)
    confirm = text(client.get(f"/kiosk/kiosk-1/lines/A?elder=1&card={token}", headers=HX))
    client.post("/kiosk/kiosk-1/tickets", data=form_of(confirm, "k-take"), headers=HX)
    (ticket,) = tickets(hall)
    assert ticket["green"] == 1 and ticket["green_reason"] == "elderly"
    assert ticket["id_masked"] == mask_id(OTHER_ID)
    # a younger citizen: no offer, an ordinary ticket
    read_card(hall, ID_NUMBER)
    home = text(client.get("/kiosk/kiosk-1"))
    assert "k-card-green" not in panel(home)
    token = re.search(r"card=([\w-]+)", home).group(1)
    confirm = text(client.get(f"/kiosk/kiosk-1/lines/A?card={token}", headers=HX))
    client.post("/kiosk/kiosk-1/tickets", data=form_of(confirm, "k-take"), headers=HX)
    assert tickets(hall)[1]["green"] == 0


def test_no_green_offer_without_the_setting(hall):
    client = kiosk(hall)
    read_card(hall, OTHER_ID, birth=(1949, 12, 31))
    card = panel(text(client.get("/kiosk/kiosk-1")))
    assert card and "k-card-green" not in card


@pytest.mark.parametrize(
    "settings, problem",
    [
        ({"green_channel_min_age": 6}, "kiosk.green_channel_min_age: is 6 (expected 50 to 100 years)"),
        ({"green_channel_min_age": "old"}, "kiosk.green_channel_min_age"),
        ({"remember_recent_matter_days": -1}, "kiosk.remember_recent_matter_days: is -1"),
        ({"remember_recent": 30}, "kiosk.remember_recent"),
    ],
)
def test_the_kiosk_settings_are_checked_by_field_name(settings, problem):
    doc = small_hall_doc()
    doc["kiosk"] = settings
    with pytest.raises(ConfigError) as info:
        parse_hall_config(doc, "bad-hall")
    assert problem in str(info.value)


# ---------- used once, stale, faults ----------


def test_a_stale_read_is_ignored(hall, clock):
    book(hall, id_number=ID_NUMBER)
    client = kiosk(hall)
    read_card(hall)
    form = form_of(panel(text(client.get("/kiosk/kiosk-1"))), "k-card-checkin")
    clock.advance(seconds=idcards.FRESH_S + 1)
    assert panel(text(client.get("/kiosk/kiosk-1/idcard-now"))) == ""
    gone = text(client.post("/kiosk/kiosk-1/card/checkin", data=form, headers=HX))
    assert 'id="k-card-gone"' in gone and tickets(hall) == []


def test_a_card_is_used_once_and_a_forged_token_is_refused(hall):
    client = kiosk(hall)
    read_card(hall)
    token = re.search(r"card=([\w-]+)", text(client.get("/kiosk/kiosk-1"))).group(1)
    confirm = text(client.get(f"/kiosk/kiosk-1/lines/A?card={token}", headers=HX))
    form = form_of(confirm, "k-take")
    client.post("/kiosk/kiosk-1/tickets", data=form, headers=HX)
    client.post("/kiosk/kiosk-1/tickets", data=form, headers=HX)  # the same form again: the same ticket
    second = dict(form, key="second-form-key-1")
    gone = text(client.post("/kiosk/kiosk-1/tickets", data=second, headers=HX))
    assert 'id="k-card-gone"' in gone and len(tickets(hall)) == 1
    for bad in ("x", "!" * 20, "A" * 100):
        r = client.post("/kiosk/kiosk-1/tickets", data=dict(form, key=f"k-{len(bad)}-abcdefg", card=bad), headers=HX)
        assert r.status_code == 200 and 'id="k-card-gone"' in text(r)
    r = client.post("/kiosk/kiosk-1/card/checkin", data={"csrf_token": form["csrf_token"], "key": "x"}, headers=HX)
    assert r.status_code == 400
    # a confirm screen asked with a token that is not the read shown carries no card
    assert "k-card-with" not in text(client.get("/kiosk/kiosk-1/lines/A?card=not-the-token-1", headers=HX))


def test_the_domain_refuses_by_name(hall):
    service = service_of(hall)
    try:
        with pytest.raises(card_tickets.CardGone) as info:
            card_tickets.take_with_card(service, "kiosk-1", "no-such-token", line="A", request_key="k" * 10)
        assert info.value.code == "card_gone" and info.value.message_en and info.value.message_zh
    finally:
        service.store.close()
    read_card(hall)
    service = service_of(hall)
    try:
        card = idcards.waiting_card(service.store, "kiosk-1", service.clock.now())
        with pytest.raises(card_tickets.NoBookingForCard):
            card_tickets.check_in_with_card(service, "kiosk-1", card.token, request_key="k" * 10)
        # the refusal rolled back with the ticket: the read is still there for the usual choice
        assert idcards.waiting_card(service.store, "kiosk-1", service.clock.now()) is not None
    finally:
        service.store.close()


def test_the_kiosk_carries_on_when_the_reader_faults(hall):
    from tongban.queue import printing

    store = Store(hall.app.config["DATABASE"])
    try:
        names = printing.device_names(hall.app.config["HALL"])
        printing.record_device_status(
            store, "idcard:kiosk-1", "idcard", "offline", "gone: x", hall.app.config["CLOCK"].now(), names=names
        )
    finally:
        store.close()
    client = kiosk(hall)
    home = text(client.get("/kiosk/kiosk-1"))
    assert panel(home) == "" and 'data-line="A"' in home
    confirm = text(client.get("/kiosk/kiosk-1/lines/A", headers=HX))
    client.post("/kiosk/kiosk-1/tickets", data=form_of(confirm, "k-take"), headers=HX)
    (ticket,) = tickets(hall)
    assert ticket["id_hash"] is None


# ---------- the full number nowhere ----------


def test_the_full_number_is_on_no_page_slip_log_export_or_database(hall, clock, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    book(hall, id_number=ID_NUMBER)
    client = kiosk(hall)
    pages = []
    read_card(hall)
    pages.append(text(client.get("/kiosk/kiosk-1")))
    pages.append(text(client.get("/kiosk/kiosk-1/idcard-now?lang=en")))
    form = form_of(panel(pages[0]), "k-card-checkin")
    pages.append(text(client.post("/kiosk/kiosk-1/card/checkin", data=form, headers=HX)))
    (ticket,) = tickets(hall)
    # the public status page never shows the ID, not even masked
    status = text(client.get(f"/t/{ticket['token']}"))
    assert ticket["number"] in status and "1238" not in status and "3201" not in status
    pages.append(status)
    # the slip's bytes carry neither the number nor its masked form
    service = service_of(hall)
    try:
        slip = build_slip(service, service.ticket(ticket["id"]))
        printer = printer_configs(service.config)["printer-1"]
        data = build_ticket_bytes(printer, slip)
        for form_ in (ID_NUMBER, MASKED, "1238"):
            for encoding in ("ascii", "gb18030", "utf-16-le"):
                assert form_.encode(encoding) not in data
    finally:
        service.store.close()
    from tests.test_staff_pages import staff

    manager = staff(hall, "manager")
    pages.append(text(manager.get("/manage/")))
    day = "2026-11-26"
    for name in ("lines", "appointments", "green"):
        export = manager.get(f"/manage/report/{name}.csv?day={day}")
        assert export.status_code == 200, name
        pages.append(text(export))
    clock.advance(minutes=1)
    store = Store(hall.app.config["DATABASE"])
    try:
        store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        dump = "\n".join(store.conn.iterdump())
    finally:
        store.close()
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for page in pages:
        assert ID_NUMBER not in page
    assert ID_NUMBER not in caplog.text and ID_NUMBER not in dump
    assert ID_NUMBER.encode() not in files and ID_NUMBER.encode("utf-16-le") not in files


def test_an_hour_later_the_read_row_is_gone(hall, clock):
    read_card(hall)
    clock.advance(hours=2)
    read_card(hall)
    store = Store(hall.app.config["DATABASE"])
    try:
        assert store.one("SELECT COUNT(*) FROM card_reads")[0] == 1
    finally:
        store.close()
