"""ID-card reader URLs, as a kiosk's `idcard = "…"` gives them in the hall file (docs/idcard.md).

Parsed without pyserial: config.py checks these for every command, and the domain loads no device
library (tests/test_domain_purity.py). The drivers read the parsed `ReaderTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import IdcardConfigError

SCHEMES = ("serial", "socket", "loop", "dummy")
# The SAM module speaks 115200 by default and may be set to 57600, 38400, 19200 or 9600
# (command 60 00..04 in the protocol's command table; docs/idcard.md).
BAUDRATES = (9600, 19200, 38400, 57600, 115200)
DEFAULT_BAUDRATE = 115200


@dataclass(frozen=True)
class ReaderTarget:
    """Where a reader URL points; only the fields of its scheme mean anything."""

    scheme: str
    url: str
    path: str = ""  # serial: the device; loop: "loop://"
    host: str = ""
    port: int = 0
    baudrate: int = DEFAULT_BAUDRATE
    card: str = ""  # dummy: the demo card on the reader ("" or "none": no card)

    @property
    def pyserial_url(self) -> str:
        """What pyserial's serial_for_url opens for this target (serial and loop)."""
        return self.path if self.scheme == "serial" else "loop://"

    @property
    def where(self) -> str:
        """The reader's place for messages and logs: a device path or host:port, never a query."""
        if self.scheme == "socket":
            return f"{self.host}:{self.port}"
        if self.scheme == "dummy":
            return f"dummy ({self.card or 'none'})"
        return self.pyserial_url


def parse_reader_url(url: object) -> ReaderTarget:
    """Parse a reader URL; raises IdcardConfigError listing every problem."""
    expected = ", ".join(s + "://" for s in SCHEMES)
    if not isinstance(url, str) or "://" not in url:
        raise IdcardConfigError([f"{url!r} is not an ID-card reader URL (expected one of {expected})"])
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    errors: list[str] = []

    def allow(*keys: str) -> None:
        for key in query:
            if key not in keys:
                errors.append(f"unknown parameter {key!r} (expected {', '.join(keys) or 'no parameters'})")

    if scheme == "serial":
        allow("baudrate")
        path = unquote(parts.path) or parts.netloc
        if not path:
            errors.append("serial:// needs a device (expected serial:///dev/ttyUSB1?baudrate=115200)")
        baud = DEFAULT_BAUDRATE
        if "baudrate" in query:
            raw = query["baudrate"]
            if not raw.isascii() or not raw.isdigit() or int(raw) not in BAUDRATES:
                errors.append(f"baudrate={raw!r} is not allowed (expected one of {', '.join(map(str, BAUDRATES))})")
            else:
                baud = int(raw)
        target = ReaderTarget("serial", url, path=path, baudrate=baud)
    elif scheme == "socket":
        allow()
        host = parts.hostname or ""
        port = 0
        try:
            port = parts.port or 0
        except ValueError:
            errors.append(f"port in {parts.netloc!r} is not a number 1-65535")
        if not host or not port:
            errors.append("socket:// needs a host and a port (expected socket://192.168.1.50:4001)")
        target = ReaderTarget("socket", url, host=host, port=port)
    elif scheme == "loop":
        allow()
        target = ReaderTarget("loop", url, path="loop://")
    elif scheme == "dummy":
        allow("card")
        from .demo import card_names  # the demo cards' names, from their data file

        card = query.get("card", "")
        if card not in ("", "none", *card_names()):
            errors.append(f"card={card!r} is not a demo card (expected none or one of {', '.join(card_names())})")
        target = ReaderTarget("dummy", url, card="" if card == "none" else card)
    else:
        errors.append(f"scheme {parts.scheme!r} is not supported (expected one of {expected})")
        target = None
    if errors:
        raise IdcardConfigError(errors)
    assert target is not None  # only an unsupported scheme leaves it None, and that is an error
    return target


def check_reader_url(url: str) -> str | None:
    """For config.py's Checker: None when the URL will do, else what is wrong with it."""
    try:
        parse_reader_url(url)
    except IdcardConfigError as exc:
        return "; ".join(exc.errors)
    return None
