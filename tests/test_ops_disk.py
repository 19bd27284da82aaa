"""Disk nearly full: issuing tickets keeps working (no log file or report stands in its way),
the manager console gets a warning (tongban.web.context.disk_warnings), backups keep out of the last
megabytes, and even a completely full disk loses nothing already issued.

The real-disk tests mount small tmpfs file systems, so they need root (they are skipped otherwise).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest

from tongban.ops import disk
from tongban.ops.backup import BackupError, take_backup
from tongban.ops.disk import disk_status
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.app import create_app
from tongban.web.context import disk_warnings

usage = namedtuple("usage", "total used free")


def test_warning_below_the_threshold_with_words_for_the_manager(tmp_path, monkeypatch):
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _p: usage(8 * 2**30, 0, 300 * 2**20))
    [status] = disk_status(tmp_path / "t.db", tmp_path / "backups", 500)
    assert not status.ok and status.free_mb == 300 and status.warn_mb == 500
    assert "磁盘空间不足" in status.message_zh and "nearly full" in status.message_en
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _p: usage(8 * 2**30, 0, 600 * 2**20))
    assert disk_status(tmp_path / "t.db", tmp_path / "backups", 500)[0].ok


def test_the_manager_console_function(tmp_path, hall_config, clock, monkeypatch):
    app = create_app({"HALL": hall_config, "DATABASE": str(tmp_path / "t.db"), "CLOCK": clock, "TESTING": True})
    with app.test_request_context("/manage/"):
        monkeypatch.setattr(disk.shutil, "disk_usage", lambda _p: usage(8 * 2**30, 0, 10 * 2**30))
        assert disk_warnings() == []
        monkeypatch.setattr(disk.shutil, "disk_usage", lambda _p: usage(8 * 2**30, 0, 100 * 2**20))
        [warning] = disk_warnings()
        assert warning["what"] == "database" and warning["free_mb"] == 100 and warning["message_zh"]


def test_a_backup_disk_elsewhere_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setattr(disk, "_existing", lambda p: Path("/"))  # both resolve to the root fs ...
    assert len(disk_status(tmp_path / "t.db", "/media/usb", 1)) == 1  # ... so one finding
    monkeypatch.undo()
    found = disk_status(tmp_path / "t.db", "/proc/backups", 1)  # /proc is another file system
    assert [s.what for s in found] == ["database", "backups"]


# ---------- a real, nearly full disk ----------


@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def mount(name: str, size: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _fill(folder: Path, leave_bytes: int) -> Path:
    """Fill the file system until about ``leave_bytes`` are free."""
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        while True:
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            if free <= leave_bytes:
                break
            try:
                fh.write(b"\0" * min(1 << 20, max(4096, free - leave_bytes)))
                fh.flush()
            except OSError:
                break
    return filler


def test_tickets_keep_issuing_on_a_nearly_full_disk_while_log_files_cannot_be_written(
    tmpfs, hall_config, clock, capsys
):
    data = tmpfs("data", "24m")
    logs = tmpfs("logs", "256k")
    store = Store(data / "tongban.db")
    service = HallService(store, hall_config, clock)
    service.sync_with_config()
    numbers = [service.take_ticket(line="A").ticket.number for _ in range(5)]
    _fill(data, 12 * 2**20)  # below any sensible warning, far from the last byte
    _fill(logs, 0)  # the log folder is completely full
    handler = logging.FileHandler(logs / "tongban.log")
    logging.getLogger().addHandler(handler)
    try:
        warnings = [s for s in disk_status(store.path, data / "backups", 500) if not s.ok]
        assert warnings and warnings[0].free_mb < 500
        for _ in range(40):
            numbers.append(service.take_ticket(line="A").ticket.number)
            logging.getLogger("tongban.test").warning("issued %s", numbers[-1])  # fails to write, harmlessly
    finally:
        logging.getLogger().removeHandler(handler)
        try:
            handler.close()
        except OSError:
            pass  # its last flush cannot be written either
    assert numbers == [f"A{i:03d}" for i in range(1, 46)]
    # A nightly backup on the same disk refuses rather than eat the space tickets need.
    with pytest.raises(BackupError, match="kept for the tickets"):
        take_backup(store.path, data / "backups", reserve_mb=250)
    assert service.take_ticket(line="A").ticket.number == "A046"
    assert store.integrity_check() == ["ok"]
    store.close()


def test_a_completely_full_disk_loses_nothing_already_issued(tmpfs, hall_config, clock):
    data = tmpfs("data", "16m")
    store = Store(data / "tongban.db")
    service = HallService(store, hall_config, clock)
    service.sync_with_config()
    issued = [service.take_ticket(line="A").ticket.number for _ in range(10)]
    filler = _fill(data, 0)
    refused = 0
    for _ in range(35):  # line A issues 50 a day
        try:
            issued.append(service.take_ticket(line="A").ticket.number)
        except sqlite3.OperationalError as exc:
            assert "full" in str(exc)
            refused += 1
            break
    assert refused == 1, "the disk never filled up"
    filler.unlink()  # the IT person frees space
    issued.append(service.take_ticket(line="A").ticket.number)
    assert issued == [f"A{i:03d}" for i in range(1, len(issued) + 1)]
    assert store.integrity_check() == ["ok"]
    rows = store.all("SELECT number FROM tickets ORDER BY id")
    assert [r["number"] for r in rows] == issued
    store.close()
