"""Declarative frame specs for serial LED displays and caller keypads, and the codec for them.

Every vendor frames the same few things differently: a fixed header with an address (and sometimes a
command, a row and a length) written into it at some offset, the text in a Chinese code page, a
checksum that starts at some byte, a trailer. A `FrameSpec` says where each of those goes, so a new
vendor is a config entry, not code. docs/displays.md has the field reference and the preset tables.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from .errors import FrameError

BYTEORDERS = ("big", "little")
CHECKSUMS = ("none", "sum8", "xor8", "crc16-ccitt")
CHAR_TRANSFORMS = ("none", "nul_after_char", "fullwidth")
ENCODINGS = ("gb2312", "gbk", "gb18030", "ascii")
KEYS = ("next", "recall", "no_show", "pause", "start", "finish", "transfer")

# A length field or a garbled byte must never make a decoder wait for megabytes.
MAX_PAYLOAD = 2048


@dataclass(frozen=True)
class Field:
    """A number stored in the header: `offset` from the frame's first byte, `width` bytes."""

    offset: int
    width: int = 1
    byteorder: Literal["big", "little"] = "big"  # checked below: it comes from config files

    def __post_init__(self):
        if self.offset < 0:
            raise FrameError(f"offset {self.offset} is negative")
        if self.width not in (1, 2, 4):
            raise FrameError(f"width {self.width} is not 1, 2 or 4")
        if self.byteorder not in BYTEORDERS:
            raise FrameError(f"byteorder {self.byteorder!r} is not big or little")

    @property
    def end(self) -> int:
        return self.offset + self.width

    @property
    def max_value(self) -> int:
        return (1 << (8 * self.width)) - 1

    def put(self, buf: bytearray, value: int, what: str) -> None:
        if not 0 <= value <= self.max_value:
            raise FrameError(f"{what} {value} does not fit in {self.width} byte(s)")
        buf[self.offset : self.end] = value.to_bytes(self.width, self.byteorder)

    def get(self, buf: bytes) -> int:
        return int.from_bytes(buf[self.offset : self.end], self.byteorder)


@dataclass(frozen=True)
class LengthField(Field):
    """The length field counts the bytes from `start` (default: the first payload byte) to the end of
    the payload, plus `adjust`. Vendors differ on what they count: "frame" is start=0 and
    adjust=checksum+trailer width; "from the address to the checksum" is start=<address offset>."""

    start: int | None = None
    adjust: int = 0


@dataclass(frozen=True)
class Checksum:
    """`algorithm` over frame[start : end of payload], written after the payload."""

    algorithm: str = "none"
    start: int = 0
    byteorder: Literal["big", "little"] = "big"  # checked below: it comes from config files

    def __post_init__(self):
        if self.algorithm not in CHECKSUMS:
            raise FrameError(f"checksum {self.algorithm!r} is not one of {', '.join(CHECKSUMS)}")
        if self.start < 0:
            raise FrameError(f"checksum start {self.start} is negative")
        if self.byteorder not in BYTEORDERS:
            raise FrameError(f"byteorder {self.byteorder!r} is not big or little")

    @property
    def width(self) -> int:
        return {"none": 0, "sum8": 1, "xor8": 1, "crc16-ccitt": 2}[self.algorithm]

    def compute(self, data: bytes) -> bytes:
        if self.algorithm == "none":
            return b""
        value = _ALGORITHMS[self.algorithm](data)
        return value.to_bytes(self.width, self.byteorder)


def sum8(data: bytes) -> int:
    return sum(data) & 0xFF


