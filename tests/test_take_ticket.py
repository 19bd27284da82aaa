"""Taking a ticket is one domain call in one transaction (docs/architecture.md §Numbering): the
repeat-safe key, the checks, the number, the ticket, its event and the print job commit together, and
the same key answers with the same ticket however the first answer was lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest

from tongban.config import parse_hall_config
from tongban.queue import errors, printing
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .apiclient import make_hall_client
from .conftest import SHANGHAI, small_hall_doc

ROOT = Path(__file__).resolve().parents[1]


def printer_doc() -> dict:
    doc = small_hall_doc()
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}]
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机", "printer": "printer-1"}]
    return doc


@pytest.fixture
def printer_service(store, clock):
    svc = HallService(store, parse_hall_config(printer_doc(), "printer-hall"), clock)
    svc.sync_with_config()
    return svc


def counts(store: Store) -> tuple[int, int, int, int]:
    return tuple(
        store.one(f"SELECT COUNT(*) FROM {table}")[0] for table in ("tickets", "events", "print_jobs", "take_requests")
    )


def test_the_ticket_and_its_slip_are_one_call_and_the_same_key_gives_them_again(printer_service, store):
    first = printer_service.take_ticket(line="A", kiosk="kiosk-1", request_key="form-key-1")
    again = printer_service.take_ticket(line="A", kiosk="kiosk-1", request_key="form-key-1")
    assert first.ticket.number == again.ticket.number == "A001"
    assert first.print_job is not None and again.print_job == first.print_job
    assert (first.repeated, again.repeated) == (False, True)
    assert counts(store) == (1, 1, 1, 1)
    # Another kiosk's key of the same text is another request.
    other = printer_service.take_ticket(line="A", kiosk="kiosk-2", request_key="form-key-1")
    assert other.ticket.number == "A002" and other.print_job is None  # kiosk-2 has no printer


def test_a_key_sent_again_with_another_request_is_refused_not_a_second_ticket(service, store):
    service.take_ticket(line="A", kiosk="kiosk-1", request_key="k-12345678")
    with pytest.raises(errors.RequestKeyReused) as refused:
        service.take_ticket(line="B", kiosk="kiosk-1", request_key="k-12345678")
    assert "请求编号" in refused.value.message_zh and "request key" in refused.value.message_en
    assert counts(store)[0] == 1


def test_a_refused_request_leaves_nothing_behind_so_its_key_works_later(service, store, clock):
    clock.set(datetime(2026, 11, 26, 7, 0, tzinfo=SHANGHAI))  # before the hall opens
    with pytest.raises(errors.HallClosed):
        service.take_ticket(line="A", kiosk="kiosk-1", request_key="early-key-1")
    assert counts(store) == (0, 0, 0, 0)
    clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
    assert service.take_ticket(line="A", kiosk="kiosk-1", request_key="early-key-1").ticket.number == "A001"


def test_a_failing_print_job_takes_the_ticket_back_with_it(printer_service, store, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(printing, "enqueue", broken)
    with pytest.raises(RuntimeError):
        printer_service.take_ticket(line="A", kiosk="kiosk-1", request_key="form-key-2")
    assert counts(store) == (0, 0, 0, 0)  # no ticket without its slip, no number used


def test_kiosks_pressing_the_same_form_at_once_get_one_ticket(tmp_path, clock):
    path = tmp_path / "race.db"
    config = parse_hall_config(printer_doc(), "printer-hall")
    first = Store(path)
    HallService(first, config, clock).sync_with_config()
    stores = [first] + [Store(path, migrate=False) for _ in range(7)]
    start = threading.Barrier(len(stores))
    numbers: list[str] = []

    def press(store: Store) -> None:
        start.wait()
        issued = HallService(store, config, clock).take_ticket(line="A", kiosk="kiosk-1", request_key="double-tap-1")
        numbers.append(issued.ticket.number)

    threads = [threading.Thread(target=press, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert numbers == ["A001"] * len(stores)
    assert counts(first) == (1, 1, 1, 1)
    for s in stores:
        s.close()


def test_the_api_answers_a_repeat_with_200_and_the_same_ticket(tmp_path, clock):
    hall = make_hall_client(tmp_path, parse_hall_config(printer_doc(), "printer-hall"), clock)
    key = {"Idempotency-Key": "3f1c2a9e-5b7d-4e1f-9a0b-2c4d6e8f0a1b"}
    first = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}, headers=key)
    again = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"] and first.get_json()["number"] == "A001"
    assert first.get_json()["print_job"] == again.get_json()["print_job"] is not None
    other = hall.call("POST", "/tickets", hall.kiosk, json={"line": "B"}, headers=key)
    assert other.status_code == 422 and other.get_json()["error"] == "request_key_reused"
    bad = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}, headers={"Idempotency-Key": "x"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "Idempotency-Key"
    plain = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})  # no key: a new ticket each time
    assert plain.status_code == 201 and plain.get_json()["number"] == "A002"


# The web process, killed by the power cut after the ticket's transaction committed and before its
# answer left: the client never heard back, and retries with the same key.
KILLED_AFTER_COMMIT = """
import json, os, signal, sys
from tongban.config import parse_hall_config
from datetime import datetime
from tongban.queue.clock import FakeClock
from tongban.web.app import create_app
from tongban.web.api import routes
from tongban.web.kiosk import routes as kiosk_routes

