"""Spoken call announcements assembled from shipped clips (docs/architecture.md §Devices).

Halls have no internet and no TTS service, so every word the hall display may
say is a short recorded clip under ``static/voice/<lang>/``, generated once by
``scripts/make-voice-clips`` (espeak-ng) and committed.  This module is the one
place that knows which clips exist and in which order they make a call:

    zh: 请 A 0 1 2 号 到 3 号窗口办理       ("please, number A012, to window 3")
    en: Number A 0 1 2, please go to window 3

Ticket numbers are read letter by letter and digit by digit (A012 is "A 零 一
二", never "A 十二"); window numbers are read as numbers (12 is "十二",
"twelve").  The display plays Chinese then English, and the whole call twice
(:func:`call_sequence`).

Paths returned are relative to the ``static/`` folder, ready for
``url_for('static', filename=...)``.  No Flask import here: the display
blueprint, the devices process and the tests all use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CALL_REPEATS",
    "CLIP_FORMAT",
    "Clip",
    "LANGS",
    "MAX_NUMBER_LENGTH",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "STATIC_DIR",
    "VoiceError",
    "all_clips",
    "announcement",
    "call_sequence",
    "clip_inventory",
]

#: The folder that ``announcement`` paths are relative to.
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: File extension of every clip (Ogg Vorbis, 16 kHz mono).
CLIP_FORMAT = "ogg"

#: Languages in the order a call is spoken.
LANGS = ("zh", "en")

#: Window numbers that have a clip.
MIN_WINDOW = 1
MAX_WINDOW = 30

#: A ticket number is letters and digits only, at most this long.
MAX_NUMBER_LENGTH = 8

#: How many times the display says a call.
CALL_REPEATS = 2

_NUMBER_RE = re.compile(r"[A-Za-z0-9]+")


class VoiceError(ValueError):
    """A call this module cannot say: unknown language, window or ticket number."""


@dataclass(frozen=True)
class Clip:
    """One recorded clip: where it lives and how it was made.

    ``voice`` and ``text`` are what ``scripts/make-voice-clips`` feeds to
    espeak-ng; ``meaning`` is what a listener hears (for people reading the
    inventory).  ``lead`` is silence in seconds put before the speech (the
    comma in "Number A 0 1 2, please go to window 3").
    """

    lang: str
    name: str
    voice: str
    text: str
    meaning: str
    lead: float = 0.0

    @property
    def path(self) -> str:
        return f"voice/{self.lang}/{self.name}.{CLIP_FORMAT}"


# espeak-ng voices.  espeak-ng's `cmn` voice reads some hanzi wrongly (请 comes
# out as English "king three", from the pinyin qing3), so Mandarin words are
# given as tone-numbered pinyin to `cmn-latn-pinyin`.  Letters go to `cmn`,
# whose Latin letters are English letter names said the Mandarin way, which is
# how halls call "A012".
_ZH = "cmn-latn-pinyin"
_ZH_LETTERS = "cmn"
_EN = "en"

_ZH_DIGITS = [
    ("ling2", "零"),
    ("yi1", "一"),
    ("er4", "二"),
    ("san1", "三"),
    ("si4", "四"),
    ("wu3", "五"),
    ("liu4", "六"),
    ("qi1", "七"),
    ("ba1", "八"),
    ("jiu3", "九"),
]
_EN_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_EN_TEENS = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_EN_TENS = {2: "twenty", 3: "thirty"}


def _zh_number(n: int) -> tuple[str, str]:
    """Pinyin and hanzi for 1..99 the way a window number is said (十二, 二十一)."""
    tens, units = divmod(n, 10)
    pinyin: list[str] = []
    hanzi = ""
    if tens:
        if tens > 1:
            pinyin.append(_ZH_DIGITS[tens][0])
            hanzi += _ZH_DIGITS[tens][1]
        pinyin.append("shi2")
        hanzi += "十"
    if units or not tens:
        pinyin.append(_ZH_DIGITS[units][0])
        hanzi += _ZH_DIGITS[units][1]
    return " ".join(pinyin), hanzi


def _en_number(n: int) -> str:
    if n < 10:
        return _EN_DIGITS[n]
    if n < 20:
        return _EN_TEENS[n - 10]
    tens, units = divmod(n, 10)
    return _EN_TENS[tens] + (f"-{_EN_DIGITS[units]}" if units else "")


def _build_inventory() -> dict[str, dict[str, Clip]]:
    zh: list[Clip] = [
        Clip("zh", "qing", _ZH, "qing3", "请"),
        Clip("zh", "hao", _ZH, "hao4", "号"),
        Clip("zh", "dao", _ZH, "dao4", "到"),
        Clip("zh", "hao_chuangkou_banli", _ZH, "hao4 chuang1 kou3 ban4 li3", "号窗口办理"),
    ]
    en: list[Clip] = [
        Clip("en", "number", _EN, "Number", "Number"),
        Clip("en", "please_go_to_window", _EN, "please go to window", ", please go to window", lead=0.3),
    ]
    for d, (pinyin, hanzi) in enumerate(_ZH_DIGITS):
        zh.append(Clip("zh", f"digit_{d}", _ZH, pinyin, hanzi))
        en.append(Clip("en", f"digit_{d}", _EN, _EN_DIGITS[d], str(d)))
    for code in range(ord("A"), ord("Z") + 1):
        letter = chr(code)
        zh.append(Clip("zh", f"letter_{letter}", _ZH_LETTERS, letter, letter))
        en.append(Clip("en", f"letter_{letter}", _EN, letter, letter))
    for n in range(MIN_WINDOW, MAX_WINDOW + 1):
        pinyin, hanzi = _zh_number(n)
        zh.append(Clip("zh", f"num_{n}", _ZH, pinyin, hanzi))
        en.append(Clip("en", f"num_{n}", _EN, _en_number(n), str(n)))
    return {"zh": {c.name: c for c in zh}, "en": {c.name: c for c in en}}


_INVENTORY = _build_inventory()


def clip_inventory() -> list[Clip]:
    """Every clip the announcements can use, zh first (what the generator makes)."""
    return [clip for lang in LANGS for clip in _INVENTORY[lang].values()]


def all_clips() -> list[str]:
    """Every clip path (relative to static/), e.g. for a display to preload."""
    return [clip.path for clip in clip_inventory()]


def _clip(lang: str, name: str) -> str:
    return _INVENTORY[lang][name].path


def _check_lang(lang: object) -> str:
    if not isinstance(lang, str) or lang not in LANGS:  # isinstance: so every mypy sees a str
        raise VoiceError(f"no voice for language {lang!r}; have {', '.join(LANGS)}")
    return lang


def _check_window(window: object) -> int:
    # bool is an int subclass; True is not window 1.
    if not isinstance(window, int) or isinstance(window, bool):
        raise VoiceError(f"window must be an int, not {type(window).__name__}")
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise VoiceError(f"cannot say window {window}: clips exist for windows {MIN_WINDOW}..{MAX_WINDOW}")
    return window


def _check_number(number: object) -> str:
    if not isinstance(number, str):
        raise VoiceError(f"ticket number must be a str, not {type(number).__name__}")
    # ASCII only: str.isdigit() would let full-width ０１２ through, upper() turns ß into SS.
    if not _NUMBER_RE.fullmatch(number) or not number.isascii():
        raise VoiceError(f"cannot say ticket number {number!r}: only letters A-Z and digits 0-9")
    if len(number) > MAX_NUMBER_LENGTH:
        raise VoiceError(f"cannot say ticket number {number!r}: longer than {MAX_NUMBER_LENGTH} characters")
    return number.upper()


def _spell(number: str, lang: str) -> list[str]:
    return [_clip(lang, f"digit_{ch}" if ch.isdigit() else f"letter_{ch}") for ch in number]


def announcement(number: str, window: int, lang: str) -> list[str]:
    """Clip paths, in order, that say one call in one language.

    ``announcement("A012", 3, "zh")`` says 请 A 零 一 二 号 到 三 号窗口办理;
    ``announcement("A012", 3, "en")`` says "Number A zero one two, please go to
    window three".  Letters may be given in either case.  Raises
    :class:`VoiceError` for an unknown language, a window outside
    ``MIN_WINDOW..MAX_WINDOW`` or a ticket number that is not 1 to
    ``MAX_NUMBER_LENGTH`` ASCII letters and digits.
    """
    lang = _check_lang(lang)
    window = _check_window(window)
    number = _check_number(number)
    if lang == "zh":
        return [
            _clip("zh", "qing"),
            *_spell(number, "zh"),
            _clip("zh", "hao"),
            _clip("zh", "dao"),
            _clip("zh", f"num_{window}"),
            _clip("zh", "hao_chuangkou_banli"),
        ]
    return [
        _clip("en", "number"),
        *_spell(number, "en"),
        _clip("en", "please_go_to_window"),
        _clip("en", f"num_{window}"),
    ]


def call_sequence(number: str, window: int) -> list[str]:
    """Everything the hall display plays for one call or recall.

    Chinese then English, the pair said ``CALL_REPEATS`` (2) times.
    """
    once = [path for lang in LANGS for path in announcement(number, window, lang)]
    return once * CALL_REPEATS
