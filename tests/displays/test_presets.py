"""Golden frames for every shipped preset.

Each expected frame is written out from the preset's table in docs/displays.md, byte by byte, with
the arithmetic in the comment. GB2312 bytes are derived from the 区位 (row/cell) code: byte = 区 +
0xA0, 位 + 0xA0. If one of these fails, the code changed the wire format: a hall's displays would
go blank, so fix the code, not the expectation.
"""

import binascii

import pytest

from tongban.displays import (
    PRESETS,
    FrameDecoder,
    crc16_ccitt,
    decode_key,
    get_preset,
    poll_frame,
    reply_frame,
    text_frames,
)
from tongban.displays.errors import FrameError


def test_presets_are_the_three_documented_families():
    assert set(PRESETS) == {"sum8-ff", "xor8-nul", "len-crc16"}
    with pytest.raises(FrameError, match="no frame preset named 'nope'"):
        get_preset("nope")


# -- sum8-ff: AA addr cmd text sum8(from addr) FF ------------------------------------------------


def test_sum8_ff_text_ascii():
    spec = get_preset("sum8-ff")
    # AA | addr 03 | cmd 01 (text) | "A012" = 41 30 31 32
    # sum8 from the address: 03+01+41+30+31+32 = 0xD8 | trailer FF
    assert text_frames(spec, 3, "A012") == [bytes.fromhex("AA 03 01 41 30 31 32 D8 FF")]


def test_sum8_ff_text_chinese_wraps_mod_256():
    spec = get_preset("sum8-ff")
    # 暂 区位 5261 -> D4 DD; 停 区位 4503 -> CD A3
    # sum: 07+01 = 08; +D4 = DC; +DD = 1B9; +CD = 286; +A3 = 329 -> mod 256 = 0x29
    assert text_frames(spec, 7, "暂停") == [bytes.fromhex("AA 07 01 D4 DD CD A3 29 FF")]


def test_sum8_ff_window_call_text():
    spec = get_preset("sum8-ff")
    # 请A012到3号窗口 at address 1:
    # 请 3975 -> C7 EB; A012 -> 41 30 31 32; 到 2129 -> B5 BD; 3 -> 33; 号 2637 -> BA C5;
    # 窗 2016 -> B4 B0; 口 3158 -> BF DA
    payload = "C7 EB 41 30 31 32 B5 BD 33 BA C5 B4 B0 BF DA"
    # sum from the address: 01+01 = 02; C7+EB = 1B2; 41+30+31+32 = D4; B5+BD = 172; 33;
    # BA+C5 = 17F; B4+B0 = 164; BF+DA = 199
    # running: 02 -> 1B4 -> 288 -> 3FA -> 42D -> 5AC -> 710 -> 8A9 (2217) -> mod 256 = 0xA9
    assert text_frames(spec, 1, "请A012到3号窗口") == [bytes.fromhex(f"AA 01 01 {payload} A9 FF")]


def test_sum8_ff_hall_board_rows_joined_by_cr():
    spec = get_preset("sum8-ff")
    # "A1" CR "B2" at address 9: 41 31 0D 42 32
    # sum: 09+01+41+31+0D+42+32 = 0xFD
    assert text_frames(spec, 9, "A1\nB2") == [bytes.fromhex("AA 09 01 41 31 0D 42 32 FD FF")]


def test_sum8_ff_poll_and_reply():
    spec = get_preset("sum8-ff")
    # poll: AA | 05 | cmd 05 | sum 05+05 = 0A | FF
    assert poll_frame(spec, 5) == bytes.fromhex("AA 05 05 0A FF")
    # reply "next": AA | 05 | cmd 85 | key 01, arg 00 | sum 05+85+01+00 = 8B | FF
    assert reply_frame(spec, 5, "next") == bytes.fromhex("AA 05 85 01 00 8B FF")
    # reply "transfer to line 2": key 07, arg 02 | sum 05+85+07+02 = 93
    raw = bytes.fromhex("AA 05 85 07 02 93 FF")
    [frame] = FrameDecoder(spec).feed(raw)
    assert (frame.address, decode_key(spec, frame)) == (5, ("transfer", "2"))


# -- xor8-nul: STX addr cmd (char 00)... xor8(from STX) ETX ---------------------------------------


