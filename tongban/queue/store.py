"""The one SQLite database both processes share (docs/architecture.md §Storage).

Every connection gets the same pragmas (``synchronous`` is per connection, not stored in the file).
A write that reads first runs in ``BEGIN IMMEDIATE`` issued on the connection: sqlite-utils'
``atomic()`` begins a deferred transaction, which in WAL mode cannot wait on the busy timeout when it
later upgrades to a write, and fails under contention.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .masking import mask_personal

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
            UNIQUE (prefix, service_day, seq)    -- the safety net under numbering
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


@migrations()
def m003_balancer_and_call_times(db: sqlite_utils.Database) -> None:
    # Window minutes per call (call to free again: walk-up and service, or recalls before a no-show),
    # smoothed per line: what the wait forecast charges for each ticket ahead (docs/architecture.md §Forecast).
    db.execute("ALTER TABLE lines ADD COLUMN cycle_min REAL")
    db.execute("ALTER TABLE lines ADD COLUMN cycle_n INTEGER NOT NULL DEFAULT 0")
    # Arrival rates per line for the balancer: tickets issued in the last half hour.
    db.execute("CREATE INDEX tickets_issued ON tickets (service_day, issued_at)")
    # The balancer's proposals: held for the manager (or applied at once, kept as the record of why).
    db.execute("""
        CREATE TABLE balancer_proposals (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            window INTEGER NOT NULL,
            from_lines TEXT NOT NULL,            -- JSON list, primary first
            to_lines TEXT NOT NULL,
            reason_zh TEXT NOT NULL,
            reason_en TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',     -- the numbers behind the reason
            state TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'accepted', 'rejected', 'superseded',
                                                 'stale')),
            decided_at TEXT,
            decided_by TEXT
        )""")
    db.execute("CREATE INDEX balancer_proposals_state ON balancer_proposals (state, id)")


# Re-entrant: a thread that (wrongly) writes through a second connection while its first is in a
# transaction gets SQLite's "database is locked" after the busy timeout, as before, not a deadlock.
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_lock(path: str) -> threading.RLock:
    """The lock this process's writers of one database file share (a memory database is its own)."""
    if path == ":memory:":
        return threading.RLock()
    key = os.path.realpath(path)
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, threading.RLock())


