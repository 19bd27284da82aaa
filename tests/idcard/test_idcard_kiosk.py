"""The kiosk's notice of a card just read: from card_reads through the page, masked, gone when stale."""

from __future__ import annotations

from tests.apiclient import make_hall_client
from tests.conftest import small_hall_doc
from tongban.config import parse_hall_config
from tongban.idcard.demo import demo_cards
from tongban.queue import idcards
from tongban.queue.store import Store

ELDERLY = demo_cards()["elderly"]


def hall_client(tmp_path, clock, idcard="dummy://?card=elderly"):
    doc = small_hall_doc()
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机 / Kiosk 1", "idcard": idcard}]
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "idcard-hall"), clock)
    client = hall.app.test_client()
    assert client.get(f"/enrol?token={hall.kiosk}").status_code == 302
    return hall, client


def read_card(hall, clock):
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
    finally:
        store.close()


def test_the_home_screen_says_a_card_was_read_masked(tmp_path, clock):
    hall, client = hall_client(tmp_path, clock)
    home = client.get("/kiosk/kiosk-1").get_data(as_text=True)
    assert 'sse-swap="idcard"' in home and "k-idcard-read" not in home
    read_card(hall, clock)
    for path in ("/kiosk/kiosk-1", "/kiosk/kiosk-1/idcard-now", "/kiosk/kiosk-1/idcard-now?lang=en&elder=1"):
        page = client.get(path).get_data(as_text=True)
        assert "k-idcard-read" in page, path
        assert f"{ELDERLY.name[0]}**" in page
        assert ELDERLY.name not in page and ELDERLY.id_number not in page and "0020" not in page


def test_the_notice_goes_when_the_read_is_stale_or_used(tmp_path, clock):
    hall, client = hall_client(tmp_path, clock)
    read_card(hall, clock)
    clock.advance(seconds=idcards.FRESH_S + 1)
    assert "k-idcard-read" not in client.get("/kiosk/kiosk-1/idcard-now").get_data(as_text=True)
    read_card(hall, clock)
    store = Store(hall.app.config["DATABASE"])
    try:
        assert idcards.latest_card(store, "kiosk-1", clock.now()) is not None
    finally:
        store.close()
    assert "k-idcard-read" not in client.get("/kiosk/kiosk-1/idcard-now").get_data(as_text=True)


def test_a_kiosk_without_a_reader_shows_no_notice(tmp_path, clock):
    doc = small_hall_doc()
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "no-reader"), clock)
    client = hall.app.test_client()
    assert client.get(f"/enrol?token={hall.kiosk}").status_code == 302
    read_card(hall, clock)  # a row for a kiosk the hall file gives no reader: not shown
    assert "k-idcard-read" not in client.get("/kiosk/kiosk-1/idcard-now").get_data(as_text=True)


def test_the_manager_sees_the_reader_in_words(tmp_path, clock):
    import re

    from tests.test_staff_pages import staff
    from tongban.queue import printing

    hall, _ = hall_client(tmp_path, clock)
    page = staff(hall, "manager").get("/manage/").get_data(as_text=True)
    assert 'data-device="idcard:kiosk-1"' in page  # configured, not reported yet: no report yet
    store = Store(hall.app.config["DATABASE"])
    try:
        names = printing.device_names(hall.app.config["HALL"])
        printing.record_device_status(store, "idcard:kiosk-1", "idcard", "offline", "gone: x", clock.now(), names=names)
    finally:
        store.close()
    page = staff(hall, "manager").get("/manage/").get_data(as_text=True)
    devices = page[page.index('class="device-table"') :]
    readable = re.sub(r"<[^>]+>", " ", devices[: devices.index("</table>")])
    assert "身份证阅读器 1号取号机" in readable and "离线" in readable and "idcard:" not in readable
