"""Appointments (docs/appointments.md): loading rows all or nothing with named problems, the check-in
window, a missed slot, cancelling, and the ID number kept only hashed and masked."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest

from tongban.config import ConfigError, parse_hall_config
from tongban.queue import appointments as appts
from tongban.queue import identity
from tongban.queue.service import HallService

from .conftest import SHANGHAI, small_hall_doc

ID_NUMBER = "320102198001011238"  # a made-up number with a correct check character
OTHER_ID = "11010519491231002X"
PHONE = "13812345678"


def booking(reference="20261126001", start="2026-11-26 09:30", end="2026-11-26 10:00", **extra) -> dict:
    return {"reference": reference, "matter": "M1", "slot_start": start, "slot_end": end, **extra}


def load(service, rows, source="file"):
    return appts.import_rows(service.store, service.config, rows, source=source, now=service.clock.now())


@pytest.fixture
def booked(service):
    """One booking with an ID number and a phone, 09:30–10:00 today (the clock is at 09:00)."""
    service.window_action(1, "open", clerk="clerk1")
    load(service, [booking(id_number=ID_NUMBER, phone=PHONE)])
    return service


# ---------- identity ----------


def test_id_numbers_are_normalized_checked_hashed_with_the_halls_key_and_masked(store):
    assert identity.normalize_id("3201 0219 8001 0112 38") == ID_NUMBER
    assert identity.normalize_id("11010519491231002x") == OTHER_ID
    assert identity.normalize_id("320102198001011239") is None  # wrong check character
    key = bytes.fromhex(store.setting(identity.HASH_KEY_SETTING) or identity.hash_key(store).hex())
    assert len(key) == 32 and identity.hash_key(store) == key  # made once, then kept
    expected = hmac.new(key, ID_NUMBER.encode(), hashlib.sha256).hexdigest()
    assert identity.id_hash(store, "320102-19800101-1238") == expected
    assert identity.mask_id(ID_NUMBER) == "3201**********1238"
    with pytest.raises(ValueError):
        identity.id_hash(store, "123")


# ---------- loading ----------


def test_good_rows_are_booked_masked_and_hashed(service):
    result = load(service, [booking(id_number=ID_NUMBER, phone=PHONE), booking("20261126002", hall="test-hall")])
    assert (result.added, result.unchanged) == (2, 0)
    row = service.store.one("SELECT * FROM appointments WHERE reference = '20261126001'")
    assert row["id_masked"] == "3201**********1238" and row["phone_last4"] == "5678"
    assert row["id_hash"] == identity.id_hash(service.store, ID_NUMBER)
    assert row["slot_start"] == "2026-11-26T01:30:00.000000+00:00" and row["service_day"] == "2026-11-26"
    assert row["state"] == "booked" and row["source"] == "file"
    # The same file again changes nothing.
    assert load(service, [booking(id_number=ID_NUMBER, phone=PHONE)]).unchanged == 1


def test_every_bad_row_is_named_with_its_field_and_nothing_is_written(service):
    rows = [
        booking("20261126001"),
        booking("12", matter="nope"),
        booking("20261126003", start="9点半"),
        booking("20261126004", end="2026-11-26 09:00"),
        booking("20261126005", id_number="320102198001011239", phone="12"),
        booking("20261126006", start="2026-11-26 08:00", end="2026-11-26 08:30"),
        {"reference": "20261126007", "matter": "M1", "slot_start": "2026-11-26 10:00", "colour": "red"},
        booking("20261126001"),
        "not a row",
    ]
    with pytest.raises(appts.InvalidAppointments) as refused:
        load(service, rows)
    found = {(p.row, p.field) for p in refused.value.problems}
    assert found == {
        (2, "reference"),
        (2, "matter"),
        (3, "slot_start"),
        (4, "slot_end"),
        (5, "id_number"),
        (5, "phone"),
        (6, "slot_end"),  # already past at 09:00
        (7, "colour"),
        (7, "slot_end"),  # missing
        (8, "reference"),  # the same reference as row 1
        (9, "(row)"),
    }
    messages = [p.as_dict() for p in refused.value.problems]
    assert messages[0]["message_en"].startswith("row 2, ")
    assert any("expected 4 to 20 digits" in m["message_en"] and "4 到 20 位数字" in m["message_zh"] for m in messages)
    # The mistyped ID number is not repeated back, and no row was written.
    assert "320102198001011239" not in str(refused.value.as_dict())
    assert service.store.one("SELECT COUNT(*) FROM appointments")[0] == 0
    assert refused.value.code == "invalid_appointments"


def test_a_reference_booked_again_with_other_details_is_refused(service):
    load(service, [booking()])
    with pytest.raises(appts.InvalidAppointments) as refused:
        load(service, [booking("20261126009"), booking(start="2026-11-26 10:00", end="2026-11-26 10:30")])
    assert [(p.row, p.field) for p in refused.value.problems] == [(2, "reference")]
    assert service.store.one("SELECT COUNT(*) FROM appointments")[0] == 1  # row 1 was not kept either


# ---------- check-in ----------


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        ("08:59", "checkin_too_early"),  # 31 min before 09:30
        ("09:00", "ok"),  # exactly early_checkin_min (30) before
        ("09:45", "ok"),  # exactly late_checkin_min (15) after the start
        ("09:46", "checkin_too_late"),
    ],
)
def test_check_in_window_edges(booked, clock, at, outcome):
    hh, mm = map(int, at.split(":"))
    clock.set(datetime(2026, 11, 26, hh, mm, tzinfo=SHANGHAI))
    if outcome == "ok":
        appointment, issued = appts.check_in(booked, "20261126001", kiosk="kiosk-1", actor="kiosk-1")
        assert appointment.state == "checked_in" and appointment.ticket_id == issued.ticket.id
        ticket = issued.ticket
        assert ticket.appointment_at == datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)
        assert ticket.matter == "M1" and ticket.id_masked == "3201**********1238"
        assert ticket.id_hash == identity.id_hash(booked.store, ID_NUMBER)
        return
    with pytest.raises(appts.errors.QueueError) as refused:
        appts.check_in(booked, "20261126001", kiosk="kiosk-1")
    assert refused.value.code == outcome
    if outcome == "checkin_too_early":
        assert refused.value.details["opens_at"] == "09:00" and "09:00" in refused.value.message_zh
    else:
        assert "普通号" in refused.value.message_zh and "ordinary ticket" in refused.value.message_en
    assert booked.store.one("SELECT state FROM appointments")["state"] == "booked"
    assert booked.store.one("SELECT COUNT(*) FROM tickets")[0] == 0


def test_a_booking_for_another_day_says_the_date(service, clock):
    load(service, [booking("555555", start="2026-11-27 10:00", end="2026-11-27 10:30")])
    with pytest.raises(appts.CheckinTooEarly) as refused:
        appts.check_in(service, "555555")
    assert refused.value.details["opens_at"] == "2026-11-27 09:30"


def test_check_in_twice_is_refused_but_a_repeated_form_gets_the_same_ticket(booked):
    _, first = appts.check_in(booked, "20261126001", kiosk="kiosk-1", request_key="key-12345678")
    _, again = appts.check_in(booked, "20261126001", kiosk="kiosk-1", request_key="key-12345678")
    assert again.repeated and again.ticket.id == first.ticket.id
    with pytest.raises(appts.AppointmentNotBooked) as refused:
        appts.check_in(booked, "20261126001", kiosk="kiosk-1", request_key="another-key-1")
    assert refused.value.details["state"] == "checked_in" and first.ticket.number in refused.value.message_zh


def test_a_refused_ticket_leaves_the_booking_booked(booked, clock):
    booked.close_line("A", "系统维护 / Maintenance", actor="manager")
    with pytest.raises(appts.errors.LineClosed):
        appts.check_in(booked, "20261126001", kiosk="kiosk-1")
    assert appts.get(booked.store, booked.config, "20261126001").state == "booked"


def test_the_appointment_credit_counts_from_the_slot_start(booked, clock):
    """Checked in early, the ticket waits as any other until its slot starts; from then on the
    policy's appointment credit (20 min) puts it ahead of a walk-in who came 10 min before it."""
    walk_in = booked.take_ticket(line="A").ticket  # 09:00
    clock.set(datetime(2026, 11, 26, 9, 10, tzinfo=SHANGHAI))
    _, issued = appts.check_in(booked, "20261126001", kiosk="kiosk-1")
    clock.set(datetime(2026, 11, 26, 9, 29, tzinfo=SHANGHAI))
    assert booked.people_ahead(issued.ticket) == 1
    clock.set(datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI))
    assert booked.people_ahead(issued.ticket) == 0
    assert booked.call_next(1).id == issued.ticket.id
    booked.window_action(2, "open", clerk="clerk2")
    assert booked.call_next(2).id == walk_in.id


