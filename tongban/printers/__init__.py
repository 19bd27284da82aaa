"""Ticket printers (DESIGN §7): ESC/POS tickets in text or image mode, status over DLE EOT,
transports picked by URL (tcp, serial, usb, file, cups, dummy). See docs/printers.md."""

from .config import PrinterConfig, PrinterTarget, parse_printer_config, parse_printer_url
from .errors import (
    PrinterConfigError,
    PrinterError,
    PrinterFontError,
    PrinterOffline,
    PrinterRefused,
    PrinterReset,
    PrinterTimeout,
)
from .image_mode import find_cjk_font, render_ticket_image
from .service import check_status, print_ticket
from .slip import TicketSlip, demo_slip
from .status import PrinterStatus, PrintOutcome
from .ticket import build_ticket_bytes, printer_warnings, transfer_seconds

__all__ = [
    "PrinterConfig",
    "PrinterTarget",
    "parse_printer_config",
    "parse_printer_url",
    "PrinterError",
    "PrinterConfigError",
    "PrinterFontError",
    "PrinterOffline",
    "PrinterRefused",
    "PrinterReset",
    "PrinterTimeout",
    "TicketSlip",
    "demo_slip",
    "PrintOutcome",
    "PrinterStatus",
    "build_ticket_bytes",
    "render_ticket_image",
    "find_cjk_font",
    "check_status",
    "print_ticket",
    "printer_warnings",
    "transfer_seconds",
]
