"""Personal numbers shown masked: in case lists and exports, and wherever they could reach a log.

The one place that knows how an ID number, a mobile number and a name are masked
(docs/architecture.md §Cases). ``mask_personal`` finds them inside any text: the case access log's
filters, the events log's free text, the web's access and error logs (tongban/logmask.py).
"""

from __future__ import annotations

import re

# An 18-character resident ID number or an 11-digit mainland mobile number inside any text; people
# type them with single spaces or dashes between digits too.
_PERSONAL_NUMBER = re.compile(r"(?:\d[ -]?){17}[\dXx]|1[ -]?[3-9](?:[ -]?\d){9}")


def mask_id(value: str | None) -> str:
    return (
        f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"
        if value and len(value) > 8
        else ("" if not value else "****")
    )


def mask_phone(value: str | None) -> str:
    return f"{value[:3]}****{value[-4:]}" if value and len(value) == 11 else ("" if not value else "****")


def mask_name(value: str | None) -> str:
    return (value[0] + "*" * (len(value) - 1)) if value else ""


def mask_personal(text: str) -> str:
    """Every ID number and mobile number in ``text`` masked as the lists show them
    (3201**********1234, 138****5678); the rest of the text as it was."""

    def masked(match: re.Match) -> str:
        value = re.sub(r"[ -]", "", match.group())
        return mask_id(value) if len(value) == 18 else mask_phone(value)

    return _PERSONAL_NUMBER.sub(masked, text)
