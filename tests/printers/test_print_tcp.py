"""print_ticket and check_status against a loopback network printer.

Every fault ends in a failed PrintOutcome with a reason; nothing raises. (The ticket itself is
already in the database; the caller shows the on-screen fallback.)
"""

import socket

import pytest

from tests.tools.escpos_decode import decode_escpos, printed_text, ticket_view
from tests.tools.fake_printers import SILENT, FakeNetworkPrinter, RecordingDriver
from tongban.printers import PrinterConfig, PrintOutcome, build_ticket_bytes, check_status, print_ticket
from tongban.printers.drivers import Deadline

from .conftest import config, slip, wait_for


def job_items(received: bytes):
    """The ticket as received, without the status queries around it."""
    return [it for it in decode_escpos(received) if it.cmd != "DLE EOT"]


def test_ready_printer_gets_status_queries_then_the_ticket_then_a_confirmation():
    with FakeNetworkPrinter("ok") as printer:
        cfg = config(printer.url)
        out = print_ticket(cfg, slip())
        assert out == PrintOutcome(True, "ok", None)
        assert wait_for(lambda: len(printer.received) >= len(build_ticket_bytes(cfg, slip())) + 24)
        items = decode_escpos(printer.received)
    queries = [i for i, it in enumerate(items) if it.cmd == "DLE EOT"]
    assert [items[i].arg for i in queries] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert queries[3] < 4 and items[4].cmd == "ESC @"  # status first ...
    assert queries[4] == len(items) - 4  # ... and the receipt after the whole job
    assert job_items(printer.received) == decode_escpos(build_ticket_bytes(cfg, slip()))
    assert "A012" in printed_text(ticket_view(job_items(printer.received)))


@pytest.mark.parametrize(
    "state, reason",
    [
        ("paper_end", "not printed: paper end"),
        ("cover_open", "not printed: cover open"),
        ("cutter_error", "not printed: autocutter error"),
        ("offline", "not printed: printer offline"),
    ],
)
def test_faulty_printer_gets_no_ticket_and_a_reason(state, reason):
    with FakeNetworkPrinter(state) as printer:
        out = print_ticket(config(printer.url), slip())
        received = decode_escpos(printer.wait_closed())  # all the driver sent, once it hung up
    assert (out.ok, out.status, out.error) == (False, state, reason)
    assert received and all(it.cmd == "DLE EOT" for it in received)


def test_paper_out():
    with FakeNetworkPrinter("paper_end") as printer:
        out = print_ticket(config(printer.url), slip())
    assert not out.ok and out.status == "paper_end" and "paper end" in out.error


def test_cover_open():
    with FakeNetworkPrinter("cover_open") as printer:
        out = print_ticket(config(printer.url), slip())
    assert not out.ok and out.status == "cover_open" and "cover open" in out.error


def test_unknown_status_is_not_fine_and_nothing_is_printed():
    # How long the kiosk waits on a silent printer is measured by bench/bench_printers.py.
    with FakeNetworkPrinter(SILENT) as printer:
        out = print_ticket(config(printer.url, timeout_s=0.3), slip())
        received = printer.wait_closed()
    assert (out.ok, out.status) == (False, "unknown")
    assert out.error == "not printed: no answer to DLE EOT 1"
    assert received == b"\x10\x04\x01"  # asked once, got nothing, gave up: no more queries, no ticket


def test_refused_connection():
    # bound but not listening: the kernel answers a connect with RST, i.e. "refused"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        out = print_ticket(config(f"tcp://127.0.0.1:{port}"), slip())
        st = check_status(config(f"tcp://127.0.0.1:{port}"))
    assert (out.ok, out.status) == (False, "refused")
    assert out.error == f"127.0.0.1:{port} refused the connection"
    assert st.state == "refused"


def test_reset_mid_job():
    with FakeNetworkPrinter("ok", reset_after=200) as printer:
        cfg = config(printer.url)
        out = print_ticket(cfg, slip())
        got = printer.received
    assert (out.ok, out.status) == (False, "reset")
    assert "reset the connection" in out.error or "closed the connection" in out.error
    assert 12 < len(got) < len(build_ticket_bytes(cfg, slip()))  # the job really was cut short


def test_timeout_when_the_printer_never_accepts_the_connection():
    # The connect gave up after the printer's own timeout_s (bench/bench_printers.py measures how long).
    with FakeNetworkPrinter("ok", busy=True) as printer:
        out = print_ticket(config(printer.url, timeout_s=0.3), slip())
    assert (out.ok, out.status) == (False, "timeout")
    assert "did not accept a connection within 0.3 s" in out.error


def test_paper_near_end_prints_with_a_warning():
    with FakeNetworkPrinter("paper_near_end") as printer:
        out = print_ticket(config(printer.url), slip())
    assert (out.ok, out.status, out.warnings) == (True, "ok", ("paper near end",))


def test_printer_that_runs_out_during_the_job_fails_the_ticket():
    cfg = config("tcp://127.0.0.1:9")
    job_end = 12 + len(build_ticket_bytes(cfg, slip()))  # four status queries, then the job
    with FakeNetworkPrinter("ok", state_after=(job_end, "paper_end")) as printer:
        out = print_ticket(config(printer.url), slip())
    assert (out.ok, out.status, out.error) == (False, "paper_end", "sent, but then: paper end")


def test_a_slow_printer_is_not_sent_a_ticket_it_could_not_print_before_the_deadline():
    # 0.1 s over each answer: the status check takes at least 0.4 s of the 1 s left, and taking
    # the ticket and confirming it would take as long again, past the deadline
    with FakeNetworkPrinter("ok", slow_s=0.1) as printer:
        out = print_ticket(config(printer.url, timeout_s=3), slip(), deadline=Deadline(1.0))
    assert not out.ok and out.status in ("timeout", "unknown")  # unknown: the status itself ran out
    assert all(it.cmd == "DLE EOT" for it in decode_escpos(printer.received))  # no ticket reached it


def test_a_printer_a_little_slow_prints_within_the_deadline():
    with FakeNetworkPrinter("ok", slow_s=0.02) as printer:
        out = print_ticket(config(printer.url, timeout_s=3), slip(), deadline=Deadline(5.0))
    assert out == PrintOutcome(True, "ok", None)


def test_a_deadline_already_past_opens_nothing_and_sends_nothing():
    driver = RecordingDriver("ok")
    out = print_ticket(config(), slip(), driver=driver, deadline=Deadline(0))
    assert (out.ok, out.status) == (False, "timeout")
    assert driver.opened == 0 and driver.calls == []


def test_check_status_reports_every_state():
    for state in ("ok", "paper_near_end", "paper_end", "cover_open", "cutter_error"):
        with FakeNetworkPrinter(state) as printer:
            assert check_status(config(printer.url)).state == state
    with FakeNetworkPrinter(SILENT) as printer:
        st = check_status(config(printer.url, timeout_s=0.2))
    assert (st.state, st.detail) == ("unknown", "no answer to DLE EOT 1")


def test_a_bad_url_is_an_error_outcome_not_an_exception():
    out = print_ticket(PrinterConfig(id="x", url="lpt://1"), slip())
    assert (out.ok, out.status) == (False, "error") and "not supported" in out.error
    assert check_status(PrinterConfig(id="x", url="lpt://1")).state == "error"
