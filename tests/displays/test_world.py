"""What displays should say, without any bus."""

import pytest

from tongban.displays import DisplayError, DisplayWorld


def test_default_window_texts():
    w = DisplayWorld()
    assert w.window_text("called", 3, "A012") == "请A012到3号窗口"
    assert w.window_text("serving", 3, "A012") == "请A012到3号窗口"
    assert w.window_text("paused", 3, "A012") == "暂停服务"
    assert w.window_text("closed", 3, None) == "窗口关闭"
    assert w.window_text("idle", 3, None) == "3号窗口"
    # called without a number (should not happen) shows the window, never "请None"
    assert w.window_text("called", 3, None) == "3号窗口"


def test_keypad_led_texts():
    w = DisplayWorld()
    assert w.keypad_text("called", 3, "A012") == "A012"
    assert w.keypad_text("idle", 3, None) == "----"
    assert w.keypad_text("paused", 3, None) == "P"


def test_unknown_state_is_named():
    with pytest.raises(DisplayError, match="unknown window state 'lunch'"):
        DisplayWorld().window_text("lunch", 1, None)


def test_hall_text_pads_to_the_board_rows_and_cuts_extra_calls():
    w = DisplayWorld()
    assert w.hall_text([(3, "A012"), (1, "B004")], rows=3) == "A012 请到3号窗口\nB004 请到1号窗口\n"
    assert w.hall_text([(3, "A012"), (1, "B004")], rows=1) == "A012 请到3号窗口"


def test_texts_from_config():
    w, errors = DisplayWorld.from_config({"called": "{number} → {window}", "paused": "Paused / 暂停"}, "display_texts")
    assert errors == []
    assert w.window_text("called", 2, "C001") == "C001 → 2"
    assert w.window_text("paused", 2, None) == "Paused / 暂停"
    _, errors = DisplayWorld.from_config({"paused": "{number} paused", "colour": "red"}, "display_texts")
    assert errors == [
        "display_texts.paused: {number} is not available here (expected {window})",
        "display_texts.colour: unknown key (expected one of called, serving, idle, paused, closed, "
        "hall_line, keypad_number, keypad_idle, keypad_paused, keypad_closed)",
    ]