def xor8(data: bytes) -> int:
    value = 0
    for b in data:
        value ^= b
    return value


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final xor ("123456789" ->
    0x29B1), which is `binascii.crc_hqx` started at 0xFFFF. It is what display vendors'
    "CRC16-CCITT" means in the protocols we have seen; a device using another init would be a new
    algorithm name, never a silent variant."""
    return binascii.crc_hqx(data, 0xFFFF)


_ALGORITHMS: dict[str, Callable[[bytes], int]] = {
    "sum8": sum8,
    "xor8": xor8,
    "crc16-ccitt": crc16_ccitt,
}


@dataclass(frozen=True)
class ReplySpec:
    """How a keypad answers a poll: a frame in the same framing whose command field (if the spec
    has one) is `command`, carrying a key code at `key_offset` of the payload and, for a transfer,
    the target line's number at `arg_offset`. `payload_len` is needed when the frame has no length
    field, since a key code may collide with the trailer byte."""

    command: int | None = None
    payload_len: int | None = None
    key_offset: int = 0
    arg_offset: int | None = None
    none_code: int = 0
    keys: tuple[tuple[int, str], ...] = ()

    def __post_init__(self):
        codes = [c for c, _ in self.keys]
        if len(set(codes)) != len(codes):
            raise FrameError("reply keys: two keys share one code")
        for code, name in self.keys:
            if name not in KEYS:
                raise FrameError(f"reply keys: {name!r} is not one of {', '.join(KEYS)}")
            if code == self.none_code:
                raise FrameError(f"reply keys: {name} uses the no-key code {code}")
        if self.payload_len is not None:
            need = max(self.key_offset, self.arg_offset or 0) + 1
            if self.payload_len < need:
                raise FrameError(f"reply payload_len {self.payload_len} is shorter than its key/arg offsets")

    def key_name(self, code: int) -> str | None:
        for c, name in self.keys:
            if c == code:
                return name
        return None

    def key_code(self, name: str) -> int:
        for c, n in self.keys:
            if n == name:
                return c
        raise FrameError(f"this reply format has no code for key {name!r}")


@dataclass(frozen=True)
class FrameSpec:
    """One vendor's frame format. Build it in code (presets.py) or from config (config.py)."""

    name: str
    header: bytes
    address: Field
    checksum: Checksum = field(default_factory=Checksum)
    command: Field | None = None
    row: Field | None = None
    length: LengthField | None = None
    text_command: int | None = None
    poll_command: int | None = None
    encoding: str = "gb2312"
    char_transform: str = "none"
    line_separator: bytes = b""
    max_text_bytes: int | None = None
    trailer: bytes = b""
    pacing_ms: int = 50
    reply: ReplySpec | None = None
    description: str = ""

    def __post_init__(self):
        hl = len(self.header)
        fields = [("address", self.address), ("command", self.command), ("row", self.row), ("length", self.length)]
        taken: dict[int, str] = {}
        for what, f in fields:
            if f is None:
                continue
            if f.end > hl:
                raise FrameError(f"{what} field (offset {f.offset}, width {f.width}) runs past the {hl}-byte header")
            for i in range(f.offset, f.end):
                if i in taken:
                    raise FrameError(f"{what} field overlaps the {taken[i]} field at byte {i}")
                taken[i] = what
        if not any(i not in taken for i in range(hl)):
            # Without one fixed byte a listener cannot find where a frame starts.
            raise FrameError("the header needs at least one fixed byte that no field covers")
        if self.encoding not in ENCODINGS:
            raise FrameError(f"encoding {self.encoding!r} is not one of {', '.join(ENCODINGS)}")
        if self.char_transform not in CHAR_TRANSFORMS:
            raise FrameError(f"char_transform {self.char_transform!r} is not one of {', '.join(CHAR_TRANSFORMS)}")
        if self.checksum.start > hl:
            raise FrameError(f"checksum start {self.checksum.start} is past the header")
        if self.length is not None and self.length.start is not None and self.length.start > hl:
            raise FrameError(f"length start {self.length.start} is past the header")
        if self.length is None and not self.trailer:
            raise FrameError("a frame needs a length field or a trailer, or a listener cannot tell where it ends")
        if self.pacing_ms < 0:
            raise FrameError("pacing_ms is negative")
        if self.command is not None:
            for what, v in (
                ("text_command", self.text_command),
                ("poll_command", self.poll_command),
                ("reply.command", self.reply.command if self.reply else None),
            ):
                if v is not None and not 0 <= v <= self.command.max_value:
                    raise FrameError(f"{what} {v} does not fit the command field")
        if self.reply is not None:
            if self.poll_command is None and self.command is not None:
                raise FrameError("a spec with a reply format needs a poll_command")
            if self.length is None and self.reply.payload_len is None:
                raise FrameError("reply.payload_len is needed when the frame has no length field")

    # -- sizes -----------------------------------------------------------------------------------

    @property
    def max_address(self) -> int:
        return self.address.max_value

    @property
    def fixed_positions(self) -> tuple[int, ...]:
        taken: set[int] = set()
        for f in (self.address, self.command, self.row, self.length):
            if f is not None:
                taken.update(range(f.offset, f.end))
        return tuple(i for i in range(len(self.header)) if i not in taken)

    @property
    def overhead(self) -> int:
        return len(self.header) + self.checksum.width + len(self.trailer)

    @property
    def max_payload(self) -> int:
        limit = MAX_PAYLOAD
        if self.length is not None:
            start = len(self.header) if self.length.start is None else self.length.start
            limit = min(limit, self.length.max_value - self.length.adjust - (len(self.header) - start))
        return limit