def test_find_for_checkin_by_card_gives_todays_booking_still_open(booked, clock):
    store, config = booked.store, booked.config
    hashed = identity.id_hash(store, ID_NUMBER)
    load(booked, [booking("777777", start="2026-11-26 14:00", end="2026-11-26 14:30", id_number=ID_NUMBER)])
    now = clock.now()
    assert appts.find_for_checkin(store, config, id_hash=hashed, now=now).reference == "20261126001"
    assert appts.find_for_checkin(store, config, id_hash=identity.id_hash(store, OTHER_ID), now=now) is None
    clock.set(datetime(2026, 11, 26, 9, 46, tzinfo=SHANGHAI))  # the morning's check-in closed
    assert appts.find_for_checkin(store, config, id_hash=hashed, now=clock.now()).reference == "777777"
    assert appts.find_for_checkin(store, config, reference="20261126001", now=now).state == "booked"
    assert appts.find_for_checkin(store, config, reference="999999", now=now) is None
    assert appts.find_for_checkin(store, config, reference="abc", now=now) is None


# ---------- missed, cancelled ----------


def test_a_missed_slot_becomes_a_no_show_at_its_end_plus_the_late_minutes(booked, clock):
    store, config = booked.store, booked.config
    clock.set(datetime(2026, 11, 26, 10, 14, 59, tzinfo=SHANGHAI))
    assert appts.mark_missed(store, config, clock.now()) == 0
    clock.set(datetime(2026, 11, 26, 10, 15, tzinfo=SHANGHAI))  # 10:00 + 15 min
    assert appts.mark_missed(store, config, clock.now()) == 1
    assert appts.get(store, config, "20261126001").state == "no_show"
    with pytest.raises(appts.AppointmentNotBooked) as refused:
        appts.check_in(booked, "20261126001")
    assert refused.value.code == "appointment_not_booked"


