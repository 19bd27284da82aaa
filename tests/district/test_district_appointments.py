"""Appointments from the district (docs/district.md "Appointments", docs/appointments.md "From the
district"): imported at the district, pulled by their own hall through the real district app on
127.0.0.1, checked in there; never seen by another hall; cancelled from the district; and the full ID
number and phone gone from the district once the hall has acknowledged them."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner

from tongban.devices import appointments_pull, catalogue_pull
from tongban.devices.district_client import DistrictClient, DistrictUnavailable
from tongban.devices.process import DevicesProcess
from tongban.district import appointments as district_appointments
from tongban.district.app import create_district_app
from tongban.district.cli import district
from tongban.queue import appointments, appointments_feed, identity
from tongban.queue.store import Store

from ._district import add_hall, serving

ID_NUMBER = "320102198001011238"  # made up, with a correct check character
OTHER_ID = "11010519491231002X"
PHONE = "13812345678"
OTHER_PHONE = "13987654321"


def booking(reference: str, hall: str = "test-hall", **extra) -> dict:
    """A booking for today 09:30–10:00 (the test clock is at 09:00, Shanghai)."""
    return {
        "hall": hall,
        "reference": reference,
        "matter": "M1",
        "slot_start": "2026-11-26 09:30",
        "slot_end": "2026-11-26 10:00",
        **extra,
    }


def district_import(url: str, rows: list, clock) -> district_appointments.ImportResult:
    with psycopg.connect(url) as conn:
        return district_appointments.import_rows(conn, rows, now=clock.now())


@pytest.fixture
def hall(service, hall_config):
    """The hall's database, its hall file installed as the devices process does, a window open."""
    catalogue_pull.install(hall_config, service.store.path)
    service.window_action(1, "open", clerk="clerk1")
    return service


def pull(base_url: str, token: str, hall, clock) -> None:
    store = Store(hall.store.path, migrate=False)
    try:
        appointments_pull.exchange(DistrictClient(base_url, token), store, clock)
    finally:
        store.close()


def hall_rows(hall) -> list[dict]:
    return [dict(r) for r in hall.store.all("SELECT * FROM appointments ORDER BY reference")]


def everything_at_the_district(url: str) -> str:
    """Every column of every row of every table of the district, as one text to search."""
    out = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                " AND table_type = 'BASE TABLE'"
            )
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # names from the catalog
                out.append(" ".join(str(v) for v in row))
    return "\n".join(out)


