"""The devices process wires the drivers to the hall: print jobs reach a printer, a paper-out
becomes a failed job and an alert, calls reach the LED displays, and keypad keys call tickets."""

from __future__ import annotations

import re

import pytest

from tests.tools.escpos_decode import Line, QRCode, decode_escpos, ticket_view
from tests.tools.fake_displays import FakeBus
from tests.tools.fake_printers import FakeNetworkPrinter
from tongban.config import parse_hall_config
from tongban.devices.display_follower import KEYPAD_CONFIRM_S, DisplayFollower, KeypadRouter, build_hub
from tongban.devices.print_worker import PrinterWorker, build_slip, check_printers, printer_configs
from tongban.displays import KeyEvent
from tongban.printers import PrintOutcome
from tongban.queue import printing
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .apiclient import make_hall_client
from .conftest import small_hall_doc, wait_for

BUS = {
    "id": "east",
    "url": "loop://",
    "preset": "sum8-ff",
    "timeout_s": 0.05,
    "poll_interval_ms": 30,
    "pacing_ms": 2,
    "devices": [
        {"address": 1, "kind": "window", "window": 1},
        {"address": 2, "kind": "window", "window": 2},
        {"address": 11, "kind": "keypad", "window": 1},
        {"address": 30, "kind": "hall", "rows": 2},
    ],
}


@pytest.fixture
def hall_with_printer():
    def make(url):
        printers = [{"id": "printer-1", "url": url, "paper_mm": 80}]
        return parse_hall_config({**small_hall_doc(), "printers": printers}, "small-hall")

    return make


def test_a_kiosk_ticket_is_printed_with_its_number_and_qr(tmp_path, store, clock, hall_with_printer):
    with FakeNetworkPrinter("ok") as printer:
        config = hall_with_printer(printer.url)
        service = HallService(store, config, clock)
        service.sync_with_config()
        ticket = service.take_ticket(matter="M1", kiosk="kiosk-1").ticket
        job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now())
        worker = PrinterWorker(printer_configs(config)["printer-1"], store.path, config, clock)
        assert worker.run_once(store) is True
        assert printing.job(store, job_id, clock.now())["state"] == "done"
        paper = ticket_view(printer.received)
        texts = [item.text for item in paper if isinstance(item, Line)]
        assert "A001" in texts and any("失业登记" in t for t in texts)
        big = next(item for item in paper if isinstance(item, Line) and item.text == "A001")
        assert big.size[0] >= 2 and big.size[1] >= 2
        qr = next(item for item in paper if isinstance(item, QRCode))
        assert qr.data == service.qr_text(ticket) and "A001" in qr.data  # offline hall: the ticket text, as on screen


def test_paper_out_fails_the_job_keeps_the_ticket_and_alerts(tmp_path, store, clock, hall_with_printer):
    with FakeNetworkPrinter("paper_end") as printer:
        config = hall_with_printer(printer.url)
        service = HallService(store, config, clock)
        service.sync_with_config()
        ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
        job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now())
        PrinterWorker(printer_configs(config)["printer-1"], store.path, config, clock).run_once(store)
        job = printing.job(store, job_id, clock.now())
        assert (job["state"], job["status"]) == ("failed", "paper_end")
        assert service.ticket(ticket.id).state == "waiting"
        alerts = [a["message_en"] for a in printing.open_alerts(store)]
        assert alerts == ["Printer printer-1: out of paper; reprint A001"]


