"""`[[buses]]` entries of the hall TOML: validation into `BusConfig`, every problem reported at once.

Errors read `buses[0].devices[1].kind: 'lamp' is not allowed (expected window, hall or keypad)`, the
same shape as the rest of `tongban check-config`. Unknown keys are errors, so a typo never falls
back to a default on a bus nobody can watch.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..checking import Checker, between, one_of, or_list
from .errors import BusConfigError, FrameError
from .frames import (
    BYTEORDERS,
    CHAR_TRANSFORMS,
    CHECKSUMS,
    ENCODINGS,
    KEYS,
    Checksum,
    Field,
    FrameSpec,
    LengthField,
    ReplySpec,
)
from .presets import PRESETS

DEVICE_KINDS = ("window", "hall", "keypad")
PARITIES = {
    "N": "N",
    "E": "E",
    "O": "O",
    "M": "M",
    "S": "S",
    "none": "N",
    "even": "E",
    "odd": "O",
    "mark": "M",
    "space": "S",
}
STOPBITS = (1, 1.5, 2)
BUS_ID = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True)
class DeviceConfig:
    address: int
    kind: str  # "window", "hall" or "keypad"
    window: int | None = None  # the window a window display or keypad belongs to
    rows: int = 1  # lines a hall board shows
    name: str = ""


@dataclass(frozen=True)
class BusConfig:
    id: str
    url: str
    frame: FrameSpec
    devices: tuple[DeviceConfig, ...]
    baudrate: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: float = 1
    timeout_s: float = 0.2
    write_timeout_s: float = 1.0
    rs485: bool = False
    poll_interval_ms: int = 200
    pacing_ms: int = 50
    backoff_min_ms: int = 500
    backoff_max_ms: int = 30_000
    offline_after_missed: int = 3

    def device(self, address: int) -> DeviceConfig | None:
        for d in self.devices:
            if d.address == address:
                return d
        return None

    @property
    def keypads(self) -> tuple[DeviceConfig, ...]:
        return tuple(d for d in self.devices if d.kind == "keypad")

    def for_window(self, window: int) -> tuple[DeviceConfig, ...]:
        return tuple(d for d in self.devices if d.window == window)

    @property
    def halls(self) -> tuple[DeviceConfig, ...]:
        return tuple(d for d in self.devices if d.kind == "hall")

    def serial_kwargs(self) -> dict[str, Any]:
        """What `serial.serial_for_url` gets besides the URL."""
        return dict(
            baudrate=self.baudrate,
            parity=self.parity,
            bytesize=self.bytesize,
            stopbits=self.stopbits,
            timeout=self.timeout_s,
            write_timeout=self.write_timeout_s,
        )


BUS_KEYS = (
    "id",
    "url",
    "baudrate",
    "parity",
    "bytesize",
    "stopbits",
    "timeout_s",
    "write_timeout_s",
    "rs485",
    "preset",
    "frame",
    "devices",
    "poll_interval_ms",
    "pacing_ms",
    "backoff_min_ms",
    "backoff_max_ms",
    "offline_after_missed",
)
DEVICE_KEYS = ("address", "kind", "window", "rows", "name")
FRAME_KEYS = (
    "based_on",
    "name",
    "description",
    "header",
    "address",
    "command",
    "row",
    "length",
    "text_command",
    "poll_command",
    "encoding",
    "char_transform",
    "line_separator",
    "max_text_bytes",
    "checksum",
    "trailer",
    "pacing_ms",
    "reply",
)
FIELD_KEYS = ("offset", "width", "byteorder")
LENGTH_KEYS = FIELD_KEYS + ("start", "adjust")
CHECKSUM_KEYS = ("algorithm", "start", "byteorder")
REPLY_KEYS = ("command", "payload_len", "key_offset", "arg_offset", "none_code", "keys")

# (kind, check) of each key that holds one plain value
_FIELD_VALUES = {
    "offset": (int, between(0, 1024)),
    "start": (int, between(0, 1024)),
    "adjust": (int, between(-1024, 1024)),
    "width": (object, one_of((1, 2, 4))),
    "byteorder": (object, one_of(BYTEORDERS)),
}
_CHECKSUM_VALUES = {
    "algorithm": (object, one_of(CHECKSUMS)),
    "start": (int, between(0, 1024)),
    "byteorder": (object, one_of(BYTEORDERS)),
}
_REPLY_VALUES = {
    "command": (int, between(0, 0xFFFFFFFF)),
    "payload_len": (int, between(0, 255)),
    "key_offset": (int, between(0, 255)),
    "arg_offset": (int, between(0, 255)),
    "none_code": (int, between(0, 255)),
}
_FRAME_VALUES = {
    "name": (str, None),
    "description": (str, None),
    "text_command": (int, between(0, 0xFFFFFFFF)),
    "poll_command": (int, between(0, 0xFFFFFFFF)),
    "encoding": (object, one_of(ENCODINGS)),
    "char_transform": (object, one_of(CHAR_TRANSFORMS)),
    "max_text_bytes": (int, between(1, 4096)),
    "pacing_ms": (int, between(0, 10_000)),
}
_HEX = 'hex bytes such as "AA 00 00"'
_KEYS_TABLE = "a table like {next = 0x01, recall = 0x02}"


def parse_bus_config(entry: dict, path: str) -> tuple[BusConfig | None, list[str]]:
    """Validate one `[[buses]]` table. `path` is where it sits, e.g. "buses[0]"."""
    c = Checker()
    if c.table(entry, path) is None:
        return None, c.problems
    c.unknown(entry, path, BUS_KEYS)
    out: dict[str, Any] = {
        "id": c.get(
            entry,
            path,
            "id",
            str,
            expect="a short id, [a-z0-9-]+",
            check=lambda v: None if BUS_ID.match(v) else f"{v!r} is not a short id (expected [a-z0-9-]+)",
        ),
        "url": c.get(
            entry,
            path,
            "url",
            str,
            expect="a pyserial URL: /dev/ttyUSB0, socket://host:port, loop://",
            check=lambda v: None if v.strip() else "is empty (expected a pyserial URL)",
        ),
        "baudrate": c.get(entry, path, "baudrate", int, required=False, check=between(50, 4_000_000)),
        "parity": PARITIES.get(c.get(entry, path, "parity", required=False, check=one_of(PARITIES))),
        "bytesize": c.get(entry, path, "bytesize", int, required=False, check=between(5, 8)),
        "stopbits": c.get(entry, path, "stopbits", required=False, check=one_of(STOPBITS)),
    }
    for key, high in (("timeout_s", 10), ("write_timeout_s", 60)):
        seconds = c.get(entry, path, key, (int, float), required=False, check=between(0, high, " s", above=True))
        out[key] = None if seconds is None else float(seconds)
    out["rs485"] = c.get(entry, path, "rs485", bool, required=False)
    for key, low, high in (
        ("poll_interval_ms", 10, 60_000),
        ("pacing_ms", 0, 10_000),
        ("backoff_min_ms", 10, 600_000),
        ("backoff_max_ms", 10, 3_600_000),
        ("offline_after_missed", 1, 100),
    ):
        out[key] = c.get(entry, path, key, int, required=False, check=between(low, high))
    if (out["backoff_min_ms"] or 500) > (out["backoff_max_ms"] or 30_000):
        c.problem(f"{path}.backoff_max_ms", "is less than backoff_min_ms")

    spec = None
    if "preset" in entry and "frame" in entry:
        c.problem(f"{path}.frame", "given with preset (expected one of them; use frame.based_on to change a preset)")
    elif "preset" in entry:
        spec = _preset(c, entry, path, "preset")
    elif "frame" in entry:
        spec = _parse_frame(entry["frame"], f"{path}.frame", c)
    else:
        c.problem(path, "needs preset or frame (expected a preset name or an inline frame table)")
    if spec is not None and "pacing_ms" not in entry:
        out["pacing_ms"] = spec.pacing_ms

    devices = []
    for where, table in c.entries(
        entry, path, "devices", required=True, expect="an array of {address, kind, window} tables"
    ):
        device = _parse_device(table, where, spec, c)
        if device is not None:
            devices.append((where, device))
    c.unique([(f"{where}.address", d.address) for where, d in devices], "device address")

    if c.problems:
        return None, c.problems
    out = {k: v for k, v in out.items() if v is not None}
    assert spec is not None  # a missing or bad frame was reported as a problem above
    return BusConfig(frame=spec, devices=tuple(d for _, d in devices), **out), []


def load_bus_config(entry: dict, path: str) -> BusConfig:
    """parse_bus_config for callers that would rather raise: BusConfigError carries every error."""
    cfg, errors = parse_bus_config(entry, path)
    if errors:
        raise BusConfigError(errors)
    assert cfg is not None  # parse_bus_config gives a config exactly when there are no errors
    return cfg


def _preset(c: Checker, table: dict, path: str, key: str) -> FrameSpec | None:
    names = or_list(sorted(PRESETS))
    name = c.get(
        table,
        path,
        key,
        str,
        expect=names,
        check=lambda v: None if v in PRESETS else f"{v!r} is not a preset (expected {names})",
    )
    return PRESETS.get(name)


def _parse_device(d: dict, where: str, spec: FrameSpec | None, c: Checker) -> DeviceConfig | None:
    before = len(c.problems)
    c.unknown(d, where, DEVICE_KEYS)
    high = spec.max_address if spec is not None else None
    address = c.get(d, where, "address", int, expect="the device's bus address", check=between(0, high))
    kind = c.get(d, where, "kind", expect=or_list(DEVICE_KINDS), check=one_of(DEVICE_KINDS))
    window = None
    if kind == "hall" and "window" in d:
        c.problem(f"{where}.window", "is not allowed on a hall board (it shows every window)")
    else:
        window = c.get(
            d,
            where,
            "window",
            int,
            required=kind in ("window", "keypad"),
            expect=f"the number of the window this {kind or 'device'} serves",
            check=between(1),
        )
    if kind != "hall" and "rows" in d:
        c.problem(f"{where}.rows", "is only for hall boards")
    rows = c.get(d, where, "rows", int, required=False, default=4, check=between(1, 64)) if kind == "hall" else 1
    name = c.get(d, where, "name", str, required=False, default="")
    if kind == "keypad" and spec is not None and spec.reply is None:
        c.problem(f"{where}.kind", f"'keypad' needs a frame spec with a reply format ({spec.name} has none)")
    if len(c.problems) > before:
        return None
    return DeviceConfig(address=address, kind=kind, window=window, rows=rows, name=name)


def parse_frame_spec(entry: Any, where: str) -> tuple[FrameSpec | None, list[str]]:
    """An inline frame table. With `based_on`, the named preset is the starting point and each
    key given replaces that preset's value whole (a nested table is not merged)."""
    c = Checker()
    spec = _parse_frame(entry, where, c)
    return (None, c.problems) if c.problems else (spec, [])


