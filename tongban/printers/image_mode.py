"""Image-mode tickets, for printers without a Chinese font ROM (and for the preview).

The same layout as text mode, drawn with Pillow and a CJK font found on this machine, sent
as GS v 0 raster bands. Blank bands are sent as ESC J feeds instead of white pixels: a
ticket is mostly white space, and on a 9600 baud serial link every byte is ~1 ms.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess

import qrcode
from PIL import Image, ImageDraw, ImageFont

from .config import PrinterConfig
from .errors import PrinterFontError
from .layout import QR, Pair, Rule, Text, ticket_layout, wrap
from .slip import TicketSlip
from .text_mode import escpos_dummy, qr_module_size

FONT_ENV = "TONGBAN_CJK_FONT"
# preferred first: WenQuanYi and Noto/Source Han are what Debian/Ubuntu kiosks ship
FONT_NAMES = (
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansSC-Regular.otf",
    "NotoSansSC-Regular.ttf",
    "SourceHanSansSC-Regular.otf",
    "SourceHanSans-Regular.ttc",
    "DroidSansFallbackFull.ttf",
    "msyh.ttc",
    "simhei.ttf",
    "PingFang.ttc",
)
FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/System/Library/Fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)

BODY_PX = 24  # matches the 24-dot ROM font, so both modes wrap at about the same place
MARGIN_X = 4
BAND_ROWS = 256  # keeps each GS v 0 within small printers' receive buffers
MIN_FEED_ROWS = 8  # shorter white runs are cheaper to send as pixels than as ESC J
# DLE EOT / DLE ENQ / DLE DC4 are real-time commands: printers act on them even inside raster
# data, so pixels that happen to spell "10 04 01" make the printer answer a status nobody
# asked for, and our receipt check reads the wrong byte. Clearing one pixel breaks the pattern.
_REALTIME = re.compile(rb"\x10(?=[\x04\x05\x14])")


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str:
    """Path of a font that draws simplified Chinese; raises PrinterFontError if none."""
    env = os.environ.get(FONT_ENV)
    if env:
        if os.path.isfile(env):
            return env
        raise PrinterFontError(f"{FONT_ENV}={env} is not a file")
    found: dict[str, str] = {}
    for d in FONT_DIRS:
        d = os.path.expanduser(d)
        if not os.path.isdir(d):
            continue
        for name in FONT_NAMES:
            if name in found:
                continue
            hits = glob.glob(os.path.join(d, "**", name), recursive=True)
            if hits:
                found[name] = sorted(hits)[0]
    for name in FONT_NAMES:
        if name in found:
            return found[name]
    # fontconfig knows fonts in places we do not; ask only for ones covering zh-cn
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=10).stdout
            files = sorted(ln.strip().rstrip(":") for ln in out.splitlines() if ln.strip())
            for f in files:
                if f.lower().endswith((".ttf", ".ttc", ".otf")) and os.path.isfile(f):
                    return f
        except (OSError, subprocess.SubprocessError):
            pass
    raise PrinterFontError(
        "no CJK font for image mode: install fonts-wqy-microhei or fonts-noto-cjk, "
        f"or set {FONT_ENV} to a .ttf/.ttc/.otf file"
    )


@functools.lru_cache(maxsize=32)
def _load_font(path: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px)


class _Canvas:
    def __init__(self, cfg: PrinterConfig):
        self.cfg = cfg
        self.font_path = find_cjk_font()
        self.width = cfg.dots
        self.usable = self.width - 2 * MARGIN_X
        self.img = Image.new("L", (self.width, 4000), 255)
        self.draw = ImageDraw.Draw(self.img)
        self.y = 4

    def _grow(self, need: int) -> None:
        if self.y + need > self.img.height:
            bigger = Image.new("L", (self.width, max(self.img.height * 2, self.y + need)), 255)
            bigger.paste(self.img, (0, 0))
            self.img = bigger
            self.draw = ImageDraw.Draw(self.img)

    def text_width(self, text: str, px: int, bold: bool = False) -> float:
        return self.font(px).getlength(text) + (2 if bold else 0)

    def font(self, px: int) -> ImageFont.FreeTypeFont:
        return _load_font(self.font_path, px)

    def line(self, text: str, px: int, align: str, bold=False, invert=False) -> None:
        font = self.font(px)
        h = int(px * 1.25)
        self._grow(h + 4)
        w = self.text_width(text, px, bold)
        x = {"left": MARGIN_X, "center": (self.width - w) / 2, "right": self.width - MARGIN_X - w}[align]
        if invert:
            self.draw.rectangle((x - 6, self.y, x + w + 6, self.y + h), fill=0)
        self.draw.text(
            (x, self.y + (h - px) // 2),
            text,
            font=font,
            fill=255 if invert else 0,
            stroke_width=1 if bold else 0,
            stroke_fill=255 if invert else 0,
        )
        self.y += h

    def lines(self, text: str, px: int, align: str, bold=False) -> None:
        for ln in wrap(text, self.usable, lambda s: self.text_width(s, px, bold)):
            self.line(ln, px, align, bold)

    def fits(self, text: str, px: int, bold=False) -> bool:
        return self.text_width(text, px, bold) <= self.usable

    def emphasised(self, text: str, align: str) -> None:
        for px in (BODY_PX * 2, int(BODY_PX * 1.5)):
            if self.fits(text, px, True):
                self.line(text, px, align, bold=True)
                return
        self.lines(text, BODY_PX, align, bold=True)

    def rule(self) -> None:
        self._grow(BODY_PX)
        mid = self.y + BODY_PX // 2
        for x in range(MARGIN_X, self.width - MARGIN_X, 12):
            self.draw.line((x, mid, x + 6, mid), fill=0, width=2)
        self.y += BODY_PX

    def qr(self, data: str) -> None:
        box = qr_module_size(data, self.cfg.dots, self.cfg.paper_mm)
        q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=4)
        q.add_data(data.encode("utf-8"))
        q.make(fit=True)
        img = q.make_image(fill_color="black", back_color="white").get_image().convert("L")
        if img.width > self.width:  # border is quiet zone; the paper margin can stand in for it
            q.border = 1
            img = q.make_image(fill_color="black", back_color="white").get_image().convert("L")
        self._grow(img.height)
        self.img.paste(img, ((self.width - img.width) // 2, self.y))
        self.y += img.height

    def block(self, b) -> None:
        if isinstance(b, Rule):
            self.rule()
        elif isinstance(b, QR):
            self.qr(b.data)
        elif isinstance(b, Pair):
            both = f"{b.zh} / {b.en}"
            if self.fits(both, BODY_PX):
                self.line(both, BODY_PX, b.align)
            else:
                self.lines(b.zh, BODY_PX, b.align)
                self.lines(b.en, BODY_PX, b.align)
        elif isinstance(b, Text):
            if b.style == "number":
                px = BODY_PX * 5
                while px > BODY_PX and not self.fits(b.text, px, True):
                    px -= BODY_PX // 2
                self.line(b.text, px, b.align, bold=True)
            elif b.style in ("title", "heading"):
                self.emphasised(b.text, b.align)
            elif b.style == "banner":
                px = BODY_PX * 2 if self.fits(b.text, BODY_PX * 2, True) else BODY_PX
                self.line(b.text, px, b.align, bold=True, invert=True)
            else:
                self.lines(b.text, BODY_PX, b.align)
        else:  # pragma: no cover
            raise TypeError(f"unknown block {b!r}")

    def finish(self) -> Image.Image:
        img = self.img.crop((0, 0, self.width, self.y + 8))
        # threshold, not dither: dithered strokes print grey and fuzzy on thermal paper
        return img.point(lambda v: 255 if v >= 128 else 0).convert("1")


def render_ticket_image(cfg: PrinterConfig, slip: TicketSlip) -> Image.Image:
    """The ticket as a 1-bit image exactly as wide as the paper's printable dots."""
    c = _Canvas(cfg)
    for b in ticket_layout(slip, traditional=cfg.encoding == "big5"):
        c.block(b)
    return c.finish()


