"""Staff accounts, their sessions, and enrolled terminals (kiosks, rating pads, display screens).

Passwords are argon2 hashes; session and terminal tokens are random and only their SHA-256 is
stored, so a copied database does not let anyone in.
"""

from __future__ import annotations

import builtins
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..texts import both
from .clock import Clock
from .store import Store, parse_iso, utc_iso

SESSION_HOURS = 12
# Failed sign-ins count per (name, source address): this many in LOCK_MINUTES lock that name from
# that address only, so a guesser elsewhere cannot lock a clerk out of their own window's computer.
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
# An address that fails this often in LOCK_MINUTES, across names, is refused whatever it asks.
SOURCE_MAX_FAILURES = 20
ROLES = ("clerk", "manager")
TERMINAL_KINDS = ("kiosk", "pad", "display")
# The passwords `tongban demo` gives its accounts (tongban/cli.py). Outside the demo they sign in
# only to be changed: a hall that started from the demo database must not keep them.
DEMO_PASSWORDS = frozenset({"demo-manager", "demo-clerk"})

_hasher = PasswordHasher()


class AuthError(Exception):
    """Refused: wrong password, locked account, unknown or revoked token."""

    code = "unauthenticated"  # each refusal names its own; web/errors.py gives them their statuses

    def __init__(self, code: str, key: str | None = None, /, details: dict | None = None, **values):
        """``key`` names the words in the text table; it defaults to ``err_<code>``. ``details`` go
        into the JSON body as they are (``retry_after_s``)."""
        self.code = code
        self.details = details or {}
        self.message_zh, self.message_en = both(key or f"err_{code}", **values)
        super().__init__(self.message_en)

    def as_dict(self) -> dict:
        return {"error": self.code, "message_zh": self.message_zh, "message_en": self.message_en, **self.details}


