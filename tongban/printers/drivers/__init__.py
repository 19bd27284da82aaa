"""Printer transports, picked by URL scheme.

Every driver is a `PrinterDriver`: open/close around one transport method, `exchange`,
which sends bytes and optionally waits for an answer. Faults surface as the named errors
in `tongban.printers.errors`, which is what lets `print_ticket` say *why* a ticket failed.
"""

from __future__ import annotations

import importlib

from ..config import PrinterConfig
from .base import Deadline, PrinterDriver

_MODULES = {
    "tcp": "tcp",
    "serial": "serial",
    "usb": "usb",
    "file": "file",
    "cups": "cups",
    "dummy": "dummy",
}


def driver_class(scheme: str) -> type[PrinterDriver]:
    mod = importlib.import_module(f"{__name__}.{_MODULES[scheme]}")
    return mod.DRIVER


def open_driver(cfg: PrinterConfig) -> PrinterDriver:
    """A driver for cfg.url (not yet opened: use it as a context manager)."""
    target = cfg.target
    return driver_class(target.scheme)(target, cfg.timeout_s)


__all__ = ["PrinterDriver", "open_driver", "driver_class", "Deadline"]
