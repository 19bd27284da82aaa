"""Building the bytes of a ticket, and what they cost on the wire."""

from __future__ import annotations

from ..queue.printing import DEFAULT_DEADLINE_S
from .config import PrinterConfig
from .errors import PrinterError
from .slip import TicketSlip, demo_slip

SLOW_LINK_S = 5.0  # a citizen at a kiosk will not wait longer than this for a ticket


def build_ticket_bytes(cfg: PrinterConfig, slip: TicketSlip) -> bytes:
    """The complete print job for `slip` on `cfg`; pure (no device I/O)."""
    if cfg.mode == "image":
        from .image_mode import build_image_ticket

        return build_image_ticket(cfg, slip)
    from .text_mode import build_text_ticket

    return build_text_ticket(cfg, slip)


def transfer_seconds(nbytes: int, baudrate: int) -> float:
    """Wire time at 8N1: ten bits per byte (start, eight data, stop)."""
    return nbytes * 10 / baudrate


def link_warning(cfg: PrinterConfig, nbytes: int) -> str | None:
    baud = cfg.target.baud_for_estimate
    if baud is None:
        return None
    secs = transfer_seconds(nbytes, baud)
    if secs <= SLOW_LINK_S:
        return None
    hint = (
        'use a higher baudrate or a printer with a Chinese font (mode = "text")'
        if cfg.mode == "image"
        else "use a higher baudrate"
    )
    return (
        f"printer {cfg.id}: a {cfg.mode}-mode ticket is ~{nbytes / 1024:.0f} KB, ~{secs:.0f} s at {baud} baud; {hint}"
    )


def start_margin_s(cfg: PrinterConfig) -> float:
    """How long before its deadline a print job must still have for this printer to start it
    (docs/architecture.md §Print jobs): `start_margin_s`, plus a ticket's wire time on a serial link."""
    baud = cfg.target.baud_for_estimate
    if baud is None:
        return cfg.start_margin_s
    try:
        nbytes = len(build_ticket_bytes(cfg, demo_slip()))
    except PrinterError:  # image mode without a CJK font: every print fails anyway, and says why
        nbytes = 0
    return cfg.start_margin_s + transfer_seconds(nbytes, baud)


def printer_warnings(cfg: PrinterConfig) -> list[str]:
    """Problems that are not errors, for `check-config`: e.g. image mode on a slow serial link."""
    warnings = []
    if cfg.timeout_s >= DEFAULT_DEADLINE_S:
        warnings.append(
            f"timeout_s {cfg.timeout_s:g} s is not inside the kiosk's {DEFAULT_DEADLINE_S:g} s print "
            f"deadline: a print that needs longer is stopped at the deadline and shown on screen instead"
        )
    slow = link_warning(cfg, len(build_ticket_bytes(cfg, demo_slip()))) if cfg.target.baud_for_estimate else None
    if slow:
        warnings.append(slow)
    elif start_margin_s(cfg) >= DEFAULT_DEADLINE_S:
        warnings.append(
            f"start_margin_s {cfg.start_margin_s:g} s (plus the wire time) leaves no time inside the kiosk's "
            f"{DEFAULT_DEADLINE_S:g} s print deadline: no ticket would ever be started"
        )
    return warnings
