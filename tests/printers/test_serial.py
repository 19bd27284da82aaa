"""A serial printer through a socat pty pair: the driver opens one end as if it were
/dev/ttyUSB0, a FakeSerialPrinter answers on the other."""

from tests.tools.escpos_decode import decode_escpos, printed_text, ticket_view
from tests.tools.fake_printers import SILENT, FakeSerialPrinter
from tongban.printers import build_ticket_bytes, check_status, print_ticket

from .conftest import config, slip


def url(socat, baud=115200):
    return f"serial://{socat.host}?baudrate={baud}"


def test_ticket_over_serial(socat):
    cfg = config(url(socat), paper_mm=58)
    expected = build_ticket_bytes(cfg, slip())
    with FakeSerialPrinter(socat.printer, "ok") as printer:
        out = print_ticket(cfg, slip())
        got = printer.wait_for(len(expected) + 24)
    assert (out.ok, out.status) == (True, "ok")
    job = [it for it in decode_escpos(got) if it.cmd != "DLE EOT"]
    assert job == decode_escpos(expected)
    assert "取号时间：2026-11-26 09:12" in printed_text(ticket_view(job))


def test_paper_end_over_serial(socat):
    with FakeSerialPrinter(socat.printer, "paper_end"):
        out = print_ticket(config(url(socat, 9600)), slip())
    assert (out.ok, out.status, out.error) == (False, "paper_end", "not printed: paper end")


def test_silent_serial_device_is_unknown(socat):
    with FakeSerialPrinter(socat.printer, SILENT):
        assert check_status(config(url(socat), timeout_s=0.2)).state == "unknown"
        out = print_ticket(config(url(socat), timeout_s=0.2), slip())
    assert (out.ok, out.status) == (False, "unknown")


def test_unplugged_cable_is_offline_with_the_reason(socat):
    with FakeSerialPrinter(socat.printer, "ok"):
        assert check_status(config(url(socat))).state == "ok"
    socat.stop()  # pull the cable: the pty links disappear
    out = print_ticket(config(url(socat)), slip())
    assert (out.ok, out.status) == (False, "offline")
    assert out.error.startswith(f"cannot open {socat.host}")


def test_text_ticket_at_9600_baud_needs_no_slow_link_warning(socat):
    with FakeSerialPrinter(socat.printer, "ok"):
        out = print_ticket(config(url(socat, 9600)), slip())
    assert out.ok and out.warnings == ()