# -- text ----------------------------------------------------------------------------------------


def _fullwidth(ch: str) -> str:
    # LED boards with only a 16x16 font ROM draw half-width ASCII badly or not at all.
    if ch == " ":
        return "\u3000"
    if "!" <= ch <= "~":
        return chr(ord(ch) + 0xFEE0)
    return ch


def encode_text(spec: FrameSpec, text: str, limit: int | None = None) -> bytes:
    """Encode one line. Characters the code page lacks become '?', never an exception: a display
    showing one wrong glyph is better than a window whose display stops updating. Text longer
    than `max_text_bytes` (or `limit`) is cut between characters, never inside one."""
    caps = [c for c in (spec.max_text_bytes, limit) if c is not None]
    cap = min(caps) if caps else None
    out = bytearray()
    for ch in text:
        if spec.char_transform == "fullwidth":
            ch = _fullwidth(ch)
        b = ch.encode(spec.encoding, errors="replace")
        if spec.char_transform == "nul_after_char":
            b += b"\x00"
        if cap is not None and len(out) + len(b) > cap:
            break
        out += b
    return bytes(out)


def decode_text(spec: FrameSpec, payload: bytes) -> str:
    """Best-effort inverse of encode_text, for `tongban displays listen` and the test fakes."""
    if spec.char_transform == "nul_after_char":
        payload = _strip_char_nuls(spec, payload)
    text = payload.decode(spec.encoding, errors="replace")
    if spec.char_transform == "fullwidth":
        text = "".join(" " if c == "\u3000" else chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text)
    return text


