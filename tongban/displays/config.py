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

from .errors import BusConfigError, FrameError
from .frames import (BYTEORDERS, CHAR_TRANSFORMS, CHECKSUMS, ENCODINGS, KEYS, Checksum, Field,
                     FrameSpec, LengthField, ReplySpec)
from .presets import PRESETS

DEVICE_KINDS = ("window", "hall", "keypad")
PARITIES = {"N": "N", "E": "E", "O": "O", "M": "M", "S": "S",
            "none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}
STOPBITS = (1, 1.5, 2)
BUS_ID = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True)
class DeviceConfig:
    address: int
    kind: str                 # "window", "hall" or "keypad"
    window: int | None = None  # the window a window display or keypad belongs to
    rows: int = 1             # lines a hall board shows
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
        return dict(baudrate=self.baudrate, parity=self.parity, bytesize=self.bytesize,
                    stopbits=self.stopbits, timeout=self.timeout_s,
                    write_timeout=self.write_timeout_s)


class _Checker:
    def __init__(self, path: str):
        self.path = path
        self.errors: list[str] = []

    def err(self, where: str, msg: str) -> None:
        self.errors.append(f"{where}: {msg}")

    def unknown(self, where: str, entry: dict, allowed) -> None:
        for k in entry:
            if k not in allowed:
                self.err(f"{where}.{k}", f"unknown key (expected one of {', '.join(allowed)})")

    def int_(self, where: str, v: Any, lo: int | None = None, hi: int | None = None) -> int | None:
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(where, f"{v!r} is not an integer")
            return None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.err(where, f"{v} is out of range (expected {rng})")
            return None
        return v

    def num(self, where: str, v: Any, lo: float, hi: float) -> float | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.err(where, f"{v!r} is not a number")
            return None
        if not lo < v <= hi:
            self.err(where, f"{v} is out of range (expected more than {lo}, at most {hi})")
            return None
        return float(v)

    def str_(self, where: str, v: Any) -> str | None:
        if not isinstance(v, str):
            self.err(where, f"{v!r} is not a string")
            return None
        return v

    def choice(self, where: str, v: Any, allowed) -> Any:
        if v not in allowed:
            self.err(where, f"{v!r} is not allowed (expected {_or_list(allowed)})")
            return None
        return v

    def hex_(self, where: str, v: Any) -> bytes | None:
        if not isinstance(v, str):
            self.err(where, f"{v!r} is not a hex string (expected e.g. \"AA 00 00\")")
            return None
        try:
            return bytes.fromhex(v)
        except ValueError:
            self.err(where, f"{v!r} is not hex bytes (expected e.g. \"AA 00 00\")")
            return None


