"""The reader worker end to end: fake reader → devices-process thread → card_reads → the kiosk side.

Each test waits for a condition (a row, a state, a number of polls the fake heard), never for time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.conftest import small_hall_doc, wait_for
from tests.tools.fake_idcard import FakeReader
from tongban.config import ConfigError, parse_hall_config
from tongban.devices import idcard_worker
from tongban.devices.idcard_worker import CardReaderWorker, card_reader_workers
from tongban.idcard.demo import demo_cards
from tongban.queue import idcards, printing
from tongban.queue.store import Store

CARDS = demo_cards()
ELDERLY, YOUNG = CARDS["elderly"], CARDS["young"]


def hall_with_reader(url="dummy://?card=elderly"):
    doc = small_hall_doc()
    doc["kiosks"] = [
        {"id": "k1", "name": "一楼取号机 / Ground floor kiosk", "idcard": url},
        {"id": "k2", "name": "二楼取号机 / First floor kiosk"},
    ]
    return parse_hall_config(doc, "small-hall")


@pytest.fixture
def hall():
    return hall_with_reader()


@pytest.fixture
def fake():
    return FakeReader(None)


@pytest.fixture
def worker(tmp_path, store, hall, clock, fake):
    w = CardReaderWorker(
        hall.kiosks[0],
        str(tmp_path / "hall.db"),
        hall,
        clock,
        opener=fake.opener,
        poll_s=0.005,
        backoff_min_s=0.01,
        backoff_max_s=0.05,
    )
    w.start()
    yield w
    w.stop()


def reads(store) -> list[dict]:
    return [dict(r) for r in store.all("SELECT * FROM card_reads ORDER BY id")]


def status(store, device="idcard:k1"):
    row = store.one("SELECT state FROM device_status WHERE device = ?", (device,))
    return row["state"] if row else None


def polls_after(fake, n=5):
    """Until the worker has polled `n` more times: whatever it was going to do, it has done."""
    start = fake.finds()
    assert wait_for(lambda: fake.finds() >= start + n)


def test_only_kiosks_with_a_reader_get_a_worker(tmp_path, hall, clock):
    workers = card_reader_workers(hall, str(tmp_path / "hall.db"), clock)
    assert [w.kiosk.id for w in workers] == ["k1"]


def test_a_card_put_down_reaches_the_kiosk_once(worker, fake, store, clock):
    polls_after(fake)
    assert reads(store) == []
    assert status(store) == "ok"
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 1)
    polls_after(fake, 10)  # the card stays on the reader: no second read
    assert len(reads(store)) == 1
    row = reads(store)[0]
    assert row["id_masked"] == "3201**********0020"
    assert row["name_masked"] == ELDERLY.name[0] + "**"
    assert row["birth_date"] == "1948-03-15"
    assert row["id_hash"] == idcards.id_hash(store, ELDERLY.id_number)

    seen = idcards.latest_card(store, "k1", clock.now())
    assert seen is not None and seen.id_masked == "3201**********0020" and seen.age(clock.now().date()) == 78
    assert idcards.latest_card(store, "k1", clock.now()) is None  # used once
    assert idcards.latest_card(store, "k2", clock.now()) is None  # another kiosk's


def test_one_read_per_placement(worker, fake, store, monkeypatch):
    monkeypatch.setattr(idcard_worker, "REREAD_S", 0.0)
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 1)
    fake.lift()
    polls_after(fake)
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 2)
    fake.lift()
    polls_after(fake)
    fake.place(YOUNG)
    assert wait_for(lambda: len(reads(store)) == 3)
    # the earlier unused reads were superseded: only the card on the reader now is waiting
    assert [r["consumed_at"] is None for r in reads(store)] == [False, False, True]


def test_the_same_card_flickering_is_not_read_again(worker, fake, store):
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 1)
    fake.lift()
    polls_after(fake, 2)
    fake.place(ELDERLY)
    polls_after(fake, 10)
    assert len(reads(store)) == 1


def test_stale_reads_are_not_handed_out(worker, fake, store, clock):
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 1)
    later = clock.now() + timedelta(seconds=idcards.FRESH_S + 1)
    assert idcards.waiting_card(store, "k1", later) is None
    assert idcards.latest_card(store, "k1", later) is None


def test_a_token_takes_only_the_read_the_page_showed(worker, fake, store, clock):
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 1)
    shown = idcards.waiting_card(store, "k1", clock.now())
    assert shown is not None
    assert idcards.latest_card(store, "k1", clock.now(), token="not-it") is None
    taken = idcards.latest_card(store, "k1", clock.now(), token=shown.token)
    assert taken is not None and taken.id == shown.id


def test_a_vanished_reader_raises_one_alert_and_comes_back(worker, fake, store, hall):
    polls_after(fake)
    fake.unplug()
    assert wait_for(lambda: status(store) == "offline")
    alerts = [a for a in printing.open_alerts(store) if a["device"] == "idcard:k1"]
    assert len(alerts) == 1
    assert "身份证阅读器" in alerts[0]["message_zh"] and "ID-card reader" in alerts[0]["message_en"]
    opens = fake.opens
    fake.plug()
    assert wait_for(lambda: status(store) == "ok")
    assert fake.opens == opens + 1
    fake.place(YOUNG)
    assert wait_for(lambda: len(reads(store)) == 1)
    assert len([a for a in printing.open_alerts(store) if a["device"] == "idcard:k1"]) == 1


def test_a_reader_absent_at_start_is_retried(tmp_path, store, hall, clock, fake):
    fake.unplug()
    w = CardReaderWorker(hall.kiosks[0], str(tmp_path / "hall.db"), hall, clock, opener=fake.opener, poll_s=0.005)
    w.backoff_s = w.backoff_min_s = 0.01
    w.start()
    try:
        assert wait_for(lambda: status(store) == "offline")
        fake.plug()
        fake.place(ELDERLY)
        assert wait_for(lambda: len(reads(store)) == 1)
    finally:
        w.stop()


@pytest.mark.parametrize("fault", ["read_error", "bad_check", "garbage"])
def test_repeated_read_errors_make_the_reader_faulty(worker, fake, store, fault):
    fake.place(ELDERLY)
    fake.fault = fault
    assert wait_for(lambda: status(store) == "read_error")
    assert reads(store) == []
    fake.fault = None
    assert wait_for(lambda: len(reads(store)) == 1)
    assert status(store) == "ok"


def test_a_card_moved_while_selected_is_not_a_fault(worker, fake, store):
    fake.place(ELDERLY)
    fake.fault = "select_failed"
    polls_after(fake, 10)
    assert status(store) == "ok"
    fake.fault = None
    assert wait_for(lambda: len(reads(store)) == 1)


def test_the_full_number_is_nowhere(tmp_path, worker, fake, store, caplog, clock):
    """Logs, the database file and its WAL, the device states and alerts: no full ID number."""
    caplog.set_level(logging.DEBUG)
    fake.place(ELDERLY)
    assert wait_for(lambda: len(reads(store)) == 1)
    fake.fault = "bad_check"
    fake.lift()
    fake.place(YOUNG)
    assert wait_for(lambda: status(store) == "read_error")
    fake.unplug()
    assert wait_for(lambda: status(store) == "offline")
    idcards.latest_card(store, "k1", clock.now())
    store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    dump = "\n".join(store.conn.iterdump())
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for card in (ELDERLY, YOUNG):
        assert card.id_number not in caplog.text
        assert card.id_number not in dump
        assert card.id_number.encode() not in files
        assert card.id_number.encode("utf-16-le") not in files
        assert card.name not in caplog.text and card.name not in dump


def test_config_names_the_field_of_a_bad_reader_url():
    with pytest.raises(ConfigError) as info:
        hall_with_reader("serial:///dev/ttyUSB1?baudrate=12345")
    assert "kiosks[0].idcard: baudrate='12345' is not allowed" in str(info.value)


def test_two_kiosks_cannot_share_a_port():
    doc = small_hall_doc()
    doc["kiosks"] = [
        {"id": "k1", "name": "1", "idcard": "serial:///dev/ttyUSB1"},
        {"id": "k2", "name": "2", "idcard": "serial:///dev/ttyUSB1"},
    ]
    with pytest.raises(ConfigError) as info:
        parse_hall_config(doc, "small-hall")
    assert "kiosks[1].idcard: duplicate ID-card reader URL" in str(info.value)


def test_a_store_opened_by_another_process_sees_the_read(worker, fake, tmp_path, clock):
    """The web's connection, not the worker's: what the kiosk's live stream reads."""
    web = Store(str(tmp_path / "hall.db"), migrate=False)
    try:
        fake.place(ELDERLY)
        assert wait_for(lambda: idcards.waiting_card(web, "k1", clock.now()) is not None)
    finally:
        web.close()