def test_paper_near_end_alerts_once_over_many_tickets_and_paper_out_names_the_tickets(store, clock, hall_with_printer):
    with FakeNetworkPrinter("paper_near_end") as printer:
        config = hall_with_printer(printer.url)
        service = HallService(store, config, clock)
        service.sync_with_config()
        printers = printer_configs(config)
        worker = PrinterWorker(printers["printer-1"], store.path, config, clock)
        jobs = []
        for _ in range(5):
            ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
            jobs.append(printing.enqueue(store, ticket.id, "printer-1", clock.now()))
            assert worker.run_once(store)
            check_printers(printers, store.path, clock)  # the 30-second health check, between tickets
        assert {printing.job(store, j, clock.now())["state"] for j in jobs} == {"done"}
        assert [a["message_zh"] for a in printing.open_alerts(store)] == ["打印机 printer-1 纸将用尽"]
        printer.set_state("paper_end")
        for _ in range(2):
            ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
            printing.enqueue(store, ticket.id, "printer-1", clock.now())
            assert worker.run_once(store)
            check_printers(printers, store.path, clock)
        assert [a["message_zh"] for a in printing.open_alerts(store)] == [
            "打印机 printer-1 缺纸，A006、A007 号需补打",
            "打印机 printer-1 纸将用尽",
        ]


def test_a_slow_printer_never_prints_after_the_deadline_and_the_kiosk_never_says_printed(tmp_path, clock):
    """The printer takes 0.4 s over each status answer: the deadline comes before it has said it is
    ready, so the ticket is never sent to it, and the kiosk goes from printing to the fallback."""
    with FakeNetworkPrinter("ok", slow_s=0.4) as printer:
        doc = small_hall_doc()
        doc["printers"] = [{"id": "printer-1", "url": printer.url, "start_margin_s": 0.5}]
        doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机", "printer": "printer-1"}]
        config = parse_hall_config(doc, "slow-printer")
        hall = make_hall_client(tmp_path, config, clock)
        client = hall.app.test_client()
        client.get(f"/enrol?token={hall.kiosk}")
        page = client.get("/kiosk/kiosk-1/lines/A", headers={"HX-Request": "true"}).get_data(as_text=True)
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        html = client.post("/kiosk/kiosk-1/tickets", data={**form, "line": "A"}, headers={"HX-Request": "true"})
        poll = re.search(r'hx-get="(/kiosk/kiosk-1/tickets/\d+/print/\d+)"', html.get_data(as_text=True)).group(1)
        clock.advance(seconds=printing.DEFAULT_DEADLINE_S - 1)  # one real second left to print it in
        worker = PrinterWorker(printer_configs(config)["printer-1"], hall.app.config["DATABASE"], config, clock)
        screens = []

        def fallback_shown() -> bool:
            screens.append(client.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True))
            return "号票未能打印" in screens[-1]

        assert not fallback_shown() and "正在打印" in screens[-1]
        worker.start()
        try:
            assert wait_for(fallback_shown, timeout=20)
        finally:
            worker.stop()
        assert not any("请取走号票" in screen for screen in screens)
    assert all(item.cmd == "DLE EOT" for item in decode_escpos(printer.received))  # no ticket reached it
    store = Store(hall.app.config["DATABASE"])
    assert store.one("SELECT state FROM print_jobs")[0] == "failed"
    assert "A001 号需补打" in printing.open_alerts(store)[0]["message_zh"]
    store.close()


def test_a_slip_finished_after_the_deadline_is_not_reported_printed(store, clock, hall_with_printer):
    config = hall_with_printer("dummy://")
    service = HallService(store, config, clock)
    service.sync_with_config()
    ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
    job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now())

    def slow_print(printer, slip, *, deadline):
        clock.advance(seconds=deadline.left() + 0.5)  # a printer that somehow finished late
        return PrintOutcome(True, "ok", None)

    PrinterWorker(printer_configs(config)["printer-1"], store.path, config, clock, slow_print).run_once(store)
    assert printing.job(store, job_id, clock.now())["state"] == "failed"
    assert "A001 号需补打" in printing.open_alerts(store)[0]["message_zh"]


def test_a_job_whose_printing_raised_is_failed_at_once_not_left_to_its_lease(store, clock, hall_with_printer):
    config = hall_with_printer("dummy://")
    service = HallService(store, config, clock)
    service.sync_with_config()
    ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
    job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now())

    def broken(printer, slip, *, deadline):
        raise RuntimeError("a bug")

    PrinterWorker(printer_configs(config)["printer-1"], store.path, config, clock, broken).run_once(store)
    job = printing.job(store, job_id, clock.now())
    assert (job["state"], job["status"], job["error"]) == ("failed", "error", "not printed: RuntimeError: a bug")
    assert "A001 号需补打" in printing.open_alerts(store)[0]["message_zh"]


