"""The other transports: device files, CUPS (through an injected runner), USB (through an
injected python-escpos Usb stand-in), dummy://, and the recording fake."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.escpos_decode import decode_escpos
from tests.tools.fake_printers import RecordingDriver
from tongban.printers import build_ticket_bytes, check_status, parse_printer_url, print_ticket
from tongban.printers.drivers import open_driver
from tongban.printers.drivers.cups import CupsDriver
from tongban.printers.drivers.dummy import dummy_jobs
from tongban.printers.drivers.usb import UsbDriver
from tongban.printers.errors import PrinterReset
from tongban.printers.status import answer_bytes

from .conftest import config, slip

# file:// ---------------------------------------------------------------------------------


def test_file_printer_appends_the_job_and_warns_status_is_unreadable(tmp_path):
    dev = tmp_path / "lp0"
    dev.write_bytes(b"")
    cfg = config(f"file://{dev}")
    out = print_ticket(cfg, slip())
    assert out.ok and out.warnings == ("file:// is one-way; status cannot be read",)
    assert dev.read_bytes() == build_ticket_bytes(cfg, slip())
    assert check_status(cfg).state == "unknown"


def test_missing_device_file_is_offline_and_never_created(tmp_path):
    dev = tmp_path / "lp0"
    out = print_ticket(config(f"file://{dev}"), slip())
    assert (out.ok, out.status) == (False, "offline")
    assert "does not exist" in out.error
    assert not dev.exists()


def test_device_that_stops_taking_data_times_out(tmp_path):
    # a FIFO whose reader never reads, already full: like usblp's buffer with no paper
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    filler = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        while True:
            os.write(filler, b"\0" * 65536)
    except BlockingIOError:
        pass
    try:
        out = print_ticket(config(f"file://{fifo}", timeout_s=0.2), slip())
    finally:
        os.close(filler)
        os.close(reader)
    assert (out.ok, out.status) == (False, "timeout")
    assert "stopped taking data" in out.error


def test_fifo_without_a_reader_is_offline(tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    out = print_ticket(config(f"file://{fifo}"), slip())
    assert (out.ok, out.status) == (False, "offline")


# cups:// (no CUPS on this machine or in CI: the commands are checked through the runner) ---


class Runner:
    def __init__(
        self,
        lpstat_out=b"printer kiosk is idle.  enabled since Thu 26 Nov 2026\n",
        lpstat_rc=0,
        lp_rc=0,
        lp_err=b"",
        missing=False,
        hang=False,
    ):
        self.calls = []
        self.lpstat_out, self.lpstat_rc, self.lp_rc, self.lp_err = lpstat_out, lpstat_rc, lp_rc, lp_err
        self.missing, self.hang = missing, hang

    def __call__(self, cmd, input=None, capture_output=False, timeout=None):
        self.calls.append((cmd, input, timeout))
        if self.missing:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", cmd[0])
        if self.hang and cmd[0] == "lp":
            raise subprocess.TimeoutExpired(cmd, timeout)
        if cmd[0] == "lpstat":
            return subprocess.CompletedProcess(
                cmd,
                self.lpstat_rc,
                self.lpstat_out,
                b"" if self.lpstat_rc == 0 else b'lpstat: Invalid destination name in list "kiosk".\n',
            )
        return subprocess.CompletedProcess(cmd, self.lp_rc, b"request id is kiosk-12 (1 file(s))\n", self.lp_err)


def cups(runner, name="kiosk"):
    cfg = config(f"cups://{name}")
    return cfg, CupsDriver(parse_printer_url(cfg.url), cfg.timeout_s, runner=runner)


def test_cups_sends_one_raw_job_with_lp_after_checking_the_queue():
    runner = Runner()
    cfg, drv = cups(runner)
    out = print_ticket(cfg, slip(), driver=drv)
    assert out.ok
    assert out.warnings == ("CUPS queue kiosk enabled; paper state is not reported",)
    (stat, _, _), (lp, data, timeout) = runner.calls
    assert stat == ["lpstat", "-p", "kiosk"]
    assert lp == ["lp", "-d", "kiosk", "-o", "raw", "-t", "tongban-ticket", "-"]
    assert data == build_ticket_bytes(cfg, slip())
    assert 0 < timeout <= cfg.timeout_s


def test_disabled_cups_queue_fails_at_once_instead_of_printing_hours_later():
    runner = Runner(lpstat_out=b"printer kiosk disabled since Thu 26 Nov 2026 -\n\tPaper out\n")
    cfg, drv = cups(runner)
    out = print_ticket(cfg, slip(), driver=drv)
    assert (out.ok, out.status) == (False, "offline")
    assert out.error == "not printed: CUPS queue kiosk disabled: Paper out"
    assert [c[0][0] for c in runner.calls] == ["lpstat"]


def test_unknown_cups_queue_lp_failure_missing_lp_and_hang():
    cfg, drv = cups(Runner(lpstat_rc=1))
    assert print_ticket(cfg, slip(), driver=drv).status == "offline"
    cfg, drv = cups(Runner(lp_rc=1, lp_err=b"lp: Unable to print file\n"))
    out = print_ticket(cfg, slip(), driver=drv)
    assert (out.status, out.error) == ("error", "lp failed (1): lp: Unable to print file")
    cfg, drv = cups(Runner(missing=True))
    assert "install cups-client" in print_ticket(cfg, slip(), driver=drv).error
    cfg, drv = cups(Runner(hang=True))
    assert print_ticket(cfg, slip(), driver=drv).status == "timeout"


# usb:// (pyusb and a device are not available here: python-escpos' Usb is replaced) -------


class FakeUsbDevice:
    def __init__(self, answers, write_error=None):
        self.answers, self.write_error = answers, write_error
        self.writes, self.reads = [], []
        self.pending = b""

    def write(self, ep, data, timeout):
        self.writes.append((ep, bytes(data), timeout))
        if self.write_error:
            raise self.write_error
        if data[:2] == b"\x10\x04":
            self.pending += bytes((self.answers[data[2]],))

    def read(self, ep, size, timeout):
        self.reads.append((ep, size, timeout))
        got, self.pending = self.pending[:size], self.pending[size:]
        return list(got)


class FakeEscposUsb:
    made = []

    def __init__(self, idVendor, idProduct, timeout, in_ep=0x82, out_ep=0x01, found=True, device=None):
        self.kwargs = dict(idVendor=idVendor, idProduct=idProduct, timeout=timeout, in_ep=in_ep, out_ep=out_ep)
        self.in_ep, self.out_ep, self.found = in_ep, out_ep, found
        self.device = device
        FakeEscposUsb.made.append(self)

    def open(self, raise_not_found=True):
        from escpos.exceptions import DeviceNotFoundError

        if not self.found:
            raise DeviceNotFoundError("Device not found or cable not plugged in.")

    def close(self):
        pass


def test_usb_always_gets_a_finite_timeout_on_every_transfer():
    dev = FakeUsbDevice(answer_bytes("ok"))
    cfg = config("usb://0416:5011?out_ep=0x03", timeout_s=2.5)
    drv = UsbDriver(parse_printer_url(cfg.url), cfg.timeout_s, factory=lambda **kw: FakeEscposUsb(device=dev, **kw))
    out = print_ticket(cfg, slip(), driver=drv)
    assert out.ok
    usb = FakeEscposUsb.made[-1]
    assert usb.kwargs == dict(idVendor=0x0416, idProduct=0x5011, timeout=2500, in_ep=0x82, out_ep=0x03)
    assert all(ep == 0x03 and 0 < t <= 2500 for ep, _, t in dev.writes)  # 0 would be "forever"
    assert all(ep == 0x82 and 0 < t <= 2500 for ep, _, t in dev.reads)
    job = b"".join(d for _, d, _ in dev.writes if d[:2] != b"\x10\x04")
    assert decode_escpos(job) == decode_escpos(build_ticket_bytes(cfg, slip()))


def test_usb_device_not_found_is_offline_and_write_timeout_is_timeout():
    cfg = config("usb://0416:5011")
    drv = UsbDriver(parse_printer_url(cfg.url), cfg.timeout_s, factory=lambda **kw: FakeEscposUsb(found=False, **kw))
    out = print_ticket(cfg, slip(), driver=drv)
    assert (out.ok, out.status) == (False, "offline") and "usb://0416:5011 not found" in out.error

    class USBTimeoutError(OSError):  # what pyusb raises, by name
        pass

    dev = FakeUsbDevice(answer_bytes("ok"), write_error=USBTimeoutError(errno.ETIMEDOUT, "Operation timed out"))
    drv = UsbDriver(parse_printer_url(cfg.url), cfg.timeout_s, factory=lambda **kw: FakeEscposUsb(device=dev, **kw))
    assert print_ticket(cfg, slip(), driver=drv).status == "timeout"


def test_usb_without_pyusb_says_what_to_install():
    from escpos.printer import Usb

    if Usb.is_usable():
        pytest.skip("pyusb is installed here")
    out = print_ticket(config("usb://0416:5011"), slip())
    assert (out.ok, out.status) == (False, "error") and "pip install pyusb" in out.error


# dummy:// and the recording fake ------------------------------------------------------------


def test_dummy_keeps_recent_jobs_by_name_and_can_play_any_fault():
    assert print_ticket(config("dummy://kiosk-1"), slip()).ok
    assert dummy_jobs("kiosk-1") == [build_ticket_bytes(config(), slip())]
    assert dummy_jobs("other") == []
    for state in ("paper_end", "cover_open", "unknown", "refused", "reset", "timeout", "error", "cutter_error"):
        out = print_ticket(config(f"dummy://kiosk-2?status={state}"), slip())
        assert (out.ok, out.status) == (False, state), state
    assert dummy_jobs("kiosk-2") == []


def test_driver_is_picked_by_url_scheme():
    for url, name in (
        ("tcp://127.0.0.1:9100", "TcpDriver"),
        ("serial:///dev/ttyUSB0", "SerialDriver"),
        ("usb://0416:5011", "UsbDriver"),
        ("file:///dev/usb/lp0", "FileDriver"),
        ("cups://kiosk", "CupsDriver"),
        ("dummy://", "DummyDriver"),
    ):
        assert type(open_driver(config(url))).__name__ == name


def test_recording_driver_sees_status_before_job_and_receipt_after():
    drv = RecordingDriver("ok")
    assert print_ticket(config(), slip(), driver=drv).ok
    kinds = [k for k, _ in drv.calls]
    assert kinds == ["query"] * 4 + ["send"] + ["query"] * 4
    assert (drv.opened, drv.closed) == (1, 1)


def test_printer_that_goes_silent_after_the_job_is_not_reported_printed():
    out = print_ticket(config(timeout_s=0.1), slip(), driver=RecordingDriver("ok", after_state="silent"))
    assert (out.ok, out.status) == (False, "unknown")
    assert out.error.startswith("sent, but the printer did not confirm")


def test_reset_while_sending_is_reported_as_reset():
    out = print_ticket(config(), slip(), driver=RecordingDriver("ok", fail=PrinterReset("link lost")))
    assert (out.ok, out.status, out.error) == (False, "reset", "link lost")


def test_one_way_link_prints_with_a_warning():
    drv = RecordingDriver("ok", two_way=False)
    out = print_ticket(config(), slip(), driver=drv)
    assert out.ok and "one-way" in out.warnings[0]
    assert [k for k, _ in drv.calls] == ["send"]


def test_importing_the_package_leaves_logging_alone():
    # python-escpos calls logging.basicConfig() when imported; if tongban.printers imported
    # it eagerly, the tongban CLI's own basicConfig(level=INFO, format=...) would do nothing
    code = (
        "import logging, sys; import tongban.printers, tongban.printers.cli; "
        "print('escpos' in sys.modules, len(logging.getLogger().handlers))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.split() == ["False", "0"]
