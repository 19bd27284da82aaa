"""Voice announcements: clip order, refusals, and that every clip is shipped (docs/architecture.md §Devices)."""

from __future__ import annotations

import pytest

from tongban import voice
from tongban.voice import VoiceError, all_clips, announcement, call_sequence


def zh(name: str) -> str:
    return f"voice/zh/{name}.ogg"


def en(name: str) -> str:
    return f"voice/en/{name}.ogg"


def test_a012_window_3_zh():
    # 请 A 零 一 二 号 到 三 号窗口办理: the number digit by digit, the window as a number.
    assert announcement("A012", 3, "zh") == [
        zh("qing"),
        zh("letter_A"),
        zh("digit_0"),
        zh("digit_1"),
        zh("digit_2"),
        zh("hao"),
        zh("dao"),
        zh("num_3"),
        zh("hao_chuangkou_banli"),
    ]


def test_a012_window_3_en():
    # Number A zero one two, please go to window three
    assert announcement("A012", 3, "en") == [
        en("number"),
        en("letter_A"),
        en("digit_0"),
        en("digit_1"),
        en("digit_2"),
        en("please_go_to_window"),
        en("num_3"),
    ]


def test_b100_window_12():
    # B100 is B 一 零 零, not 一百; window 12 is one clip 十二 / twelve.
    assert announcement("B100", 12, "zh") == [
        zh("qing"),
        zh("letter_B"),
        zh("digit_1"),
        zh("digit_0"),
        zh("digit_0"),
        zh("hao"),
        zh("dao"),
        zh("num_12"),
        zh("hao_chuangkou_banli"),
    ]
    assert announcement("B100", 12, "en") == [
        en("number"),
        en("letter_B"),
        en("digit_1"),
        en("digit_0"),
        en("digit_0"),
        en("please_go_to_window"),
        en("num_12"),
    ]


def test_edge_windows_and_numbers_without_letter():
    assert announcement("007", 1, "zh")[1:4] == [zh("digit_0"), zh("digit_0"), zh("digit_7")]
    assert announcement("007", 1, "zh")[-2] == zh("num_1")
    assert announcement("ZZ9", 30, "en") == [
        en("number"),
        en("letter_Z"),
        en("letter_Z"),
        en("digit_9"),
        en("please_go_to_window"),
        en("num_30"),
    ]


def test_lowercase_letters_are_read_as_capitals():
    assert announcement("c5", 2, "zh") == announcement("C5", 2, "zh")


def test_call_sequence_is_zh_then_en_twice():
    once = announcement("A012", 3, "zh") + announcement("A012", 3, "en")
    seq = call_sequence("A012", 3)
    assert seq == once + once
    assert voice.CALL_REPEATS == 2


@pytest.mark.parametrize("window", [0, 31, -1, 100])
def test_window_out_of_range_refused(window):
    with pytest.raises(VoiceError):
        announcement("A012", window, "zh")
    with pytest.raises(VoiceError):
        call_sequence("A012", window)


@pytest.mark.parametrize("window", [True, 3.0, "3", None])
def test_window_not_an_int_refused(window):
    with pytest.raises(VoiceError):
        announcement("A012", window, "en")


@pytest.mark.parametrize(
    "number",
    ["", "A-012", "A 012", " A012", "A012\n", "Ａ０１２", "０１２", "A01２", "号12", "ß1", "A0123456789", None, 12],
)
def test_unsayable_number_refused(number):
    with pytest.raises(VoiceError):
        announcement(number, 3, "zh")


@pytest.mark.parametrize("lang", ["fr", "ZH", "", None, "cmn"])
def test_unknown_language_refused(lang):
    with pytest.raises(VoiceError):
        announcement("A012", 3, lang)


def test_voice_error_is_a_value_error():
    # Callers that only catch ValueError still catch it.
    assert issubclass(VoiceError, ValueError)


def test_every_clip_the_api_can_return_is_shipped():
    static = voice.STATIC_DIR
    missing = [p for p in all_clips() if not (static / p).is_file()]
    assert missing == []
    # All letters, digits and windows: whatever announcement() returns is in all_clips().
    known = set(all_clips())
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for window in range(voice.MIN_WINDOW, voice.MAX_WINDOW + 1):
        number = letters[window % 26] + letters[(window * 7) % 26] + f"{window * 37 % 1000:03d}"
        for path in call_sequence(number, window):
            assert path in known
            assert (static / path).is_file(), path
    for ch in letters + "0123456789":
        for path in call_sequence(ch, 1):
            assert (static / path).is_file(), path


def test_shipped_clips_are_the_inventory_and_small():
    folder = voice.STATIC_DIR / "voice"
    shipped = {p.relative_to(voice.STATIC_DIR).as_posix() for p in folder.rglob(f"*.{voice.CLIP_FORMAT}")}
    assert shipped == set(all_clips())  # nothing stale left behind by a regeneration
    sizes = [(voice.STATIC_DIR / p).stat().st_size for p in all_clips()]
    assert min(sizes) > 1000  # not an empty or header-only file
    assert sum(sizes) < 3 * 1024 * 1024


def test_clips_are_ogg_files():
    for path in all_clips():
        with open(voice.STATIC_DIR / path, "rb") as f:
            assert f.read(4) == b"OggS", path


def test_voice_module_does_not_import_flask():
    source = (voice.STATIC_DIR.parent / "voice.py").read_text(encoding="utf-8")
    assert "import flask" not in source.lower()
    assert "from flask" not in source.lower()
