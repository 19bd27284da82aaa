"""A window's own ID-card reader (docs/idcard.md#at-the-window): the clerk console shows the called
ticket's masked ID, and a case is opened with the number read again from the card at the window.
The number reaches the case's record and nothing else: not the page, not the log, and not the read
row once used or stale."""

from __future__ import annotations

import logging
import re

import pytest

from tests.apiclient import make_hall_client
from tests.conftest import small_hall_doc
from tests.test_cases_pages import PHONE_1, Desk, served_ticket
from tongban.config import ConfigError, parse_hall_config
from tongban.devices.idcard_worker import card_reader_workers, reader_places
from tongban.idcard.demo import demo_cards
from tongban.queue import cases as domain
from tongban.queue import idcards, printing
from tongban.queue.store import Store

ELDERLY = demo_cards()["elderly"]
MASKED = "3201**********0020"


def window_hall_doc():
    doc = small_hall_doc()
    doc["windows"][0]["idcard"] = "dummy://?card=elderly"
    return doc


@pytest.fixture
def hall(tmp_path, clock):
    return make_hall_client(tmp_path, parse_hall_config(window_hall_doc(), "window-reader-hall"), clock)


def read_at_window(hall, number=1, card=ELDERLY):
    """What the devices process's worker for window 1's reader does on a read."""
    store = Store(hall.app.config["DATABASE"])
    try:
        return idcards.record_read(
            store,
            idcards.window_reader(number),
            id_number=card.id_number,
            name=card.name,
            sex=card.sex,
            birth_date=card.birth_date,
            now=hall.app.config["CLOCK"].now(),
        )
    finally:
        store.close()


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def full_values(hall) -> list:
    store = Store(hall.app.config["DATABASE"])
    try:
        return [tuple(r) for r in store.all("SELECT id_number, name FROM card_reads WHERE id_number IS NOT NULL")]
    finally:
        store.close()


def test_a_case_opened_with_the_card_at_the_window(hall, caplog):
    caplog.set_level(logging.DEBUG)
    ticket_id = served_ticket(hall, "M2")
    desk = Desk(hall, "clerk1", window=1)
    page = desk.client.get(f"/cases/new?ticket={ticket_id}").get_data(as_text=True)
    assert 'id="case-card"' in page and 'data-card="read"' not in page  # a reader, no card yet
    read_at_window(hall)
    # "Read the card" asks the form again: the card shows masked, its number is not on the page
    form = {"csrf_token": csrf(page), "ticket": str(ticket_id), "read_card": "1"}
    again = desk.client.post("/cases/new", data=form).get_data(as_text=True)
    assert 'data-card="read"' in again and MASKED in again and "王**" in again
    assert ELDERLY.id_number not in again and ELDERLY.name not in again
    token = re.search(r'name="card" value="([^"]+)"', again).group(1)
    # a form refused for another field (no phone) leaves the read for the next try
    refused = desk.client.post("/cases/new", data={"csrf_token": csrf(again), "ticket": str(ticket_id), "card": token})
    assert refused.status_code == 422 and ELDERLY.id_number not in refused.get_data(as_text=True)
    opened = desk.client.post(
        "/cases/new",
        data={
            "csrf_token": csrf(again),
            "ticket": str(ticket_id),
            "card": token,
            "phone": PHONE_1,
            "material_0": "on",
        },
    )
    assert opened.status_code == 303, opened.get_data(as_text=True)[:2000]
    case_id = int(re.search(r"/cases/(\d+)", opened.headers["Location"]).group(1))
    store = Store(hall.app.config["DATABASE"])
    try:
        case = domain.get(store, case_id)
        assert case.id_number == ELDERLY.id_number and case.applicant_name == ELDERLY.name  # name from the card
        # the read is used up and keeps the number no longer
        assert idcards.waiting_card(store, "window:1", hall.app.config["CLOCK"].now()) is None
    finally:
        store.close()
    assert full_values(hall) == []
    # as with a typed number: in full on the case page only (each view logged, docs/cases.md), not
    # in the list
    listing = desk.client.get("/cases").get_data(as_text=True)
    assert ELDERLY.id_number not in listing
    assert ELDERLY.id_number not in caplog.text
    # the same token again: the read is gone, said on the ID field, no second case
    twice = desk.client.post(
        "/cases/new", data={"csrf_token": csrf(again), "matter": "M2", "card": token, "phone": PHONE_1}
    )
    assert twice.status_code == 422 and "重新放卡" in twice.get_data(as_text=True)