def _or_list(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


BUS_KEYS = ("id", "url", "baudrate", "parity", "bytesize", "stopbits", "timeout_s", "write_timeout_s",
            "rs485", "preset", "frame", "devices", "poll_interval_ms", "pacing_ms", "backoff_min_ms",
            "backoff_max_ms", "offline_after_missed")
DEVICE_KEYS = ("address", "kind", "window", "rows", "name")


def parse_bus_config(entry: dict, path: str) -> tuple[BusConfig | None, list[str]]:
    """Validate one `[[buses]]` table. `path` is where it sits, e.g. "buses[0]"."""
    c = _Checker(path)
    if not isinstance(entry, dict):
        return None, [f"{path}: expected a table"]
    c.unknown(path, entry, BUS_KEYS)
    out: dict[str, Any] = {}

    bus_id = entry.get("id")
    if bus_id is None:
        c.err(f"{path}.id", "missing (expected a short id, [a-z0-9-]+)")
    elif c.str_(f"{path}.id", bus_id) is not None:
        if not BUS_ID.match(bus_id):
            c.err(f"{path}.id", f"{bus_id!r} is not a short id (expected [a-z0-9-]+)")
        out["id"] = bus_id
    url = entry.get("url")
    if url is None:
        c.err(f"{path}.url", "missing (expected a pyserial URL: /dev/ttyUSB0, socket://host:port, loop://)")
    elif c.str_(f"{path}.url", url) is not None:
        if not url.strip():
            c.err(f"{path}.url", "is empty (expected a pyserial URL)")
        out["url"] = url

    if "baudrate" in entry:
        out["baudrate"] = c.int_(f"{path}.baudrate", entry["baudrate"], 50, 4_000_000)
    if "parity" in entry:
        p = c.choice(f"{path}.parity", entry["parity"], PARITIES)
        out["parity"] = PARITIES.get(p) if p is not None else None
    if "bytesize" in entry:
        out["bytesize"] = c.int_(f"{path}.bytesize", entry["bytesize"], 5, 8)
    if "stopbits" in entry:
        out["stopbits"] = c.choice(f"{path}.stopbits", entry["stopbits"], STOPBITS)
    if "timeout_s" in entry:
        out["timeout_s"] = c.num(f"{path}.timeout_s", entry["timeout_s"], 0, 10)
    if "write_timeout_s" in entry:
        out["write_timeout_s"] = c.num(f"{path}.write_timeout_s", entry["write_timeout_s"], 0, 60)
    if "rs485" in entry:
        if not isinstance(entry["rs485"], bool):
            c.err(f"{path}.rs485", f"{entry['rs485']!r} is not true or false")
        else:
            out["rs485"] = entry["rs485"]
    for key, lo, hi in (("poll_interval_ms", 10, 60_000), ("pacing_ms", 0, 10_000),
                        ("backoff_min_ms", 10, 600_000), ("backoff_max_ms", 10, 3_600_000),
                        ("offline_after_missed", 1, 100)):
        if key in entry:
            out[key] = c.int_(f"{path}.{key}", entry[key], lo, hi)
    if (out.get("backoff_min_ms") or 500) > (out.get("backoff_max_ms") or 30_000):
        c.err(f"{path}.backoff_max_ms", "is less than backoff_min_ms")

    spec = None
    if "preset" in entry and "frame" in entry:
        c.err(f"{path}.frame", "given with preset (expected one of them; use frame.based_on to "
                               "change a preset)")
    elif "preset" in entry:
        name = entry["preset"]
        if not isinstance(name, str) or name not in PRESETS:
            c.err(f"{path}.preset", f"{name!r} is not a preset (expected {_or_list(sorted(PRESETS))})")
        else:
            spec = PRESETS[name]
    elif "frame" in entry:
        spec = _parse_frame(entry["frame"], f"{path}.frame", c)
    else:
        c.err(path, "needs preset or frame (expected a preset name or an inline frame table)")
    if spec is not None and "pacing_ms" not in entry:
        out["pacing_ms"] = spec.pacing_ms

    devices = entry.get("devices")
    parsed_devices: list[DeviceConfig] = []
    if devices is None:
        c.err(f"{path}.devices", "missing (expected a list of {address, kind, window} tables)")
    elif not isinstance(devices, list):
        c.err(f"{path}.devices", "is not a list (expected a list of {address, kind, window} tables)")
    else:
        seen: dict[int, int] = {}
        for i, d in enumerate(devices):
            dev = _parse_device(d, f"{path}.devices[{i}]", spec, c)
            if dev is None:
                continue
            if dev.address in seen:
                c.err(f"{path}.devices[{i}].address",
                      f"{dev.address} is already used by devices[{seen[dev.address]}] (expected one device per address)")
                continue
            seen[dev.address] = i
            parsed_devices.append(dev)

    if c.errors:
        return None, c.errors
    out = {k: v for k, v in out.items() if v is not None}
    return BusConfig(frame=spec, devices=tuple(parsed_devices), **out), []


def load_bus_config(entry: dict, path: str) -> BusConfig:
    """parse_bus_config for callers that would rather raise: BusConfigError carries every error."""
    cfg, errors = parse_bus_config(entry, path)
    if errors:
        raise BusConfigError(errors)
    return cfg


def _parse_device(d: Any, where: str, spec: FrameSpec | None, c: _Checker) -> DeviceConfig | None:
    if not isinstance(d, dict):
        c.err(where, "expected a table {address, kind, window}")
        return None
    before = len(c.errors)
    c.unknown(where, d, DEVICE_KEYS)
    hi = spec.max_address if spec is not None else None
    address = c.int_(f"{where}.address", d["address"], 0, hi) if "address" in d else None
    if "address" not in d:
        c.err(f"{where}.address", "missing (expected the device's bus address)")
    kind = d.get("kind")
    if kind is None:
        c.err(f"{where}.kind", f"missing (expected {_or_list(DEVICE_KINDS)})")
    else:
        kind = c.choice(f"{where}.kind", kind, DEVICE_KINDS)
    window = None
    if "window" in d:
        if kind == "hall":
            c.err(f"{where}.window", "is not allowed on a hall board (it shows every window)")
        else:
            window = c.int_(f"{where}.window", d["window"], 1)
    elif kind in ("window", "keypad"):
        c.err(f"{where}.window", f"missing (expected the number of the window this {kind} serves)")
    rows = 1
    if "rows" in d:
        if kind != "hall":
            c.err(f"{where}.rows", "is only for hall boards")
        else:
            rows = c.int_(f"{where}.rows", d["rows"], 1, 64) or 1
    elif kind == "hall":
        rows = 4
    name = ""
    if "name" in d:
        name = c.str_(f"{where}.name", d["name"]) or ""
    if kind == "keypad" and spec is not None and spec.reply is None:
        c.err(f"{where}.kind", f"'keypad' needs a frame spec with a reply format ({spec.name} has none)")
    if len(c.errors) > before:
        return None
    return DeviceConfig(address=address, kind=kind, window=window, rows=rows, name=name)


FRAME_KEYS = ("based_on", "name", "description", "header", "address", "command", "row", "length",
              "text_command", "poll_command", "encoding", "char_transform", "line_separator",
              "max_text_bytes", "checksum", "trailer", "pacing_ms", "reply")
FIELD_KEYS = ("offset", "width", "byteorder")
LENGTH_KEYS = FIELD_KEYS + ("start", "adjust")
CHECKSUM_KEYS = ("algorithm", "start", "byteorder")
REPLY_KEYS = ("command", "payload_len", "key_offset", "arg_offset", "none_code", "keys")


def parse_frame_spec(entry: Any, where: str) -> tuple[FrameSpec | None, list[str]]:
    """An inline frame table. With `based_on`, the named preset is the starting point and each
    key given replaces that preset's value whole (a nested table is not merged)."""
    c = _Checker(where)
    spec = _parse_frame(entry, where, c)
    return (None, c.errors) if c.errors else (spec, [])


def _parse_frame(entry: Any, where: str, c: _Checker) -> FrameSpec | None:
    if not isinstance(entry, dict):
        c.err(where, "expected a table")
        return None
    before = len(c.errors)
    c.unknown(where, entry, FRAME_KEYS)
    base: dict[str, Any] = {}
    if "based_on" in entry:
        b = entry["based_on"]
        if b not in PRESETS:
            c.err(f"{where}.based_on", f"{b!r} is not a preset (expected {_or_list(sorted(PRESETS))})")
        else:
            base = {f.name: getattr(PRESETS[b], f.name) for f in dataclasses.fields(FrameSpec)}
            base["name"] = f"{b}+custom"
    else:
        base["name"] = "custom"
        for req in ("header", "address"):
            if req not in entry:
                c.err(f"{where}.{req}", "missing (needed unless based_on names a preset)")
    kw = dict(base)
    for key, v in entry.items():
        w = f"{where}.{key}"
        if key in ("based_on",) or key not in FRAME_KEYS:
            continue
        if key in ("name", "description"):
            kw[key] = c.str_(w, v)
        elif key in ("header", "trailer", "line_separator"):
            kw[key] = c.hex_(w, v)
        elif key in ("address", "command", "row"):
            kw[key] = _field(v, w, c, Field, FIELD_KEYS)
        elif key == "length":
            kw[key] = _field(v, w, c, LengthField, LENGTH_KEYS)
        elif key in ("text_command", "poll_command"):
            kw[key] = c.int_(w, v, 0, 0xFFFFFFFF)
        elif key == "encoding":
            kw[key] = c.choice(w, v, ENCODINGS)
        elif key == "char_transform":
            kw[key] = c.choice(w, v, CHAR_TRANSFORMS)
        elif key == "max_text_bytes":
            kw[key] = c.int_(w, v, 1, 4096)
        elif key == "pacing_ms":
            kw[key] = c.int_(w, v, 0, 10_000)
        elif key == "checksum":
            kw[key] = _checksum(v, w, c)
        elif key == "reply":
            kw[key] = _reply(v, w, c)
    if len(c.errors) > before:
        return None
    try:
        spec = FrameSpec(**kw)
    except FrameError as e:
        c.err(where, str(e))
        return None
    except TypeError as e:  # a required field missing from an incomplete table
        c.err(where, str(e))
        return None
    return spec


def _field(v: Any, where: str, c: _Checker, cls, keys):
    if not isinstance(v, dict):
        c.err(where, "expected a table {offset, width, byteorder}")
        return None
    c.unknown(where, v, keys)
    kw = {}
    if "offset" not in v:
        c.err(f"{where}.offset", "missing (expected the byte offset in the header)")
    for k in ("offset", "start", "adjust"):
        if k in v:
            kw[k] = c.int_(f"{where}.{k}", v[k], 0 if k != "adjust" else -1024, 1024)
    if "width" in v:
        kw["width"] = c.choice(f"{where}.width", v["width"], (1, 2, 4))
    if "byteorder" in v:
        kw["byteorder"] = c.choice(f"{where}.byteorder", v["byteorder"], BYTEORDERS)
    if any(x is None for x in kw.values()) or "offset" not in v:
        return None
    try:
        return cls(**kw)
    except FrameError as e:
        c.err(where, str(e))
        return None


def _checksum(v: Any, where: str, c: _Checker) -> Checksum | None:
    if not isinstance(v, dict):
        c.err(where, "expected a table {algorithm, start, byteorder}")
        return None
    c.unknown(where, v, CHECKSUM_KEYS)
    kw = {}
    if "algorithm" in v:
        kw["algorithm"] = c.choice(f"{where}.algorithm", v["algorithm"], CHECKSUMS)
    if "start" in v:
        kw["start"] = c.int_(f"{where}.start", v["start"], 0, 1024)
    if "byteorder" in v:
        kw["byteorder"] = c.choice(f"{where}.byteorder", v["byteorder"], BYTEORDERS)
    if any(x is None for x in kw.values()):
        return None
    return Checksum(**kw)


def _reply(v: Any, where: str, c: _Checker) -> ReplySpec | None:
    if not isinstance(v, dict):
        c.err(where, "expected a table {command, payload_len, key_offset, arg_offset, keys}")
        return None
    c.unknown(where, v, REPLY_KEYS)
    kw: dict[str, Any] = {}
    for k in ("command", "payload_len", "key_offset", "arg_offset", "none_code"):
        if k in v:
            kw[k] = c.int_(f"{where}.{k}", v[k], 0, 0xFFFFFFFF if k == "command" else 255)
    keys = v.get("keys")
    if not isinstance(keys, dict) or not keys:
        c.err(f"{where}.keys", "missing or empty (expected a table like {next = 0x01, recall = 0x02})")
        return None
    pairs = []
    for name, code in keys.items():
        if name not in KEYS:
            c.err(f"{where}.keys.{name}", f"is not a key (expected {_or_list(KEYS)})")
            continue
        code = c.int_(f"{where}.keys.{name}", code, 0, 255)
        if code is not None:
            pairs.append((code, name))
    if any(x is None for x in kw.values()):
        return None
    try:
        return ReplySpec(keys=tuple(pairs), **kw)
    except FrameError as e:
        c.err(where, str(e))
        return None
