"""[[printers]] entries of the hall TOML, and the printer URLs in them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ..checking import Checker, between, one_of
from .encoding import ENCODINGS
from .errors import PrinterConfigError
from .status import STATES

PAPER_DOTS = {58: 384, 80: 576}  # printable width at 203 dpi (48 mm and 72 mm)
MODES = ("text", "image")
SCHEMES = ("tcp", "serial", "usb", "file", "cups", "dummy")
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
MAX_TIMEOUT_S = 120
_ID_RE = re.compile(r"[a-z0-9-]+")
_CUPS_NAME_RE = re.compile(r"[A-Za-z0-9_.@-]+")
_KEYS = ("id", "url", "paper_mm", "encoding", "cut", "mode", "timeout_s", "start_margin_s")


@dataclass(frozen=True)
class PrinterConfig:
    """One [[printers]] entry of the hall TOML."""

    id: str
    url: str
    paper_mm: int = 80
    encoding: str = "gb18030"
    cut: bool = True
    mode: str = "text"  # "text": the printer has a Chinese font ROM; "image": it does not
    timeout_s: float = 3.0  # inside the kiosk's 5 s print deadline (queue/printing.py)
    start_margin_s: float = 1.0  # a job is started only with this long (plus wire time) left before its deadline

    @property
    def dots(self) -> int:
        return PAPER_DOTS[self.paper_mm]

    @property
    def target(self) -> PrinterTarget:
        return parse_printer_url(self.url)


@dataclass(frozen=True)
class PrinterTarget:
    """Where a printer URL points; only the fields of its scheme are meaningful."""

    scheme: str
    host: str = ""
    port: int = 9100
    path: str = ""
    baudrate: int = 9600
    rtscts: bool = False
    xonxoff: bool = False
    vendor_id: int = 0
    product_id: int = 0
    in_ep: int | None = None
    out_ep: int | None = None
    name: str = ""
    dummy_status: str = "ok"

    @property
    def baud_for_estimate(self) -> int | None:
        """Bits per second of the slowest hop, where we know it (serial only)."""
        return self.baudrate if self.scheme == "serial" else None


def _bool_param(key: str, value: str, errors: list[str]) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    errors.append(f"{key}={value!r} is not a boolean (expected 0 or 1)")
    return False


def _int_param(key: str, value: str, errors: list[str]) -> int | None:
    try:
        return int(value, 0)
    except ValueError:
        errors.append(f"{key}={value!r} is not a number")
        return None


def parse_printer_url(url: str) -> PrinterTarget:
    """Parse a printer URL; raises PrinterConfigError listing every problem."""
    errors: list[str] = []
    if not isinstance(url, str) or "://" not in url:
        raise PrinterConfigError(
            [f"{url!r} is not a printer URL (expected one of {', '.join(s + '://' for s in SCHEMES)})"]
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def unknown_params(allowed: tuple[str, ...]) -> None:
        for key in query:
            if key not in allowed:
                hint = ", ".join(allowed) if allowed else "no parameters"
                errors.append(f"unknown parameter {key!r} (expected {hint})")

    if scheme == "tcp":
        unknown_params(())
        host = parts.hostname or ""
        port = 9100
        try:
            port = parts.port or 9100
        except ValueError:
            errors.append(f"port in {parts.netloc!r} is not a number 1-65535")
        if not host:
            errors.append("tcp:// needs a host (expected tcp://host:9100)")
        target = PrinterTarget("tcp", host=host, port=port)
    elif scheme == "serial":
        unknown_params(("baudrate", "rtscts", "xonxoff"))
        path = unquote(parts.path) or parts.netloc
        if not path:
            errors.append("serial:// needs a device (expected serial:///dev/ttyUSB0?baudrate=9600)")
        baud = 9600
        if "baudrate" in query:
            b = _int_param("baudrate", query["baudrate"], errors)
            if b is not None and b not in BAUDRATES:
                errors.append(f"baudrate={b} is not allowed (expected one of {', '.join(map(str, BAUDRATES))})")
            elif b is not None:
                baud = b
        rtscts = _bool_param("rtscts", query["rtscts"], errors) if "rtscts" in query else False
        xonxoff = _bool_param("xonxoff", query["xonxoff"], errors) if "xonxoff" in query else False
        target = PrinterTarget("serial", path=path, baudrate=baud, rtscts=rtscts, xonxoff=xonxoff)
    elif scheme == "usb":
        unknown_params(("in_ep", "out_ep"))
        m = re.fullmatch(r"([0-9a-fA-F]{4}):([0-9a-fA-F]{4})", parts.netloc)
        vid = pid = 0
        if not m:
            errors.append(f"{parts.netloc!r} is not VID:PID in hex (expected usb://0416:5011)")
        else:
            vid, pid = int(m.group(1), 16), int(m.group(2), 16)
        eps = {}
        for key in ("in_ep", "out_ep"):
            if key in query:
                v = _int_param(key, query[key], errors)
                if v is not None and not 0 < v < 256:
                    errors.append(f"{key}={query[key]!r} is not an endpoint address (expected 0x01-0xff)")
                eps[key] = v
        target = PrinterTarget(
            "usb",
            vendor_id=vid,
            product_id=pid,
            in_ep=eps.get("in_ep"),
            out_ep=eps.get("out_ep"),
        )
    elif scheme == "file":
        unknown_params(())
        if parts.netloc not in ("", "localhost"):
            errors.append(f"file:// must be local, not {parts.netloc!r} (expected file:///dev/usb/lp0)")
        path = unquote(parts.path)
        if not path.startswith("/"):
            errors.append("file:// needs an absolute path (expected file:///dev/usb/lp0)")
        target = PrinterTarget("file", path=path)
    elif scheme == "cups":
        unknown_params(())
        name = unquote(parts.netloc)
        if not _CUPS_NAME_RE.fullmatch(name or ""):
            errors.append(f"{name!r} is not a CUPS queue name (expected cups://queue_name)")
        target = PrinterTarget("cups", name=name)
    elif scheme == "dummy":
        unknown_params(("status",))
        status = query.get("status", "ok")
        if status not in STATES:
            errors.append(f"status={status!r} is not a printer state (expected one of {', '.join(STATES)})")
        target = PrinterTarget("dummy", name=parts.netloc, dummy_status=status)
    else:
        errors.append(
            f"scheme {parts.scheme!r} is not supported (expected one of {', '.join(s + '://' for s in SCHEMES)})"
        )
        target = None
    if errors:
        raise PrinterConfigError(errors)
    assert target is not None  # only an unsupported scheme leaves it None, and that is an error
    return target


def parse_printer_config(entry: dict, path: str) -> tuple[PrinterConfig | None, list[str]]:
    """Validate one [[printers]] table. Returns (config, []) or (None, errors).

    Errors read "printers[0].paper_mm: 70 is not allowed (expected 58 or 80)". Unknown keys
    are errors, so a typo never silently falls back to a default.
    """
    c = Checker()
    if c.table(entry, path, expect="[[printers]] with id and url") is None:
        return None, c.problems
    c.unknown(entry, path, _KEYS)
    values = {
        "id": c.get(
            entry,
            path,
            "id",
            str,
            expect='a short id such as "kiosk-1"',
            check=lambda v: None if _ID_RE.fullmatch(v) else f"{v!r} is not allowed (expected [a-z0-9-]+)",
        ),
        "url": c.get(entry, path, "url", str, expect='a printer URL such as "tcp://192.0.2.10:9100"'),
    }
    if values["url"] is not None:
        try:
            parse_printer_url(values["url"])
        except PrinterConfigError as e:
            for message in e.errors:
                c.problem(f"{path}.url", message)
    values |= {
        "paper_mm": c.get(
            entry, path, "paper_mm", (int, float), required=False, expect="58 or 80", check=one_of(PAPER_DOTS)
        ),
        "encoding": c.get(entry, path, "encoding", required=False, check=one_of(ENCODINGS)),
        "cut": c.get(entry, path, "cut", bool, required=False),
        "mode": c.get(entry, path, "mode", required=False, check=one_of(MODES)),
        # 0 would mean "wait forever" to pyusb; a kiosk must never hang on a printer
        "timeout_s": c.get(
            entry, path, "timeout_s", (int, float), required=False, check=between(0, MAX_TIMEOUT_S, " s", above=True)
        ),
        "start_margin_s": c.get(
            entry, path, "start_margin_s", (int, float), required=False, check=between(0, MAX_TIMEOUT_S, " s")
        ),
    }
    if c.problems:
        return None, c.problems
    for key in ("timeout_s", "start_margin_s"):
        if values[key] is not None:
            values[key] = float(values[key])
    return PrinterConfig(**{k: v for k, v in values.items() if v is not None}), []