def _raster_bands(img: Image.Image):
    """Yield ("image", band) and ("feed", rows) in order, top to bottom."""
    row_bytes = (img.width + 7) // 8
    # in mode "1" tobytes() packs 8 pixels per byte with 1 = white
    data = img.tobytes()
    white = b"\xff" * row_bytes
    blank = [data[y * row_bytes : (y + 1) * row_bytes] == white for y in range(img.height)]
    h = img.height
    y = 0
    while y < h:
        if blank[y]:
            end = y
            while end < h and blank[end]:
                end += 1
            if end - y >= MIN_FEED_ROWS:
                yield "feed", end - y
                y = end
                continue
        # a band runs until it is BAND_ROWS tall or a long white run begins
        end = y
        while end < h and end - y < BAND_ROWS:
            if blank[end]:
                run = end
                while run < h and blank[run]:
                    run += 1
                if run - end >= MIN_FEED_ROWS:
                    break
                end = min(run, y + BAND_ROWS)
            else:
                end += 1
        yield "image", img.crop((0, y, img.width, end))
        y = end


def raster_command(band: Image.Image) -> bytes:
    """GS v 0 for one band (python-escpos' raster conversion, our own real-time-safe data)."""
    from escpos.image import EscposImage

    im = EscposImage(band)
    data = _REALTIME.sub(b"\x00", im.to_raster_format())
    xb, h = im.width_bytes, im.height
    return b"\x1dv0\x00" + bytes((xb & 0xFF, xb >> 8, h & 0xFF, h >> 8)) + data


def build_image_ticket(cfg: PrinterConfig, slip: TicketSlip) -> bytes:
    img = render_ticket_image(cfg, slip)
    p = escpos_dummy()
    p.hw("INIT")
    for kind, item in _raster_bands(img):
        if kind == "feed":
            rows = item
            while rows > 0:
                p._raw(b"\x1bJ" + bytes((min(rows, 255),)))
                rows -= 255
        else:
            p._raw(raster_command(item))
    if cfg.cut:
        p.cut()
    else:
        p.print_and_feed(6)
    return p.output
