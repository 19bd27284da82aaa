"""Online backups of the hall database, and restoring one (docs/architecture.md §Storage, docs/install.md).

A backup is taken with the sqlite3 backup API from a separate read connection, so in WAL mode the
web and the devices process keep writing while it runs. Each copy is written to ``*.partial``,
checked with ``PRAGMA integrity_check``, switched to a single-file journal mode, fsynced and only
then renamed into place: a power cut during a backup leaves at most a ``.partial`` file, never a
half-written file that looks like a backup. Pruning happens only after a new backup is verified.

Names sort by time: ``tongban-20261126-023000-nightly.db`` (the box's local time, then the kind:
``nightly``, ``manual``, ``pre-migration``, ``before-restore``).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .damage import clear_damaged

PREFIX = "tongban-"
KINDS = ("nightly", "manual", "pre-migration", "before-restore")
_NAME_RE = re.compile(r"^tongban-(\d{8})-(\d{6})(?:-(\d+))?-([a-z-]+)\.db$")
# Tables a Tongban database has from its first migration: a file without them is not a hall database.
REQUIRED_TABLES = ("tickets", "events", "windows", "accounts", "job_runs", "_sqlite_migrations")
BUSY_MS = 10_000


class BackupError(Exception):
    """A backup could not be taken or checked; the message says what to do."""


class RestoreError(Exception):
    """A restore was refused before anything changed (or the message says what did)."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    kind: str
    taken_at: datetime  # naive, the box's local time, from the name
    size: int
    seq: int = 0  # second and later backups within the same second

    @property
    def name(self) -> str:
        return self.path.name


def backup_name(kind: str, now: datetime, seq: int = 0) -> str:
    if kind not in KINDS:
        raise ValueError(f"backup kind {kind!r} (expected one of {', '.join(KINDS)})")
    extra = f"-{seq}" if seq else ""
    return f"{PREFIX}{now:%Y%m%d-%H%M%S}{extra}-{kind}.db"