def test_a_clerk_at_a_window_without_a_reader_types_the_number(hall):
    ticket_id = served_ticket(hall, "M3")  # window 2, no reader
    desk = Desk(hall, "clerk2", window=2)
    page = desk.client.get(f"/cases/new?ticket={ticket_id}").get_data(as_text=True)
    assert 'id="case-card"' not in page and 'name="id_number"' in page
    read_at_window(hall, number=1)  # window 1's card is not window 2's
    forged = desk.client.post(
        "/cases/new", data={"csrf_token": csrf(page), "ticket": str(ticket_id), "read_card": "1"}
    ).get_data(as_text=True)
    assert MASKED not in forged


def test_a_stale_window_read_forgets_the_number(hall, clock):
    read_at_window(hall)
    assert len(full_values(hall)) == 1
    store = Store(hall.app.config["DATABASE"])
    try:
        assert idcards.forget_full_reads(store, clock.now()) == 0  # fresh: kept for its case
        clock.advance(seconds=idcards.FRESH_S + 1)
        assert idcards.forget_full_reads(store, clock.now()) == 1
    finally:
        store.close()
    assert full_values(hall) == []


def test_a_kiosk_read_never_keeps_the_number(hall, clock):
    store = Store(hall.app.config["DATABASE"])
    try:
        idcards.record_read(
            store,
            "kiosk-1",
            id_number=ELDERLY.id_number,
            name=ELDERLY.name,
            sex=ELDERLY.sex,
            birth_date=ELDERLY.birth_date,
            now=clock.now(),
        )
        assert idcards.take_window_read(store, "kiosk-1", clock.now(), "x" * 16) is None
    finally:
        store.close()
    assert full_values(hall) == []


def test_the_console_shows_the_called_tickets_masked_id(hall):
    from tests.test_staff_pages import staff
    from tongban.queue.service import HallService

    store = Store(hall.app.config["DATABASE"])
    service = HallService(store, hall.app.config["HALL"], hall.app.config["CLOCK"])
    try:
        service.window_action(1, "open", clerk="clerk1")
        service.take_ticket(line="A", kiosk="kiosk-1", id_hash="h" * 64, id_masked=MASKED)
    finally:
        store.close()
    clerk = staff(hall, "clerk1", window=1)
    clerk.post("/window/1/next")
    page = clerk.get("/window/1").get_data(as_text=True)
    assert "data-id-masked" in page and MASKED in page and ELDERLY.id_number not in page


def test_the_devices_process_runs_a_worker_for_the_windows_reader(hall):
    config = hall.app.config["HALL"]
    places = reader_places(config)
    assert [p.id for p in places] == ["window:1"]
    (worker,) = card_reader_workers(config, hall.app.config["DATABASE"], hall.app.config["CLOCK"])
    assert worker.device == "idcard:window:1"
    assert printing.device_names(config)["idcard:window:1"][0] == "身份证阅读器 1号窗口"
    from tests.test_staff_pages import staff

    page = staff(hall, "manager").get("/manage/").get_data(as_text=True)
    assert 'data-device="idcard:window:1"' in page and "身份证阅读器 1号窗口" in page


def test_a_windows_reader_url_is_checked_and_its_port_not_shared():
    doc = window_hall_doc()
    doc["windows"][0]["idcard"] = "serial:///dev/ttyUSB1?baudrate=12345"
    with pytest.raises(ConfigError) as info:
        parse_hall_config(doc, "bad")
    assert "windows[0].idcard: baudrate='12345' is not allowed" in str(info.value)
    doc["windows"][0]["idcard"] = "serial:///dev/ttyUSB1"
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1", "idcard": "serial:///dev/ttyUSB1"}]
    with pytest.raises(ConfigError) as info:
        parse_hall_config(doc, "bad")
    assert "kiosks[0].idcard: duplicate ID-card reader URL" in str(info.value)
