"""District staff accounts: the same rules as the halls' (tongban/queue/accounts.py).

argon2 hashes, at least 8 characters, the demo passwords refused, and a name locked for LOCK_MINUTES
after LOCK_AFTER_FAILURES wrong passwords in a row. The hasher, the limits and the demo passwords are
the hall's own objects, so the two cannot drift apart.
"""

from __future__ import annotations

import re
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
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class AccountError(ValueError):
    """A refused account request or sign-in: ``code`` names it, the words are in Chinese and English."""

    def __init__(self, code: str, key: str, **values: Any):
        self.code = code
        self.message_zh, self.message_en = both(key, **values)
        super().__init__(f"{self.message_zh} / {self.message_en}")

    def as_dict(self) -> dict:
        return {"error": self.code, "message_zh": self.message_zh, "message_en": self.message_en}


def _hasher():
    # Looked up at each call: the tests swap the hall's hasher for a cheap one, and this follows.
    return hall_accounts._hasher


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("password_short", "dc_password_short", min=MIN_PASSWORD)
    if password in hall_accounts.DEMO_PASSWORDS:
        raise AccountError("password_demo", "dc_password_demo")


def add(conn: psycopg.Connection[Any], username: str, password: str, *, name: str, clock: Clock) -> dict:
    """Add a district staff account (in the caller's transaction); returns it without its hash."""
    if not USERNAME.fullmatch(username or ""):
        raise AccountError("bad_username", "dc_bad_username", username=username)
    check_password(password)
    inserted = conn.execute(
        "INSERT INTO accounts (username, name, password_hash, created_at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (username) DO NOTHING",
        (username, name, _hasher().hash(password), clock.now()),
    ).rowcount
    if not inserted:
        raise AccountError("username_taken", "dc_username_taken", username=username)
    return {"username": username, "name": name, "must_change": False, "disabled": False}


def list_accounts(conn: psycopg.Connection[Any]) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT username, name, disabled, must_change, locked_until, created_at FROM accounts ORDER BY username"
        ).fetchall()


def verify(conn: psycopg.Connection[Any], username: str, password: str, *, clock: Clock) -> dict:
    """The account if the password is right; else ``AccountError`` (``bad_login`` or ``disabled``).

    A refusal does not tell an unknown name, a wrong password and a locked name apart, and a locked
    name's password is not even looked at. A wrong password is counted, and the count is committed
    before the refusal is raised (a rollback must not forgive it), so call this outside a
    ``conn.transaction()`` block. A demo password signs in only to be changed (``must_change``).
    """
    now = clock.now()
    refused = AccountError("bad_login", "dc_bad_login", tries=LOCK_AFTER_FAILURES, minutes=LOCK_MINUTES)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM accounts WHERE username = %s FOR UPDATE", (username,)).fetchone()
    locked = row is not None and row["locked_until"] is not None and row["locked_until"] > now
    right = False
    if row is None or locked:
        _hasher().hash(password)  # the same work as a real check, so timing does not tell them apart
    else:
        try:
            right = _hasher().verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            right = False
    if row is None or not right:
        if row is not None and not locked:
            failures = row["failed_logins"] + 1
            lock = now + timedelta(minutes=LOCK_MINUTES) if failures >= LOCK_AFTER_FAILURES else None
            conn.execute(
                "UPDATE accounts SET failed_logins = %s, locked_until = %s WHERE username = %s",
                (0 if lock else failures, lock, username),
            )
        conn.commit()
        raise refused
    if row["disabled"]:
        raise AccountError("disabled", "dc_account_disabled")
    must_change = bool(row["must_change"]) or password in hall_accounts.DEMO_PASSWORDS
    conn.execute(
        "UPDATE accounts SET failed_logins = 0, locked_until = NULL, must_change = %s WHERE username = %s",
        (must_change, username),
    )
    return {"username": row["username"], "name": row["name"], "must_change": must_change, "disabled": False}


def set_password(conn: psycopg.Connection[Any], username: str, password: str) -> None:
    check_password(password)
    changed = conn.execute(
        "UPDATE accounts SET password_hash = %s, must_change = false, failed_logins = 0, locked_until = NULL"
        " WHERE username = %s",
        (_hasher().hash(password), username),
    ).rowcount
    if not changed:
        raise AccountError("no_account", "dc_no_account", username=username)


def disable(conn: psycopg.Connection[Any], username: str) -> None:
    """No more sign-ins, and the account's open sessions end now."""
    conn.execute("UPDATE accounts SET disabled = true WHERE username = %s", (username,))
    conn.execute("DELETE FROM sessions WHERE username = %s", (username,))