def _values(c: Checker, table: dict, where: str, specs: dict[str, tuple]) -> dict[str, Any]:
    """The keys of ``specs`` that ``table`` has, each checked; None where one will not do."""
    return {
        key: c.value(value, f"{where}.{key}", specs[key][0], check=specs[key][1])
        for key, value in table.items()
        if key in specs
    }


def _parse_frame(entry: Any, where: str, c: Checker) -> FrameSpec | None:
    if c.table(entry, where) is None:
        return None
    before = len(c.problems)
    c.unknown(entry, where, FRAME_KEYS)
    kw: dict[str, Any] = {"name": "custom"}
    if "based_on" in entry:
        base = _preset(c, entry, where, "based_on")
        if base is not None:
            kw = {f.name: getattr(base, f.name) for f in dataclasses.fields(FrameSpec)}
            kw["name"] = f"{entry['based_on']}+custom"
    else:
        for key in ("header", "address"):
            if key not in entry:
                c.problem(f"{where}.{key}", "is missing (expected unless based_on names a preset)")
    kw.update(_values(c, entry, where, _FRAME_VALUES))
    for key, value in entry.items():
        w = f"{where}.{key}"
        if key in ("header", "trailer", "line_separator"):
            kw[key] = _hex(value, w, c)
        elif key in ("address", "command", "row"):
            kw[key] = _field(value, w, c, Field, FIELD_KEYS)
        elif key == "length":
            kw[key] = _field(value, w, c, LengthField, LENGTH_KEYS)
        elif key == "checksum":
            kw[key] = _checksum(value, w, c)
        elif key == "reply":
            kw[key] = _reply(value, w, c)
    if len(c.problems) > before:
        return None
    try:
        return FrameSpec(**kw)
    except (FrameError, TypeError) as e:  # TypeError: a required field missing from an incomplete table
        c.problem(where, str(e))
        return None