def _strip_char_nuls(spec: FrameSpec, payload: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(payload):
        # A lead byte >= 0x81 starts a two-byte character in every GB code page we accept.
        n = 2 if payload[i] >= 0x81 and spec.encoding != "ascii" else 1
        out += payload[i : i + n]
        i += n
        if i < len(payload) and payload[i] == 0:
            i += 1
    return bytes(out)


# -- building ------------------------------------------------------------------------------------


def build_frame(spec: FrameSpec, address: int, command: int | None = None, payload: bytes = b"", row: int = 0) -> bytes:
    if len(payload) > spec.max_payload:
        raise FrameError(f"payload of {len(payload)} bytes does not fit this frame's length field")
    frame = bytearray(spec.header)
    spec.address.put(frame, address, "address")
    if spec.command is not None:
        if command is None:
            raise FrameError(f"{spec.name}: a command value is needed")
        spec.command.put(frame, command, "command")
    if spec.row is not None:
        spec.row.put(frame, row, "row")
    if spec.length is not None:
        start = len(spec.header) if spec.length.start is None else spec.length.start
        spec.length.put(frame, len(spec.header) - start + len(payload) + spec.length.adjust, "length")
    frame += payload
    frame += spec.checksum.compute(bytes(frame[spec.checksum.start :]))
    frame += spec.trailer
    return bytes(frame)


def text_frames(spec: FrameSpec, address: int, text: str) -> list[bytes]:
    """The frames that make `address` show `text`. Lines ("\\n") go one frame per row where the
    spec has a row field, else into one frame joined by the spec's line separator."""
    lines = text.split("\n")
    if spec.row is not None:
        return [
            build_frame(spec, address, spec.text_command, encode_text(spec, line, spec.max_payload), row=i)
            for i, line in enumerate(lines)
        ]
    # Rows that do not fit the length field are dropped from the bottom, whole characters only.
    payload = bytearray()
    for i, line in enumerate(lines):
        sep = spec.line_separator if i else b""
        room = spec.max_payload - len(payload) - len(sep)
        if room < 0:
            break
        payload += sep + encode_text(spec, line, room)
    return [build_frame(spec, address, spec.text_command, bytes(payload))]


def poll_frame(spec: FrameSpec, address: int) -> bytes:
    if spec.reply is None:
        raise FrameError(f"{spec.name} has no keypad reply format, so nothing can be polled")
    return build_frame(spec, address, spec.poll_command)


def reply_frame(spec: FrameSpec, address: int, key: str | None, arg: int = 0) -> bytes:
    """What a keypad sends back; used by the fakes, the simulator and the golden tests."""
    reply = spec.reply
    if reply is None:
        raise FrameError(f"{spec.name} has no keypad reply format")
    size = reply.payload_len or (max(reply.key_offset, reply.arg_offset or 0) + 1)
    payload = bytearray(size)
    payload[reply.key_offset] = reply.none_code if key is None else reply.key_code(key)
    if reply.arg_offset is not None:
        payload[reply.arg_offset] = arg
    return build_frame(spec, address, reply.command, bytes(payload))


# -- decoding ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    address: int
    command: int | None
    row: int
    payload: bytes
    raw: bytes


class FrameDecoder:
    """Finds frames of one spec in a byte stream that may start mid-frame or carry noise.

    `payload_lens` maps a command value to its fixed payload size, for specs without a length
    field (a sum8 or crc byte may equal the trailer, so scanning for the trailer alone is a guess);
    frames whose size is not known that way are found by trying each trailer and keeping the first
    whose checksum holds."""

    def __init__(self, spec: FrameSpec, payload_lens: dict[int | None, int] | None = None):
        self.spec = spec
        self.payload_lens = dict(payload_lens if payload_lens is not None else default_payload_lens(spec))
        self.buf = bytearray()
        self.dropped = 0  # bytes thrown away while resynchronising; shown by `listen`

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out: list[Frame] = []
        while True:
            frame, consumed = self._next()
            if consumed:
                del self.buf[:consumed]
            if frame is None:
                return out
            out.append(frame)

    def _next(self) -> tuple[Frame | None, int]:
        spec = self.spec
        hl = len(spec.header)
        fixed = spec.fixed_positions
        sized = spec.length is not None
        pending = None  # first position that may still become a frame when more bytes arrive
        i = 0
        while len(self.buf) - i >= hl:
            if any(self.buf[i + p] != spec.header[p] for p in fixed):
                i += 1
                continue
            head = bytes(self.buf[i : i + hl])
            command = spec.command.get(head) if spec.command is not None else None
            ends = self._candidate_ends(i, head, command)
            if ends == "more":
                if pending is None:
                    pending = i
                if sized or command in self.payload_lens:
                    # The size is known, so a look inside the unfinished frame can only find a
                    # false header; wait for the rest.
                    break
            elif ends:
                for end in ends:
                    frame = self._check(bytes(self.buf[i:end]), head, command)
                    if frame is not None:
                        # Anything before a complete, valid frame was noise or a lost fragment.
                        return frame, self._drop(i) + (end - i)
                if pending is None and not self._complete_for_scan(i):
                    pending = i  # a later trailer may still close it
            i += 1
        return None, self._drop(i if pending is None else pending)

    def _drop(self, n: int) -> int:
        self.dropped += n
        return n

    def _candidate_ends(self, i: int, head: bytes, command: int | None):
        spec = self.spec
        hl = len(spec.header)
        tail = spec.checksum.width + len(spec.trailer)
        if spec.length is not None:
            start = hl if spec.length.start is None else spec.length.start
            n = spec.length.get(head) - spec.length.adjust - (hl - start)
            if not 0 <= n <= spec.max_payload:
                return None
            end = i + hl + n + tail
            return "more" if len(self.buf) < end else [end]
        fixed_len = self.payload_lens.get(command)
        if fixed_len is not None:
            end = i + hl + fixed_len + tail
            return "more" if len(self.buf) < end else [end]
        ends = []
        t = spec.trailer
        pos = i + hl + spec.checksum.width
        while True:
            j = self.buf.find(t, pos)
            if j < 0:
                break
            ends.append(j + len(t))
            pos = j + 1
        if ends:
            return ends
        return None if self._complete_for_scan(i) else "more"

    def _complete_for_scan(self, i: int) -> bool:
        return len(self.buf) - i >= self.spec.overhead + self.spec.max_payload

    def _check(self, raw: bytes, head: bytes, command: int | None) -> Frame | None:
        spec = self.spec
        hl = len(spec.header)
        if spec.trailer and not raw.endswith(spec.trailer):
            return None
        body_end = len(raw) - len(spec.trailer) - spec.checksum.width
        if body_end < hl:
            return None
        if raw[body_end : len(raw) - len(spec.trailer)] != spec.checksum.compute(raw[spec.checksum.start : body_end]):
            return None
        return Frame(
            address=spec.address.get(head),
            command=command,
            row=spec.row.get(head) if spec.row is not None else 0,
            payload=raw[hl:body_end],
            raw=raw,
        )


def default_payload_lens(spec: FrameSpec) -> dict[int | None, int]:
    """Polls carry no payload and replies have a fixed one; text frames vary and are scanned."""
    lens: dict[int | None, int] = {}
    if spec.reply is not None and spec.reply.payload_len is not None:
        if spec.poll_command is not None or spec.command is None:
            lens[spec.poll_command] = 0
        lens[spec.reply.command] = spec.reply.payload_len
    return lens


def decode_key(spec: FrameSpec, frame: Frame) -> tuple[str | None, str | None]:
    """(key, arg) from a keypad reply: key None when nothing was pressed. An unknown code raises,
    since guessing a clerk's action is worse than ignoring it."""
    reply = spec.reply
    if reply is None:
        raise FrameError(f"{spec.name} has no keypad reply format")
    if len(frame.payload) <= reply.key_offset:
        raise FrameError("reply too short for its key code")
    code = frame.payload[reply.key_offset]
    if code == reply.none_code:
        return None, None
    key = reply.key_name(code)
    if key is None:
        raise FrameError(f"unknown key code 0x{code:02X}")
    arg = None
    if key == "transfer":
        if reply.arg_offset is None or len(frame.payload) <= reply.arg_offset:
            raise FrameError("transfer without a line number")
        arg = str(frame.payload[reply.arg_offset])
    return key, arg


def is_reply(spec: FrameSpec, frame: Frame) -> bool:
    return spec.reply is not None and (spec.command is None or frame.command == spec.reply.command)


def hexdump(data: Iterable[int]) -> str:
    return " ".join(f"{b:02X}" for b in data)
