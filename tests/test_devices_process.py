"""The devices process wires the drivers to the hall: print jobs reach a printer, a paper-out
becomes a failed job and an alert, calls reach the LED displays, and keypad keys call tickets."""

from __future__ import annotations

import pytest

from tests.tools.escpos_decode import Line, QRCode, ticket_view
from tests.tools.fake_displays import FakeBus
from tests.tools.fake_printers import FakeNetworkPrinter
from tongban.config import parse_hall_config
from tongban.devices.display_follower import DisplayFollower, build_hub
from tongban.devices.print_worker import PrinterWorker, build_slip, printer_configs
from tongban.queue import printing
from tongban.queue.service import HallService

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
        assert "A001" in qr.data and f"id {ticket.id}" in qr.data  # offline hall: the ticket text itself


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
