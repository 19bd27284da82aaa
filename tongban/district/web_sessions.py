"""District staff sessions in the ``sessions`` table, and the key that signs the pages' cookies.

The cookie carries a random token; only its SHA-256 is stored, so a copied database signs nobody in.
Signing out or an expired row ends the session on every instance at once (no state in the process).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import psycopg

from ..queue.clock import Clock

SESSION_HOURS = 12


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(conn: psycopg.Connection[Any], username: str, *, clock: Clock) -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    conn.execute(
        "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (%s, %s, %s, %s)",
        (_hash(token), username, now, now + timedelta(hours=SESSION_HOURS)),
    )
    return token


def user(conn: psycopg.Connection[Any], token: str | None, *, clock: Clock) -> dict[str, str] | None:
    """The signed-in account of ``token``, or None (no token, unknown, expired, account disabled)."""
    if not token:
        return None
    row = conn.execute(
        "SELECT a.username, a.name FROM sessions s JOIN accounts a ON a.username = s.username"
        " WHERE s.token_hash = %s AND s.expires_at > %s AND NOT a.disabled",
        (_hash(token), clock.now()),
    ).fetchone()
    return {"username": row[0], "name": row[1]} if row else None


def end(conn: psycopg.Connection[Any], token: str | None) -> None:
    if token:
        conn.execute("DELETE FROM sessions WHERE token_hash = %s", (_hash(token),))


def secret_key(conn: psycopg.Connection[Any]) -> str:
    """The key every instance signs cookies and CSRF tokens with: made by the first, read by the rest."""
    conn.execute(
        "INSERT INTO web_settings (name, value) VALUES ('secret_key', %s) ON CONFLICT (name) DO NOTHING",
        (secrets.token_hex(32),),
    )
    row = conn.execute("SELECT value FROM web_settings WHERE name = 'secret_key'").fetchone()
    assert row is not None  # inserted just above if it was missing
    return row[0]
