"""dummy:// - prints nowhere. For demos and for exercising the fallback path end to end:
dummy://kiosk-1?status=paper_end makes every print fail the way a real paper-out would."""

from __future__ import annotations

import threading
from collections import deque

from ..status import PrinterStatus, answer_bytes
from . import PrinterDriver

_SPOOLS: dict[str, deque] = {}
_LOCK = threading.Lock()
SPOOL_JOBS = 50  # the demo runs for days; keep only recent jobs


def dummy_jobs(name: str = "") -> list[bytes]:
    """Jobs printed to dummy://name, oldest first."""
    with _LOCK:
        return list(_SPOOLS.get(name, ()))


def clear_dummy_jobs() -> None:
    with _LOCK:
        _SPOOLS.clear()


class DummyDriver(PrinterDriver):
    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        self.answers = answer_bytes(target.dummy_status) if target.dummy_status in (
            "ok", "paper_near_end", "paper_end", "cover_open", "offline", "cutter_error"
        ) else {}
        self.job = bytearray()

    def status(self, wait_s=None) -> PrinterStatus:
        if self.target.dummy_status in ("refused", "reset", "timeout", "error"):
            return PrinterStatus(self.target.dummy_status, f"dummy printer says {self.target.dummy_status}")
        return super().status(wait_s)

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if len(data) == 3 and data[:2] == b"\x10\x04":
            got = self.answers.get(data[2])
            return bytes((got,)) if got is not None and answer else b""
        self.job += data
        return b""

    def close(self) -> None:
        if self.job:
            with _LOCK:
                _SPOOLS.setdefault(self.target.name, deque(maxlen=SPOOL_JOBS)).append(bytes(self.job))
            self.job = bytearray()


DRIVER = DummyDriver
