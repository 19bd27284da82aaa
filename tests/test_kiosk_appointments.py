"""预约签到 at the kiosk by booking reference (docs/appointments.md#at-the-kiosk), through Flask's test client:
the entry on the home screen, the digits pad, the booking shown masked, one touch to the ticket."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tongban.config import parse_hall_config
from tongban.queue import appointments as appts

from .apiclient import make_hall_client
from .conftest import SHANGHAI, small_hall_doc
from .test_appointments import ID_NUMBER, booking
from .test_kiosk import _with_printer, kiosk, service_of, text

HX = {"HX-Request": "true"}


@pytest.fixture
def hall(tmp_path, clock):
    hall = make_hall_client(tmp_path, parse_hall_config(_with_printer(small_hall_doc()), "appt-hall"), clock)
    service = service_of(hall)
    service.window_action(1, "open", clerk="clerk1")
    appts.import_rows(
        service.store,
        service.config,
        [
            booking(id_number=ID_NUMBER, phone="13812345678"),
            booking("20261126002", start="2026-11-26 14:00", end="2026-11-26 14:30"),
        ],
        source="file",
        now=clock.now(),
    )
    service.store.close()
    return hall


def _checkin_form(html: str) -> dict:
    form = html[html.index('<form class="k-take"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_home_pad_booking_and_one_touch_to_the_ticket_and_its_print_job(hall):
    client = kiosk(hall)
    home = text(client.get("/kiosk/kiosk-1"))
    assert 'id="k-appt-entry"' in home and "预约签到" in home and "Check in for an appointment" in home
    pad = text(client.get("/kiosk/kiosk-1/appointment?ref=2026", headers=HX))
    assert 'hx-get="/kiosk/kiosk-1/appointment?ref=20261"' in pad  # the key "1" types the next digit
    assert 'hx-get="/kiosk/kiosk-1/appointment/found?ref=2026"' in pad
    found = text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126001", headers=HX))
    assert "失业登记" in found and "09:30–10:00" in found and "3201**********1238" in found
    assert ID_NUMBER not in found and "13812345678" not in found
    form = _checkin_form(found)
    assert form["ref"] == "20261126001"
    first = client.post("/kiosk/kiosk-1/appointment/checkin", data=form, headers=HX)
    assert 'id="k-printing"' in text(first) or "正在打印" in text(first)
    again = client.post("/kiosk/kiosk-1/appointment/checkin", data=form, headers=HX)  # a double tap
    service = service_of(hall)
    (ticket,) = service.store.all("SELECT * FROM tickets")
    assert ticket["appointment_at"] == "2026-11-26T01:30:00.000000+00:00" and ticket["kiosk"] == "kiosk-1"
    assert service.store.one("SELECT COUNT(*) FROM print_jobs")[0] == 1
    assert ticket["number"] in text(again)
    assert appts.get(service.store, service.config, "20261126001").state == "checked_in"
    # Found again after check-in: says so, with the number, and offers no second check-in.
    later = text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126001", headers=HX))
    assert 'data-code="appointment_not_booked"' in later and ticket["number"] in later
    assert "k-appt-checkin" not in later


def test_too_early_says_when_and_too_late_offers_an_ordinary_ticket(hall):
    client = kiosk(hall)
    early = text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126002&lang=en", headers=HX))
    assert 'data-code="checkin_too_early"' in early and "from 13:30" in early and "k-appt-checkin" not in early
    hall.app.config["CLOCK"].set(datetime(2026, 11, 26, 14, 16, tzinfo=SHANGHAI))
    late = text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126002", headers=HX))
    assert 'data-code="checkin_too_late"' in late and 'id="k-appt-ordinary"' in late
    assert "/kiosk/kiosk-1/matters/M1" in late


def test_a_post_that_comes_too_late_shows_the_booking_with_why(hall):
    client = kiosk(hall)
    form = _checkin_form(text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126001", headers=HX)))
    hall.app.config["CLOCK"].set(datetime(2026, 11, 26, 9, 46, tzinfo=SHANGHAI))
    html = text(client.post("/kiosk/kiosk-1/appointment/checkin", data=form, headers=HX))
    assert 'data-code="checkin_too_late"' in html
    assert service_of(hall).store.one("SELECT COUNT(*) FROM tickets")[0] == 0


def test_an_unknown_reference_stays_on_the_pad_and_junk_is_never_an_error(hall):
    client = kiosk(hall)
    html = text(client.get("/kiosk/kiosk-1/appointment/found?ref=99999999", headers=HX))
    assert 'id="k-appt-not-found"' in html and "99999999" in html
    assert client.get("/kiosk/kiosk-1/appointment?ref=<script>12" + "9" * 40).status_code == 200
    assert client.get("/kiosk/kiosk-1/appointment/found?ref=").status_code == 200
    bad = client.post("/kiosk/kiosk-1/appointment/checkin", data={"ref": "1234", "key": "short"}, headers=HX)
    assert bad.status_code == 400
    form = {"ref": "99999999", "key": "k" * 16}
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/kiosk/kiosk-1/lines/A"))).group(1)
    unknown = client.post("/kiosk/kiosk-1/appointment/checkin", data={**form, "csrf_token": csrf}, headers=HX)
    assert unknown.status_code == 200 and 'id="k-appt-not-found"' in text(unknown)


def test_elder_mode_and_english_carry_through_and_one_language_per_line(hall):
    client = kiosk(hall)
    elder = text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126001&elder=1&lang=en", headers=HX))
    assert "Your booking" in elder and "您的预约" not in elder  # elder mode: the chosen language only
    assert "elder=1" in elder and "lang=en" in elder
    both = text(client.get("/kiosk/kiosk-1/appointment/found?ref=20261126001", headers=HX))
    assert '<span class="p">您的预约</span><span class="s">Your booking</span>' in both