def list_backups(folder: str | Path) -> list[BackupFile]:
    """Finished backups in ``folder``, newest first (``.partial`` files are never listed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        m = _NAME_RE.match(path.name)
        if not m or not path.is_file():
            continue
        try:
            taken = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
        except ValueError:
            continue
        found.append(BackupFile(path, m.group(4), taken, path.stat().st_size, int(m.group(3) or 0)))
    return sorted(found, key=lambda b: (b.taken_at, b.seq), reverse=True)


def latest_backup(folder: str | Path, kind: str | None = None) -> BackupFile | None:
    for backup in list_backups(folder):
        if kind is None or backup.kind == kind:
            return backup
    return None


def prune(folder: str | Path, kind: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of one kind; returns what was deleted."""
    if keep < 1:
        raise ValueError("keep must be 1 or more")
    old = [b.path for b in list_backups(folder) if b.kind == kind][keep:]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def database_bytes(database: str | Path) -> int:
    """The database's size on disk, with its WAL (what a backup may need at most)."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(f"{database}{suffix}").st_size
        except OSError:
            pass
    return total


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_filesystem(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def take_backup(
    database: str | Path,
    folder: str | Path,
    *,
    kind: str = "manual",
    keep: int | None = None,
    reserve_mb: int = 0,
    now: datetime | None = None,
) -> Path:
    """Copy the live database into ``folder`` and check the copy; returns the new file.

    ``reserve_mb``: when the backup folder shares the database's disk, refuse rather than leave less
    than this much free, so a backup never takes the last megabytes that issuing tickets needs.
    """
    database = Path(database)
    folder = Path(folder)
    if not database.is_file():
        raise BackupError(f"{database}: no such database file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(
            f"{folder}: cannot create the backup folder ({exc.strerror}); "
            f"check the disk is mounted and writable by the tongban user"
        ) from exc
    need = database_bytes(database) * 11 // 10 + 64 * 1024
    free = shutil.disk_usage(folder).free
    reserve = reserve_mb * 1024 * 1024 if _same_filesystem(folder, database.parent) else 0
    if free - need < reserve:
        raise BackupError(
            f"{folder}: not enough free space for a backup ({free // 2**20} MB free, the backup "
            f"needs about {need // 2**20 + 1} MB and {reserve_mb} MB are kept for the tickets); "
            f"free space or set operations.backup_dir to another disk"
        )
    now = now or datetime.now()
    seq = 0
    while True:
        final = folder / backup_name(kind, now, seq)
        if not final.exists() and not Path(f"{final}.partial").exists():
            break
        seq += 1
    partial = Path(f"{final}.partial")
    source = sqlite3.connect(database, timeout=BUSY_MS / 1000, isolation_level=None)
    try:
        source.execute("PRAGMA query_only=1")
        target = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(target)
            mode = target.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if mode.lower() != "delete":
                raise BackupError(f"{partial}: could not make the copy a single file (journal_mode {mode})")
            problems = [row[0] for row in target.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(
                    f"the copy failed integrity_check ({'; '.join(problems[:3])}); the database "
                    f"itself may be damaged: run `tongban doctor`"
                )
        finally:
            target.close()
        _fsync_path(partial)
        os.replace(partial, final)
        _fsync_path(folder, directory=True)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {database} to {folder} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    if keep is not None:
        prune(folder, kind, keep)
    return final


def check_backup_file(path: str | Path) -> list[str]:
    """Problems with a file as a Tongban backup; an empty list means it can be restored."""
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                return [f"{path}: not an SQLite database"]
        # immutable=1: read the file as it is, without creating -wal/-shm beside it (it may sit on a
        # read-only USB stick).
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                return [f"{path}: integrity_check failed: {p}" for p in problems[:5]]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            if missing:
                return [f"{path}: not a Tongban database (no table {', '.join(missing)})"]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"{path}: cannot be read as a database: {exc}"]
    return []


def processes_using(database: str | Path) -> list[tuple[int, str]]:
    """Other processes that have the database open, or run `tongban serve/devices/demo` on it.

    Open files are read from /proc (visible for the same user, or root); the command line check
    covers a web process that has no connection open at this instant.
    """
    target = Path(database).resolve()
    names = {str(target), f"{target}-wal", f"{target}-shm"}
    found = []
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        args = [a for a in args if a]
        using = False
        try:
            for fd in (entry / "fd").iterdir():
                try:
                    if os.readlink(fd) in names:
                        using = True
                        break
                except OSError:
                    continue
        except OSError:
            pass
        if not using and any("tongban" in a for a in args) and {"serve", "devices", "demo"} & set(args):
            db_arg = args[args.index("--db") + 1] if "--db" in args[:-1] else "var/tongban.db"
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = "/"
            using = (Path(cwd) / db_arg).resolve() == target
        if using:
            found.append((pid, " ".join(args)[:160]))
    return found


def _in_use_by_connection(database: Path) -> bool:
    """True if another connection holds the file (leaving WAL needs everyone else gone)."""
    conn = sqlite3.connect(database, timeout=0.2, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc) or "busy" in str(exc)
    except sqlite3.DatabaseError:
        return False  # damaged beyond reading: that is why we are restoring
    finally:
        conn.close()


@dataclass(frozen=True)
class Restored:
    source: Path
    database: Path
    saved_as: Path | None  # the database as it was before, kept in the backup folder


def restore(source: str | Path, database: str | Path, folder: str | Path, *, now: datetime | None = None) -> Restored:
    """Put a checked backup in place of the database; the old file is kept beside the backups.

    Refuses, changing nothing, when the file is not a good Tongban backup or the database is in use.
    """
    source = Path(source)
    database = Path(database)
    folder = Path(folder)
    problems = check_backup_file(source)
    if problems:
        raise RestoreError("not restored, nothing was changed: " + "; ".join(problems))
    saved: Path | None = None
    if database.exists():
        users = processes_using(database)
        if users or _in_use_by_connection(database):
            who = ", ".join(f"pid {pid} ({cmd})" for pid, cmd in users) or "another connection"
            raise RestoreError(
                f"not restored, nothing was changed: {database} is in use by {who}. Stop the "
                f"services first: systemctl stop tongban-web tongban-devices"
            )
        try:
            saved = take_backup(database, folder, kind="before-restore", now=now)
        except BackupError:
            # Damaged beyond the backup API: keep the raw files, so nothing is ever thrown away.
            folder.mkdir(parents=True, exist_ok=True)
            stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
            saved = folder / f"damaged-{stamp}-{database.name}"
            for suffix in ("", "-wal"):
                if Path(f"{database}{suffix}").exists():
                    shutil.copy2(f"{database}{suffix}", f"{saved}{suffix}")
    staging = database.with_name(database.name + ".restoring")
    staging.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True)
    try:
        dst = sqlite3.connect(staging, isolation_level=None)
        try:
            src.backup(dst)
            _forget_sync_generation(dst)
            dst.execute("PRAGMA journal_mode=WAL")
            if [r[0] for r in dst.execute("PRAGMA integrity_check")] != ["ok"]:
                raise RestoreError(f"not restored: the copy in {staging} failed integrity_check; nothing was changed")
        finally:
            dst.close()
    finally:
        src.close()
    _fsync_path(staging)
    # The old WAL belongs to the old file: replayed onto the restored one it would corrupt it.
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    os.replace(staging, database)
    _fsync_path(database.parent, directory=True)
    clear_damaged(database)
    return Restored(source, database, saved)


#: The district sync's generation keys (queue/outbox.GENERATION_KEYS; named here because the domain's
#: store imports this module, not the other way round).
SYNC_GENERATION_KEYS = ("sync.generation", "sync.base", "sync.acked", "sync.file_id")


def _forget_sync_generation(conn: sqlite3.Connection) -> None:
    """A restored file went back in time: its change numbers would collide with ones the district
    already holds. Without a generation, the sync worker starts a new one and resends every retained
    change (docs/architecture.md §District sync)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'settings'").fetchone():
        marks = ",".join("?" * len(SYNC_GENERATION_KEYS))
        conn.execute(f"DELETE FROM settings WHERE key IN ({marks})", SYNC_GENERATION_KEYS)


def restore_help(database: str | Path, backup_folder: str | Path) -> str:
    """What to do, in commands, with the newest backup that still passes its check."""
    good = next(
        (b for b in list_backups(backup_folder) if b.kind != "before-restore" and not check_backup_file(b.path)), None
    )
    lines = ["How to restore:", "  1. sudo systemctl stop tongban-web tongban-devices"]
    if good is not None:
        lines.append(
            f"  2. sudo -u tongban tongban restore {good.path} --db {database}"
            f"   (newest good backup, taken {good.taken_at:%Y-%m-%d %H:%M})"
        )
    else:
        lines.append(
            f"  2. sudo -u tongban tongban restore BACKUP_FILE --db {database}"
            f"   (no good backup found in {backup_folder}; look on the backup disk)"
        )
    lines += [
        "  3. sudo systemctl start tongban-web tongban-devices",
        "  Tickets issued after that backup are lost; the damaged file is kept in the backup folder.",
        "  See docs/install.md, 'Restoring a backup'.",
    ]
    return "\n".join(lines)
