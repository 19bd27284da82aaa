"""Ticket printers (docs/architecture.md §Devices): ESC/POS tickets in text or image mode, status over DLE EOT,
transports picked by URL (tcp, serial, usb, file, cups, dummy). See docs/printers.md.

The hall config reads [[printers]] through ``printers.config`` and must not load Pillow, qrcode,
python-escpos or pyserial on the way (tests/test_domain_purity.py), so only the light modules are
imported here; the names that print or check a printer load their modules on first use.
"""

import importlib

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
from .slip import TicketSlip, demo_slip
from .status import PrinterStatus, PrintOutcome

_LAZY = {
    "find_cjk_font": "image_mode",
    "render_ticket_image": "image_mode",
    "check_status": "service",
    "print_ticket": "service",
    "build_ticket_bytes": "ticket",
    "printer_warnings": "ticket",
    "transfer_seconds": "ticket",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