def _hex(value: Any, where: str, c: Checker) -> bytes | None:
    def not_hex(text: str) -> str | None:
        try:
            bytes.fromhex(text)
        except ValueError:
            return f'{text!r} is not hex bytes (expected pairs of hex digits, such as "AA 00 00")'
        return None

    text = c.value(value, where, str, expect=_HEX, check=not_hex)
    return None if text is None else bytes.fromhex(text)


def _field(v: Any, where: str, c: Checker, cls, keys):
    if c.table(v, where, expect="a table {offset, width, byteorder}") is None:
        return None
    c.unknown(v, where, keys)
    if "offset" not in v:
        c.problem(f"{where}.offset", "is missing (expected the byte offset in the header)")
    kw = _values(c, v, where, {k: _FIELD_VALUES[k] for k in keys})
    if None in kw.values() or "offset" not in v:
        return None
    try:
        return cls(**kw)
    except FrameError as e:
        c.problem(where, str(e))
        return None


def _checksum(v: Any, where: str, c: Checker) -> Checksum | None:
    if c.table(v, where, expect="a table {algorithm, start, byteorder}") is None:
        return None
    c.unknown(v, where, CHECKSUM_KEYS)
    kw = _values(c, v, where, _CHECKSUM_VALUES)
    return None if None in kw.values() else Checksum(**kw)


def _reply(v: Any, where: str, c: Checker) -> ReplySpec | None:
    if c.table(v, where, expect="a table {command, payload_len, key_offset, arg_offset, keys}") is None:
        return None
    c.unknown(v, where, REPLY_KEYS)
    kw = _values(c, v, where, _REPLY_VALUES)
    keys = c.get(
        v, where, "keys", dict, expect=_KEYS_TABLE, check=lambda t: None if t else f"is empty (expected {_KEYS_TABLE})"
    )
    if keys is None:
        return None
    c.unknown(keys, f"{where}.keys", KEYS)
    codes = _values(c, keys, f"{where}.keys", {name: (int, between(0, 255)) for name in KEYS})
    if None in kw.values() or None in codes.values():
        return None
    try:
        return ReplySpec(keys=tuple((code, name) for name, code in codes.items()), **kw)
    except FrameError as e:
        c.problem(where, str(e))
        return None
