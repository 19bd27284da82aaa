"""The demo cards `dummy://?card=NAME` puts on its reader (demo_cards.toml, made-up people)."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path

from .frames import Card

CARDS_FILE = Path(__file__).with_name("demo_cards.toml")


@lru_cache(maxsize=1)
def demo_cards() -> dict[str, Card]:
    with CARDS_FILE.open("rb") as f:
        doc = tomllib.load(f)
    return {
        name: Card(
            name=e["name"],
            sex=e["sex"],
            ethnicity=e["ethnicity"],
            birth_date=date.fromisoformat(e["birth_date"]),
            address=e["address"],
            id_number=e["id_number"],
            issuer=e["issuer"],
            valid_from=date.fromisoformat(e["valid_from"]),
            valid_to=None if e["valid_to"] == "long-term" else date.fromisoformat(e["valid_to"]),
        )
        for name, e in doc.items()
    }


def card_names() -> list[str]:
    return list(demo_cards())
