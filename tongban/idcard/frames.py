"""The SAM protocol of second-generation ID-card readers: frames built, checked and decoded here.

Every reader sold for 二代身份证 puts a security module (SAM) between the host and the card, and the
SAM speaks one frame format over UART (or USB bulk pipes carrying the same bytes). Sources read when
writing this module (public; none of their code is copied):

- 公安部身份证阅读器模块SAM通讯协议 (DONSEE/eastcoms SAM_V protocol, mirrored at
  blog.csdn.net/zhangbijun1230/article/details/85242964 and eastcoms.com/service/downdrive/508.html):
  request = Preamble AA AA AA 96 69 | Len1 Len2 | CMD | Para | Data | CHK_SUM; answer = Preamble |
  Len1 Len2 | SW1 SW2 SW3 | Data | CHK_SUM. Len is big-endian (Len1 high byte) and counts
  CMD..CHK_SUM (request) or SW1..CHK_SUM (answer); CHK_SUM is the XOR of every byte of the frame
  except the preamble and itself, so it covers the two length bytes.
- softs.im "身份证阅读器通信协议": the command table (10 FF reset, 11 FF status, 20 01 find card,
  20 02 select card, 30 01 read text and photo, 60 0x baud rate) and the SW3 table (90 success,
  9F find card OK, 80 find failed, 81 select failed, 41 read failed, 10 checksum error…), with two
  answers as sent by a reader: AA AA AA 96 69 00 04 00 00 41 45 (read failed; 45 = 00^04^00^00^41).
- eastcoms.com/service/downdrive/533.html (SAM module data parsing): the 30 01 answer begins
  AA AA AA 96 69 05 08 00 00 90 01 00 04 00: length 0x0508 = 1288, status 00 00 90, then a 2-byte
  big-endian text length 0x0100 (256) and photo length 0x0400 (1024).
- hev-dbus-object-idcard-reader.c (Heiher, 2012, a GLib serial driver): the same four request
  frames byte for byte (…00 03 20 01 22, …00 03 20 02 21, …00 03 30 01 32, …00 03 11 FF ED), the
  text block read at offset 14 of the answer, and the field widths below in UTF-16 units.
- chenhaifeng2016/FaceRecognitionTest IDCardReader/src/IDReader.h: the 256-byte text block as a C
  struct (name 30, gender 2, nation 4, birthday 16, address 70, idno 36, issuer 30, begin 16, end
  16, reserved 36), then the 1024-byte photo.

The text block is UCS-2 little-endian, each field padded with spaces (U+0020). The photo is a
compressed format (WLT) only the vendor's library decodes; it is ignored here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import reduce

from .errors import BadCardData, BadFrame, NoCard, ReaderStatus, ReadFailed, SelectFailed

PREAMBLE = bytes.fromhex("AAAAAA9669")
HEADER_LEN = len(PREAMBLE) + 2  # preamble and the two length bytes; the rest is Len bytes
MAX_LEN = 4096  # the largest answer (text, photo and fingerprints) is about 2.3 KB

FIND = (0x20, 0x01)
SELECT = (0x20, 0x02)
READ = (0x30, 0x01)
STATUS = (0x11, 0xFF)

SW3_OK = 0x90
SW3_FOUND = 0x9F
SW3_NOT_FOUND = 0x80
SW3_SELECT_FAILED = 0x81
SW3_READ_FAILED = 0x41
# What the reader's other status codes mean, for the technician's log (softs.im's SW3 table).
SW3_MEANING = {
    0x10: "the reader got a bad check byte from us",
    0x11: "the reader got a bad length from us",
    0x21: "the reader did not understand the command",
    0x23: "unauthorised command",
    0x24: "unrecognised error",
    0x31: "card failed to authenticate the reader",
    0x32: "reader failed to authenticate the card",
    0x33: "information verification failed",
    0x40: "not an ID card",
    0x41: "reading the card failed",
    0x47: "getting a random number failed",
    0x60: "SAM self-test failed",
    0x66: "SAM not authorised",
    0x80: "no card found",
    0x81: "selecting the card failed",
    0x91: "the card has no such content",
}

TEXT_LEN = 256
# (field, bytes) in order; 256 bytes in all with the reserved tail.
TEXT_FIELDS = (
    ("name", 30),
    ("sex", 2),
    ("ethnicity", 4),
    ("birth_date", 16),
    ("address", 70),
    ("id_number", 36),
    ("issuer", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
)
LONG_TERM = "\u957f\u671f"  # 长期: a card valid for life has this instead of an end date
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"\d{17}[\dX]")


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def command_frame(cmd: int, para: int, data: bytes = b"") -> bytes:
    """A request: preamble, length (CMD..CHK_SUM, big-endian), CMD, Para, data, XOR check byte."""
    body = bytes((cmd, para)) + data
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes((xor(length + body),))


def answer_frame(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """An answer as a reader sends it (the simulator and the tests build them here)."""
    body = bytes((sw1, sw2, sw3)) + data
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes((xor(length + body),))


@dataclass(frozen=True)
class Answer:
    sw1: int
    sw2: int
    sw3: int
    data: bytes


def answer_length(header: bytes) -> int:
    """From the first HEADER_LEN bytes of an answer, how many bytes follow; BadFrame when they are
    not the start of one (garbage on the line, a reader speaking another protocol or baud rate)."""
    if len(header) < HEADER_LEN or header[: len(PREAMBLE)] != PREAMBLE:
        raise BadFrame(f"no preamble: got {len(header)} byte(s) starting {header[:7].hex(' ')}")
    length = int.from_bytes(header[len(PREAMBLE) : HEADER_LEN], "big")
    if not 4 <= length <= MAX_LEN:
        raise BadFrame(f"impossible length {length}")
    return length


def parse_answer(frame: bytes) -> Answer:
    """Check a whole answer (preamble, length, check byte) and split it."""
    length = answer_length(frame[:HEADER_LEN])
    if len(frame) != HEADER_LEN + length:
        raise BadFrame(f"length says {length} byte(s), got {len(frame) - HEADER_LEN}")
    checked = frame[len(PREAMBLE) : -1]
    if xor(checked) != frame[-1]:
        raise BadFrame(f"check byte {frame[-1]:02x}, expected {xor(checked):02x}")
    return Answer(frame[HEADER_LEN], frame[HEADER_LEN + 1], frame[HEADER_LEN + 2], frame[HEADER_LEN + 3 : -1])


def status_error(answer: Answer, during: str):
    """The named error for an answer whose status is not the one `during` expects."""
    sw3 = answer.sw3
    detail = f"{during}: SW {answer.sw1:02x} {answer.sw2:02x} {sw3:02x} ({SW3_MEANING.get(sw3, 'unknown status')})"
    if sw3 == SW3_NOT_FOUND:
        return NoCard(detail)
    if sw3 == SW3_SELECT_FAILED:
        return SelectFailed(detail)
    if sw3 in (0x31, 0x32, 0x33, 0x40, 0x41, 0x47, 0x91):
        return ReadFailed(detail)
    return ReaderStatus(detail, sw3=f"{sw3:02X}")


@dataclass(frozen=True)
class Card:
    """What the text block of a card says. Personal fields stay out of repr(): a card logged by
    mistake must not put a name or an ID number in the journal (docs/idcard.md, Privacy)."""

    name: str = field(repr=False)
    sex: str  # "1" male, "2" female (GB/T 2261.1 codes, as the card has them)
    ethnicity: str  # two digits (GB 3304: 01 汉族 … 56 基诺族, 97 other, 98 foreign origin)
    birth_date: date = field(repr=False)
    address: str = field(repr=False)
    id_number: str = field(repr=False)
    issuer: str = field(repr=False)
    valid_from: date
    valid_to: date | None  # None: valid for life (长期)


def valid_id_number(number: str) -> bool:
    """An 18-character resident ID number with a correct ISO 7064 MOD 11-2 check character."""
    if not _ID_RE.fullmatch(number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17]


def _date(value: str, what: str) -> date:
    if not (len(value) == 8 and value.isascii() and value.isdigit()):
        raise BadCardData(f"{what} is not YYYYMMDD")
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise BadCardData(f"{what} is not a date") from None


def decode_text(block: bytes) -> Card:
    """The 256-byte text block of a 30 01 answer as a Card; BadCardData when it is not a card's."""
    if len(block) < TEXT_LEN:
        raise BadCardData(f"text block of {len(block)} byte(s), expected {TEXT_LEN}")
    values: dict[str, str] = {}
    at = 0
    for name, size in TEXT_FIELDS:
        try:
            values[name] = block[at : at + size].decode("utf-16-le").rstrip(" \x00")
        except UnicodeDecodeError:
            raise BadCardData(f"{name} is not UCS-2") from None
        at += size
    number = values["id_number"].upper()
    if not valid_id_number(number):
        # Never the number itself: a misread one is still mostly someone's.
        raise BadCardData("the ID number is not 18 characters with a valid check character")
    end = values["valid_to"]
    return Card(
        name=values["name"],
        sex=values["sex"],
        ethnicity=values["ethnicity"],
        birth_date=_date(values["birth_date"], "birth date"),
        address=values["address"],
        id_number=number,
        issuer=values["issuer"],
        valid_from=_date(values["valid_from"], "validity start"),
        valid_to=None if end == LONG_TERM else _date(end, "validity end"),
    )


