"""The hall's side of district sync, without the network (docs/architecture.md §District sync).

SQLite triggers (migration ``m017_outbox`` in store.py) append every change the district needs to
``outbox`` in the transaction of the change. This module reads batches from it, records what the
district acknowledged, keeps the *generation*, reports the sync state for the manager console and
prunes what is no longer needed. The devices process's sync worker (devices/sync_worker.py) is the
only one that talks to the district.

Generations. The district applies a hall's changes once per (hall, generation, seq), in order from
its acked + 1. Change numbers on the wire count from 1 in each generation: ``wire seq = outbox.seq -
sync.base``. A new generation (new random id, base = the row before the oldest retained one, acked
0) makes the hall resend every retained row, which the district's upserts make harmless. It starts

* when the hall has none yet (first start, or ``tongban restore`` cleared it: ops/backup.py),
* when the database file's identity (st_dev:st_ino) is not the one recorded (the file was copied
  or replaced behind our back),
* when the district acknowledges more than the hall ever wrote (the hall went backwards),
* when the district needs rows the hall has pruned (it lost data, or the hall was never joined).

Settings keys (hall ``settings`` table): district.url, district.token, sync.generation, sync.base,
sync.acked, sync.file_id, sync.last_success_at, sync.last_error, sync.last_error_at.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..config import HallConfig
from ..texts import both
from . import calendar
from .errors import QueueError
from .masking import mask_personal
from .store import Store, parse_iso, utc_iso

#: Acknowledged rows are kept this long (a restored hall resends what it still has).
KEEP_DAYS = 7
#: How far back a missed roll-over writes day summaries (a box switched off for a while).
SUMMARY_DAYS_BACK = 31

URL = "district.url"
TOKEN = "district.token"
GENERATION = "sync.generation"
BASE = "sync.base"
ACKED = "sync.acked"
FILE_ID = "sync.file_id"
LAST_SUCCESS = "sync.last_success_at"
LAST_ERROR = "sync.last_error"
LAST_ERROR_AT = "sync.last_error_at"
#: What a restore forgets, so the restored file starts a new generation (ops/backup.py writes these names).
GENERATION_KEYS = (GENERATION, BASE, ACKED, FILE_ID)


class JoinError(QueueError):
    """``tongban district join`` refused a value; ``details["field"]`` names it."""

    code = "bad_district"

    def __init__(self, key: str, field: str):
        super().__init__(key, {"field": field}, field=field)


def file_identity(path: str | Path) -> str:
    """``st_dev:st_ino`` of the database file: a copy or a replaced file has another one."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def _settings(conn: sqlite3.Connection, *keys: str) -> dict[str, str]:
    marks = ",".join("?" * len(keys))
    rows = conn.execute(f"SELECT key, value FROM settings WHERE key IN ({marks})", keys).fetchall()
    return {row[0]: row[1] for row in rows}


def _put(conn: sqlite3.Connection, values: dict[str, str]) -> None:
    conn.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", list(values.items()))


def _last_seq(conn: sqlite3.Connection) -> int:
    """The highest outbox seq ever given (AUTOINCREMENT remembers it when the rows are pruned)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    return int(row[0]) if row else 0


def last_written(store: Store) -> int | None:
    """The newest outbox row's seq (one index lookup: the worker's cheap poll for new changes)."""
    return store.conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]


def new_generation(conn: sqlite3.Connection) -> str:
    """Start a new generation inside the caller's transaction: every retained row is sent again."""
    first = conn.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
    base = first - 1 if first is not None else _last_seq(conn)
    generation = secrets.token_hex(8)
    _put(conn, {GENERATION: generation, BASE: str(base), ACKED: "0"})
    return generation


@dataclass(frozen=True)
class Position:
    generation: str
    base: int
    acked: int  # wire seq the district holds


def _position(conn: sqlite3.Connection) -> Position | None:
    got = _settings(conn, GENERATION, BASE, ACKED)
    if GENERATION not in got:
        return None
    return Position(got[GENERATION], int(got.get(BASE, "0")), int(got.get(ACKED, "0")))


def ensure_generation(store: Store, file_id: str | None) -> Position:
    """The current generation; a new one when there is none or the file is not the one we knew.
    Called by the sync worker when it starts (``file_id``: file_identity of the database)."""
    with store.immediate() as conn:
        position = _position(conn)
        known = _settings(conn, FILE_ID).get(FILE_ID)
        if position is None or (file_id is not None and known is not None and known != file_id):
            new_generation(conn)
        if file_id is not None and known != file_id:
            _put(conn, {FILE_ID: file_id})
        position = _position(conn)
    assert position is not None  # made just above
    return position


