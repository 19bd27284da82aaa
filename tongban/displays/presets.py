"""Frame specs shipped by name, each modelled on a family of vendor protocols seen in halls.

The byte-level tables are in docs/displays.md; tests/displays/test_presets.py has a golden frame for
each, derived by hand. A hall whose hardware differs in one detail writes `frame = {based_on =
"sum8-ff", ...}` in its bus entry instead of adding a preset here.
"""

from __future__ import annotations

from .errors import FrameError
from .frames import Checksum, Field, FrameSpec, LengthField, ReplySpec

SUM8_FF = FrameSpec(
    name="sum8-ff",
    description="AA addr cmd text sum8 FF; GB2312; the classic single-address RS-485 window display",
    header=b"\xaa\x00\x00",
    address=Field(offset=1),
    command=Field(offset=2),
    text_command=0x01,
    poll_command=0x05,
    encoding="gb2312",
    # Multi-line boards in this family take CR between rows.
    line_separator=b"\x0d",
    # The sum starts at the address: the AA sync byte is constant and adds nothing.
    checksum=Checksum("sum8", start=1),
    trailer=b"\xff",
    pacing_ms=50,
    reply=ReplySpec(
        command=0x85,
        payload_len=2,
        key_offset=0,
        arg_offset=1,
        keys=(
            (0x01, "next"),
            (0x02, "recall"),
            (0x03, "no_show"),
            (0x04, "pause"),
            (0x05, "start"),
            (0x06, "finish"),
            (0x07, "transfer"),
        ),
    ),
)

XOR8_NUL = FrameSpec(
    name="xor8-nul",
    description="STX addr cmd (char 00)... xor8 ETX; each character followed by a zero byte",
    header=b"\x02\x00\x00",
    address=Field(offset=1),
    command=Field(offset=2),
    text_command=0x10,
    poll_command=0x20,
    encoding="gb2312",
    # These controllers read text in cells: a character's bytes, then 00 ends the cell.
    char_transform="nul_after_char",
    line_separator=b"\x0a\x00",
    # This family's BCC covers STX too.
    checksum=Checksum("xor8", start=0),
    trailer=b"\x03",
    pacing_ms=80,
    reply=ReplySpec(
        command=0x21,
        payload_len=2,
        key_offset=0,
        arg_offset=1,
        keys=(
            (ord("N"), "next"),
            (ord("R"), "recall"),
            (ord("X"), "no_show"),
            (ord("P"), "pause"),
            (ord("S"), "start"),
            (ord("F"), "finish"),
            (ord("T"), "transfer"),
        ),
    ),
)

LEN_CRC16 = FrameSpec(
    name="len-crc16",
    description="55 AA addr(2, BE) cmd row len(2, LE) text crc16-ccitt(BE); GBK; one frame per row",
    header=b"\x55\xaa\x00\x00\x00\x00\x00\x00",
    address=Field(offset=2, width=2, byteorder="big"),
    command=Field(offset=4),
    row=Field(offset=5),
    # The length counts the payload only; its byte order differs from the address's in this
    # family, which is exactly the kind of detail the spec must state rather than assume.
    length=LengthField(offset=6, width=2, byteorder="little"),
    text_command=0x10,
    poll_command=0x20,
    encoding="gbk",
    checksum=Checksum("crc16-ccitt", start=2, byteorder="big"),
    trailer=b"",
    pacing_ms=30,
    reply=ReplySpec(
        command=0x21,
        key_offset=0,
        arg_offset=1,
        keys=(
            (0x01, "next"),
            (0x02, "recall"),
            (0x03, "no_show"),
            (0x04, "pause"),
            (0x05, "start"),
            (0x06, "finish"),
            (0x07, "transfer"),
        ),
    ),
)

PRESETS: dict[str, FrameSpec] = {s.name: s for s in (SUM8_FF, XOR8_NUL, LEN_CRC16)}


def get_preset(name: str) -> FrameSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise FrameError(f"no frame preset named {name!r} (expected one of {', '.join(sorted(PRESETS))})") from None
