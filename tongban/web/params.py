"""One way to read numbers, days, times and lists from a request: paths, query strings, forms and
JSON bodies (docs/architecture.md §Web).

Every route reads its values through here, so every route refuses a bad value the same way: a
``BadValue`` (400) that names the field and says, in Chinese and English from the text table, what
it takes. ``web/errors.py`` answers it as JSON under /api, as a toast to htmx, as a page otherwise.

* Numbers are ASCII digits only. ``"²".isdigit()`` and ``"٣".isdigit()`` are true, and ``int()``
  refuses the first and reads the second as 3; neither is a number a form of ours sends.
* Numbers are range-checked before they reach SQLite, whose integers end at 2^63 - 1: a larger one
  is an OverflowError deep in a query. Ids have at most 18 digits; the ``id`` path converter
  matches only those, so ``/cases/<25 digits>`` is a 404 (no such case), not a 500.
* Days and times lie between FIRST_DAY and LAST_DAY, so that the day before and the day after, or
  a time moved to UTC, are still dates Python can hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from flask import request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter

from ..texts import Msg, both

#: The largest id a path, query or form may name: 18 digits, within SQLite's 64-bit integers.
MAX_ID = 10**18 - 1
#: Page numbers of lists (the kiosk's screens, the case list).
MAX_PAGE = 10_000
#: The days the hall's reports and searches may ask about.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)

_DIGITS = re.compile(r"[0-9]{1,18}")

T = TypeVar("T")
_REQUIRED: Any = object()


class BadValue(BadRequest):
    """A value that is not what its field takes: 400, naming the field and what it expects."""

    def __init__(self, field: str, expected: Msg):
        self.field = field
        self.expected = expected
        self.message_zh, self.message_en = both("err_bad_value", field=field, expected=expected)
        super().__init__(f"{self.message_en} / {self.message_zh}")

    def as_dict(self) -> dict:
        return {
            "error": "bad_request",
            "field": self.field,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


class IdConverter(BaseConverter):
    """``<id:name>`` in a URL rule: 1 to 18 ASCII digits as an int. Anything else matches no rule
    (404), so a path never carries a number SQLite cannot hold, nor a Unicode digit."""

    regex = r"[0-9]{1,18}"
    weight = 50  # as werkzeug's own number converters
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


# ---------- values ----------


def whole(value: object, field: str, lo: int = 1, hi: int = MAX_ID) -> int:
    """A whole number lo..hi, from ASCII digits (forms, queries) or a JSON integer (not true/false)."""
    if isinstance(value, str):
        text = value.strip()
        negative = lo < 0 and text.startswith("-")
        if not _DIGITS.fullmatch(text[1:] if negative else text):
            raise BadValue(field, Msg("expect_whole", lo=lo, hi=hi))
        number = -int(text[1:]) if negative else int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise BadValue(field, Msg("expect_whole", lo=lo, hi=hi))
    if not lo <= number <= hi:
        raise BadValue(field, Msg("expect_whole", lo=lo, hi=hi))
    return number


def day(value: object, field: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> date:
    """A day written YYYY-MM-DD (ASCII digits), first..last."""
    expected = Msg("expect_day", first=first.isoformat(), last=last.isoformat())
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        raise BadValue(field, expected)
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:  # 2026-02-30
        raise BadValue(field, expected) from None
    if not first <= parsed <= last:
        raise BadValue(field, expected)
    return parsed


def moment(value: object, field: str) -> datetime:
    """An ISO 8601 time with its UTC offset, on a day FIRST_DAY..LAST_DAY."""
    expected = Msg("expect_time", first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat())
    if not isinstance(value, str) or not value.isascii():
        raise BadValue(field, expected)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadValue(field, expected) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None or not FIRST_DAY <= parsed.date() <= LAST_DAY:
        raise BadValue(field, expected)
    return parsed


def items(value: object, field: str, kind: type[T], *, most: int = 100) -> list[T]:
    """A list (a JSON array, or a form field given several times) of at most ``most`` items of ``kind``."""
    expected = Msg("expect_list", kind=Msg(f"expect_kind_{kind.__name__}"), most=most)
    if not isinstance(value, list) or len(value) > most:
        raise BadValue(field, expected)
    for item in value:
        if not isinstance(item, kind) or (isinstance(item, bool) and kind is not bool):
            raise BadValue(field, expected)
    return value


# ---------- from the request ----------


def _absent(raw: str | None) -> bool:
    """The field was left out or left empty: the caller answers its default, or refuses if it has none."""
    return raw is None or not raw.strip()


def arg_int(name: str, lo: int = 1, hi: int = MAX_ID, default: Any = _REQUIRED) -> Any:
    """A whole number from the query string; ``default`` when absent or empty (required without one)."""
    return _int(request.args.get(name), name, lo, hi, default)


def form_int(name: str, lo: int = 1, hi: int = MAX_ID, default: Any = _REQUIRED) -> Any:
    """A whole number from the posted form; ``default`` when absent or empty (required without one)."""
    return _int(request.form.get(name), name, lo, hi, default)


def value_int(name: str, lo: int = 1, hi: int = MAX_ID, default: Any = _REQUIRED) -> Any:
    """A whole number from the form, else the query string (pages that carry state in both)."""
    return _int(request.values.get(name), name, lo, hi, default)


def _int(raw: str | None, name: str, lo: int, hi: int, default: Any) -> Any:
    if _absent(raw):
        if default is _REQUIRED:
            raise BadValue(name, Msg("expect_whole", lo=lo, hi=hi))
        return default
    return whole(raw, name, lo, hi)


def arg_page(name: str = "page") -> int:
    """A list's page number from the query string: 1 when absent, 1..MAX_PAGE."""
    return arg_int(name, 1, MAX_PAGE, default=1)


def arg_day(name: str, default: Any = _REQUIRED) -> Any:
    """A day YYYY-MM-DD from the query string; ``default`` when absent or empty."""
    raw = request.args.get(name)
    if _absent(raw):
        if default is _REQUIRED:
            raise BadValue(name, Msg("expect_day", first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat()))
        return default
    return day(raw, name)


def json_int(body: Mapping, name: str, lo: int = 1, hi: int = MAX_ID, *, required: bool = False) -> int | None:
    """A whole number lo..hi from a JSON body; None when absent or null (unless required)."""
    if body.get(name) is None:
        if required:
            raise BadValue(name, Msg("expect_whole", lo=lo, hi=hi))
        return None
    value = body[name]
    if isinstance(value, str):  # JSON numbers only: "3" is a string
        raise BadValue(name, Msg("expect_whole", lo=lo, hi=hi))
    return whole(value, name, lo, hi)


def json_items(body: Mapping, name: str, kind: type[T], *, most: int = 100, required: bool = False) -> list[T]:
    """A JSON array of ``kind`` (at most ``most``); an empty list when absent or null (unless required)."""
    if body.get(name) is None:
        if required:
            raise BadValue(name, Msg("expect_list", kind=Msg(f"expect_kind_{kind.__name__}"), most=most))
        return []
    return items(body[name], name, kind, most=most)
