"""Resident ID numbers kept as a keyed hash and a masked form, never in full (issue 18).

An appointment, and a ticket taken with an ID card, must be found again by the number on the card
without the number ever being stored: the hall keeps an HMAC-SHA256 of the normalized 18-character
number under a secret made once per hall database (the ``settings`` row ``idcard.hash_key``), which
the ID-card reader's code uses too. A plain hash would not do: there are few enough ID numbers that
anyone holding the database could hash them all. The masked form (3201**********1234) is what
screens, lists and the clerk see (``masking.mask_id``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from .masking import mask_id as _mask
from .store import Store

#: The settings row holding the hall's secret key (hex), shared with the ID-card reader's code.
HASH_KEY_SETTING = "idcard.hash_key"

_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
# GB 11643: the 18th character is a check over the first 17 with these weights.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def normalize_id(value: str) -> str | None:
    """The 18-character number as the card holds it (upper-case X, no spaces or dashes), or None when
    ``value`` is not a resident ID number with a right check character."""
    if not isinstance(value, str):
        return None
    number = re.sub(r"[\s-]", "", value).upper()
    if not _ID_NUMBER.match(number):
        return None
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS))
    return number if _CHECK[total % 11] == number[17] else None


def hash_key(store: Store) -> bytes:
    """The hall's secret key, made at first use (first writer wins, in either process)."""
    value = store.setting(HASH_KEY_SETTING, lambda: secrets.token_hex(32))
    assert value is not None  # created above when missing
    return bytes.fromhex(value)


def id_hash(store: Store, id_number: str) -> str:
    """The keyed hash (hex) of an ID number, normalized first; ValueError for a number that is not one."""
    number = normalize_id(id_number)
    if number is None:
        raise ValueError("not a resident ID number")
    return hmac.new(hash_key(store), number.encode("ascii"), hashlib.sha256).hexdigest()


def mask_id(id_number: str) -> str:
    """3201**********1234: the first four and the last four characters of the normalized number."""
    return _mask(normalize_id(id_number) or re.sub(r"[\s-]", "", id_number).upper())
