"""The halls of the district and their tokens (``tongban district hall add/list/revoke``).

A hall's token is printed once, when the hall is added, and only its SHA-256 is stored: a copy of the
district database lets nobody push as a hall. A revoked hall keeps its rows (its history stays in the
reports); it can no longer push.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..texts import both

HALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class HallError(ValueError):
    """A refused hall request; ``code`` names it, the words are in Chinese and English."""

    def __init__(self, code: str, key: str, **values: Any):
        self.code = code
        self.message_zh, self.message_en = both(key, **values)
        super().__init__(f"{self.message_zh} / {self.message_en}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add(conn: psycopg.Connection[Any], hall: str, *, name: str = "", now: datetime) -> str:
    """Add a hall; returns its token, which is never stored (show it once)."""
    if not HALL_ID.fullmatch(hall or ""):
        raise HallError("bad_hall_id", "dc_bad_hall_id", hall=hall)
    token = "h_" + secrets.token_urlsafe(32)
    inserted = conn.execute(
        "INSERT INTO halls (id, name, token_hash, created_at) VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (hall, name, token_hash(token), now),
    ).rowcount
    if not inserted:
        raise HallError("hall_exists", "dc_hall_exists", hall=hall)
    return token


def list_halls(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every hall with its state and its last accepted push (no token, not even its hash)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, name, created_at, revoked_at, last_sync_at FROM halls ORDER BY id").fetchall()


def revoke(conn: psycopg.Connection[Any], hall: str, *, now: datetime) -> None:
    revoked = conn.execute(
        "UPDATE halls SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL", (now, hall)
    ).rowcount
    if not revoked:
        raise HallError("no_hall", "dc_no_hall", hall=hall)


def hall_for_token(conn: psycopg.Connection[Any], token: str) -> str | None:
    """The hall this token belongs to, or None for an unknown or revoked one."""
    if not token:
        return None
    row = conn.execute(
        "SELECT id FROM halls WHERE token_hash = %s AND revoked_at IS NULL", (token_hash(token),)
    ).fetchone()
    return row[0] if row else None
