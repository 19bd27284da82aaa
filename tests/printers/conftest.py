"""Printer test helpers: slips, configs, and a socat pty pair standing in for a serial cable."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from tongban.printers import PrinterConfig, demo_slip

from ..conftest import wait_for


def slip(**changes):
    return dataclasses.replace(demo_slip(), **changes)


def config(url: str = "dummy://", **kw) -> PrinterConfig:
    # timeout_s is the product's default (3 s), not a short one: a fake printer answers on its own
    # thread, which a loaded machine may not run for a while, and a late answer would turn "paper
    # end" into "unknown". A test of a printer that never answers sets a short timeout_s itself, so
    # that the fault still fails fast.
    return PrinterConfig(id="kiosk-1", url=url, **kw)


class SocatPair:
    """`socat pty,link=printer pty,link=host`: the driver opens `host` as if it were
    /dev/ttyUSB0, a FakeSerialPrinter sits on `printer`. Stopping socat is pulling the cable."""

    def __init__(self, directory):
        self.printer = str(directory / "printer")
        self.host = str(directory / "host")
        self.proc: subprocess.Popen | None = None

    def start(self) -> SocatPair:
        self.proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.printer}", f"pty,raw,echo=0,link={self.host}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import os

        if not wait_for(lambda: os.path.exists(self.printer) and os.path.exists(self.host)):
            self.stop()
            raise RuntimeError("socat did not create the pty pair")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)


@pytest.fixture
def socat(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat)")
    pair = SocatPair(tmp_path).start()
    yield pair
    pair.stop()


@pytest.fixture(autouse=True)
def _clean_dummy_spool():
    from tongban.printers.drivers.dummy import clear_dummy_jobs

    clear_dummy_jobs()
    yield
    clear_dummy_jobs()