def test_a_cancelled_booking_cannot_be_checked_in_or_missed(booked, clock):
    store, config = booked.store, booked.config
    assert appts.cancel(store, config, "20261126001", now=clock.now()).state == "cancelled"
    with pytest.raises(appts.AppointmentNotBooked):
        appts.check_in(booked, "20261126001")
    with pytest.raises(appts.AppointmentNotBooked):
        appts.cancel(store, config, "20261126001", now=clock.now())
    clock.set(datetime(2026, 11, 26, 12, 0, tzinfo=SHANGHAI))
    assert appts.mark_missed(store, config, clock.now()) == 0
    with pytest.raises(appts.UnknownAppointment):
        appts.cancel(store, config, "404404", now=clock.now())


def test_day_slots_and_counts(booked, clock):
    store, config = booked.store, booked.config
    load(booked, [booking("20261126002"), booking("20261126003", start="2026-11-26 14:00", end="2026-11-26 14:30")])
    appts.check_in(booked, "20261126001", kiosk="kiosk-1")
    appts.cancel(store, config, "20261126003", now=clock.now())
    clock.set(datetime(2026, 11, 26, 10, 30, tzinfo=SHANGHAI))
    appts.mark_missed(store, config, clock.now())
    slots = appts.day_slots(store, config, "2026-11-26")
    assert [(s["start"], s["end"], s["checked_in"], s["no_show"], s["cancelled"]) for s in slots] == [
        ("09:30", "10:00", 1, 1, 0),
        ("14:00", "14:30", 0, 0, 1),
    ]
    assert slots[0]["bookings"][0]["id_masked"] == "3201**********1238"
    assert slots[0]["bookings"][0]["ticket_number"] == "A001"
    assert appts.day_counts(store, config, "2026-11-26") == {
        "booked": 2,
        "checked_in": 1,
        "no_show": 1,
        "cancelled": 1,
    }


# ---------- the hall file ----------


def test_checkin_minutes_come_from_the_hall_file_and_are_checked_by_name():
    doc = small_hall_doc()
    assert parse_hall_config(doc).appointments.early_checkin_min == 30
    doc["appointments"] = {"early_checkin_min": 10, "late_checkin_min": 5}
    config = parse_hall_config(doc)
    assert (config.appointments.early_checkin_min, config.appointments.late_checkin_min) == (10, 5)
    doc["appointments"] = {"early_checkin_min": -1, "late_checkin_min": "5", "lateness": 3}
    with pytest.raises(ConfigError) as refused:
        parse_hall_config(doc)
    text = str(refused.value)
    assert "appointments.early_checkin_min: is -1 (expected 0 to 240 minutes)" in text
    assert "appointments.late_checkin_min" in text and "appointments.lateness: unknown key" in text