@dataclass(frozen=True)
class Batch:
    generation: str
    changes: list[dict[str, Any]]  # {"seq", "kind", "key", "body"}, wire seq ascending and contiguous

    @property
    def last(self) -> int | None:
        return self.changes[-1]["seq"] if self.changes else None


def pending(store: Store, limit: int, *, after: int | None = None) -> Batch:
    """Up to ``limit`` changes after the acknowledged one (or after wire seq ``after``).

    Reads without the write lock (the web's writers in the other process would wait on SQLite's
    busy handler, which sleeps in steps), and reads again if the generation changed meanwhile. When
    the district needs rows that are gone (pruned before it had them), or there is no generation
    yet, a new one starts and the batch begins with the oldest retained row."""
    conn = store.conn
    while True:
        position = _position(conn)
        first = conn.execute("SELECT MIN(seq) FROM outbox").fetchone()[0]
        acked = (position.acked if after is None else after) if position else 0
        if position is None or (first is not None and first - position.base > acked + 1):
            with store.immediate() as locked:
                if _position(locked) == position:
                    new_generation(locked)
            after = None
            continue
        rows = conn.execute(
            "SELECT seq, kind, key, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (position.base + acked, limit),
        ).fetchall()
        if _same_generation(conn, position):  # else a new generation began meanwhile (join, ack-ahead)
            break
    return Batch(
        position.generation,
        [
            {"seq": row["seq"] - position.base, "kind": row["kind"], "key": row["key"], "body": json.loads(row["body"])}
            for row in rows
        ],
    )


def _same_generation(conn: sqlite3.Connection, position: Position) -> bool:
    now = _position(conn)
    return now is not None and (now.generation, now.base) == (position.generation, position.base)


@dataclass(frozen=True)
class Ack:
    generation: str  # the generation to send next (a new one after an ack beyond our rows)
    acked: int  # wire seq the district holds in it
    new_generation: bool


def record_ack(store: Store, generation: str, acked: int, now: datetime, *, save: bool = True) -> Ack:
    """What the district answered for ``generation``: it holds wire seq 1..``acked``.

    The hall only ever advances from the district's answer (a push killed half-way is sent again,
    and the district skips what it has). An answer beyond the highest seq we ever wrote means this
    file went backwards (restored, copied): a new generation. ``save=False`` keeps the answer in the
    caller's memory only (the worker saves every few seconds, so each push is not a commit that
    re-renders every live screen); a new generation is always saved.
    """
    if not save:
        # The usual answer changes nothing in the file: decide it without the write lock.
        seen = _position(store.conn)
        if seen is not None and seen.generation == generation and acked <= _last_seq(store.conn) - seen.base:
            return Ack(generation, acked, False)
    with store.immediate() as conn:
        position = _position(conn)
        if position is None or position.generation != generation:
            # Answer for a generation that is over (a restore happened meanwhile): start from ours.
            current = position or Position(new_generation(conn), 0, 0)
            return Ack(current.generation, current.acked, False)
        if acked > _last_seq(conn) - position.base:
            fresh = new_generation(conn)
            _put(conn, {LAST_SUCCESS: utc_iso(now)})
            return Ack(fresh, 0, True)
        if save:
            _put(conn, {ACKED: str(acked), LAST_SUCCESS: utc_iso(now)})
            conn.execute("DELETE FROM settings WHERE key IN (?, ?)", (LAST_ERROR, LAST_ERROR_AT))
    return Ack(generation, acked, False)


def record_error(store: Store, message: str, now: datetime) -> None:
    """The last failure, for the manager console (masked: it may quote the district's answer)."""
    with store.immediate() as conn:
        _put(conn, {LAST_ERROR: mask_personal(message)[:300], LAST_ERROR_AT: utc_iso(now)})


def district(store: Store) -> tuple[str, str] | None:
    """The district's URL and this hall's token, or None when the hall has not joined one."""
    got = _settings(store.conn, URL, TOKEN)
    if got.get(URL) and got.get(TOKEN):
        return got[URL], got[TOKEN]
    return None


def check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JoinError("err_district_url", "url")
    return url.rstrip("/")


def mask_token(token: str) -> str:
    return "****" + token[-4:] if len(token) >= 12 else "****"