doc, db, token, when, path = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

def power_cut(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

routes.issued_json = power_cut
kiosk_routes.ticket_screen = power_cut
app = create_app({"HALL": parse_hall_config(doc, "printer-hall"), "DATABASE": db,
                  "CLOCK": FakeClock(datetime.fromisoformat(when)), "TESTING": True})
client = app.test_client()
if path == "api":
    client.post("/api/v1/tickets", json={"line": "A"}, headers={"Authorization": f"Bearer {token}",
                "Idempotency-Key": "retry-after-power-cut"})
else:
    from tests.apiclient import csrf_token
    client.get(f"/enrol?token={token}")
    page = client.get("/kiosk/kiosk-1/lines/A").get_data(as_text=True)
    import re
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    print(key, flush=True)
    client.post("/kiosk/kiosk-1/tickets", data={"csrf_token": csrf_token(page), "key": key, "line": "A"})
"""


@pytest.mark.parametrize("path", ["api", "kiosk"])
def test_the_same_key_after_a_power_cut_between_commit_and_answer_gets_the_same_ticket(tmp_path, clock, path):
    hall = make_hall_client(tmp_path, parse_hall_config(printer_doc(), "printer-hall"), clock)
    db = hall.app.config["DATABASE"]
    cut = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AFTER_COMMIT,
            json.dumps(printer_doc()),
            db,
            hall.kiosk,
            clock.now().isoformat(),
            path,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cut.returncode == -signal.SIGKILL, cut.stderr
    store = Store(db)
    try:
        assert counts(store)[:3] == (1, 1, 1)  # committed: the ticket, its event and its slip
    finally:
        store.close()
    if path == "api":
        retry = hall.call(
            "POST", "/tickets", hall.kiosk, json={"line": "A"}, headers={"Idempotency-Key": "retry-after-power-cut"}
        )
        assert retry.status_code == 200 and retry.get_json()["number"] == "A001"
    else:
        client = hall.app.test_client()
        client.get(f"/enrol?token={hall.kiosk}")
        page = client.get("/kiosk/kiosk-1/lines/A").get_data(as_text=True)
        from .apiclient import csrf_token

        key = cut.stdout.split()[0]
        retry = client.post(
            "/kiosk/kiosk-1/tickets",
            data={"csrf_token": csrf_token(page), "key": key, "line": "A"},
            headers={"HX-Request": "true"},
        )
        assert retry.status_code == 200 and 'id="k-number">A001<' in retry.get_data(as_text=True)
    store = Store(db)
    try:
        assert counts(store)[:3] == (1, 1, 1)  # and still one ticket, one slip
    finally:
        store.close()


def test_the_roll_over_forgets_request_keys_once_no_kiosk_can_retry_them(service, store, clock):
    service.take_ticket(line="A", kiosk="kiosk-1", request_key="yesterdays-key")
    clock.advance(days=1)
    assert service.roll_over()["request_keys_forgotten"] == 0  # a day is not yet past for a key of 09:00
    clock.advance(hours=1)
    store.conn.execute("DELETE FROM job_runs")  # let the next night's roll-over run today
    assert service.roll_over()["request_keys_forgotten"] == 1
    assert counts(store) == (1, 2, 0, 0)  # the ticket and its history stay (issue, expire)
