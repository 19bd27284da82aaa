"""The frame codec beyond the presets: text transforms, limits, decoding a noisy stream."""

import dataclasses

import pytest

from tongban.displays import (
    Checksum,
    Field,
    FrameDecoder,
    FrameSpec,
    LengthField,
    ReplySpec,
    build_frame,
    decode_text,
    encode_text,
    get_preset,
    poll_frame,
    reply_frame,
    text_frames,
)
from tongban.displays.errors import FrameError
from tongban.displays.frames import decode_key


def test_fullwidth_transform_for_boards_with_only_a_16x16_font():
    spec = dataclasses.replace(get_preset("sum8-ff"), char_transform="fullwidth")
    # 'A' -> U+FF21 'Ａ' = GB2312 区位 0333 -> A3 C1; ' ' -> U+3000 = 区位 0101 -> A1 A1
    assert encode_text(spec, "A ") == bytes.fromhex("A3 C1 A1 A1")
    assert decode_text(spec, bytes.fromhex("A3 C1 A1 A1")) == "A "


def test_nul_transform_round_trips_mixed_text():
    spec = get_preset("xor8-nul")
    text = "请A012到3号窗口"
    assert decode_text(spec, encode_text(spec, text)) == text


def test_characters_the_code_page_lacks_become_question_marks():
    spec = get_preset("sum8-ff")  # GB2312 has no 😀 and no 䶮
    assert encode_text(spec, "A😀") == b"A?"


def test_gbk_preset_keeps_characters_gb2312_lacks():
    # 镕 is in GBK, not GB2312: names on a hall board need it
    assert encode_text(get_preset("len-crc16"), "镕") == "镕".encode("gbk")
    assert encode_text(get_preset("sum8-ff"), "镕") == b"?"


def test_max_text_bytes_cuts_between_characters_never_inside_one():
    spec = dataclasses.replace(get_preset("sum8-ff"), max_text_bytes=5)
    # 请(2) A(1) 0(1) = 4 bytes; 到 would make 6 -> cut before it
    assert encode_text(spec, "请A0到") == bytes.fromhex("C7 EB 41 30")


def test_address_out_of_field_range_is_a_frame_error():
    with pytest.raises(FrameError, match="address 256 does not fit in 1 byte"):
        text_frames(get_preset("sum8-ff"), 256, "x")


def test_decoder_resyncs_after_noise_and_split_reads():
    spec = get_preset("sum8-ff")
    frames = text_frames(spec, 3, "A012")[0] + poll_frame(spec, 4) + reply_frame(spec, 4, "recall")
    stream = b"\x00\xaa\x13garbage" + frames
    dec = FrameDecoder(spec)
    got = []
    for i in range(0, len(stream), 3):  # arrives three bytes at a time, as from a slow UART
        got += dec.feed(stream[i : i + 3])
    assert [(f.address, f.command) for f in got] == [(3, 0x01), (4, 0x05), (4, 0x85)]
    assert decode_key(spec, got[2]) == ("recall", None)
    assert dec.dropped == len(b"\x00\xaa\x13garbage")


def test_decoder_rejects_bad_checksum():
    spec = get_preset("xor8-nul")
    good = reply_frame(spec, 5, "pause")
    bad = good[:-2] + bytes([good[-2] ^ 1]) + good[-1:]
    assert FrameDecoder(spec).feed(bad) == []
    assert len(FrameDecoder(spec).feed(bad + good)) == 1


def test_decoder_uses_fixed_reply_length_when_checksum_equals_trailer():
    # sum8-ff reply with byte 0x79 at address 1: 01+85+79+00 = 0xFF, which is also the trailer,
    # so the frame holds two FFs; the reply's fixed length says which one ends it.
    spec = get_preset("sum8-ff")
    raw = build_frame(spec, 1, 0x85, bytes([0x79, 0x00]))
    assert raw == bytes.fromhex("AA 01 85 79 00 FF FF")
    frames = FrameDecoder(spec).feed(raw + poll_frame(spec, 1))
    assert [f.raw for f in frames] == [raw, poll_frame(spec, 1)]


def test_length_field_with_start_and_adjust():
    # "Length counts from the address to the end of the checksum", as some keypads do:
    # header 7E addr len, payload, sum8 from addr, no trailer.
    spec = FrameSpec(
        name="t",
        header=b"\x7e\x00\x00",
        address=Field(1),
        length=LengthField(2, start=1, adjust=1),
        checksum=Checksum("sum8", start=1),
    )
    # addr 02, payload 41 42: counted bytes = addr, len, 41, 42 = 4, + 1 for the checksum = 5
    # sum: 02+05+41+42 = 0x8A
    raw = build_frame(spec, 2, payload=b"AB")
    assert raw == bytes.fromhex("7E 02 05 41 42 8A")
    [f] = FrameDecoder(spec).feed(raw)
    assert f.payload == b"AB"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(address=Field(2)), "runs past the 2-byte header"),
        (dict(address=Field(0), header=b"\x00"), "at least one fixed byte"),
        (dict(command=Field(1)), "overlaps the address field"),
        (dict(trailer=b""), "length field or a trailer"),
        (dict(encoding="utf-8"), "encoding 'utf-8' is not one of"),
        (
            dict(header=b"\xaa\x00\x00", command=Field(2), reply=ReplySpec(payload_len=2, keys=((1, "next"),))),
            "needs a poll_command",
        ),
        (dict(reply=ReplySpec(keys=((1, "next"),))), "payload_len is needed"),
    ],
)
def test_impossible_specs_are_refused(kwargs, message):
    base = dict(name="t", header=b"\xaa\x00", address=Field(1), trailer=b"\xff")
    base.update(kwargs)
    with pytest.raises(FrameError, match=message):
        FrameSpec(**base)


def test_reply_keys_must_be_known_and_distinct():
    with pytest.raises(FrameError, match="'call' is not one of"):
        ReplySpec(keys=((1, "call"),))
    with pytest.raises(FrameError, match="share one code"):
        ReplySpec(keys=((1, "next"), (1, "recall")))


def test_unknown_key_code_is_an_error_not_a_guess():
    spec = get_preset("sum8-ff")
    raw = build_frame(spec, 5, 0x85, bytes([0x42, 0]))
    [f] = FrameDecoder(spec).feed(raw)
    with pytest.raises(FrameError, match="unknown key code 0x42"):
        decode_key(spec, f)


def test_text_longer_than_a_one_byte_length_field_is_cut_between_characters():
    spec = FrameSpec(
        name="t",
        header=b"\x7e\x00\x00",
        address=Field(1),
        length=LengthField(2),
        checksum=Checksum("xor8"),
        trailer=b"",
    )
    [frame] = text_frames(spec, 1, "窗" * 200)  # 400 bytes of text, room for 255
    assert frame[2] == 254 and frame[3 : 3 + 254] == "窗".encode("gb2312") * 127


def test_rows_that_do_not_fit_are_dropped_from_the_bottom():
    spec = FrameSpec(
        name="t",
        header=b"\x7e\x00\x00",
        address=Field(1),
        length=LengthField(2),
        line_separator=b"\x0d",
        trailer=b"\xff",
    )
    [frame] = text_frames(spec, 1, "\n".join(["A" * 200, "B" * 100]))
    # 200 + CR leaves 54 bytes of room for the second row
    assert frame[2] == 255 and frame[3 : 3 + 255] == b"A" * 200 + b"\x0d" + b"B" * 54
