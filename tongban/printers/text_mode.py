"""Text-mode tickets: the printer draws the characters from its own Chinese font ROM.

Built on python-escpos' Dummy printer for the commands it gets right (GS ! sizes, ESC a,
native QR via GS ( k, cut), with every string sent as raw bytes from TextEncoder.
"""

from __future__ import annotations

import qrcode

from .config import PrinterConfig
from .encoding import TextEncoder
from .layout import QR, Pair, Rule, Text, ticket_layout, wrap
from .slip import TicketSlip


def escpos_dummy():
    """python-escpos' Dummy printer, imported only when a ticket is built: importing escpos
    calls logging.basicConfig() and creates a temp dir, which would make the tongban CLI's
    own logging setup a no-op and litter the web process, which never prints."""
    from escpos.printer import Dummy

    return Dummy()


FONT_A_DOTS = 12  # half-width glyph of the 12x24 font A; a Chinese glyph is 24 dots
NUMBER_MAX_SCALE = {58: 5, 80: 6}
QR_MAX_MODULE = {58: 6, 80: 8}


def qr_modules(data: str) -> int:
    """Modules per side the printer will need for `data` at error correction M."""
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    q.add_data(data.encode("utf-8"))  # python-escpos sends the QR payload as UTF-8
    return q.best_fit() * 4 + 17  # the size needs the version only, not the masks make() would score


def qr_module_size(data: str, dots: int, paper_mm: int) -> int:
    modules = qr_modules(data)
    # four modules of quiet zone on each side, or phones struggle to lock on
    return max(1, min(QR_MAX_MODULE[paper_mm], dots // (modules + 8)))


def number_scale(number: str, columns: int, paper_mm: int) -> int:
    return max(1, min(NUMBER_MAX_SCALE[paper_mm], 8, columns // max(1, len(number))))


class _TextTicket:
    def __init__(self, cfg: PrinterConfig):
        self.cfg = cfg
        self.enc = TextEncoder(cfg.encoding)
        self.columns = cfg.dots // FONT_A_DOTS
        self.p = escpos_dummy()
        # what the printer currently has, so each change is sent once
        self.align, self.size, self.bold, self.invert = "left", (1, 1), False, False

    def style(self, align: str = "left", size=(1, 1), bold=False, invert=False) -> None:
        if align != self.align:
            self.p.set(align=align)
            self.align = align
        if size != self.size:
            self.p.set(custom_size=True, width=size[0], height=size[1])
            self.size = size
        if bold != self.bold:
            self.p.set(bold=bold)
            self.bold = bold
        if invert != self.invert:
            self.p.set(invert=invert)
            self.invert = invert

    def line(self, text: str) -> None:
        self.p._raw(self.enc.encode(text) + b"\n")

    def fits(self, text: str, width: int) -> bool:
        return self.enc.columns(text) * width <= self.columns

    def lines(self, text: str, width: int = 1) -> None:
        for ln in wrap(text, self.columns // width, self.enc.columns):
            self.line(ln)

    def emphasised(self, text: str, align: str) -> None:
        # largest size that keeps the name on one line; wrapping a 2x2 name on 58 mm
        # leaves one orphan character, which reads worse than a smaller size
        for size in ((2, 2), (1, 2)):
            if self.fits(text, size[0]):
                self.style(align, size, bold=True)
                self.line(text)
                return
        self.style(align, (1, 1), bold=True)
        self.lines(text)

    def block(self, b) -> None:
        if isinstance(b, Rule):
            self.style("left")
            self.line("-" * self.columns)
        elif isinstance(b, QR):
            # python-escpos refuses center=True for native QR; ESC a must be sent first
            self.style("center")
            from escpos.constants import QR_ECLEVEL_M

            # a control byte in the payload could spell a real-time command (DLE EOT)
            data = self.enc.clean(b.data)
            size = qr_module_size(data, self.cfg.dots, self.cfg.paper_mm)
            self.p.qr(data, ec=QR_ECLEVEL_M, size=size, native=True)
            self.p._raw(b"\n")
        elif isinstance(b, Pair):
            self.style(b.align)
            both = f"{b.zh} / {b.en}"
            if self.fits(both, 1):
                self.line(both)
            else:
                self.lines(b.zh)
                self.lines(b.en)
        elif isinstance(b, Text):
            if b.style == "number":
                m = number_scale(b.text, self.columns, self.cfg.paper_mm)
                self.style(b.align, (m, m), bold=True)
                self.line(b.text)
            elif b.style in ("title", "heading"):
                self.emphasised(b.text, b.align)
            elif b.style == "banner":
                self.style(b.align, (2, 2) if self.fits(b.text, 2) else (1, 1), True, True)
                self.line(b.text)
            else:
                self.style(b.align)
                self.lines(b.text)
        else:  # pragma: no cover - layout and renderer are changed together
            raise TypeError(f"unknown block {b!r}")

    def build(self, slip: TicketSlip) -> bytes:
        self.p._raw(self.enc.prelude())
        for b in ticket_layout(slip, traditional=self.cfg.encoding == "big5"):
            self.block(b)
        self.style()
        if self.cfg.cut:
            self.p.cut()  # feeds past the cutter first
        else:
            self.p.print_and_feed(6)  # enough to tear it off by hand
        return self.p.output


def build_text_ticket(cfg: PrinterConfig, slip: TicketSlip) -> bytes:
    return _TextTicket(cfg).build(slip)