def test_a_booking_from_the_district_is_pulled_by_its_hall_and_checked_in(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    add_hall(district_url, "street-2")
    result = district_import(
        district_url,
        [
            booking("20261126001", id_number=ID_NUMBER, phone=PHONE),
            booking("20261126002"),
            booking("20261126003", hall="street-2", id_number=OTHER_ID, phone=OTHER_PHONE),
        ],
        clock,
    )
    assert result.as_dict() == {"added": 3, "unchanged": 0, "halls": {"street-2": 1, "test-hall": 2}}

    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
    rows = hall_rows(hall)
    # Only this hall's bookings, loaded by the hall's own import with the hall's own keyed hash.
    assert [r["reference"] for r in rows] == ["20261126001", "20261126002"]
    first = rows[0]
    assert first["source"] == "district" and first["state"] == "booked"
    assert first["id_masked"] == "3201**********1238" and first["phone_last4"] == "5678"
    assert first["id_hash"] == identity.id_hash(hall.store, ID_NUMBER)
    store = hall.store
    assert store.one("SELECT value FROM settings WHERE key = ?", (appointments_feed.CURSOR,))["value"] == "2"
    assert appointments_feed.acked(store) == 2

    # The card on the reader finds it; check-in issues the ticket with the slot's start.
    found = appointments.find_for_checkin(
        store, hall.config, id_hash=identity.id_hash(store, ID_NUMBER), now=clock.now()
    )
    assert found is not None and found.reference == "20261126001"
    booked, issued = appointments.check_in(hall, "20261126001", kiosk="kiosk-1")
    assert booked.state == "checked_in" and issued.ticket.id == booked.ticket_id

    # The hall's file holds neither full number, in any table.
    dump = "\n".join(store.conn.iterdump())
    assert ID_NUMBER not in dump and PHONE not in dump and OTHER_ID not in dump


def test_another_hall_never_sees_it_nor_acks_it(district_url, clock):
    token = add_hall(district_url, "test-hall")
    other = add_hall(district_url, "street-2")
    district_import(district_url, [booking("20261126001", id_number=ID_NUMBER, phone=PHONE)], clock)
    http = create_district_app(district_url, clock=clock).test_client()
    seen = http.get("/api/v1/appointments?since=0", headers={"Authorization": f"Bearer {other}"})
    assert seen.status_code == 200 and seen.get_json() == {"appointments": [], "next": 0, "more": False, "last": 0}
    # Acknowledging "up to 1" for street-2 touches only street-2's rows (it has none: refused as past its last).
    answer = http.post("/api/v1/appointments/ack", json={"upto": 1}, headers={"Authorization": f"Bearer {other}"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "bad_request"
    assert ID_NUMBER in everything_at_the_district(district_url)
    mine = http.get("/api/v1/appointments?since=0", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [r["reference"] for r in mine["appointments"]] == ["20261126001"]
    assert http.get("/api/v1/appointments?since=0").status_code == 401


def test_after_the_ack_the_district_holds_no_full_id_number_or_phone(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    add_hall(district_url, "street-2")
    district_import(
        district_url,
        [
            booking("20261126001", id_number=ID_NUMBER, phone=PHONE),
            # Another hall that never asks: its booking's personal data goes when the slot is over.
            booking("20261126009", hall="street-2", id_number=OTHER_ID, phone=OTHER_PHONE),
        ],
        clock,
    )
    before = everything_at_the_district(district_url)
    assert ID_NUMBER in before and PHONE in before
    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
        after = everything_at_the_district(district_url)
        assert ID_NUMBER not in after and PHONE not in after
        assert "3201**********1238" in after and "5678" in after  # masked forms stay for district staff
        assert OTHER_ID in after  # street-2 has not asked yet, and its slot is not over
        clock.advance(hours=1, minutes=1)  # 10:01: every slot of this morning is over
        pull(base_url, token, hall, clock)
    gone = everything_at_the_district(district_url)
    assert OTHER_ID not in gone and OTHER_PHONE not in gone and ID_NUMBER not in gone

    listed = CliRunner().invoke(district, ["appointments", "list", "--db", district_url])
    assert listed.exit_code == 0, listed.output
    assert "3201**********1238" in listed.output and ID_NUMBER not in listed.output and PHONE not in listed.output


def test_a_cancellation_at_the_district_reaches_the_hall(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    district_import(district_url, [booking("20261126001"), booking("20261126002"), booking("20261126003")], clock)
    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
        appointments.check_in(hall, "20261126003", kiosk="kiosk-1")
        runner = CliRunner()
        for reference in ("20261126001", "20261126003"):
            done = runner.invoke(
                district, ["appointments", "cancel", reference, "--hall", "test-hall", "--db", district_url]
            )
            assert done.exit_code == 0 and "已取消" in done.output, done.output
        again = runner.invoke(
            district, ["appointments", "cancel", "20261126001", "--hall", "test-hall", "--db", district_url]
        )
        assert again.exit_code == 0 and "cancelled already" in again.output
        unknown = runner.invoke(
            district, ["appointments", "cancel", "999999", "--hall", "test-hall", "--db", district_url]
        )
        assert unknown.exit_code == 1 and "no booking with reference 999999" in unknown.output
        pull(base_url, token, hall, clock)
    states = {r["reference"]: r["state"] for r in hall_rows(hall)}
    # The checked-in citizen keeps the ticket: the hall's manager is told instead.
    assert states == {"20261126001": "cancelled", "20261126002": "booked", "20261126003": "checked_in"}
    alert = hall.store.one("SELECT * FROM alerts WHERE kind = ?", (appointments_feed.ALERT_KIND,))
    assert "20261126003" in alert["message_zh"] and "已签到" in alert["message_zh"]
    with pytest.raises(appointments.AppointmentNotBooked):
        appointments.check_in(hall, "20261126001", kiosk="kiosk-1")


def test_a_bad_row_is_recorded_for_the_manager_and_the_rest_load(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    # No catalogue is published, so the district cannot know M9 is not this hall's matter; the hall can.
    district_import(
        district_url,
        [booking("20261126001"), booking("20261126002", matter="M9", id_number=ID_NUMBER), booking("20261126003")],
        clock,
    )
    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
    assert [r["reference"] for r in hall_rows(hall)] == ["20261126001", "20261126003"]
    alerts = hall.store.all("SELECT * FROM alerts WHERE kind = ?", (appointments_feed.ALERT_KIND,))
    assert len(alerts) == 1
    assert alerts[0]["message_en"] == (
        "Booking 20261126002 from the district was not loaded: matter:"
        " 'M9' is not a matter of this hall (expected a matter code from the hall file)"
    )
    assert "20261126002" in alerts[0]["message_zh"] and "不是本大厅的事项" in alerts[0]["message_zh"]
    # The district learns why, and its staff see it; the refused row's ID number is gone there too.
    listed = CliRunner().invoke(district, ["appointments", "list", "--json", "--db", district_url])
    rows = {r["reference"]: r for r in json.loads(listed.output)}
    assert "is not a matter of this hall" in rows["20261126002"]["hall_problem"]
    assert rows["20261126001"]["hall_problem"] is None and rows["20261126001"]["at_hall"] is True
    assert ID_NUMBER not in everything_at_the_district(district_url)


def test_the_district_import_checks_every_row_and_stores_all_or_nothing(district_url, tmp_path):
    add_hall(district_url, "test-hall")
    # The command runs on the real clock: slots far ahead.
    rows = [
        "hall,reference,matter,slot_start,slot_end,id_number,phone",
        f"test-hall,20990301001,M1,2099-03-01 09:30,2099-03-01 10:00,{ID_NUMBER},{PHONE}",
        "nowhere,20990301002,M1,2099-03-01 09:30,2099-03-01 10:00,,",
        "test-hall,12,M1,2099-03-01 9点半,2099-03-01 10:00,320102198001011239,",
        "test-hall,20990301001,M1,2099-03-01 09:30,2099-03-01 10:00,,",
        ",20990301005,M1,2099-03-01 11:00,2099-03-01 10:00,,12",
    ]
    bad = tmp_path / "bookings.csv"
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(district, ["appointments", "import", str(bad), "--db", district_url])
    assert result.exit_code == 1
    out = result.output
    assert "bookings.csv: row 3, hall: 'nowhere' is not a hall of this district" in out
    assert "bookings.csv: 第 3 行 hall：“nowhere”不是本区的大厅" in out
    assert "row 4, reference: '12' is not a booking reference" in out
    assert "row 4, slot_start: '2099-03-01 9点半' is not a time" in out
    assert "row 4, id_number: is not a resident ID number" in out
    assert "row 5, reference: reference 20990301001 is already on row 2" in out
    assert "row 6, hall: is missing" in out and "row 6, slot_end: is not after the start" in out
    assert "row 6, phone: is not a phone number" in out
    assert "8 problem(s): no booking was imported" in out
    assert "320102198001011239" not in out and ID_NUMBER not in out  # never repeated back
    with psycopg.connect(district_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM appointments").fetchone()[0] == 0

    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            [
                booking(
                    "20990301001",
                    slot_start="2099-03-01 09:30",
                    slot_end="2099-03-01 10:00",
                    id_number=ID_NUMBER,
                    phone=PHONE,
                )
            ]
        ),
        encoding="utf-8",
    )
    done = runner.invoke(district, ["appointments", "import", str(good), "--db", district_url])
    assert done.exit_code == 0 and "1 booking(s) added, 0 already held unchanged; per hall: test-hall 1" in done.output
    again = runner.invoke(district, ["appointments", "import", str(good), "--db", district_url])
    assert again.exit_code == 0 and "0 booking(s) added, 1 already held unchanged" in again.output
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps([booking("20990301001", slot_start="2099-03-01 10:30", slot_end="2099-03-01 11:00")]))
    refused = runner.invoke(district, ["appointments", "import", str(moved), "--db", district_url])
    assert refused.exit_code == 1 and "already booked with other details (cancel it first" in refused.output
    missing = runner.invoke(district, ["appointments", "import", str(tmp_path / "none.csv"), "--db", district_url])
    assert missing.exit_code == 1 and "cannot read it" in missing.output
    not_a_url = runner.invoke(district, ["appointments", "import", str(good), "--db", "sqlite:///x"])
    assert not_a_url.exit_code == 1 and "is not a PostgreSQL URL" in not_a_url.output


def test_a_slot_over_before_it_reached_the_hall_is_skipped_without_an_alert(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    district_import(
        district_url,
        [booking("20261126001"), booking("20261126002", slot_start="2026-11-26 11:00", slot_end="2026-11-26 11:30")],
        clock,
    )
    clock.advance(hours=1, minutes=30)  # 10:30: the hall was away while the first slot ran
    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
    assert [r["reference"] for r in hall_rows(hall)] == ["20261126002"]
    assert hall.store.all("SELECT * FROM alerts WHERE kind = ?", (appointments_feed.ALERT_KIND,)) == []
    assert appointments_feed.cursor(hall.store) == 2 and appointments_feed.acked(hall.store) == 2


def test_the_district_away_the_hall_keeps_its_bookings_and_works(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    district_import(district_url, [booking("20261126001", id_number=ID_NUMBER)], clock)
    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
    # The server is gone: the exchange fails with the one named failure the sync panel shows.
    with pytest.raises(DistrictUnavailable):
        pull(base_url, token, hall, clock)
    store = hall.store
    found = appointments.find_for_checkin(
        store, hall.config, id_hash=identity.id_hash(store, ID_NUMBER), now=clock.now()
    )
    assert found is not None
    booked, _ = appointments.check_in(hall, "20261126001", kiosk="kiosk-1")
    assert booked.state == "checked_in"


def test_pulling_twice_changes_nothing_and_a_lost_ack_is_sent_again(district_url, hall, clock, monkeypatch):
    token = add_hall(district_url, "test-hall")
    district_import(district_url, [booking("20261126001", id_number=ID_NUMBER, phone=PHONE)], clock)

    def snapshot():
        store = hall.store
        return (
            hall_rows(hall),
            [dict(r) for r in store.all("SELECT * FROM alerts")],
            appointments_feed.cursor(store),
            appointments_feed.acked(store),
        )

    sent: list = []
    real_post = DistrictClient.post_json

    def lose_the_ack(self, path, body):
        sent.append(path)
        raise DistrictUnavailable("connection reset")

    with serving(district_url, clock=clock) as base_url:
        monkeypatch.setattr(DistrictClient, "post_json", lose_the_ack)
        with pytest.raises(DistrictUnavailable):
            pull(base_url, token, hall, clock)
        # Loaded, its cursor saved in the same transaction; the district still holds the number.
        assert [r["reference"] for r in hall_rows(hall)] == ["20261126001"]
        assert appointments_feed.cursor(hall.store) == 1 and appointments_feed.acked(hall.store) == 0
        assert ID_NUMBER in everything_at_the_district(district_url)
        monkeypatch.setattr(DistrictClient, "post_json", real_post)
        pull(base_url, token, hall, clock)  # the lost ack first
        assert ID_NUMBER not in everything_at_the_district(district_url)
        first = snapshot()
        pull(base_url, token, hall, clock)
        pull(base_url, token, hall, clock)
        assert snapshot() == first

        # The hall's cursor went back (a restore): the rows come again without their personal data,
        # and the hall keeps what it has.
        with hall.store.immediate() as conn:
            conn.execute(
                "DELETE FROM settings WHERE key IN (?, ?)", (appointments_feed.CURSOR, appointments_feed.ACKED)
            )
        pull(base_url, token, hall, clock)
    rows, alerts, cursor, acked = snapshot()
    assert rows == first[0] and alerts == first[1] and (cursor, acked) == (1, 1)
    assert sent == ["/api/v1/appointments/ack"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/appointments?since=abc", None),
        ("/api/v1/appointments?since=-1", None),
        ("/api/v1/appointments?since=1e3", None),
        ("/api/v1/appointments?limit=0", None),
        ("/api/v1/appointments?limit=100000", None),
        ("/api/v1/appointments?since=" + "9" * 40, None),
        ("/api/v1/appointments/ack", "not json"),
        ("/api/v1/appointments/ack", {"upto": "x"}),
        ("/api/v1/appointments/ack", {"upto": True}),
        ("/api/v1/appointments/ack", {"upto": 5}),
        ("/api/v1/appointments/ack", {"upto": 0, "refused": "x"}),
        ("/api/v1/appointments/ack", {"upto": 0, "refused": [{"reference": "1"}]}),
        ("/api/v1/appointments/ack", [1, 2]),
    ],
)
def test_no_input_gives_a_500(district_url, clock, path, body):
    token = add_hall(district_url, "test-hall")
    http = create_district_app(district_url, clock=clock).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    if body is None:
        answer = http.get(path, headers=auth)
    elif isinstance(body, str):
        answer = http.post(path, data=body, headers={**auth, "Content-Type": "application/json"})
    else:
        answer = http.post(path, json=body, headers=auth)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    got = answer.get_json()
    assert got["error"] == "bad_request" and got["message_zh"] and got["message_en"]


def test_paging_follows_the_halls_change_counter(district_url, clock):
    token = add_hall(district_url, "test-hall")
    district_import(district_url, [booking(f"2026112600{i}") for i in range(1, 6)], clock)
    with psycopg.connect(district_url) as conn:
        district_appointments.cancel(conn, "test-hall", "20261126002", now=clock.now())
    http = create_district_app(district_url, clock=clock).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    page = http.get("/api/v1/appointments?since=0&limit=3", headers=auth).get_json()
    assert [r["seq"] for r in page["appointments"]] == [1, 3, 4] and page["next"] == 4 and page["more"] is True
    page = http.get("/api/v1/appointments?since=4&limit=3", headers=auth).get_json()
    assert [(r["reference"], r["state"]) for r in page["appointments"]] == [
        ("20261126005", "booked"),
        ("20261126002", "cancelled"),
    ]
    assert page["next"] == 6 and page["more"] is False


def test_the_devices_process_passes_the_pull_to_the_sync_worker(hall, hall_config, clock):
    devices = DevicesProcess(hall_config, hall.store.path, clock)
    assert appointments_pull.exchange in devices.sync.exchanges


def test_a_matter_outside_the_published_catalogue_is_refused_at_the_district(district_url, clock):
    from .test_catalogue import catalogue_doc

    add_hall(district_url, "test-hall")
    with psycopg.connect(district_url) as conn:
        from tongban.district import catalogue as district_catalogue

        district_catalogue.publish(conn, catalogue_doc())
    with pytest.raises(district_appointments.AppointmentsRefused) as refused:
        district_import(district_url, [booking("20261126001", matter="M9"), booking("20261126002", matter="MX")], clock)
    assert [(p.row, p.field) for p in refused.value.problems] == [(2, "matter")]
    assert "'MX' is not a matter of the district catalogue" in refused.value.problems[0].message.en


def test_the_devices_process_sync_thread_brings_the_booking_down(district_url, hall, hall_config, clock, caplog):
    """The whole way, as on a hall box: joined, the devices process's own sync worker pushes, then
    runs its exchanges, and the booking is at the hall with no one at the hall doing anything."""
    from tongban.queue import outbox

    from ..conftest import wait_for

    token = add_hall(district_url, "test-hall")
    district_import(district_url, [booking("20261126001", id_number=ID_NUMBER, phone=PHONE)], clock)
    caplog.set_level("DEBUG")
    with serving(district_url, clock=clock) as base_url:
        outbox.join(hall.store, base_url, token)
        devices = DevicesProcess(hall_config, hall.store.path, clock)
        devices.sync.start()
        try:
            assert wait_for(lambda: appointments_feed.acked(hall.store) == 1, timeout=15)
        finally:
            devices.sync.stop()
    assert [r["reference"] for r in hall_rows(hall)] == ["20261126001"]
    assert ID_NUMBER not in everything_at_the_district(district_url)
    assert ID_NUMBER not in caplog.text and PHONE not in caplog.text  # never logged, at either end


def test_a_district_restored_from_an_older_backup_is_pulled_from_the_start_again(district_url, hall, clock):
    token = add_hall(district_url, "test-hall")
    district_import(district_url, [booking("20261126001"), booking("20261126002")], clock)
    with serving(district_url, clock=clock) as base_url:
        pull(base_url, token, hall, clock)
        assert appointments_feed.cursor(hall.store) == 2
        # The district comes back from a backup older than both bookings, then gets a new one:
        # its counter stands at 1, behind the hall's 2.
        with psycopg.connect(district_url) as conn:
            conn.execute("DELETE FROM appointments")
            conn.execute("DELETE FROM appointment_cursors")
        district_import(district_url, [booking("20261126003")], clock)
        with hall.store.immediate() as conn:  # and the hall's last ack was lost
            conn.execute("UPDATE settings SET value = '1' WHERE key = ?", (appointments_feed.ACKED,))
        pull(base_url, token, hall, clock)
    assert [r["reference"] for r in hall_rows(hall)] == ["20261126001", "20261126002", "20261126003"]
    assert (appointments_feed.cursor(hall.store), appointments_feed.acked(hall.store)) == (1, 1)
