"""The one table of every string people read (Chinese first, then English), for the web and the domain.

The table is one dictionary assembled from ``texts/*.toml`` (a file per area, so people working on
different screens do not edit the same file). A key defined twice, or without exactly zh and en, is an
error at start-up. Nothing here needs Flask: the queue domain formats its refusals from the same table.

``text(key, lang, **values)`` fills the ``{placeholders}`` of one language. A value may itself be a
``Msg`` (a key with its values, not yet put into words): it is written in the same language, so a
refusal can say "window 3 is 暂停服务" in Chinese and "window 3 is paused" in English.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

LANGS = ("zh", "en")
TEXTS_DIR = Path(__file__).parent


class TextError(KeyError):
    """A key missing from the text table, or defined twice."""


@lru_cache(maxsize=1)
def table() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    for path in sorted(TEXTS_DIR.glob("*.toml")):
        with path.open("rb") as f:
            for key, entry in tomllib.load(f).items():
                if key in merged:
                    raise TextError(f"{path.name}: {key!r} is already defined in {origin[key]}")
                if set(entry) != set(LANGS):
                    raise TextError(f"{path.name}: {key!r} needs exactly zh and en (has {sorted(entry)})")
                merged[key] = entry
                origin[key] = path.name
    return merged


def _entry(key: str) -> dict[str, str]:
    try:
        return table()[key]
    except KeyError:
        raise TextError(f"no text {key!r} in the text table") from None


def text(key: str, lang: str = "zh", **values) -> str:
    template = _entry(key)[lang if lang in LANGS else "zh"]
    if not values:
        return template
    return template.format(**{k: v.text(lang) if isinstance(v, Msg) else v for k, v in values.items()})


def both(key: str, **values) -> tuple[str, str]:
    return text(key, "zh", **values), text(key, "en", **values)


def labels(prefix: str, names: Iterable[object]) -> dict:
    """``{name: (zh, en)}`` from the keys ``prefix + name``: the words for each of a set of codes."""
    return {name: both(f"{prefix}{name}") for name in names}


class Msg:
    """A key of the table and the values for its placeholders: words not yet chosen in a language.

    The key is checked when the Msg is made, so a misspelt key fails where it is written.
    """

    __slots__ = ("key", "values")

    def __init__(self, key: str, values: Mapping[str, object] | None = None, /, **more):
        _entry(key)
        self.key = key
        self.values = {**(values or {}), **more}

    def text(self, lang: str = "zh") -> str:
        return text(self.key, lang, **self.values)

    @property
    def zh(self) -> str:
        return self.text("zh")

    @property
    def en(self) -> str:
        return self.text("en")

    def both(self) -> tuple[str, str]:
        return self.zh, self.en

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.key, self.values) == (other.key, other.values)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, {self.values!r})"


def split_bilingual(text: str) -> tuple[str, str]:
    """A hall-file string written in both languages → (zh, en): "中文 / English" (names, fees) or
    "中文 (English)" (materials); English is the Chinese again when the string has none. The one
    splitter for the strings the hall file does not yet give as separate zh and en fields."""
    if " / " in text:
        zh, en = text.split(" / ", 1)
        return zh.strip(), en.strip() or zh.strip()
    m = re.match(r"^(.*\S)\s*\(([^()]*)\)$", text)
    if m and re.search(r"[\u3400-\u9fff]", m.group(1)):
        return m.group(1), m.group(2)
    return text, text
