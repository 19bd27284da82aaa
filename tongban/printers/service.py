"""check_status and print_ticket: what the devices process calls.

Neither raises for a device fault. The ticket already lives in the database; a failed
outcome only means the caller shows the on-screen fallback and alerts the clerks, so the
outcome must say *why* in words staff can act on.
"""

from __future__ import annotations

import logging
import time

from .config import PrinterConfig
from .drivers import Deadline, PrinterDriver, open_driver
from .errors import PrinterError, PrinterTimeout
from .slip import TicketSlip
from .status import PrinterStatus, PrintOutcome
from .ticket import build_ticket_bytes, link_warning, transfer_seconds

log = logging.getLogger(__name__)


def check_status(cfg: PrinterConfig, *, driver: PrinterDriver | None = None) -> PrinterStatus:
    """DLE EOT status of the printer; no answer is "unknown", never "ok"."""
    try:
        drv = driver or open_driver(cfg)
        with drv:
            return drv.status()
    except PrinterError as e:
        return PrinterStatus(e.status, str(e))
    except OSError as e:
        return PrinterStatus("error", f"{type(e).__name__}: {e}")


def _fail(cfg: PrinterConfig, status: str, reason: str, warnings: list[str]) -> PrintOutcome:
    log.warning("printer %s: %s (%s)", cfg.id, reason, status)
    return PrintOutcome(False, status, reason, tuple(warnings))


def print_ticket(
    cfg: PrinterConfig, slip: TicketSlip, *, driver: PrinterDriver | None = None, deadline: Deadline | None = None
) -> PrintOutcome:
    """Check status, send the ticket, and confirm the printer is still there afterwards.

    With a `deadline` (the print job's: docs/architecture.md §Print jobs) nothing is printed that
    could not finish before it. The whole print, connecting included, is bounded by it, and the
    ticket is not sent when what is left is less than its wire time plus twice what the status
    check took: a printer that answers slowly takes as long again to take the job and confirm it.
    """
    warnings: list[str] = []
    try:
        data = build_ticket_bytes(cfg, slip)  # PrinterFontError when image mode has no CJK font
        drv = driver or open_driver(cfg)  # PrinterConfigError for a URL that bypassed the checks
        slow = link_warning(cfg, len(data))
        if slow:
            log.warning("%s", slow)
            warnings.append(slow)
        baud = drv.target.baud_for_estimate
        wire = transfer_seconds(len(data), baud) if baud else 0.0
        # One budget for the whole job, so the devices process answers the kiosk within
        # about timeout_s (plus wire time on serial) whatever mix of slow steps happens.
        budget = Deadline(cfg.timeout_s + wire)
        if deadline is not None:
            if deadline.left() <= wire:
                needs = f", the ticket needs {wire:.1f} s on the wire" if wire else ""
                return _fail(
                    cfg, "timeout", f"not sent: {deadline.left():.1f} s left before its deadline{needs}", warnings
                )
            budget = min(budget, deadline, key=lambda d: d.end)

        def left(step: str) -> float:
            s = budget.left()
            if s <= 0:
                limit = "before its deadline" if budget is deadline else f"within {cfg.timeout_s:g} s"
                raise PrinterTimeout(f"no answer {limit} (stuck at {step})")
            return s

        if deadline is not None:
            drv.timeout_s = min(drv.timeout_s, left("connecting"))  # the transports' own waits too
        with drv:
            asked = time.monotonic()
            before = drv.status(wait_s=left("status"))
            asked = time.monotonic() - asked
            if before.state == "paper_near_end":
                warnings.append("paper near end")
            if drv.two_way and not before.printable:
                return _fail(cfg, before.state, f"not printed: {before.detail}", warnings)
            if not drv.two_way:
                if before.state != "unknown" and not before.printable:
                    return _fail(cfg, before.state, f"not printed: {before.detail}", warnings)
                if before.state == "unknown":
                    warnings.append(before.detail)

            if deadline is not None and deadline.left() < wire + 2 * asked:
                reason = f"not sent: the printer took {asked:.1f} s to answer, too slow to print before the deadline"
                return _fail(cfg, "timeout", reason, warnings)
            drv.exchange(data, send_s=left("sending"))

            if drv.two_way:
                # the answer to this query comes back only after the printer has taken
                # every byte before it, so it doubles as a delivery receipt; a dropped
                # connection shows up here as "reset" even if the send itself looked fine
                after = drv.status(wait_s=left("confirmation"))
                if after.state == "unknown":
                    return _fail(cfg, "unknown", f"sent, but the printer did not confirm: {after.detail}", warnings)
                if not after.printable:
                    return _fail(cfg, after.state, f"sent, but then: {after.detail}", warnings)
                if after.state == "paper_near_end" and "paper near end" not in warnings:
                    warnings.append("paper near end")
    except PrinterError as e:
        return _fail(cfg, e.status, str(e), warnings)
    except OSError as e:
        return _fail(cfg, "error", f"{type(e).__name__}: {e}", warnings)
    return PrintOutcome(True, "ok", None, tuple(warnings))
