"""Print jobs (docs/architecture.md §Print jobs): a ticket is never lost to a printer, a job is never
printed late, a job left by a dead worker is taken back when its lease runs out, and the clerks get
one alert per change of a printer's state, naming the tickets to reprint."""

from __future__ import annotations

from tongban.config import parse_hall_config
from tongban.queue import printing
from tongban.queue.service import HallService

from .conftest import small_hall_doc


def test_job_past_its_deadline_reads_failed_and_is_never_printed_late(store, service, clock):
    ticket = service.take_ticket(line="A").ticket
    job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now(), deadline_s=5)
    assert printing.job(store, job_id, clock.now())["state"] == "pending"
    clock.advance(seconds=6)
    assert printing.job(store, job_id, clock.now())["status"] == "timeout"
    assert printing.claim_next(store, clock.now()) is None  # closed as a timeout, not handed out
    assert [a["device"] for a in printing.open_alerts(store)] == ["printer:printer-1"]
    assert service.ticket(ticket.id).state == "waiting"


def test_claim_then_complete_records_the_outcome(store, service, clock):
    ticket = service.take_ticket(line="A").ticket
    job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now())
    claimed = printing.claim_next(store, clock.now())
    assert claimed["id"] == job_id and printing.claim_next(store, clock.now()) is None
    printing.complete(store, job_id, clock.now(), ok=False, status="paper_end", error="paper out")
    job = printing.job(store, job_id, clock.now())
    assert (job["state"], job["status"]) == ("failed", "paper_end")
    alert = printing.open_alerts(store)[0]
    assert alert["message_zh"] == "打印机 printer-1 缺纸，A001 号需补打"
    printing.ack_alert(store, alert["id"], "clerk1", clock.now())
    assert printing.open_alerts(store) == []


def test_device_status_alerts_once_per_fault(store, clock):
    for _ in range(3):
        printing.record_device_status(store, "printer:p1", "printer", "paper_end", "no paper", clock.now())
    printing.record_device_status(store, "printer:p1", "printer", "ok", "", clock.now())
    assert len(printing.open_alerts(store)) == 1
    assert printing.device_statuses(store)[0]["state"] == "ok"


# ---------- the lease: a job left printing by a worker that died ----------


def _kiosk_job(service, store, clock, printer="printer-1"):
    ticket = service.take_ticket(line="A").ticket
    return ticket, printing.enqueue(store, ticket.id, printer, clock.now())


def test_a_job_left_printing_by_a_dead_worker_fails_once_its_lease_runs_out_with_one_alert(store, service, clock):
    ticket, job_id = _kiosk_job(service, store, clock)
    claimed = printing.claim_next(store, clock.now(), printer="printer-1", timeout_s=3)
    assert claimed["id"] == job_id and claimed["state"] == "printing"
    # The worker is killed here, mid-job. Past the deadline the job is still its worker's ...
    clock.advance(seconds=6)
    assert printing.job(store, job_id, clock.now())["state"] == "printing"
    assert printing.open_alerts(store, clock.now()) == []
    assert printing.claim_next(store, clock.now(), printer="printer-1") is None
    # ... until the lease (deadline + timeout + slack) runs out: then whoever looks first fails it.
    clock.advance(seconds=printing.DEFAULT_TIMEOUT_S + printing.LEASE_SLACK_S)
    alerts = printing.open_alerts(store, clock.now())
    assert [a["message_zh"] for a in alerts] == ["打印机 printer-1 打印中断（设备进程已停止），A001 号需补打"]
    job = printing.job(store, job_id, clock.now())
    assert (job["state"], job["status"]) == ("failed", "timeout")
    # Everyone else who looks finds it done with: still one alert, and nothing to print.
    assert printing.claim_next(store, clock.now(), printer="printer-1") is None
    assert printing.sweep(store, clock.now()) == 0
    assert len(printing.open_alerts(store, clock.now())) == 1
    # A worker that was only stuck, not dead, cannot turn it into a print now.
    assert printing.complete(store, job_id, clock.now(), ok=True, status="ok") == "failed"
    assert printing.job(store, job_id, clock.now())["state"] == "failed"
    assert service.ticket(ticket.id).state == "waiting"


def test_a_job_claimed_by_code_that_kept_no_lease_expires_at_its_deadline(store, service, clock):
    _ticket, job_id = _kiosk_job(service, store, clock)
    with store.immediate() as conn:
        conn.execute("UPDATE print_jobs SET state = 'printing' WHERE id = ?", (job_id,))
    clock.advance(seconds=6)
    assert printing.job(store, job_id, clock.now())["state"] == "failed"
    assert len(printing.open_alerts(store)) == 1


# ---------- deadlines finish jobs, whoever notices first ----------


def test_a_pending_job_past_its_deadline_is_failed_once_whoever_looks(store, service, clock):
    _ticket, job_id = _kiosk_job(service, store, clock)
    clock.advance(seconds=5)
    job = printing.job(store, job_id, clock.now())  # the kiosk's poll
    assert (job["state"], job["status"]) == ("failed", "timeout") and job["finished_at"] is not None
    assert printing.claim_next(store, clock.now()) is None  # the worker
    assert printing.open_alerts(store, clock.now())[0]["message_en"] == (
        "Printer printer-1: did not print in time; reprint A001"
    )
    assert len(printing.open_alerts(store, clock.now())) == 1