def test_xor8_nul_text_ascii():
    spec = get_preset("xor8-nul")
    # 02 | addr 03 | cmd 10 | A 00 0 00 1 00 2 00 (a zero after each character)
    # xor from STX: 02^03 = 01; ^10 = 11; ^41 = 50; ^30 = 60; ^31 = 51; ^32 = 63 (zeros change
    # nothing) | ETX 03
    assert text_frames(spec, 3, "A012") == [bytes.fromhex("02 03 10 41 00 30 00 31 00 32 00 63 03")]


def test_xor8_nul_text_chinese_zero_after_each_character_not_each_byte():
    spec = get_preset("xor8-nul")
    # 暂 D4 DD, 00 | 停 CD A3, 00
    # xor: 02^01 = 03; ^10 = 13; ^D4 = C7; ^DD = 1A; ^CD = D7; ^A3 = 74
    assert text_frames(spec, 1, "暂停") == [bytes.fromhex("02 01 10 D4 DD 00 CD A3 00 74 03")]


def test_xor8_nul_poll_and_reply():
    spec = get_preset("xor8-nul")
    # poll: 02 05 20 | xor 02^05^20 = 27 | 03
    assert poll_frame(spec, 5) == bytes.fromhex("02 05 20 27 03")
    # reply next ('N' = 4E): 02 05 21 4E 00 | xor 02^05^21^4E = 68 | 03
    assert reply_frame(spec, 5, "next") == bytes.fromhex("02 05 21 4E 00 68 03")
    # no key pressed: key 00 -> 02^05^21 = 26
    [frame] = FrameDecoder(spec).feed(bytes.fromhex("02 05 21 00 00 26 03"))
    assert decode_key(spec, frame) == (None, None)


# -- len-crc16: 55 AA addr(2 BE) cmd row len(2 LE) text crc16-ccitt(BE, from addr) ----------------


def test_crc16_ccitt_is_the_false_variant():
    # The catalogued check value of CRC-16/CCITT-FALSE, and the golden frame's CRC below (computed
    # by the table-driven CRC this module had before it used binascii.crc_hqx).
    assert crc16_ccitt(b"123456789") == 0x29B1
    assert crc16_ccitt(b"\x00\x03\x10\x00\x04\x00A012") == 0x0A50


def test_len_crc16_text_ascii():
    spec = get_preset("len-crc16")
    # 55 AA | addr 00 03 (big-endian) | cmd 10 | row 00 | len 04 00 (4 payload bytes, little-endian)
    # | 41 30 31 32 | CRC over 00 03 10 00 04 00 41 30 31 32 = 0x0A50 (binascii.crc_hqx(.., 0xFFFF)
    # agrees), sent high byte first: 0A 50
    body = bytes.fromhex("00 03 10 00 04 00 41 30 31 32")
    assert binascii.crc_hqx(body, 0xFFFF) == 0x0A50
    assert text_frames(spec, 3, "A012") == [bytes.fromhex("55 AA 00 03 10 00 04 00 41 30 31 32 0A 50")]


def test_len_crc16_two_byte_address_and_one_frame_per_row():
    spec = get_preset("len-crc16")
    # address 0x0102 = 258 -> 01 02; rows 0 and 1 -> one frame each, row in byte 5
    # row 0 "暂停": len 04 00, payload D4 DD CD A3 ; row 1 "": len 00 00, no payload
    body0 = bytes.fromhex("01 02 10 00 04 00 D4 DD CD A3")
    body1 = bytes.fromhex("01 02 10 01 00 00")
    crc0 = binascii.crc_hqx(body0, 0xFFFF).to_bytes(2, "big")
    crc1 = binascii.crc_hqx(body1, 0xFFFF).to_bytes(2, "big")
    assert text_frames(spec, 258, "暂停\n") == [b"\x55\xaa" + body0 + crc0, b"\x55\xaa" + body1 + crc1]


def test_len_crc16_poll_and_reply():
    spec = get_preset("len-crc16")
    body = bytes.fromhex("00 05 20 00 00 00")  # addr 5, cmd poll 20, row 0, len 0
    assert poll_frame(spec, 5) == b"\x55\xaa" + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
    body = bytes.fromhex("00 05 21 00 02 00 03 00")  # reply 21, len 2: key no_show 03, arg 00
    raw = b"\x55\xaa" + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
    assert reply_frame(spec, 5, "no_show") == raw
    [frame] = FrameDecoder(spec).feed(raw)
    assert decode_key(spec, frame) == ("no_show", None)
