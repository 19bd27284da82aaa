"""District staff accounts: add, verify, lockout (the same rules as the halls' accounts).

A minimal version written with the district pages so they can sign people in; the district core's
``add``/``verify`` contract (docs/district.md §Accounts): argon2 hashes, at least 8 characters, five
failures lock the name for 15 minutes, and an unknown name, a wrong password and a locked name are
refused alike so the answer tells a guesser nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

from ..queue import accounts as hall_accounts
from ..queue.clock import Clock
from ..texts import both

MIN_PASSWORD = 8
LOCK_AFTER_FAILURES = hall_accounts.LOCK_AFTER_FAILURES
LOCK_MINUTES = hall_accounts.LOCK_MINUTES


class AccountError(ValueError):
    """A refused sign-in or account change: ``code`` for programs, zh/en words for people."""

    def __init__(self, code: str, **values: object):
        self.code = code
        self.message_zh, self.message_en = both(f"dw_err_{code}", **values)
        super().__init__(self.message_en)

    def as_dict(self) -> dict[str, str]:
        return {"error": self.code, "message_zh": self.message_zh, "message_en": self.message_en}


def _hasher():
    # The halls' hasher, looked up at call time: one argon2 setting for every account in the project
    # (and tests swap in a cheap one for both).
    return hall_accounts._hasher


def add(conn: psycopg.Connection[Any], username: str, password: str, *, name: str, clock: Clock) -> None:
    username = (username or "").strip()
    if not username:
        raise AccountError("username_missing")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError("password_short", n=MIN_PASSWORD)
    if conn.execute("SELECT 1 FROM accounts WHERE username = %s", (username,)).fetchone():
        raise AccountError("username_taken", username=username)
    conn.execute(
        "INSERT INTO accounts (username, name, password_hash, created_at) VALUES (%s, %s, %s, %s)",
        (username, name or username, _hasher().hash(password), clock.now()),
    )


def verify(conn: psycopg.Connection[Any], username: str, password: str, *, clock: Clock) -> dict[str, Any]:
    """The account (username, name, must_change) if the password is right and the name not locked or
    disabled; else AccountError("bad_login"). Failures are counted on the account row (locked FOR
    UPDATE, so parallel guesses cannot slip past the count)."""
    now = clock.now()
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT username, name, password_hash, disabled, failed_logins, locked_until, must_change"
            " FROM accounts WHERE username = %s FOR UPDATE",
            ((username or "").strip(),),
        ).fetchone()
    refused = AccountError("bad_login", tries=LOCK_AFTER_FAILURES, minutes=LOCK_MINUTES)
    locked = row is not None and row["locked_until"] is not None and row["locked_until"] > now
    if row is None or locked or row["disabled"]:
        _hasher().hash(password or "")  # the same work as a real check, so timing does not tell them apart
        raise refused
    try:
        right = _hasher().verify(row["password_hash"], password or "")
    except (VerificationError, InvalidHashError):
        right = False
    if not right:
        failures = row["failed_logins"] + 1
        lock_until = now + timedelta(minutes=LOCK_MINUTES) if failures >= LOCK_AFTER_FAILURES else None
        conn.execute(
            "UPDATE accounts SET failed_logins = %s, locked_until = %s WHERE username = %s",
            (0 if lock_until else failures, lock_until, row["username"]),
        )
        raise refused
    conn.execute("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE username = %s", (row["username"],))
    return {"username": row["username"], "name": row["name"], "must_change": row["must_change"]}