def test_a_different_window_from_the_hall_file_moves_the_edges(tmp_path, clock):
    from tongban.queue.store import Store

    doc = small_hall_doc()
    doc["appointments"] = {"early_checkin_min": 10, "late_checkin_min": 0}
    store = Store(tmp_path / "w.db")
    service = HallService(store, parse_hall_config(doc), clock)
    service.sync_with_config()
    load(service, [booking()])
    with pytest.raises(appts.CheckinTooEarly):
        appts.check_in(service, "20261126001")  # 09:00 is 30 min before; only 10 allowed
    clock.set(datetime(2026, 11, 26, 9, 30, 1, tzinfo=SHANGHAI))
    with pytest.raises(appts.CheckinTooLate):
        appts.check_in(service, "20261126001")
    store.close()


# ---------- the full number is nowhere ----------


def test_the_full_id_number_and_phone_are_in_no_table_page_export_or_log(tmp_path, clock, caplog):
    """Book by the API with an ID number and a phone, check in at the kiosk, then look everywhere a
    person or a file could see it: every table of the database, the pages, the CSV exports, the logs."""
    import logging
    import re
    import sqlite3

    from .apiclient import make_hall_client
    from .test_kiosk import kiosk

    caplog.set_level(logging.DEBUG)
    hall = make_hall_client(tmp_path, parse_hall_config(small_hall_doc()), clock)
    manager = hall.login("manager")
    rows = [booking(id_number=ID_NUMBER, phone=PHONE), booking("20261126002", id_number="3201 0219 8001 0112 38")]
    assert hall.call("POST", "/appointments", manager, json={"appointments": rows}).status_code == 201
    bad = [booking("20261126009", id_number=ID_NUMBER[:-1] + "9")]  # a mistyped number is not repeated back
    assert ID_NUMBER[:-1] not in hall.call("POST", "/appointments", manager, json={"appointments": bad}).get_data(
        as_text=True
    )
    client = kiosk(hall)
    found = client.get("/kiosk/kiosk-1/appointment/found?ref=20261126001").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', found[found.index("k-take") :]))
    seen = [found, client.post("/kiosk/kiosk-1/appointment/checkin", data=form).get_data(as_text=True)]

    database = sqlite3.connect(hall.app.config["DATABASE"])
    tables = [r[0] for r in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert "appointments" in tables
    for table in tables:
        seen.append(f"{table}: {database.execute(f'SELECT * FROM {table}').fetchall()}")
    token, ticket_id = database.execute("SELECT token, id FROM tickets").fetchone()
    database.close()

    staff = hall.app.test_client()
    page = staff.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    staff.post("/login", data={"username": "manager", "password": "correct-horse", "csrf_token": csrf})
    appointments_page = staff.get("/manage/appointments")
    assert appointments_page.status_code == 200
    seen.append(appointments_page.get_data(as_text=True))
    assert "3201**********1238" in seen[-1] and "*******5678" in seen[-1]
    report = staff.get("/manage/report")
    seen.append(report.get_data(as_text=True))
    assert 'id="table-appointments"' in seen[-1]
    from tongban.queue.reports import COLUMNS

    for name in COLUMNS:
        seen.append(staff.get(f"/manage/report/{name}.csv").get_data(as_text=True))
    seen.append(staff.get("/manage/").get_data(as_text=True))
    seen.append(hall.http.get(f"/t/{token}").get_data(as_text=True))
    seen.append(hall.call("GET", f"/tickets/{ticket_id}", manager).get_data(as_text=True))
    seen.append(caplog.text)
    everything = "\n".join(seen)
    for secret in (ID_NUMBER, "3201021980010", PHONE, "1381234"):
        assert secret not in everything, secret
    status_page = hall.http.get(f"/t/{token}").get_data(as_text=True)
    assert "3201**" not in status_page and "hash" not in status_page  # /t/ shows not even the masked form


def test_the_devices_process_marks_missed_slots_each_minute(tmp_path, clock):
    from tongban.devices.process import APPOINTMENTS_INTERVAL_S, DevicesProcess
    from tongban.queue.store import Store

    config = parse_hall_config(small_hall_doc())
    proc = DevicesProcess(config, str(tmp_path / "d.db"), clock)
    proc.schedule()
    job = proc.scheduler.get_job("appointments")
    assert job is not None and job.trigger.interval.total_seconds() == APPOINTMENTS_INTERVAL_S == 60
    store = Store(tmp_path / "d.db")
    appts.import_rows(store, config, [booking()], source="file", now=clock.now())
    assert proc.appointments_missed() == 0
    clock.set(datetime(2026, 11, 26, 10, 15, tzinfo=SHANGHAI))
    assert proc.appointments_missed() == 1
    assert appts.get(store, config, "20261126001").state == "no_show"
    store.close()