def test_a_worker_does_not_start_a_job_it_has_no_time_left_to_print(store, service, clock):
    _ticket, job_id = _kiosk_job(service, store, clock)
    clock.advance(seconds=4.5)  # 0.5 s left, less than the printer's start margin
    assert printing.claim_next(store, clock.now(), printer="printer-1", margin_s=1.0) is None
    job = printing.job(store, job_id, clock.now())
    assert (job["state"], job["status"], job["error"]) == ("failed", "timeout", "too little time left to print it")
    assert "A001" in printing.open_alerts(store)[0]["message_zh"]


def test_a_print_that_finished_after_the_deadline_is_a_failure_not_done(store, service, clock):
    _ticket, job_id = _kiosk_job(service, store, clock)
    printing.claim_next(store, clock.now())
    clock.advance(seconds=5.5)
    assert printing.complete(store, job_id, clock.now(), ok=True, status="ok") == "failed"
    job = printing.job(store, job_id, clock.now())
    assert (job["state"], job["status"]) == ("failed", "timeout") and "after its deadline" in job["error"]
    assert printing.open_alerts(store)[0]["message_en"] == (
        "Printer printer-1: printed after the deadline (the kiosk showed the ticket on screen); reprint A001"
    )


def test_a_print_done_by_the_deadline_is_done(store, service, clock):
    _ticket, job_id = _kiosk_job(service, store, clock)
    printing.claim_next(store, clock.now())
    clock.advance(seconds=5)
    assert printing.complete(store, job_id, clock.now(), ok=True, status="ok") == "done"
    assert printing.open_alerts(store, clock.now()) == []


# ---------- one alert per change of a printer's state, naming the tickets ----------


def _print(store, clock, service, **outcome):
    _ticket, job_id = _kiosk_job(service, store, clock)
    printing.claim_next(store, clock.now(), printer="printer-1")
    return printing.complete(store, job_id, clock.now(), **outcome)


def test_paper_near_end_alerts_once_however_many_tickets_print(store, service, clock):
    for _ in range(6):
        assert _print(store, clock, service, ok=True, status="ok", printer_state="paper_near_end") == "done"
        printing.record_device_status(store, "printer:printer-1", "printer", "paper_near_end", "", clock.now())
    assert [a["message_zh"] for a in printing.open_alerts(store)] == ["打印机 printer-1 纸将用尽"]
    # Paper changed, then nearly out again: that is a new change, and one more alert.
    printing.record_device_status(store, "printer:printer-1", "printer", "ok", "ready", clock.now())
    _print(store, clock, service, ok=True, status="ok", printer_state="paper_near_end")
    assert len(printing.open_alerts(store)) == 2


def test_failed_tickets_join_the_open_alert_of_their_printer_state(store, service, clock):
    printing.record_device_status(store, "printer:printer-1", "printer", "ok", "ready", clock.now())
    for _ in range(3):
        _print(store, clock, service, ok=False, status="paper_end", error="not printed: paper end")
        printing.record_device_status(store, "printer:printer-1", "printer", "paper_end", "", clock.now())
    assert [a["message_zh"] for a in printing.open_alerts(store)] == [
        "打印机 printer-1 缺纸，A001、A002、A003 号需补打"
    ]
    assert printing.open_alerts(store)[0]["message_en"] == "Printer printer-1: out of paper; reprint A001, A002, A003"
    # Once a clerk has acknowledged it, the next failed ticket needs an alert of its own.
    printing.ack_alert(store, printing.open_alerts(store)[0]["id"], "clerk1", clock.now())
    _print(store, clock, service, ok=False, status="paper_end", error="not printed: paper end")
    assert [a["message_zh"] for a in printing.open_alerts(store)] == ["打印机 printer-1 缺纸，A004 号需补打"]


def test_a_printer_is_called_by_the_kiosk_that_prints_on_it(store, clock):
    doc = small_hall_doc()
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}, {"id": "desk", "url": "dummy://"}]
    doc["kiosks"] = [{"id": "kiosk-1", "name": "一楼大厅取号机 1 / Ground floor kiosk 1", "printer": "printer-1"}]
    names = printing.printer_names(parse_hall_config(doc, "named"))
    assert names == {"printer-1": ("一楼大厅取号机 1", "Ground floor kiosk 1")}
    service = HallService(store, parse_hall_config(doc, "named"), clock)
    service.sync_with_config()
    ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
    job = printing.claim_next(store, clock.now(), names=names)
    assert job["ticket_id"] == ticket.id
    printing.complete(store, job["id"], clock.now(), ok=False, status="paper_end", names=names)
    printing.record_device_status(store, "printer:desk", "printer", "cover_open", "", clock.now(), names=names)
    assert [(a["message_zh"], a["message_en"]) for a in printing.open_alerts(store)] == [
        ("打印机 desk 纸仓盖未关", "Printer desk: cover open"),
        ("打印机 一楼大厅取号机 1 缺纸，A001 号需补打", "Printer Ground floor kiosk 1: out of paper; reprint A001"),
    ]
