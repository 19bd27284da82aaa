"""Print jobs: a ticket is never lost to a printer; a late job reads as failed and raises an alert."""

from __future__ import annotations

from tongban.queue import printing


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