def join(store: Store, url: str, token: str) -> str:
    """Store the district's address and this hall's token (one transaction); the checked URL.

    A different district starts a new generation, so it receives every retained row."""
    url = check_url(url)
    token = (token or "").strip()
    if len(token) < 16 or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise JoinError("err_district_token", "token")
    with store.immediate() as conn:
        before = _settings(conn, URL).get(URL)
        _put(conn, {URL: url, TOKEN: token})
        conn.execute("DELETE FROM settings WHERE key IN (?, ?)", (LAST_ERROR, LAST_ERROR_AT))
        if before is not None and before != url:
            new_generation(conn)
    return url


@dataclass(frozen=True)
class SyncStatus:
    joined: bool
    url: str | None
    last_success_at: datetime | None
    success_age_s: float | None
    backlog: int
    last_error: str | None
    last_error_at: datetime | None

    @property
    def success_age(self) -> tuple[str, str] | None:
        return age_words(self.success_age_s) if self.success_age_s is not None else None

    @property
    def host(self) -> str | None:
        return urlsplit(self.url).netloc if self.url else None


def status(store: Store, now: datetime) -> SyncStatus:
    """What the manager console shows: last success (and its age), backlog, last error. Reads only."""
    got = _settings(store.conn, URL, TOKEN, LAST_SUCCESS, LAST_ERROR, LAST_ERROR_AT, GENERATION, BASE, ACKED)
    top = store.conn.execute("SELECT MAX(seq) FROM outbox").fetchone()[0]
    sent = int(got.get(BASE, "0")) + int(got.get(ACKED, "0"))
    last_success = parse_iso(got[LAST_SUCCESS]) if LAST_SUCCESS in got else None
    return SyncStatus(
        joined=bool(got.get(URL) and got.get(TOKEN)),
        url=got.get(URL),
        last_success_at=last_success,
        success_age_s=(now - last_success).total_seconds() if last_success else None,
        backlog=max(0, top - sent) if top is not None else 0,
        last_error=got.get(LAST_ERROR),
        last_error_at=parse_iso(got[LAST_ERROR_AT]) if LAST_ERROR_AT in got else None,
    )


def age_words(seconds: float) -> tuple[str, str]:
    """How long ago, in the console's words (zh, en): seconds, minutes, hours or days."""
    n = max(0, int(seconds))
    for limit, unit, key in ((60, 1, "seconds"), (3600, 60, "minutes"), (86400, 3600, "hours")):
        if n < limit:
            return both(f"sync_age_{key}", n=n // unit)
    return both("sync_age_days", n=n // 86400)


def prune(store: Store, now: datetime, *, keep_days: int = KEEP_DAYS) -> int:
    """Drop outbox rows older than ``keep_days`` that the district holds; rows go from the oldest
    on only, so what is left stays contiguous. A hall that has not joined a district drops old rows
    unsent (nobody will ask for them; joining later sends what is retained). Rows deleted."""
    cutoff = utc_iso(now - timedelta(days=keep_days))
    with store.immediate() as conn:
        joined = bool(_settings(conn, URL).get(URL))
        position = _position(conn)
        sent = position.base + position.acked if position else 0
        limit_sql = "AND seq <= ?" if joined else ""
        params: tuple[Any, ...] = (cutoff, sent) if joined else (cutoff,)
        upto = conn.execute(f"SELECT MAX(seq) FROM outbox WHERE at < ? {limit_sql}", params).fetchone()[0]
        if upto is None:
            return 0
        return conn.execute("DELETE FROM outbox WHERE seq <= ?", (upto,)).rowcount


def summarize_days(store: Store, config: HallConfig, now: datetime) -> list[str]:
    """Write the report totals of past service days that have tickets and no summary yet (at most
    SUMMARY_DAYS_BACK days back); each becomes a ``day_summary`` change. Idempotent: a day is
    written once (roll-over runs at start too). The days written."""
    from .reports import day_report  # reports imports the service; the service never imports this

    today = calendar.service_day(now, config.hall)
    first = (date.fromisoformat(today) - timedelta(days=SUMMARY_DAYS_BACK)).isoformat()
    days = [
        row[0]
        for row in store.all(
            "SELECT DISTINCT service_day FROM tickets WHERE service_day >= ? AND service_day < ?"
            " AND service_day NOT IN (SELECT day FROM day_summaries) ORDER BY service_day",
            (first, today),
        )
    ]
    written = []
    for day in days:
        totals = day_report(store, config, day).totals
        with store.immediate() as conn:
            made = conn.execute(
                "INSERT OR IGNORE INTO day_summaries (day, totals, made_at) VALUES (?, ?, ?)",
                (day, json.dumps(totals, sort_keys=True), utc_iso(now)),
            ).rowcount
        if made:
            written.append(day)
    return written
