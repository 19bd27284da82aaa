"""Keeping data: online backups (while others write), keeping N, the backup before a
migration, and restore with the check first."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections import namedtuple
from datetime import datetime, timedelta

import pytest

from tongban.ops import backup as backup_mod
from tongban.ops.backup import BackupError, RestoreError, check_backup_file, list_backups, prune, restore, take_backup
from tongban.ops.damage import damaged, mark_damaged
from tongban.queue.service import HallService
from tongban.queue.store import Store, StoreError, migrations

from .conftest import wait_for


def _tickets(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    finally:
        conn.close()


def test_backup_while_another_connection_writes(tmp_path, service, store, clock):
    for _ in range(5):
        service.take_ticket(line="A")
    stop = threading.Event()
    written = []

    def writer():
        own = Store(store.path, migrate=False)
        svc = HallService(own, service.config, clock)
        while not stop.is_set() and len(written) < 40:
            written.append(svc.take_ticket(line="A").ticket.number)
        own.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        path = take_backup(store.path, tmp_path / "backups", kind="manual")
    finally:
        stop.set()
        thread.join()
    assert path.name.startswith("tongban-") and path.name.endswith("-manual.db")
    assert check_backup_file(path) == []
    # A consistent snapshot: at least what was committed before, never more than the end state.
    assert 5 <= _tickets(path) <= 5 + len(written)
    # One self-contained file: no WAL beside it, journal mode DELETE in the header.
    assert not (tmp_path / "backups" / f"{path.name}-wal").exists()
    with open(path, "rb") as fh:
        assert fh.read(20)[18:20] == b"\x01\x01"
    assert [p.name for p in (tmp_path / "backups").iterdir()] == [path.name]


def test_keep_n_per_kind_and_partials_are_never_backups(tmp_path, store):
    folder = tmp_path / "b"
    start = datetime(2026, 11, 1, 2, 30)
    for day in range(6):
        take_backup(store.path, folder, kind="nightly", keep=3, now=start + timedelta(days=day))
    take_backup(store.path, folder, kind="manual", now=start)
    (folder / "tongban-20261201-023000-nightly.db.partial").write_bytes(b"half")
    nightly = [b for b in list_backups(folder) if b.kind == "nightly"]
    assert [b.taken_at.day for b in nightly] == [6, 5, 4]
    assert len(list_backups(folder)) == 4  # the manual one is not pruned with the nightly ones
    assert prune(folder, "nightly", 1) == [b.path for b in nightly[1:]]


def test_two_backups_in_the_same_second_get_two_names(tmp_path, store):
    now = datetime(2026, 11, 1, 9, 0)
    a = take_backup(store.path, tmp_path, kind="manual", now=now)
    b = take_backup(store.path, tmp_path, kind="manual", now=now)
    assert a != b and a.exists() and b.exists()


def test_backup_keeps_the_reserve_for_tickets(tmp_path, store, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(backup_mod.shutil, "disk_usage", lambda _p: usage(10 * 2**30, 0, 100 * 2**20 + 4096))
    with pytest.raises(BackupError, match="not enough free space.*100 MB are kept for the tickets"):
        take_backup(store.path, tmp_path / "b", reserve_mb=100)
    assert not list((tmp_path / "b").iterdir())
    # On another disk the reserve does not apply.
    monkeypatch.setattr(backup_mod, "_same_filesystem", lambda a, b: False)
    assert take_backup(store.path, tmp_path / "b", reserve_mb=100).exists()


def test_backup_folder_that_cannot_be_made(tmp_path, store):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BackupError, match="cannot create the backup folder"):
        take_backup(store.path, blocker / "sub")


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\x00" * 84, "cannot be read as a database"),
        (b"hello world, not a database at all" * 10, "not an SQLite database"),
    ],
)
def test_check_refuses_what_is_not_a_backup(tmp_path, content, problem):
    path = tmp_path / "x.db"
    path.write_bytes(content)
    assert problem in check_backup_file(path)[0]


def test_check_refuses_a_sqlite_file_of_something_else(tmp_path):
    other = sqlite3.connect(tmp_path / "other.db")
    other.execute("CREATE TABLE notes (x)")
    other.commit()
    other.close()
    assert "not a Tongban database" in check_backup_file(tmp_path / "other.db")[0]


def test_restore_puts_the_backup_back_and_keeps_the_old_file(tmp_path, service, store):
    for _ in range(3):
        service.take_ticket(line="A")
    good = take_backup(store.path, tmp_path / "b", kind="manual")
    for _ in range(4):
        service.take_ticket(line="A")
    store.close()
    mark_damaged(store.path, "test")
    result = restore(good, store.path, tmp_path / "b")
    assert _tickets(store.path) == 3
    assert result.saved_as is not None and _tickets(result.saved_as) == 7
    assert damaged(store.path) is None
    reopened = Store(store.path)
    reopened.quick_check()
    assert reopened.one("SELECT MAX(seq) FROM tickets")[0] == 3
    reopened.close()


def test_restore_drops_the_old_wal(tmp_path, service, store):
    service.take_ticket(line="A")
    good = take_backup(store.path, tmp_path / "b")
    service.take_ticket(line="A")
    store.close()
    # A WAL left by a crash belongs to the old file; replayed onto the restored one it would corrupt it.
    stale = sqlite3.connect(store.path, isolation_level=None)
    stale.execute("PRAGMA journal_mode=WAL")
    stale.execute("PRAGMA wal_autocheckpoint=0")
    stale.execute("INSERT INTO settings VALUES ('left-in-wal', 'x')")
    wal = open(f"{store.path}-wal", "rb").read()
    stale.close()
    open(f"{store.path}-wal", "wb").write(wal)
    restore(good, store.path, tmp_path / "b")
    s = Store(store.path)
    assert s.integrity_check() == ["ok"]
    assert s.one("SELECT value FROM settings WHERE key = 'left-in-wal'") is None
    s.close()


def test_restore_refuses_a_bad_file_and_changes_nothing(tmp_path, service, store):
    service.take_ticket(line="A")
    bad = tmp_path / "bad.db"
    good = take_backup(store.path, tmp_path / "b")
    data = bytearray(good.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # scribble over the schema page
    bad.write_bytes(bytes(data))
    store.close()
    before = open(store.path, "rb").read()
    with pytest.raises(RestoreError, match="nothing was changed"):
        restore(bad, store.path, tmp_path / "b")
    assert open(store.path, "rb").read() == before
    assert [b.kind for b in list_backups(tmp_path / "b")] == ["manual"]


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def test_restore_refuses_while_a_connection_is_open(tmp_path, service, store):
    service.take_ticket(line="A")
    good = take_backup(store.path, tmp_path / "b")
    with pytest.raises(RestoreError, match="in use.*systemctl stop tongban-web tongban-devices"):
        restore(good, store.path, tmp_path / "b")  # `store` is still open
    assert _tickets(store.path) == 1


def test_restore_refuses_while_tongban_serve_runs_on_the_file(tmp_path, service, store):
    """The web holds no connection between requests: its command line gives it away."""
    good = take_backup(store.path, tmp_path / "b")
    store.close()
    fake = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "tongban", "serve", "--db", store.path]
    )
    try:
        # Until it has exec'd, the child's command line is still this test's.
        assert wait_for(lambda: _cmdline(fake.pid)[-4:] == ["tongban", "serve", "--db", str(store.path)])
        with pytest.raises(RestoreError, match=f"pid {fake.pid}"):
            restore(good, store.path, tmp_path / "b")
    finally:
        fake.kill()
        fake.wait()


def _old_schema_db(path, stop_before: str) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    migrations.apply(db, stop_before=stop_before)
    db.execute("INSERT INTO settings VALUES ('marker', 'old')")
    db.conn.commit()
    db.close()


def test_a_backup_is_taken_before_migrating(tmp_path):
    last = migrations._migrations[-1].name
    db = tmp_path / "old.db"
    _old_schema_db(db, last)
    store = Store(db, backup_dir=tmp_path / "b")
    store.close()
    [pre] = list_backups(tmp_path / "b")
    assert pre.kind == "pre-migration" and check_backup_file(pre.path) == []
    conn = sqlite3.connect(pre.path)
    applied = {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
    assert last not in applied and conn.execute("SELECT value FROM settings").fetchone() == ("old",)
    conn.close()
    # Nothing pending: no more backups; a fresh database has nothing to back up.
    Store(db, backup_dir=tmp_path / "b").close()
    Store(tmp_path / "fresh.db", backup_dir=tmp_path / "b").close()
    assert len(list_backups(tmp_path / "b")) == 1


def test_no_migration_without_the_backup(tmp_path):
    last = migrations._migrations[-1].name
    db = tmp_path / "old.db"
    _old_schema_db(db, last)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not migrating without a backup first"):
        Store(db, backup_dir=blocker / "b")
    conn = sqlite3.connect(db)
    assert last not in {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
    conn.close()


def test_default_migration_backups_go_beside_the_database(tmp_path):
    db = tmp_path / "old.db"
    _old_schema_db(db, migrations._migrations[-1].name)
    Store(db).close()
    assert [b.kind for b in list_backups(tmp_path / "backups")] == ["pre-migration"]
    assert os.stat(tmp_path / "backups").st_uid == os.getuid()