class AccountError(ValueError):
    """A bad account or terminal request (duplicate name, unknown role)."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    name: str
    staff_no: str
    role: str
    disabled: bool
    must_change: bool


@dataclass(frozen=True)
class Session:
    account: Account
    window: int | None
    expires_at: str


@dataclass(frozen=True)
class Terminal:
    id: str
    kind: str
    name: str
    window: int | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(row) -> Account:
    return Account(
        row["id"],
        row["username"],
        row["name"],
        row["staff_no"],
        row["role"],
        bool(row["disabled"]),
        bool(row["must_change"]),
    )


class Accounts:
    def __init__(self, store: Store, clock: Clock, *, allow_demo_passwords: bool = False):
        self.store = store
        self.clock = clock
        self.allow_demo_passwords = allow_demo_passwords

    def _check_new_password(self, password: str, old: str | None = None) -> None:
        if len(password) < 8:
            raise AccountError("password: too short (expected at least 8 characters)")
        if password in DEMO_PASSWORDS and not self.allow_demo_passwords:
            raise AccountError("password: that is a demo password (expected one of your own)")
        if old is not None and password == old:
            raise AccountError("password: the same as before (expected a new one)")

    # ---- staff ----

    def add(
        self, username: str, password: str, *, name: str, role: str, staff_no: str = "", must_change: bool = False
    ) -> Account:
        if role not in ROLES:
            raise AccountError(f"role: {role!r} is not a role (expected clerk or manager)")
        if len(password) < 8:
            raise AccountError("password: too short (expected at least 8 characters)")
        must_change = must_change or password in DEMO_PASSWORDS
        with self.store.immediate() as conn:
            if conn.execute("SELECT 1 FROM accounts WHERE username = ?", (username,)).fetchone():
                raise AccountError(f"username: {username!r} exists already (expected a new name)")
            conn.execute(
                "INSERT INTO accounts (username, name, staff_no, role, password_hash, must_change, created_at)"
                " VALUES (?,?,?,?,?,?,?)",
                (username, name, staff_no, role, _hasher.hash(password), int(must_change), utc_iso(self.clock.now())),
            )
        return self.get(username)

    def get(self, username: str) -> Account:
        row = self.store.one("SELECT * FROM accounts WHERE username = ?", (username,))
        if row is None:
            raise AccountError(f"username: no account {username!r}")
        return _account(row)

    def list(self) -> list[Account]:
        return [_account(r) for r in self.store.all("SELECT * FROM accounts ORDER BY username")]

    def disable(self, username: str) -> None:
        self.get(username)
        with self.store.immediate() as conn:
            conn.execute("UPDATE accounts SET disabled = 1 WHERE username = ?", (username,))
            conn.execute(
                "DELETE FROM sessions WHERE account_id = (SELECT id FROM accounts WHERE username = ?)", (username,)
            )

    def set_password(self, username: str, password: str) -> None:
        self._check_new_password(password)
        self.get(username)
        with self.store.immediate() as conn:
            conn.execute(
                "UPDATE accounts SET password_hash = ?, must_change = 0 WHERE username = ?",
                (_hasher.hash(password), username),
            )

    def login(
        self,
        username: str,
        password: str,
        *,
        window: int | None = None,
        new_password: str | None = None,
        source: str = "-",
    ) -> tuple[str, Session]:
        """Check the password and open a session; returns the session token (shown once).

        ``source`` is the client's address (the web passes it). A refusal does not tell names apart
        (docs/architecture.md §Web): an unknown name, a wrong password and a name locked from this
        source all get the same ``bad_login``, and a locked name does not even have its password
        looked at. Only the right password, from a source where the name is not locked, hears more:
        ``disabled``, ``password_change_required``, ``window_required``. A source that has failed
        SOURCE_MAX_FAILURES times in LOCK_MINUTES, for any names, gets ``login_rate_limited``.

        An account that must change its password (a demo password outside the demo, or one set with
        must_change) is refused with ``password_change_required`` unless ``new_password`` is given,
        which then replaces the password before the session opens.
        """
        now = self.clock.now()
        since = utc_iso(now - timedelta(minutes=LOCK_MINUTES))
        # Names as typed are never stored: someone may type a password into the name field.
        name = token_hash(username)
        refused = AuthError("bad_login", tries=LOCK_AFTER_FAILURES, minutes=LOCK_MINUTES)
        with self.store.immediate() as conn:
            failed, oldest = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM login_failures WHERE source = ? AND at > ?", (source, since)
            ).fetchone()
            if failed >= SOURCE_MAX_FAILURES:
                wait = parse_iso(oldest) + timedelta(minutes=LOCK_MINUTES) - now
                retry = max(1, math.ceil(wait.total_seconds()))
                raise AuthError("login_rate_limited", details={"retry_after_s": retry}, minutes=-(-retry // 60))
            locked = (
                conn.execute(
                    "SELECT COUNT(*) FROM login_failures WHERE name_hash = ? AND source = ? AND at > ? AND counted = 1",
                    (name, source, since),
                ).fetchone()[0]
                >= LOCK_AFTER_FAILURES
            )
            row = conn.execute("SELECT * FROM accounts WHERE username = ?", (username,)).fetchone()
            right = False
            if row is None or locked:
                _hasher.hash(password)  # the same work as a real check, so timing does not tell them apart
            else:
                try:
                    right = _hasher.verify(row["password_hash"], password)
                except (VerificationError, InvalidHashError):
                    right = False
            if not right:
                # Counted against the name from this source unless it is locked there already (so the
                # lock ends LOCK_MINUTES after it began); against the source either way.
                conn.execute("DELETE FROM login_failures WHERE at <= ?", (since,))
                conn.execute(
                    "INSERT INTO login_failures (name_hash, source, at, counted) VALUES (?,?,?,?)",
                    (name, source, utc_iso(now), int(not locked)),
                )
                # The failure must survive the refusal, so commit it rather than roll back.
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                raise refused
            if row["disabled"]:
                raise AuthError("disabled")
            if not self.allow_demo_passwords and (row["must_change"] or password in DEMO_PASSWORDS):
                if new_password is None:
                    conn.execute("UPDATE accounts SET must_change = 1 WHERE id = ?", (row["id"],))
                    conn.execute("COMMIT")
                    conn.execute("BEGIN IMMEDIATE")
                    raise AuthError("password_change_required")
                try:
                    self._check_new_password(new_password, old=password)
                except AccountError as exc:
                    raise AuthError("bad_new_password", why=exc) from None
                conn.execute(
                    "UPDATE accounts SET password_hash = ?, must_change = 0 WHERE id = ?",
                    (_hasher.hash(new_password), row["id"]),
                )
                row = conn.execute("SELECT * FROM accounts WHERE id = ?", (row["id"],)).fetchone()
            if row["role"] == "clerk" and window is None:
                raise AuthError("window_required")
            token = "s_" + secrets.token_urlsafe(32)
            expires = now + timedelta(hours=SESSION_HOURS)
            conn.execute(
                "DELETE FROM login_failures WHERE (name_hash = ? AND source = ?) OR at <= ?", (name, source, since)
            )
            conn.execute(
                "INSERT INTO sessions (token_hash, account_id, window, created_at, expires_at) VALUES (?,?,?,?,?)",
                (token_hash(token), row["id"], window, utc_iso(now), utc_iso(expires)),
            )
        return token, Session(_account(row), window, utc_iso(expires))

    def session(self, token: str) -> Session:
        row = self.store.one(
            "SELECT s.window, s.expires_at, a.* FROM sessions s JOIN accounts a ON a.id = s.account_id"
            " WHERE s.token_hash = ?",
            (token_hash(token),),
        )
        if row is None or row["disabled"] or parse_iso(row["expires_at"]) <= self.clock.now():
            raise AuthError("session_expired")
        if row["must_change"] and not self.allow_demo_passwords:
            raise AuthError("password_change_required", "err_password_change_required_session")
        return Session(_account(row), row["window"], row["expires_at"])

    def logout(self, token: str) -> None:
        with self.store.immediate() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))

    # ---- terminals ----

    def add_terminal(self, terminal_id: str, kind: str, name: str, *, window: int | None = None) -> str:
        """Enrol a terminal; returns its token, which is shown once and never stored."""
        if kind not in TERMINAL_KINDS:
            raise AccountError(f"kind: {kind!r} is not a terminal kind (expected kiosk, pad or display)")
        if kind == "pad" and window is None:
            raise AccountError("window: a rating pad belongs to a window (expected --window N)")
        token = "t_" + secrets.token_urlsafe(32)
        with self.store.immediate() as conn:
            if conn.execute("SELECT 1 FROM terminals WHERE id = ?", (terminal_id,)).fetchone():
                raise AccountError(f"id: terminal {terminal_id!r} exists already (revoke it or pick a new id)")
            conn.execute(
                "INSERT INTO terminals (id, kind, name, window, token_hash, created_at) VALUES (?,?,?,?,?,?)",
                (terminal_id, kind, name, window, token_hash(token), utc_iso(self.clock.now())),
            )
        return token

    def terminal(self, token: str) -> Terminal:
        row = self.store.one(
            "SELECT * FROM terminals WHERE token_hash = ? AND revoked_at IS NULL", (token_hash(token),)
        )
        if row is None:
            raise AuthError("bad_terminal")
        return Terminal(row["id"], row["kind"], row["name"], row["window"])

    def terminals(self) -> builtins.list[dict]:  # `list` in this class is Accounts.list
        return [
            dict(r)
            for r in self.store.all("SELECT id, kind, name, window, created_at, revoked_at FROM terminals ORDER BY id")
        ]

    def revoke_terminal(self, terminal_id: str) -> None:
        with self.store.immediate() as conn:
            cur = conn.execute(
                "UPDATE terminals SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (utc_iso(self.clock.now()), terminal_id),
            )
            if cur.rowcount == 0:
                raise AccountError(f"id: no active terminal {terminal_id!r}")
