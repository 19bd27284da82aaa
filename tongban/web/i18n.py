"""The one translation table for every string the public or staff see (Chinese first, then English).

The table is one dictionary assembled from ``texts/*.toml`` (a file per area, so people working on
different screens do not edit the same file). A key defined twice is an error at start-up.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

LANGS = ("zh", "en")
TEXTS_DIR = Path(__file__).with_name("texts")


class TextError(KeyError):
    """A key missing from the translation table, or defined twice."""


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


def text(key: str, lang: str = "zh", **values) -> str:
    try:
        entry = table()[key]
    except KeyError:
        raise TextError(f"no text {key!r} in the translation table") from None
    template = entry[lang if lang in LANGS else "zh"]
    return template.format(**values) if values else template


def both(key: str, **values) -> tuple[str, str]:
    return text(key, "zh", **values), text(key, "en", **values)
