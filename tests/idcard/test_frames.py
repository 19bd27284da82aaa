"""Golden frames of the SAM protocol (tongban/idcard/frames.py; the sources are cited there).

The request frames and the short answers are byte strings as public drivers and the protocol's
descriptions write them; the 30 01 answer's header is the one eastcoms' parsing guide shows
(AA AA AA 96 69 05 08 00 00 90 01 00 04 00), and its text block is written out field by field.
"""

from __future__ import annotations

from datetime import date

import pytest

from tongban.idcard import frames
from tongban.idcard.errors import BadCardData, BadFrame, NoCard, ReaderStatus, ReadFailed, SelectFailed
from tongban.idcard.frames import Card


def h(text: str) -> bytes:
    return bytes.fromhex(text)


SP = "2000"  # U+0020, little-endian: the padding of every field


def field(chars: str, units: int) -> str:
    """Hex of a field: the characters' UCS-2 LE hex as written, then spaces to `units` characters."""
    used = len(chars.replace(" ", "")) // 4
    return chars + SP * (units - used)


# 李明, male, 汉 (01), born 2004-07-18, 南京市, 440306200407180019, 南京市公安局, 2022-07-01 to 2032-07-01
TEXT_HEX = (
    field("4e67 0e66", 15)  # 李 U+674E, 明 U+660E
    + "3100"  # sex "1"
    + "3000 3100"  # ethnicity "01"
    + "3200 3000 3000 3400 3000 3700 3100 3800"  # 20040718
    + field("5753 ac4e 025e", 35)  # 南 U+5357, 京 U+4EAC, 市 U+5E02
    + "3400 3400 3000 3300 3000 3600 3200 3000 3000 3400 3000 3700 3100 3800 3000 3000 3100 3900"
    + field("5753 ac4e 025e 6c51 895b 405c", 15)  # 南京市公安局
    + "3200 3000 3200 3200 3000 3700 3000 3100"  # 20220701
    + "3200 3000 3300 3200 3000 3700 3000 3100"  # 20320701
    + SP * 18  # reserved
).replace(" ", "")

CARD = Card(
    name="李明",
    sex="1",
    ethnicity="01",
    birth_date=date(2004, 7, 18),
    address="南京市",
    id_number="440306200407180019",
    issuer="南京市公安局",
    valid_from=date(2022, 7, 1),
    valid_to=date(2032, 7, 1),
)


@pytest.mark.parametrize(
    ("request_", "golden"),
    [
        (frames.FIND, "AA AA AA 96 69 00 03 20 01 22"),
        (frames.SELECT, "AA AA AA 96 69 00 03 20 02 21"),
        (frames.READ, "AA AA AA 96 69 00 03 30 01 32"),
        (frames.STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
    ],
)
def test_request_frames(request_, golden):
    # length 00 03 covers CMD, Para and the check byte; the check byte XORs length, CMD and Para
    assert frames.command_frame(*request_) == h(golden)


def test_short_answers_as_readers_send_them():
    assert frames.answer_frame(frames.SW3_NOT_FOUND) == h("AA AA AA 96 69 00 04 00 00 80 84")
    assert frames.answer_frame(frames.SW3_READ_FAILED) == h("AA AA AA 96 69 00 04 00 00 41 45")
    assert frames.answer_frame(frames.SW3_FOUND, bytes(4)) == h("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
    assert frames.answer_frame(frames.SW3_OK, bytes(8)) == h("AA AA AA 96 69 00 0C 00 00 90" + " 00" * 8 + " 9C")


def test_a_read_failed_answer_is_a_named_error():
    answer = frames.parse_answer(h("AA AA AA 96 69 00 04 00 00 41 45"))
    assert (answer.sw1, answer.sw2, answer.sw3, answer.data) == (0, 0, 0x41, b"")
    assert isinstance(frames.status_error(answer, "read card"), ReadFailed)
    assert isinstance(frames.status_error(frames.parse_answer(h("AAAAAA9669 0004 000080 84")), "find"), NoCard)
    assert isinstance(frames.status_error(frames.parse_answer(h("AAAAAA9669 0004 000081 85")), "x"), SelectFailed)
    refused = frames.status_error(frames.parse_answer(h("AAAAAA9669 0004 000066 62")), "find")
    assert isinstance(refused, ReaderStatus) and "66" in refused.message_en


def test_the_text_block_field_by_field():
    block = h(TEXT_HEX)
    assert len(block) == frames.TEXT_LEN == 256
    assert frames.encode_text(CARD) == block
    assert frames.decode_text(block) == CARD


def test_a_whole_read_answer_decodes_to_the_card():
    photo = bytes(1024)
    golden = h("AA AA AA 96 69 05 08 00 00 90 01 00 04 00") + h(TEXT_HEX) + photo + h("16")
    assert len(golden) == 7 + 0x0508
    # the check byte, XOR of everything after the preamble, worked out apart from the module
    check = 0
    for byte in golden[5:-1]:
        check ^= byte
    assert check == 0x16
    assert frames.read_answer(CARD, photo) == golden
    answer = frames.parse_answer(golden)
    assert answer.sw3 == frames.SW3_OK
    assert frames.card_from_read(answer) == CARD


def test_long_term_validity():
    block = h(TEXT_HEX[: -(2 * 2 * (8 + 18))] + ("7f95 1f67" + SP * 6).replace(" ", "") + SP * 18)
    card = frames.decode_text(block)
    assert card.valid_to is None  # 长期
    assert frames.encode_text(card) == block


@pytest.mark.parametrize(
    "frame",
    [
        h("AA AA AA 96 69 00 04 00 00 80 85"),  # check byte off by one
        h("AA AA AA 96 68 00 04 00 00 80 84"),  # preamble
        h("AA AA AA 96 69 00 05 00 00 80 84"),  # length says one byte more than there is
        h("AA AA AA 96 69 00 02 00 84"),  # shorter than a status
        h("AA AA AA 96 69 FF FF 00 00 80 84"),  # impossible length
        b"",
    ],
)
def test_broken_frames_are_bad_frames(frame):
    with pytest.raises(BadFrame):
        frames.parse_answer(frame)


def test_a_bad_id_number_is_not_a_card():
    bad = TEXT_HEX.replace("3100 3900".replace(" ", ""), "3100 3800".replace(" ", ""), 1)  # ...0019 -> ...0018
    with pytest.raises(BadCardData) as info:
        frames.decode_text(h(bad))
    assert "440306" not in str(info.value)  # the message never carries the number


def test_lengths_that_do_not_fit_are_bad_frames():
    answer = frames.Answer(0, 0, 0x90, h("0100 0400") + bytes(100))
    with pytest.raises(BadFrame):
        frames.card_from_read(answer)


@pytest.mark.parametrize(
    ("number", "ok"),
    [("440306200407180019", True), ("11010519491231002X", True), ("440306200407180018", False), ("4403", False)],
)
def test_id_number_check_character(number, ok):
    assert frames.valid_id_number(number) is ok


def test_a_card_in_a_log_shows_no_personal_data():
    shown = repr(CARD)
    for personal in (CARD.name, CARD.id_number, CARD.address, "2004"):
        assert personal not in shown
