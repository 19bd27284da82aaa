"""The devices process's printing: one worker per printer, and the printers' health checks.

A slow printer (image mode on a 9600-baud serial link) must not delay another kiosk's ticket, so
each printer has its own thread taking its own jobs. Device faults never raise out of here: they
become a failed job (the kiosk shows the ticket on screen) and a device status with an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..config import HallConfig
from ..printers import PrinterConfig, PrinterStatus, PrintOutcome, TicketSlip, check_status, print_ticket
from ..printers.drivers import Deadline
from ..printers.ticket import start_margin_s
from ..queue import calendar, printing
from ..queue.catalogue import CatalogueOverlay
from ..queue.clock import Clock
from ..queue.service import HallService, Ticket
from ..queue.store import Store, parse_iso
from ..texts import both
from .loop import StoreLoop

log = logging.getLogger("tongban.printing")

IDLE_POLL_S = 0.1


def printer_configs(config: HallConfig) -> dict[str, PrinterConfig]:
    """The hall's printers by id, as config.py parsed them."""
    return {printer.id: printer for printer in config.printers}


def build_slip(service: HallService, ticket: Ticket, *, reprint: bool = False) -> TicketSlip:
    config = service.config
    line = config.line(ticket.line)
    matter = config.matter(ticket.matter) if ticket.matter else None
    # The same outlook as the kiosk's screen, the API and the status page (docs/architecture.md §Forecast).
    outlook = service.ticket_outlook(ticket)
    estimate = outlook.estimate
    return TicketSlip(
        hall_name_zh=config.hall.name_zh,
        hall_name_en=config.hall.name_en,
        number=ticket.number,
        line_name_zh=line.name_zh,
        line_name_en=line.name_en,
        matter_name_zh=matter.name_zh if matter else None,
        matter_name_en=matter.name_en if matter else None,
        people_ahead=outlook.people_ahead,
        estimate_low_min=estimate.low if estimate else None,
        estimate_high_min=estimate.high if estimate else None,
        opens_at=outlook.opens_at,
        issued_at_local=calendar.local(ticket.issued_at, config.hall).strftime("%Y-%m-%d %H:%M"),
        windows=list(outlook.windows),
        qr_text=service.qr_text(ticket),
        reminders=[*both("slip_reminder_missed"), "".join(both("slip_reminder_today"))],
        reprint=reprint,
    )


#: print_ticket's shape: the printer, the slip, and the job's deadline (nothing printed past it).
PrintFn = Callable[..., PrintOutcome]


def printer_state(outcome: PrintOutcome) -> str:
    """The printer's state as a job left it, for device_status: a good print may warn of paper near end."""
    if not outcome.ok:
        return outcome.status
    return "paper_near_end" if "paper near end" in outcome.warnings else "ok"


class PrinterWorker:
    """One printer's jobs (docs/architecture.md §Print jobs): claims a job only with the printer's
    start margin left before its deadline, prints within that deadline, and records the outcome."""

    def __init__(
        self,
        printer: PrinterConfig,
        database: str,
        config: HallConfig,
        clock: Clock,
        printer_fn: PrintFn = print_ticket,
        catalogue: CatalogueOverlay | None = None,
    ):
        self.printer = printer
        # With the district's applied catalogue, slips name matters as the kiosk does (queue/catalogue.py).
        self.catalogue = catalogue
        self.database = database
        self.config = config
        self.clock = clock
        self.printer_fn = printer_fn
        self.margin_s = start_margin_s(printer)
        self.names = printing.printer_names(config)
        self.loop = StoreLoop(f"printer-{printer.id}", database, self.run_once, idle_s=IDLE_POLL_S)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def run_once(self, store: Store) -> bool:
        """Print one job if there is one; True when a job was taken."""
        job = printing.claim_next(
            store,
            self.clock.now(),
            printer=self.printer.id,
            margin_s=self.margin_s,
            timeout_s=self.printer.timeout_s,
            names=self.names,
        )
        if job is None:
            return False
        try:
            config = self.catalogue.current(store) if self.catalogue else self.config
            service = HallService(store, config, self.clock)
            slip = build_slip(service, service.ticket(job["ticket_id"]), reprint=bool(job["reprint"]))
            left = (parse_iso(job["deadline"]) - self.clock.now()).total_seconds()
            outcome = self.printer_fn(self.printer, slip, deadline=Deadline(left))
        except Exception as exc:  # a bug here must not leave the job to its lease: the kiosk would wait it out
            log.exception("printer %s: job %s", self.printer.id, job["id"])
            outcome = PrintOutcome(False, "error", f"not printed: {type(exc).__name__}: {exc}")
        state = printing.complete(
            store,
            job["id"],
            self.clock.now(),
            ok=outcome.ok,
            status=outcome.status,
            error=outcome.error,
            printer_state=printer_state(outcome),
            names=self.names,
        )
        log.info("printer %s: job %s %s (%s)", self.printer.id, job["id"], state, outcome.error or outcome.status)
        return True


def check_printers(
    printers: dict[str, PrinterConfig],
    database: str,
    clock: Clock,
    status_fn: Callable[[PrinterConfig], PrinterStatus] = check_status,
    *,
    names: printing.Names | None = None,
) -> None:
    """The 30-second health job: each printer's DLE EOT status, for the consoles and alerts."""
    store = Store(database, migrate=False)
    try:
        for printer in printers.values():
            status = status_fn(printer)
            printing.record_device_status(
                store, f"printer:{printer.id}", "printer", status.state, status.detail, clock.now(), names=names
            )
    finally:
        store.close()