def encode_text(card: Card) -> bytes:
    """A card's 256-byte text block, as a card holds it (the simulator and golden tests use it)."""
    values = {
        "name": card.name,
        "sex": card.sex,
        "ethnicity": card.ethnicity,
        "birth_date": card.birth_date.strftime("%Y%m%d"),
        "address": card.address,
        "id_number": card.id_number,
        "issuer": card.issuer,
        "valid_from": card.valid_from.strftime("%Y%m%d"),
        "valid_to": card.valid_to.strftime("%Y%m%d") if card.valid_to else LONG_TERM,
        "reserved": "",
    }
    out = b""
    for name, size in TEXT_FIELDS:
        raw = values[name].encode("utf-16-le")
        if len(raw) > size:
            raise ValueError(f"{name} is longer than {size // 2} characters")
        out += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
    return out


def read_answer(card: Card, photo: bytes = b"\x00" * 1024) -> bytes:
    """The whole 30 01 answer for a card: status 90, text length, photo length, text, photo."""
    text_block = encode_text(card)
    data = len(text_block).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text_block + photo
    return answer_frame(SW3_OK, data)


def card_from_read(answer: Answer) -> Card:
    """The Card in a successful 30 01 answer's data (text length, photo length, text, photo)."""
    data = answer.data
    if len(data) < 4:
        raise BadFrame(f"read answer of {len(data)} byte(s) has no lengths")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if text_len < TEXT_LEN or 4 + text_len + photo_len > len(data):
        raise BadFrame(f"text length {text_len} and photo length {photo_len} do not fit {len(data)} byte(s)")
    return decode_text(data[4 : 4 + TEXT_LEN])