def _enter_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the lock it needs. Two
    processes opening a new database at once (the web and the devices process of ``tongban demo``)
    can deadlock on the switch; SQLite then answers "database is locked" at once, without waiting
    in its busy handler, and the one to retry is the one that let go of its lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def utc_iso(moment: datetime) -> str:
    """One timestamp format everywhere, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Store:
    """One connection to the hall database, used by one thread at a time (the web's StorePool lends
    it to one request after another; other threads open their own)."""

    def __init__(self, path: str | Path, *, migrate: bool = True, backup_dir: str | Path | None = None):
        self.path = str(path)
        # Where the copy taken before a migration goes (default: "backups" beside the database).
        self.backup_dir = backup_dir
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        if self.path != ":memory:":
            mode = _enter_wal(conn)
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        self._writer = _writer_lock(self.path)
        self._depth = 0  # open immediate() blocks on this connection; > 1 is a domain call inside another
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        # Two processes may start together (tongban demo): the immediate lock makes one of them wait
        # while the other migrates, instead of both trying to create the same tables.
        with self.immediate():
            if self.path != ":memory:" and migrations.applied(self.db) and migrations.pending(self.db):
                self._backup_before_migration()
            migrations.apply(self.db)

    def _backup_before_migration(self) -> None:
        """A verified copy of the database as it was, before any migration touches it (docs/architecture.md §Storage).

        Taken from a separate read connection: this one holds the write lock, so the copy is the
        state every process last committed, and a second process starting now waits for both.
        """
        from ..ops.backup import BackupError, take_backup

        folder = Path(self.backup_dir) if self.backup_dir else Path(self.path).resolve().parent / "backups"
        try:
            take_backup(self.path, folder, kind="pre-migration", keep=10)
        except BackupError as exc:
            raise StoreError(f"{self.path}: not migrating without a backup first: {exc}") from exc

    @contextmanager
    def immediate(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (docs/architecture.md §Storage).

        A domain call made inside another's transaction joins it, so one user action composed of
        several calls (take a ticket: number, ticket, event, print job, request key) commits or
        rolls back as one. Threads of this process queue on one lock per database, which hands
        over the moment it is free; only the other process is left to SQLite's busy handler, which
        sleeps in steps of up to 100 ms and gave 8 concurrent kiosks a p99 of hundreds of ms.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.conn
                finally:
                    self._depth -= 1
                return
            with self._writer:
                self.conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                else:
                    self.conn.execute("COMMIT")
                finally:
                    self._depth = 0

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def ping(self) -> None:
        """Raise unless the database answers a read of the tickets table (the web's /healthz)."""
        self.conn.execute("SELECT 1 FROM tickets LIMIT 1").fetchone()

    def quick_check(self) -> None:
        result = [row[0] for row in self.conn.execute("PRAGMA quick_check")]
        if result != ["ok"]:
            raise StoreError(f"{self.path}: quick_check failed: {'; '.join(result[:5])}")

    def integrity_check(self) -> list[str]:
        return [row[0] for row in self.conn.execute("PRAGMA integrity_check")]

    def data_version(self) -> int:
        """Changes when another connection commits; the web watches it to push fresh state."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def add_event(
        self,
        *,
        action: str,
        at: datetime,
        ticket_id: int | None = None,
        window: int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (ticket_id, window, action, from_state, to_state, actor, at, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket_id,
                window,
                action,
                from_state,
                to_state,
                actor,
                utc_iso(at),
                # Never purged: no full ID or mobile number in free text (a reason, a rating's comment).
                mask_personal(json.dumps(data or {}, ensure_ascii=False, sort_keys=True)),
            ),
        )

    def setting(self, key: str, default_factory=None) -> str | None:
        """Read a setting; with a factory, create it once (first writer wins across processes)."""
        row = self.one("SELECT value FROM settings WHERE key = ?", (key,))
        if row is not None or default_factory is None:
            return row["value"] if row else None
        with self.immediate() as conn:
            conn.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", (key, default_factory()))
        row = self.one("SELECT value FROM settings WHERE key = ?", (key,))
        assert row is not None  # inserted just above if it was missing
        return row["value"]

    def close(self) -> None:
        self.conn.close()


class StorePool:
    """Connections reused from one request to the next in the web.

    Opening a connection (its PRAGMAs, parsing the schema on first use) and closing it (a WAL
    checkpoint when it is the last one) cost more than a ticket's whole transaction, and a busy
    hall runs a hundred requests a second on one core. At most ``keep`` idle connections stay open:
    each holds its own page cache, so a burst of streams must not leave a hundred of them behind.
    """

    def __init__(self, path: str | Path, *, keep: int = 8):
        self.path = str(path)
        self.keep = keep
        self._idle: list[Store] = []
        self._lock = threading.Lock()
        self.lent = 0

    def acquire(self) -> Store:
        with self._lock:
            self.lent += 1
            if self._idle:
                return self._idle.pop()
        try:
            return Store(self.path, migrate=False)
        except BaseException:
            with self._lock:
                self.lent -= 1
            raise

    def release(self, store: Store) -> None:
        if store.conn.in_transaction:
            # Only a request that died inside a transaction gets here (immediate() rolls back its own).
            store.conn.execute("ROLLBACK")
        with self._lock:
            self.lent -= 1
            if len(self._idle) < self.keep:
                self._idle.append(store)
                return
        store.close()


@migrations()
def m004_kiosk_requests(db: sqlite_utils.Database) -> None:
    # Kiosk confirm forms carry a one-time key: a double tap or a retried post of the same form answers
    # with the ticket the first one took (and its print job) instead of taking a second ticket.
    db.execute("""
        CREATE TABLE kiosk_requests (
            kiosk TEXT NOT NULL,
            key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            ticket_id INTEGER REFERENCES tickets(id),   -- NULL while the first post is issuing
            print_job INTEGER REFERENCES print_jobs(id),
            PRIMARY KEY (kiosk, key)
        )""")


@migrations()
def m010_cases(db: sqlite_utils.Database) -> None:
    # Proxy (代收代办) and multi-place (多地联办) cases (docs/cases.md). Personal fields are
    # nullable: the retention job clears them and keeps the rest for statistics (docs/architecture.md §Cases).
    db.execute("""
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,         -- KS-20261126-001, per hall-local day
            token TEXT NOT NULL UNIQUE,          -- unguessable, for the public status page /c/<token>
            mode TEXT NOT NULL CHECK (mode IN ('proxy', 'multi-place')),
            matter TEXT NOT NULL,
            matter_zh TEXT NOT NULL,             -- names as they were when the case opened
            matter_en TEXT NOT NULL,
            department TEXT NOT NULL,            -- the matter's department code here
            ticket_id INTEGER REFERENCES tickets(id),
            window INTEGER,
            clerk TEXT,
            state TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            opened_day TEXT NOT NULL,
            time_limit_days INTEGER NOT NULL,
            clock_from TEXT NOT NULL,            -- the day the time limit runs from
            due_day TEXT NOT NULL,
            due_flag TEXT CHECK (due_flag IN ('near', 'overdue')),
            flagged_at TEXT,
            applicant_name TEXT,                 -- personal: purged after retention
            id_number TEXT,
            phone TEXT,
            phone_last4 TEXT,
            address TEXT,
            identity_method TEXT,
            identity_ok INTEGER,
            review_outcome TEXT,
            review_note TEXT,
            reviewed_by TEXT,
            reviewed_at TEXT,
            province TEXT,
            handling_dept TEXT,
            handling_address TEXT,
            handling_phone TEXT,
            handling_contact TEXT,
            send_channel TEXT,
            waybill_out TEXT,
            send_ref TEXT,
            sent_on TEXT,
            result TEXT,
            result_note TEXT,
            return_channel TEXT,
            waybill_back TEXT,
            returned_on TEXT,
            delivery_channel TEXT,
            delivery_waybill TEXT,
            delivered_on TEXT,
            withdrawn_reason TEXT,
            withdrawn_note TEXT,
            closed_day TEXT,                     -- delivered or withdrawn: retention counts from here
            purged_at TEXT,
            updated_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX cases_state_due ON cases (state, due_day)")
    db.execute("CREATE INDEX cases_opened ON cases (opened_day)")
    db.execute("CREATE INDEX cases_waybill ON cases (waybill_out)")
    db.execute("CREATE INDEX cases_phone ON cases (phone_last4)")
    # One live case per ticket; a withdrawn one does not block a new case.
    db.execute(
        "CREATE UNIQUE INDEX cases_one_per_ticket ON cases (ticket_id)"
        " WHERE ticket_id IS NOT NULL AND state != 'withdrawn'"
    )
    db.execute("""
        CREATE TABLE case_materials (
            case_id INTEGER NOT NULL REFERENCES cases(id),
            idx INTEGER NOT NULL,
            name TEXT NOT NULL,
            received INTEGER NOT NULL DEFAULT 0,
            copies INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (case_id, idx)
        )""")
    # Every step, with who and when. Append-only, and free of personal data (it is never purged).
    db.execute("""
        CREATE TABLE case_events (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            action TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT,
            actor TEXT,
            window INTEGER,
            at TEXT NOT NULL,
            day TEXT NOT NULL,                   -- hall-local day of `at`, for day reports
            data TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX case_events_case ON case_events (case_id, id)")
    db.execute("CREATE INDEX case_events_day ON case_events (day, action)")
    # Who saw a case's personal data (its page, its receipt) or exported it.
    db.execute("""
        CREATE TABLE case_access_log (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            action TEXT NOT NULL CHECK (action IN ('view', 'receipt', 'export')),
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX case_access_case ON case_access_log (case_id, id)")
    for table in ("case_events", "case_access_log"):
        for op in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


@migrations()
def m011_kiosk_rate_index(db: sqlite_utils.Database) -> None:
    # The per-kiosk rate limit counts a kiosk's tickets of the last minute inside the issuing
    # transaction (tongban/queue/ratelimit.py); without this index that count scans every ticket.
    db.execute("CREATE INDEX tickets_kiosk_issued ON tickets (kiosk, issued_at)")


@migrations()
def m012_take_requests(db: sqlite_utils.Database) -> None:
    # Repeat-safe keys of ticket requests (a kiosk form's one-time key, an API Idempotency-Key),
    # written in the same transaction as the ticket they got: a key is either unknown or answers
    # with its ticket, never "being issued". kiosk_requests held keys while a ticket was in flight
    # (claim, issue, record: three transactions); its rows are a moment's state, so it goes.
    db.execute("""
        CREATE TABLE take_requests (
            requester TEXT NOT NULL,             -- the kiosk, or the staff account, that sent it
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,           -- what was asked for: the same key with another ask is refused
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            print_job INTEGER REFERENCES print_jobs(id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (requester, key)
        )""")
    db.execute("CREATE INDEX take_requests_created ON take_requests (created_at)")
    db.execute("DROP TABLE kiosk_requests")


@migrations()
def m013_print_leases(db: sqlite_utils.Database) -> None:
    # A claimed job records until when its worker holds it (docs/architecture.md §Print jobs): a job
    # left 'printing' by a killed devices process is taken back once that time has passed.
    db.execute("ALTER TABLE print_jobs ADD COLUMN lease_until TEXT")
    # The tickets an alert asks the clerks to reprint: one open alert per printer state gathers them.
    db.execute("ALTER TABLE alerts ADD COLUMN tickets TEXT NOT NULL DEFAULT ''")
    # Jobs the old code left unfinished had no lease and were failed only in the kiosk's reading:
    # they are over, and alerting for them now would name tickets of days gone by.
    db.execute(
        "UPDATE print_jobs SET state = 'failed', status = 'timeout', finished_at = deadline,"
        " error = 'not printed before the deadline' WHERE state IN ('pending', 'printing')"
    )


@migrations()
def m014_login_failures(db: sqlite_utils.Database) -> None:
    # Failed sign-ins per (name, source address), so one address cannot lock every clerk out and an
    # address that fails too often is refused itself (queue/accounts.py). Rows older than the lock
    # window are deleted as new ones come; names are kept as SHA-256 only, because a clerk may type a
    # password into the name field. accounts.failed_logins and locked_until are no longer used.
    db.execute("""
        CREATE TABLE login_failures (
            id INTEGER PRIMARY KEY,
            name_hash TEXT NOT NULL,             -- SHA-256 of the name as typed, known or not
            source TEXT NOT NULL,                -- the client's address
            at TEXT NOT NULL,
            counted INTEGER NOT NULL DEFAULT 1   -- 0: tried while the name was locked from this source
        )""")
    db.execute("CREATE INDEX login_failures_source ON login_failures (source, at)")
    db.execute("CREATE INDEX login_failures_name ON login_failures (name_hash, source, at)")
    db.execute("UPDATE accounts SET failed_logins = 0, locked_until = NULL")


@migrations()
def m015_ticket_estimates(db: sqlite_utils.Database) -> None:
    # What each ticket was told when it was issued: the forecast wait (unrounded) and its model's
    # standard deviation. Comparing them with the real waits sets the band's width (estimates.py).
    db.execute("""
        CREATE TABLE ticket_estimates (
            ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
            minutes REAL NOT NULL,
            sd REAL NOT NULL
        )""")
    db.execute("CREATE INDEX tickets_called ON tickets (called_at)")


@migrations()
def m016_green_reason(db: sqlite_utils.Database) -> None:
    # Why a green-channel ticket had priority (service.GREEN_REASONS: elderly, disabled, pregnant,
    # serviceman, other), chosen by the clerk who issued it and counted in the day report. NULL for
    # every other ticket, and for green tickets issued before it was asked.
    db.execute("ALTER TABLE tickets ADD COLUMN green_reason TEXT")


# ---------- m017: the outbox the district sync reads (docs/architecture.md §District sync) ----------

#: A fresh row id the district keys the row by: 16 random hex characters, made by SQLite itself so
#: every writer (domain, CLI, tests, an old tool) gets one without knowing about the district.
_NEW_UID = "lower(hex(randomblob(8)))"
#: The hall's ISO form of "now" (microsecond digits, offset), for outbox.at and prune.
_NOW_ISO = "strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000+00:00'"
#: Tables whose rows the district stores, each keyed by a uid set once when the row is made.
UID_TABLES = ("tickets", "events", "cases", "case_events", "alerts")
#: The outbox kinds and their bodies (docs/architecture.md §District sync). Each body is a SQL
#: expression over the row alias ``r``; ``key`` is the district's key for it. Flags go as JSON
#: booleans, because the district's columns are booleans.
_BODIES = {
    "tickets": (
        "ticket",
        "r.uid",
        "json_object('uid', r.uid, 'id', r.id, 'service_day', r.service_day, 'prefix', r.prefix, 'seq', r.seq,"
        " 'number', r.number, 'line', r.line, 'matter', r.matter, 'state', r.state,"
        " 'green', json(CASE WHEN r.green THEN 'true' ELSE 'false' END), 'green_reason', r.green_reason,"
        " 'transferred', json(CASE WHEN r.transferred THEN 'true' ELSE 'false' END), 'issued_at', r.issued_at,"
        " 'called_at', r.called_at, 'finished_at', r.finished_at, 'window', r.window, 'clerk', r.clerk,"
        " 'kiosk', r.kiosk)",
    ),
    "events": (
        "event",
        "r.uid",
        "json_object('uid', r.uid, 'id', r.id, 'ticket_uid', (SELECT t.uid FROM tickets t WHERE t.id = r.ticket_id),"
        " 'window', r.window, 'action', r.action, 'from_state', r.from_state, 'to_state', r.to_state,"
        " 'actor', r.actor, 'at', r.at, 'data', json(r.data),"
        " 'undone_uid', CASE WHEN r.action = 'undo' THEN (SELECT u.uid FROM events u"
        " WHERE u.id = json_extract(r.data, '$.undone_event')) END)",
    ),
    # Masked at the source: the district never receives a name, ID number, phone or address in full
    # (docs/architecture.md §Cases). The name keeps its first character, as queue/masking.mask_name
    # (at most 15 stars: the district takes 64 characters, and a refused batch would stop the sync).
    "cases": (
        "case",
        "r.uid",
        "json_object('uid', r.uid, 'id', r.id, 'number', r.number, 'mode', r.mode, 'matter', r.matter,"
        " 'matter_zh', r.matter_zh, 'matter_en', r.matter_en, 'department', r.department, 'state', r.state,"
        " 'opened_day', r.opened_day, 'due_day', r.due_day, 'due_flag', r.due_flag, 'closed_day', r.closed_day,"
        " 'handling_dept', r.handling_dept,"
        " 'applicant_masked', CASE WHEN coalesce(r.applicant_name, '') != '' THEN substr(r.applicant_name, 1, 1)"
        " || replace(hex(zeroblob(min(length(r.applicant_name) - 1, 15))), '00', '*') END,"
        " 'phone_last4', r.phone_last4, 'updated_at', r.updated_at, 'origin_hall', r.origin_hall,"
        " 'origin_case_uid', r.origin_case_uid, 'target_hall', r.target_hall)",
    ),
    "case_events": (
        "case_event",
        "r.uid",
        "json_object('uid', r.uid, 'case_uid', (SELECT c.uid FROM cases c WHERE c.id = r.case_id),"
        " 'action', r.action, 'from_state', r.from_state, 'to_state', r.to_state, 'actor', r.actor, 'at', r.at,"
        " 'day', r.day, 'data', json(r.data))",
    ),
    "alerts": (
        "alert",
        "r.uid",
        "json_object('uid', r.uid, 'device', r.device, 'kind', r.kind, 'message_zh', r.message_zh,"
        " 'message_en', r.message_en, 'at', r.at, 'acked_at', r.acked_at)",
    ),
    "windows": (
        "window",
        "CAST(r.number AS TEXT)",
        "json_object('number', r.number, 'state', r.state, 'serving', json(r.serving), 'clerk', r.clerk,"
        " 'updated_at', r.updated_at)",
    ),
    "day_summaries": ("day_summary", "r.day", "json_object('day', r.day, 'totals', json(r.totals))"),
}
#: Ticket columns the body holds: other updates (recalls, rated, queued_at alone) send nothing.
_TICKET_BODY_COLUMNS = (
    "service_day prefix seq number line matter state green green_reason transferred issued_at called_at"
    " finished_at window clerk kiosk"
).split()


def _outbox_insert(table: str, where: str) -> str:
    kind, key, body = _BODIES[table]
    return (
        f"INSERT INTO outbox (kind, key, body, at) SELECT '{kind}', {key}, {body}, {_NOW_ISO}"
        f" FROM {table} r WHERE {where};"
    )


@migrations()
def m017_outbox(db: sqlite_utils.Database) -> None:
    # Every change the district needs is appended here by triggers, in the transaction of the change
    # itself: nothing can commit without its outbox row, and a rolled-back action leaves none. The
    # devices process's sync worker pushes it (docs/architecture.md §District sync).
    db.execute("""
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, so a pruned prefix stays gone
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            body TEXT NOT NULL,                  -- JSON: the row after the change
            at TEXT NOT NULL
        )""")
    # A day's report totals, written once at roll-over (queue/outbox.summarize_days).
    db.execute("""
        CREATE TABLE day_summaries (
            day TEXT PRIMARY KEY,
            totals TEXT NOT NULL,
            made_at TEXT NOT NULL
        )""")
    # Cross-site cases: which hall a case came from or goes to (filled by the handoff exchange).
    for column in ("origin_hall", "origin_case_uid", "target_hall"):
        db.execute(f"ALTER TABLE cases ADD COLUMN {column} TEXT")
    # case_events refuses every UPDATE; the uid must be set once after insert, so the refusal now names
    # every other column, and a separate trigger keeps a set uid from changing.
    db.execute("DROP TRIGGER case_events_no_update")
    for table in UID_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN uid TEXT")
        db.execute(f"UPDATE {table} SET uid = {_NEW_UID} WHERE uid IS NULL")
        db.execute(
            f"CREATE TRIGGER {table}_uid_once BEFORE UPDATE OF uid ON {table}"
            f" WHEN OLD.uid IS NOT NULL AND NEW.uid IS NOT OLD.uid"
            f" BEGIN SELECT RAISE(ABORT, '{table}.uid is set once'); END"
        )
    db.execute(
        "CREATE TRIGGER case_events_no_update BEFORE UPDATE OF id, case_id, action, from_state, to_state, actor,"
        " window, at, day, data ON case_events BEGIN SELECT RAISE(ABORT, 'case_events is append-only'); END"
    )
    # Insert: give the row its uid, then write its body (read back, so the body has the uid). The
    # uid UPDATE fires the update triggers too; they skip it (OLD.uid IS NULL).
    for table in UID_TABLES:
        db.execute(
            f"CREATE TRIGGER {table}_outbox_insert AFTER INSERT ON {table} BEGIN"
            f" UPDATE {table} SET uid = {_NEW_UID} WHERE rowid = NEW.rowid AND uid IS NULL;"
            f" {_outbox_insert(table, 'r.rowid = NEW.rowid')} END"
        )
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _TICKET_BODY_COLUMNS)
    db.execute(
        f"CREATE TRIGGER tickets_outbox_update AFTER UPDATE ON tickets WHEN OLD.uid IS NOT NULL AND ({changed})"
        f" BEGIN {_outbox_insert('tickets', 'r.rowid = NEW.rowid')} END"
    )
    for table in ("cases", "alerts"):
        db.execute(
            f"CREATE TRIGGER {table}_outbox_update AFTER UPDATE ON {table} WHEN OLD.uid IS NOT NULL"
            f" BEGIN {_outbox_insert(table, 'r.rowid = NEW.rowid')} END"
        )
    # events and case_events are append-only logs: an insert is their only change.
    for op in ("INSERT", "UPDATE"):
        db.execute(
            f"CREATE TRIGGER windows_outbox_{op.lower()} AFTER {op} ON windows"
            f" BEGIN {_outbox_insert('windows', 'r.number = NEW.number')} END"
        )
        db.execute(
            f"CREATE TRIGGER day_summaries_outbox_{op.lower()} AFTER {op} ON day_summaries"
            f" BEGIN {_outbox_insert('day_summaries', 'r.day = NEW.day')} END"
        )
    # The windows as they are now, so a district learns of every window without waiting for a change.
    db.execute(_outbox_insert("windows", "1").rstrip(";") + " ORDER BY r.number")


@migrations()
def m018_handoffs(db: sqlite_utils.Database) -> None:
    # Cross-site cases (docs/cases.md "Cross-site cases"). A case handed to another hall keeps its
    # row here, closed as handed_off, with where it went and its state there as the district last
    # said; a case received from another hall says which hall and which hand-off it came from.
    # origin_hall, origin_case_uid and target_hall came with m017: the case body the district gets names them.
    for column in (
        "origin_number TEXT",  # received: its number at the hall it came from
        "target_window TEXT",
        "remote_number TEXT",  # handed off: its number there
        "remote_state TEXT",  # handed off: its state there ('in_transit' until the receiver has it)
        "remote_updated_at TEXT",
    ):
        db.execute(f"ALTER TABLE cases ADD COLUMN {column}")
    # A hand-off received twice (the ack lost on the way) must not make a second case.
    db.execute(
        "CREATE UNIQUE INDEX cases_origin ON cases (origin_hall, origin_case_uid) WHERE origin_case_uid IS NOT NULL"
    )
    # Hand-offs waiting to go to the district. ``body`` carries the applicant's personal data, so it
    # is cleared the moment the district has it: the hall's copy stays on the case row alone.
    db.execute("""
        CREATE TABLE handoffs_out (
            uid TEXT PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            to_hall TEXT NOT NULL,
            to_window TEXT,
            body TEXT,
            state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'refused')),
            created_at TEXT NOT NULL,
            sent_at TEXT,
            district_id TEXT
        )""")
    db.execute("CREATE INDEX handoffs_out_queued ON handoffs_out (state)")


@migrations()
def m019_appointments(db: sqlite_utils.Database) -> None:
    # Booked time slots (issue 18, docs/appointments.md), loaded from a file, the API or the district.
    # The ID number is never stored: only its keyed hash (queue/identity.py), to find the booking when
    # the card is read, and the masked form people see; of the phone only its last four digits.
    db.execute("""
        CREATE TABLE appointments (
            id INTEGER PRIMARY KEY,
            hall TEXT NOT NULL,
            reference TEXT NOT NULL,             -- the booking reference (digits), typed at the kiosk
            matter TEXT NOT NULL,
            slot_start TEXT NOT NULL,            -- UTC ISO, as every time in this file
            slot_end TEXT NOT NULL,
            service_day TEXT NOT NULL,           -- the hall-local day of slot_start
            id_masked TEXT,                      -- 3201**********1234
            id_hash TEXT,                        -- HMAC-SHA256 hex under settings 'idcard.hash_key'
            phone_last4 TEXT,
            state TEXT NOT NULL DEFAULT 'booked'
                CHECK (state IN ('booked', 'checked_in', 'no_show', 'cancelled')),
            ticket_id INTEGER REFERENCES tickets(id),  -- the ticket the check-in issued
            source TEXT NOT NULL,                -- file, api, district
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (hall, reference)
        )""")
    db.execute("CREATE INDEX appointments_day ON appointments (service_day, slot_start)")
    db.execute("CREATE INDEX appointments_id_hash ON appointments (id_hash, service_day)")
    db.execute("CREATE INDEX appointments_open ON appointments (state, slot_end)")
    # A ticket taken for a booking, or with an ID card, carries the same two forms of the number.
    db.execute("ALTER TABLE tickets ADD COLUMN id_hash TEXT")
    db.execute("ALTER TABLE tickets ADD COLUMN id_masked TEXT")


@migrations()
def m020_idcard(db: sqlite_utils.Database) -> None:
    # Cards the kiosks' ID-card readers read, handed from the devices process to the kiosk page
    # (queue/idcards.py, docs/idcard.md). Never the full ID number: its masked form and a keyed hash
    # (the hall's idcard.hash_key setting, queue/identity.py), enough to find an appointment and to
    # show the citizen it was their card. Rows live minutes, not days: idcards.record_read deletes those past KEEP_S.
    db.execute("""
        CREATE TABLE card_reads (
            id INTEGER PRIMARY KEY,
            kiosk TEXT NOT NULL,
            read_at TEXT NOT NULL,
            id_masked TEXT NOT NULL,      -- 3201**********1234
            id_hash TEXT NOT NULL,        -- HMAC-SHA256 of the number with the hall's key, hex
            name_masked TEXT NOT NULL,    -- the first character, then one * for each other
            sex TEXT NOT NULL,            -- "1" male, "2" female, as on the card
            birth_date TEXT NOT NULL,     -- YYYY-MM-DD: the green channel by age needs it
            token TEXT NOT NULL UNIQUE,   -- what the kiosk page sends back to use this read
            consumed_at TEXT              -- set once the kiosk used it; a read is used at most once
        )""")
    db.execute("CREATE INDEX card_reads_kiosk ON card_reads (kiosk, read_at)")


@migrations()
def m021_window_card_reads(db: sqlite_utils.Database) -> None:
    # A window's own reader (docs/idcard.md#at-the-window) reads a card for a case, and a case's
    # record keeps the number in full (queue/cases.py): the read must carry it from the devices
    # process to the clerk's form. Only window reads fill these, and for under a minute: the case
    # opening that uses the read clears them, and the worker clears them once the read is stale.
    # Kiosk reads never do (the kiosk needs the hash only).
    db.execute("ALTER TABLE card_reads ADD COLUMN id_number TEXT")
    db.execute("ALTER TABLE card_reads ADD COLUMN name TEXT")
