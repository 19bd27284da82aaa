"""The test decoder itself: strict, so a stray byte in a ticket fails a test."""

import pytest

from tests.tools.escpos_decode import Cut, DecodeError, Feed, Item, Line, QRCode, decode_escpos, ticket_view


def test_commands_and_text_items():
    data = b"\x1b@\x1c&\x1ba\x01\x1d!\x11" + "补打：A012".encode("gb18030") + b"\n\x1bd\x06\x1dV\x00\x10\x04\x01"
    assert decode_escpos(data) == [
        Item("ESC @"),
        Item("FS &"),
        Item("ESC a", 1),
        Item("GS !", (2, 2)),
        Item("text", "补打：A012"),
        Item("LF"),
        Item("ESC d", 6),
        Item("GS V", (0,)),
        Item("DLE EOT", 1),
    ]


def test_text_is_decoded_with_the_printers_encoding():
    data = b"\x1b@\x1c&" + "補打：".encode("big5") + b"\n"
    assert decode_escpos(data, "big5")[-2] == Item("text", "補打：")
    with pytest.raises(DecodeError, match="not valid gb18030"):
        decode_escpos(b"\x1b@\x1c&" + "補打".encode("big5") + b"\xff\n", "gb18030")


def test_chinese_bytes_before_fs_ampersand_are_an_error():
    with pytest.raises(DecodeError, match="outside Chinese mode"):
        decode_escpos(b"\x1b@" + "号".encode("gb18030"))
    with pytest.raises(DecodeError, match="outside Chinese mode"):  # ESC @ leaves Chinese mode
        decode_escpos(b"\x1c&\x1b@" + "号".encode("gb18030"))


def test_unknown_and_truncated_commands_are_errors():
    with pytest.raises(DecodeError, match="unknown command"):
        decode_escpos(b"\x1bz\x01")
    with pytest.raises(DecodeError, match="truncated"):
        decode_escpos(b"\x1d(k\x10\x00abc")
    with pytest.raises(DecodeError, match="unexpected control byte"):
        decode_escpos(b"\x07")


def test_ticket_view_folds_styles_into_lines_and_finds_the_qr():
    from escpos.printer import Dummy

    p = Dummy()
    p._raw(b"\x1b@\x1c&")
    p.set(align="center", bold=True)
    p._raw("号".encode("gb18030") + b"\n")
    p.qr("hello", native=True, size=5)
    p.cut()
    view = ticket_view(p.output)
    assert view == [
        Line("号", "center", (1, 1), True, False),
        QRCode("hello", 5, "L", "center"),
        Feed(6, "lines"),
        Cut((0,)),
    ]
