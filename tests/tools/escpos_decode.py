"""An ESC/POS decoder, so tests assert on what a printer would *do* with our bytes.

`decode_escpos` turns a byte stream into (command, argument) items and text items, decoding
text with the printer's encoding exactly as a Chinese printer would: bytes >= 0x80 are
only legal after FS & (Chinese mode), and ESC @ leaves Chinese mode. `ticket_view` folds
the items into printed lines with their alignment, size, weight and inversion, plus QR
codes, raster images, feeds and cuts. It is strict: an unknown command is an error, so a
stray byte in a ticket fails the test instead of being skipped.
"""

from __future__ import annotations

from dataclasses import dataclass


class DecodeError(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    cmd: str  # "text", "LF", "ESC @", "GS !", "GS ( k", "GS v 0", "DLE EOT", ...
    arg: object = None


# commands of the form <prefix> <letter> <one parameter byte>
_ONE_ARG = {
    0x1B: set(b"!-3EGJMRV adt{U"),
    0x1C: set(b"!-CW"),
    0x1D: set(b"!BHbfhw"),
}
_NO_ARG = {0x1B: set(b"@2"), 0x1C: set(b"&.")}
_PREFIX = {0x1B: "ESC", 0x1C: "FS", 0x1D: "GS"}


def _need(data: bytes, i: int, n: int) -> None:
    if i + n > len(data):
        raise DecodeError(f"truncated command at offset {i}")


def decode_escpos(data: bytes, encoding: str = "gb18030") -> list[Item]:
    items: list[Item] = []
    chinese = False
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b >= 0x20:
            j = i
            while j < n and data[j] >= 0x20:
                j += 1
            run = data[i:j]
            if not chinese and any(c >= 0x80 for c in run):
                raise DecodeError(f"byte >= 0x80 at offset {i} outside Chinese mode (no FS & after ESC @)")
            try:
                items.append(Item("text", run.decode(encoding)))
            except UnicodeDecodeError as e:
                raise DecodeError(f"text at offset {i} is not valid {encoding}: {e}") from e
            i = j
            continue
        if b == 0x0A:
            items.append(Item("LF"))
            i += 1
        elif b in (0x0D, 0x09, 0x0C):
            items.append(Item({0x0D: "CR", 0x09: "HT", 0x0C: "FF"}[b]))
            i += 1
        elif b == 0x10:
            _need(data, i, 3)
            if data[i + 1] != 0x04:
                raise DecodeError(f"unknown DLE command 0x{data[i + 1]:02x} at offset {i}")
            items.append(Item("DLE EOT", data[i + 2]))
            i += 3
        elif b in _PREFIX:
            _need(data, i, 2)
            c = data[i + 1]
            name = f"{_PREFIX[b]} {chr(c)}"
            if c in _NO_ARG.get(b, ()):
                items.append(Item(name))
                if name == "ESC @":
                    chinese = False
                elif name == "FS &":
                    chinese = True
                elif name == "FS .":
                    chinese = False
                i += 2
            elif c in _ONE_ARG.get(b, ()):
                _need(data, i, 3)
                arg = data[i + 2]
                if name == "GS !":
                    arg = ((arg >> 4) + 1, (arg & 0x0F) + 1)  # (width, height) multipliers
                items.append(Item(name, arg))
                i += 3
            elif b == 0x1D and c == ord("V"):
                _need(data, i, 3)
                m = data[i + 2]
                if m in (0, 1, 48, 49):
                    items.append(Item("GS V", (m,)))
                    i += 3
                else:
                    _need(data, i, 4)
                    items.append(Item("GS V", (m, data[i + 3])))
                    i += 4
            elif b == 0x1D and c == ord("("):
                _need(data, i, 5)
                fn = chr(data[i + 2])
                length = data[i + 3] | data[i + 4] << 8
                _need(data, i + 5, length)
                body = data[i + 5 : i + 5 + length]
                items.append(Item(f"GS ( {fn}", body))
                i += 5 + length
            elif b == 0x1D and c == ord("v"):
                _need(data, i, 8)
                if data[i + 2] != 0x30:
                    raise DecodeError(f"unknown GS v command at offset {i}")
                m = data[i + 3]
                xb = data[i + 4] | data[i + 5] << 8
                h = data[i + 6] | data[i + 7] << 8
                _need(data, i + 8, xb * h)
                items.append(
                    Item("GS v 0", {"m": m, "width_bytes": xb, "height": h, "data": data[i + 8 : i + 8 + xb * h]})
                )
                i += 8 + xb * h
            elif b == 0x1B and c == ord("p"):
                _need(data, i, 5)
                items.append(Item("ESC p", tuple(data[i + 2 : i + 5])))
                i += 5
            else:
                raise DecodeError(f"unknown command {name!r} (0x{b:02x} 0x{c:02x}) at offset {i}")
        else:
            raise DecodeError(f"unexpected control byte 0x{b:02x} at offset {i}")
    return items


@dataclass(frozen=True)
class Line:
    text: str
    align: str = "left"
    size: tuple[int, int] = (1, 1)
    bold: bool = False
    invert: bool = False


@dataclass(frozen=True)
class QRCode:
    data: str
    module: int
    ec: str
    align: str


@dataclass(frozen=True)
class Raster:
    width_dots: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Feed:
    amount: int
    unit: str  # "lines" (ESC d) or "dots" (ESC J)


@dataclass(frozen=True)
class Cut:
    mode: tuple


_ALIGN = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}


