"""The one SQLite database both processes share (DESIGN §6).

Every connection gets the same pragmas (``synchronous`` is per connection, not stored in the file).
A write that reads first runs in ``BEGIN IMMEDIATE`` issued on the connection: sqlite-utils'
``atomic()`` begins a deferred transaction, which in WAL mode cannot wait on the busy timeout when it
later upgrades to a write, and fails under contention.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

BUSY_TIMEOUT_MS = 10_000

migrations = Migrations("tongban")


class StoreError(Exception):
    """The database cannot be used (damaged file, failed check)."""


@migrations()
def m001_hall_core(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            token TEXT NOT NULL UNIQUE,          -- unguessable, for the public status page
            service_day TEXT NOT NULL,           -- the hall's local date, YYYY-MM-DD
            prefix TEXT NOT NULL,                -- the line that numbered it; never changes
            seq INTEGER NOT NULL,
            number TEXT NOT NULL,                -- A012
            line TEXT NOT NULL,                  -- the line it waits in now (changes on transfer)
            matter TEXT,
            state TEXT NOT NULL,
            green INTEGER NOT NULL DEFAULT 0,
            appointment_at TEXT,
            transferred INTEGER NOT NULL DEFAULT 0,
            issued_at TEXT NOT NULL,
            queued_at TEXT NOT NULL,             -- its place in line: issue time, moved back on late return
            window INTEGER,
            clerk TEXT,
            recalls INTEGER NOT NULL DEFAULT 0,
            called_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            kiosk TEXT,
            rated INTEGER NOT NULL DEFAULT 0,
            UNIQUE (prefix, service_day, seq)    -- the safety net under numbering (DESIGN §6)
        )""")
    db.execute("CREATE INDEX tickets_waiting ON tickets (state, line, service_day)")
    db.execute("CREATE INDEX tickets_window ON tickets (window, state)")
    db.execute("""
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER REFERENCES tickets(id),
            window INTEGER,
            action TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT,
            actor TEXT,
            at TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX events_ticket ON events (ticket_id, id)")
    db.execute("CREATE INDEX events_at ON events (at)")
    db.execute("""
        CREATE TABLE windows (
            number INTEGER PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'closed',
            able TEXT NOT NULL,                  -- JSON list of line prefixes
            serving TEXT NOT NULL,               -- JSON list, primary first
            pinned INTEGER NOT NULL DEFAULT 0,
            clerk TEXT,
            updated_at TEXT
        )""")
    db.execute("""
        CREATE TABLE lines (
            prefix TEXT PRIMARY KEY,
            closed INTEGER NOT NULL DEFAULT 0,
            closed_reason TEXT,
            service_min REAL,                    -- smoothed service time, survives restarts
            service_n INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE accounts (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            staff_no TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL CHECK (role IN ('clerk', 'manager')),
            password_hash TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            must_change INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            window INTEGER,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE terminals (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('kiosk', 'pad', 'display')),
            name TEXT NOT NULL,
            window INTEGER,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""")
    db.execute("""
        CREATE TABLE job_runs (
            job TEXT NOT NULL,
            day TEXT NOT NULL,
            ran_at TEXT NOT NULL,
            result TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (job, day)
        )""")
    db.execute("""
        CREATE TABLE print_jobs (
            id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            printer TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',   -- pending, printing, done, failed
            reprint INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            deadline TEXT NOT NULL,
            finished_at TEXT,
            status TEXT,
            error TEXT
        )""")
    db.execute("CREATE INDEX print_jobs_pending ON print_jobs (state, id)")
    db.execute("""
        CREATE TABLE device_status (
            device TEXT PRIMARY KEY,             -- printer:printer-1, bus:rs485-1:3
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            device TEXT,
            kind TEXT NOT NULL,
            message_zh TEXT NOT NULL,
            message_en TEXT NOT NULL,
            at TEXT NOT NULL,
            acked_at TEXT,
            acked_by TEXT
        )""")


@migrations()
def m002_settings(db: sqlite_utils.Database) -> None:
    # Hall-local settings that must survive restarts but are not hall configuration (the web
    # session secret, generated on first start rather than committed anywhere).
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def utc_iso(moment: datetime) -> str:
    """One timestamp format everywhere, so text order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Store:
    """One connection to the hall database. Not shared between threads: open one per thread."""

    def __init__(self, path: str | Path, *, migrate: bool = True):
        self.path = str(path)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        # Two processes may start together (tongban demo): the immediate lock makes one of them wait
        # while the other migrates, instead of both trying to create the same tables.
        with self.immediate():
            migrations.apply(self.db)

    @contextmanager
    def immediate(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (DESIGN §6)."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def quick_check(self) -> None:
        result = [row[0] for row in self.conn.execute("PRAGMA quick_check")]
        if result != ["ok"]:
            raise StoreError(f"{self.path}: quick_check failed: {'; '.join(result[:5])}")

    def integrity_check(self) -> list[str]:
        return [row[0] for row in self.conn.execute("PRAGMA integrity_check")]

    def data_version(self) -> int:
        """Changes when another connection commits; the web watches it to push fresh state."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def add_event(self, *, action: str, at: datetime, ticket_id: int | None = None, window: int | None = None,
                  from_state: str | None = None, to_state: str | None = None, actor: str | None = None,
                  data: dict[str, Any] | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events (ticket_id, window, action, from_state, to_state, actor, at, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, window, action, from_state, to_state, actor, utc_iso(at),
             json.dumps(data or {}, ensure_ascii=False, sort_keys=True)))

    def setting(self, key: str, default_factory=None) -> str | None:
        """Read a setting; with a factory, create it once (first writer wins across processes)."""
        row = self.one("SELECT value FROM settings WHERE key = ?", (key,))
        if row is not None or default_factory is None:
            return row["value"] if row else None
        with self.immediate() as conn:
            conn.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, default_factory()))
        return self.one("SELECT value FROM settings WHERE key = ?", (key,))["value"]

    def close(self) -> None:
        self.conn.close()
