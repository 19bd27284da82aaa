"""dummy:// - prints nowhere. For demos and for exercising the fallback path end to end:
dummy://kiosk-1?status=paper_end makes every print fail the way a real paper-out would."""

from __future__ import annotations

import threading
from collections import deque

from ..errors import PrinterError, PrinterRefused, PrinterReset, PrinterTimeout
from ..status import answer_bytes
from .base import PrinterDriver

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
        s = target.dummy_status
        if s in ("ok", "paper_near_end", "paper_end", "cover_open", "offline", "cutter_error"):
            self.answers = answer_bytes(s)
        elif s == "reset":
            self.answers = answer_bytes("ok")  # looks fine until the job is sent
        else:
            self.answers = {}  # "unknown": never answers
        self.job = bytearray()

    def open(self) -> None:
        s = self.target.dummy_status
        why = f"dummy printer set to status={s}"
        if s == "refused":
            raise PrinterRefused(why)
        if s == "timeout":
            raise PrinterTimeout(why)
        if s == "error":
            raise PrinterError(why)

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if len(data) == 3 and data[:2] == b"\x10\x04":
            got = self.answers.get(data[2])
            return bytes((got,)) if got is not None and answer else b""
        if self.target.dummy_status == "reset":
            raise PrinterReset("dummy printer set to status=reset")
        self.job += data
        return b""

    def close(self) -> None:
        if self.job:
            with _LOCK:
                _SPOOLS.setdefault(self.target.name, deque(maxlen=SPOOL_JOBS)).append(bytes(self.job))
            self.job = bytearray()


DRIVER = DummyDriver