def test_a_restarted_worker_takes_back_a_job_whose_lease_ran_out_and_prints_nothing(store, clock, hall_with_printer):
    with FakeNetworkPrinter("ok") as printer:
        config = hall_with_printer(printer.url)
        service = HallService(store, config, clock)
        service.sync_with_config()
        ticket = service.take_ticket(line="A", kiosk="kiosk-1").ticket
        job_id = printing.enqueue(store, ticket.id, "printer-1", clock.now())
        assert printing.claim_next(store, clock.now(), printer="printer-1")  # the process dies mid-job
        worker = PrinterWorker(printer_configs(config)["printer-1"], store.path, config, clock)
        assert worker.run_once(store) is False  # its lease still runs: not this worker's to print
        clock.advance(seconds=printing.DEFAULT_DEADLINE_S + 3 + printing.LEASE_SLACK_S)
        assert worker.run_once(store) is False
        assert printing.job(store, job_id, clock.now())["state"] == "failed"
        assert len(printing.open_alerts(store, clock.now())) == 1
    assert printer.received == b""


def test_reprint_is_marked(store, service):
    slip = build_slip(service, service.take_ticket(line="A").ticket, reprint=True)
    assert slip.reprint and slip.number == "A001"


def test_calls_reach_the_leds_and_a_keypad_calls_the_next_ticket(store, clock):
    config = parse_hall_config({**small_hall_doc(), "buses": [BUS]}, "small-hall")
    service = HallService(store, config, clock)
    service.sync_with_config()
    for _ in range(2):
        service.take_ticket(line="A")
    service.window_action(1, "open", clerk="clerk1")
    hub = build_hub(config, store.path, clock)
    fake = FakeBus(hub.workers["east"].cfg.frame, keypads={11})
    hub = build_hub(config, store.path, clock, opener=fake.opener)
    follower = DisplayFollower(hub, store.path, config, clock)
    hub.start()
    follower.start()
    try:
        assert wait_for(lambda: fake.sim.screen(2) == hub.world.window_text("closed", 2, None))
        service.call_next(1, clerk="clerk1")
        follower.follow(store)
        assert wait_for(lambda: fake.sim.screen(1) == "请A001到1号窗口")
        assert wait_for(lambda: fake.sim.screen(11) == "A001")  # the keypad's own LED
        service.act(service.current_ticket(1).id, "start", window=1)
        service.act(service.current_ticket(1).id, "finish", window=1)
        fake.sim.press(11, "next")  # the clerk presses 叫号 on the hardware keypad
        assert wait_for(lambda: (service.current_ticket(1) or None) is not None)
        called = service.current_ticket(1)
        assert called.number == "A002" and called.clerk == "clerk1"
        follower.follow(store)
        assert wait_for(lambda: fake.sim.screen(1) == "请A002到1号窗口")
        assert wait_for(lambda: "A002" in (fake.sim.screen(30) or ""))
    finally:
        follower.stop()
        hub.stop()


def test_a_keypads_early_no_show_needs_a_second_press_of_the_key(store, clock):
    config = parse_hall_config({**small_hall_doc(), "buses": [BUS]}, "small-hall")
    service = HallService(store, config, clock)
    service.sync_with_config()
    service.take_ticket(line="A")
    service.window_action(1, "open", clerk="clerk1")
    ticket = service.call_next(1, clerk="clerk1")
    router = KeypadRouter(store.path, config, clock)
    press = KeyEvent("east", 11, 1, "no_show")
    router(press)  # called a moment ago: the first press only arms the key
    assert service.ticket(ticket.id).state == "called"
    clock.advance(seconds=KEYPAD_CONFIRM_S + 1)
    router(press)  # too late to be the second press: it arms again
    assert service.ticket(ticket.id).state == "called"
    clock.advance(seconds=3)
    router(press)
    assert service.ticket(ticket.id).state == "no_show"
