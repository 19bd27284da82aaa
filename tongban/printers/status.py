"""Printer status over DLE EOT, and the result types callers see.

DLE EOT n is a real-time command: the printer answers one byte as soon as it receives it,
even while offline or with paper out, which is exactly when we need to know. Each answer
byte has fixed bits (bit 1 and 4 set, bit 0 and 7 clear), so line noise or a stray byte is
recognised as "unknown" rather than read as "ready".
"""

from __future__ import annotations

from dataclasses import dataclass

# every state a PrinterStatus can have; PrintOutcome uses all but paper_near_end
STATES = (
    "ok",
    "paper_near_end",
    "paper_end",
    "cover_open",
    "offline",
    "unknown",
    "cutter_error",
    "refused",
    "reset",
    "timeout",
    "error",
)
PRINTABLE = ("ok", "paper_near_end")

DLE_EOT = b"\x10\x04"
_FIXED_MASK, _FIXED_BITS = 0x93, 0x12

# n=1 printer status
_OFFLINE = 0x08
# n=2 offline cause
_COVER_OPEN, _PAPER_STOP, _ERROR = 0x04, 0x20, 0x40
# n=3 error cause
_CUTTER, _UNRECOVERABLE, _AUTO_RECOVERABLE = 0x08, 0x20, 0x40
# n=4 roll paper sensor
_NEAR_END, _PAPER_END = 0x0C, 0x60


@dataclass(frozen=True)
class PrinterStatus:
    state: str
    detail: str

    @property
    def printable(self) -> bool:
        return self.state in PRINTABLE


@dataclass(frozen=True)
class PrintOutcome:
    ok: bool
    status: str
    error: str | None
    # things staff should hear about even though the ticket printed (paper near end,
    # a slow image-mode link, status not readable on a one-way link)
    warnings: tuple[str, ...] = ()


def query(n: int) -> bytes:
    return DLE_EOT + bytes((n,))


def valid_answer(b: int) -> bool:
    return b & _FIXED_MASK == _FIXED_BITS


def interpret(answers: dict[int, int]) -> PrinterStatus:
    """Turn DLE EOT answers {n: byte} for n = 1..4 into a status.

    Order matters: an open cover also stops paper and raises "offline", and the citizen-facing
    reason should be the one staff can fix (close the cover) rather than the symptom.
    """
    for n in (1, 2, 3, 4):
        if n not in answers:
            return PrinterStatus("unknown", f"no answer to DLE EOT {n}")
        if not valid_answer(answers[n]):
            return PrinterStatus("unknown", f"unexpected answer 0x{answers[n]:02x} to DLE EOT {n}")
    s1, s2, s3, s4 = (answers[n] for n in (1, 2, 3, 4))
    if s2 & _COVER_OPEN:
        return PrinterStatus("cover_open", "cover open")
    if s4 & _PAPER_END == _PAPER_END or s2 & _PAPER_STOP:
        return PrinterStatus("paper_end", "paper end")
    if s3 & _CUTTER:
        return PrinterStatus("cutter_error", "autocutter error")
    if s2 & _ERROR or s3 & (_UNRECOVERABLE | _AUTO_RECOVERABLE):
        kind = "unrecoverable" if s3 & _UNRECOVERABLE else "recoverable"
        return PrinterStatus("offline", f"printer error ({kind})")
    if s1 & _OFFLINE:
        return PrinterStatus("offline", "printer offline")
    if s4 & _NEAR_END == _NEAR_END:
        return PrinterStatus("paper_near_end", "paper near end")
    return PrinterStatus("ok", "ready")


def answer_bytes(state: str) -> dict[int, int]:
    """The DLE EOT answers a printer in `state` gives; the fakes and the dummy driver use it."""
    base = {1: _FIXED_BITS, 2: _FIXED_BITS, 3: _FIXED_BITS, 4: _FIXED_BITS}
    if state == "paper_near_end":
        base[4] |= _NEAR_END
    elif state == "paper_end":
        base[1] |= _OFFLINE
        base[2] |= _PAPER_STOP
        base[4] |= _PAPER_END | _NEAR_END
    elif state == "cover_open":
        base[1] |= _OFFLINE
        base[2] |= _COVER_OPEN
    elif state == "cutter_error":
        base[1] |= _OFFLINE
        base[2] |= _ERROR
        base[3] |= _CUTTER
    elif state == "offline":
        base[1] |= _OFFLINE
    elif state != "ok":
        raise ValueError(f"no DLE EOT answer describes {state!r}")
    return base
