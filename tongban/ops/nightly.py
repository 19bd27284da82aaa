"""The nightly jobs of the devices process: ``integrity_check``, then an online backup.

Both record themselves in ``job_runs`` under the hall-local day their ``backup_time`` last came
round, so running them again (at start, or every hour) does nothing once they have run: a night
missed because the box was switched off is caught up when it comes back. A failed backup is not
recorded (it is retried the next hour) but raised as an alert for the manager console. A failed
integrity check marks the database damaged (``damage.py``) and raises ``DatabaseDamaged``: the
devices process stops with a message saying how to restore, and the web refuses to serve
(docs/architecture.md §Processes, §Storage).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..config import HallConfig
from ..queue.clock import Clock
from ..queue.store import Store, utc_iso
from ..texts import both
from .backup import BackupError, restore_help, take_backup
from .damage import mark_damaged

log = logging.getLogger("tongban.ops")

INTEGRITY_JOB = "integrity"
BACKUP_JOB = "backup"


class DatabaseDamaged(Exception):
    """integrity_check failed; the message includes how to restore."""


def due_day(now: datetime, config: HallConfig) -> str:
    """The hall-local date whose backup time is the most recent one at or before ``now``."""
    local = now.astimezone(config.hall.tz)
    at = config.operations.backup_time
    day = local.date() if local.time() >= at else local.date() - timedelta(days=1)
    return day.isoformat()


def _done(store: Store, job: str, day: str) -> dict | None:
    row = store.one("SELECT result FROM job_runs WHERE job = ? AND day = ?", (job, day))
    return json.loads(row["result"]) if row else None


def _record(store: Store, job: str, day: str, now: datetime, result: dict) -> None:
    with store.immediate() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO job_runs (job, day, ran_at, result) VALUES (?, ?, ?, ?)",
            (job, day, utc_iso(now), json.dumps(result, ensure_ascii=False)),
        )


def _alert_once(store: Store, kind: str, zh: str, en: str, now: datetime) -> None:
    """One open alert per kind: the console shows it until a manager acknowledges it."""
    with store.immediate() as conn:
        if conn.execute(
            "SELECT 1 FROM alerts WHERE device = 'backup' AND kind = ? AND acked_at IS NULL", (kind,)
        ).fetchone():
            return
        conn.execute(
            "INSERT INTO alerts (device, kind, message_zh, message_en, at) VALUES ('backup', ?, ?, ?, ?)",
            (kind, zh, en, utc_iso(now)),
        )


@dataclass
class NightlyJobs:
    config: HallConfig
    database: str
    clock: Clock

    @property
    def backup_folder(self) -> Path:
        return self.config.operations.backup_path(self.database)

    def integrity(self, store: Store, day: str, now: datetime, *, force: bool = False) -> dict:
        done = _done(store, INTEGRITY_JOB, day)
        if done is not None and done.get("ok") and not force:
            return done
        started = datetime.now()
        try:
            problems = store.integrity_check()
        except sqlite3.DatabaseError as exc:
            problems = [f"integrity_check could not run: {exc}"]
        ok = problems == ["ok"]
        result: dict[str, Any] = {"ok": ok, "seconds": round((datetime.now() - started).total_seconds(), 2)}
        if not ok:
            result["problems"] = problems[:20]
            message = (
                f"{self.database}: PRAGMA integrity_check failed on {day}:\n  "
                + "\n  ".join(problems[:10])
                + "\n"
                + restore_help(self.database, self.backup_folder)
            )
            mark_damaged(self.database, message)
            try:
                _record(store, INTEGRITY_JOB, day, now, result)
            except sqlite3.DatabaseError:
                pass  # the marker file says it; the database may not take the row
            raise DatabaseDamaged(message)
        _record(store, INTEGRITY_JOB, day, now, result)
        return result

    def backup(self, store: Store, day: str, now: datetime) -> dict | None:
        done = _done(store, BACKUP_JOB, day)
        if done is not None:
            return done
        ops = self.config.operations
        try:
            path = take_backup(
                self.database,
                self.backup_folder,
                kind="nightly",
                keep=ops.keep,
                reserve_mb=ops.disk_warn_mb // 2,
                now=now.astimezone().replace(tzinfo=None),
            )
        except BackupError as exc:
            log.error("nightly backup failed (retried every hour): %s", exc)
            _alert_once(
                store,
                "backup_failed",
                *both("ops_backup_failed", error=exc),
                now,
            )
            return None
        result = {"file": str(path), "bytes": path.stat().st_size}
        _record(store, BACKUP_JOB, day, now, result)
        log.info("nightly backup: %s (%d bytes)", path, result["bytes"])
        return result

    def run(self, *, force: bool = False) -> dict:
        """Integrity check, then backup, for the current due day; idempotent unless ``force``."""
        now = self.clock.now()
        day = due_day(now, self.config)
        store = Store(self.database, migrate=False)
        try:
            integrity = self.integrity(store, day, now, force=force)
            backup = self.backup(store, day, now)
        finally:
            store.close()
        return {"day": day, "integrity": integrity, "backup": backup}
