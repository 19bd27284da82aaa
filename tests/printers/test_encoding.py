"""The one encoding helper: full-width punctuation and mixed text survive, commands cannot sneak in."""

import logging

from tongban.printers.encoding import TextEncoder
from tongban.printers.layout import wrap

PUNCT = "取号时间：（补打），。；！？“”《》、"


def test_prelude_is_init_then_chinese_mode():
    assert TextEncoder("gb18030").prelude() == b"\x1b@\x1c&"


def test_full_width_punctuation_round_trips_in_every_encoding():
    for enc, text in (
        ("gb18030", PUNCT + " A012 Issued"),
        ("gbk", PUNCT + " A012"),
        ("big5", "取號時間：（補打），。；！？ A012"),
    ):
        data = TextEncoder(enc).encode(text)
        assert data.decode(enc) == text


def test_full_width_colon_is_the_two_byte_gb_code_not_a_code_page_guess():
    # python-escpos' magic encoder would pick a single-byte code page here
    assert TextEncoder("gb18030").encode("：（），。") == bytes.fromhex("a3baa3a8a3a9a3aca1a3")


def test_control_characters_from_config_never_reach_the_printer():
    assert TextEncoder().encode("示例\x1b@厅\x1d!\x77") == "示例@厅!w".encode("gb18030")


def test_unencodable_characters_become_question_marks_and_are_logged(caplog):
    with caplog.at_level(logging.WARNING):
        data = TextEncoder("big5").encode("号A")  # simplified 号 is not in Big5
    assert data == b"?A"
    assert "big5 cannot encode '号'" in caplog.text


def test_columns_are_what_the_printer_draws():
    enc = TextEncoder("gb18030")
    assert enc.columns("A012") == 4
    assert enc.columns("取号：") == 6
    assert enc.columns("·") == 2  # narrow in Unicode, double-byte (24 dots) on the printer


def test_wrap_keeps_closing_punctuation_off_the_line_start_and_words_whole():
    cols = TextEncoder().columns
    # "号，" is one unit: the comma would otherwise start line 2
    assert wrap("请留意叫号，过号请到服务台重新排队。", 10, cols) == [
        "请留意叫",
        "号，过号请",
        "到服务台重",
        "新排队。",
    ]
    assert wrap("Please watch the screen", 12, cols) == ["Please watch", "the screen"]
    for width in range(8, 49):  # 8 columns is below any real line (58 mm at double width is 16)
        lines = wrap("养老保险关系转移接续申请（跨省），请核对。", width, cols)
        assert "".join(lines) == "养老保险关系转移接续申请（跨省），请核对。"
        assert all(cols(ln) <= width for ln in lines)
        assert not any(ln[0] in "），。" or ln[-1] == "（" for ln in lines), (width, lines)
    assert wrap("http://hall.example/t/A012", 10, cols) == ["http://hal", "l.example/", "t/A012"]