def ticket_view(data: bytes | list[Item], encoding: str = "gb18030") -> list:
    """What the printer puts on paper, in order: Line, QRCode, Raster, Feed, Cut."""
    items = decode_escpos(data, encoding) if isinstance(data, (bytes, bytearray)) else data
    out: list = []
    align, size, bold, invert = "left", (1, 1), False, False
    text: list[str] = []
    line_style = None
    qr = {"module": 3, "ec": "L", "data": None}

    def end_line():
        nonlocal text, line_style
        if text:
            a, s, b, inv = line_style
            out.append(Line("".join(text), a, s, b, inv))
        text, line_style = [], None

    for it in items:
        if it.cmd == "text":
            if line_style is None:
                line_style = (align, size, bold, invert)
            text.append(it.arg)
        elif it.cmd == "LF":
            if not text:
                out.append(Line("", align, size, bold, invert))
            end_line()
        elif it.cmd == "ESC @":
            end_line()
            align, size, bold, invert = "left", (1, 1), False, False
        elif it.cmd == "ESC a":
            align = _ALIGN.get(it.arg, "left")
        elif it.cmd == "GS !":
            size = it.arg
        elif it.cmd == "ESC E":
            bold = bool(it.arg & 1)
        elif it.cmd == "GS B":
            invert = bool(it.arg & 1)
        elif it.cmd == "GS ( k":
            body = it.arg
            cn, fn = body[0], body[1]
            if cn != 49:
                continue
            if fn == 67:
                qr["module"] = body[2]
            elif fn == 69:
                qr["ec"] = "LMQH"[body[2] - 48]
            elif fn == 80:
                qr["data"] = body[3:].decode("utf-8")
            elif fn == 81:
                end_line()
                out.append(QRCode(qr["data"], qr["module"], qr["ec"], align))
        elif it.cmd == "GS v 0":
            end_line()
            a = it.arg
            out.append(Raster(a["width_bytes"] * 8, a["height"], a["data"]))
        elif it.cmd == "ESC d":
            end_line()
            out.append(Feed(it.arg, "lines"))
        elif it.cmd == "ESC J":
            end_line()
            out.append(Feed(it.arg, "dots"))
        elif it.cmd == "GS V":
            end_line()
            out.append(Cut(it.arg))
    end_line()
    return out


def printed_text(view: list) -> list[str]:
    """Just the text lines of a ticket_view, for readable assertions."""
    return [x.text for x in view if isinstance(x, Line)]
