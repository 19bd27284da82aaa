"""ID-card reader transports, picked by URL scheme.

Every driver is a `ReaderDriver`: open/close around one transport method, `exchange`. The protocol
on top (find, select, read) is the same for all of them (tongban/idcard/reader.py).
"""

from __future__ import annotations

import importlib

from ..config import ReaderTarget
from .base import Deadline, ReaderDriver

_MODULES = {"serial": "serial", "loop": "serial", "socket": "socket", "dummy": "dummy"}
DEFAULT_TIMEOUT_S = 1.0


def driver_class(scheme: str) -> type[ReaderDriver]:
    mod = importlib.import_module(f"{__name__}.{_MODULES[scheme]}")
    return mod.DRIVER


def open_reader(target: ReaderTarget, timeout_s: float = DEFAULT_TIMEOUT_S) -> ReaderDriver:
    """A driver for target, opened; raises ReaderGone when it cannot be."""
    driver = driver_class(target.scheme)(target, timeout_s)
    driver.open()
    return driver


__all__ = ["ReaderDriver", "Deadline", "open_reader", "driver_class"]
