"""Keeping data: the nightly integrity check and backup (recorded in job_runs, caught up
after a night the box was off), and what a failed check does: the devices process stops with a
message saying how to restore, and the web refuses to serve from the damaged file."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path

import pytest

from tongban.devices.process import EXIT_DAMAGED, DevicesProcess
from tongban.ops import nightly as nightly_mod
from tongban.ops.backup import BackupError, list_backups
from tongban.ops.damage import damaged, mark_damaged
from tongban.ops.nightly import DatabaseDamaged, NightlyJobs, due_day
from tongban.queue.store import Store, StoreError
from tongban.web.app import create_app

from .conftest import SHANGHAI


def damage_an_index(path: str | Path) -> None:
    """Flip one byte inside an index entry: integrity_check finds it, quick_check does not."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'tickets_waiting'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(Path(path).read_bytes())
    page = data[(root - 1) * size : root * size]
    at = page.rfind(b"waiting")
    assert at > 0, "no index entry to damage"
    data[(root - 1) * size + at + 6] = ord("h")
    Path(path).write_bytes(bytes(data))


@pytest.fixture
def jobs(store, service, hall_config, clock, tmp_path):
    return NightlyJobs(hall_config, store.path, clock)


def _runs(path) -> dict:
    s = Store(path, migrate=False)
    try:
        return {
            (r["job"], r["day"]): json.loads(r["result"])
            for r in s.all("SELECT * FROM job_runs")
            if r["job"] in ("integrity", "backup")
        }
    finally:
        s.close()


def test_due_day_is_the_last_backup_time_in_the_hall_zone(hall_config):
    at_0230 = hall_config  # default backup_time 02:30
    assert due_day(datetime(2026, 11, 26, 2, 29, tzinfo=SHANGHAI), at_0230) == "2026-11-25"
    assert due_day(datetime(2026, 11, 26, 2, 30, tzinfo=SHANGHAI), at_0230) == "2026-11-26"
    late = replace(hall_config, operations=replace(hall_config.operations, backup_time=time(23, 0)))
    assert due_day(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI), late) == "2026-11-25"


def test_nightly_checks_then_backs_up_once_per_night(jobs, service, clock, store):
    service.take_ticket(line="A")
    first = jobs.run()
    assert first["integrity"]["ok"] is True
    assert Path(first["backup"]["file"]).exists()
    runs = _runs(store.path)
    assert set(runs) == {("integrity", first["day"]), ("backup", first["day"])}
    # Again the same night (the hourly catch-up): nothing new.
    clock.advance(hours=1)
    assert jobs.run()["backup"] == first["backup"]
    assert len(list_backups(jobs.backup_folder)) == 1
    # The next night runs again.
    clock.advance(days=1)
    assert jobs.run()["day"] != first["day"]
    assert len(list_backups(jobs.backup_folder)) == 2


def test_a_night_the_box_was_off_is_caught_up(jobs, clock, store):
    # 09:00, the box was off at 02:30: the first run after start does today's check and backup.
    result = jobs.run()
    assert result["day"] == "2026-11-26" and result["backup"]


def test_keeps_n_nightly_backups(store, service, hall_config, clock):
    cfg = replace(hall_config, operations=replace(hall_config.operations, keep=2))
    jobs = NightlyJobs(cfg, store.path, clock)
    for _ in range(4):
        jobs.run()
        clock.advance(days=1)
    assert len(list_backups(jobs.backup_folder)) == 2


def test_a_failed_backup_alerts_once_and_is_retried(jobs, store, clock, monkeypatch):
    def fail(*_a, **_k):
        raise BackupError("/media/usb: cannot create the backup folder (No such device)")

    monkeypatch.setattr(nightly_mod, "take_backup", fail)
    assert jobs.run()["backup"] is None
    clock.advance(hours=1)
    jobs.run()
    alerts = store.all("SELECT * FROM alerts WHERE kind = 'backup_failed'")
    assert len(alerts) == 1 and "No such device" in alerts[0]["message_en"] and alerts[0]["message_zh"]
    assert not any(job == "backup" for job, _ in _runs(store.path))
    monkeypatch.undo()
    clock.advance(hours=1)
    assert jobs.run()["backup"]["file"]


def test_failed_integrity_check_marks_the_file_and_says_how_to_restore(jobs, service, store, clock):
    for _ in range(3):
        service.take_ticket(line="A")
    jobs.run()  # a good backup first
    clock.advance(days=1)
    store.close()
    damage_an_index(store.path)
    s = Store(store.path, migrate=False)
    s.quick_check()  # the cheap start-up check does not see it ...
    s.close()
    with pytest.raises(DatabaseDamaged) as exc:
        jobs.run()  # ... the nightly one does
    message = str(exc.value)
    assert "missing from index" in message or "wrong # of entries" in message
    newest = list_backups(jobs.backup_folder)[0]
    assert "systemctl stop tongban-web tongban-devices" in message
    assert f"tongban restore {newest.path}" in message
    assert damaged(store.path) == message.strip()
    # No backup of the damaged file was taken, so pruning never pushes out the good ones.
    assert len(list_backups(jobs.backup_folder)) == 1


def test_the_web_refuses_to_start_on_a_marked_file(tmp_path, hall_config, clock, store):
    mark_damaged(store.path, "integrity_check failed")
    with pytest.raises(StoreError, match="marked damaged"):
        create_app({"HALL": hall_config, "DATABASE": store.path, "CLOCK": clock, "TESTING": True})


def test_a_running_web_answers_503_once_the_file_is_marked(tmp_path, hall_config, clock, store, monkeypatch):
    app = create_app({"HALL": hall_config, "DATABASE": store.path, "CLOCK": clock, "TESTING": True})
    http = app.test_client()
    assert http.get("/healthz").status_code == 200
    mark_damaged(store.path, "integrity_check failed")
    from tongban.web import app as app_mod

    monkeypatch.setattr(app_mod, "monotonic", lambda: 10**9)  # past the one-second re-check
    for path in ("/healthz", "/api/v1/lines", "/login"):
        r = http.get(path)
        assert r.status_code == 503 and r.get_json()["error"] == "database_damaged"
    assert http.post("/api/v1/tickets", json={"line": "A"}).status_code == 503


def test_the_devices_process_refuses_a_marked_file(store, hall_config, clock):
    mark_damaged(store.path, "integrity_check failed")
    with pytest.raises(SystemExit) as exc:
        DevicesProcess(hall_config, store.path, clock).run()
    assert exc.value.code == EXIT_DAMAGED


def test_the_devices_process_refuses_a_file_that_fails_quick_check(tmp_path, hall_config, clock):
    db = tmp_path / "broken.db"
    s = Store(db)
    s.close()
    data = bytearray(db.read_bytes())
    data[4096 + 8 : 4096 + 64] = b"\x00" * 56  # the first table's page
    db.write_bytes(bytes(data))
    with pytest.raises(SystemExit) as exc:
        DevicesProcess(hall_config, str(db), clock).run()
    assert exc.value.code == EXIT_DAMAGED


def test_the_devices_process_stops_when_the_nightly_check_fails(store, service, hall_config, clock, monkeypatch):
    from tongban.devices import process as devices_mod

    service.take_ticket(line="A")
    service.take_ticket(line="A")
    store.close()
    damage_an_index(store.path)
    monkeypatch.setattr(devices_mod, "NIGHTLY_CATCH_UP_DELAY_S", 0)
    process = DevicesProcess(hall_config, store.path, clock)
    guard = threading.Timer(20, process.scheduler.request_stop)
    guard.start()
    try:
        with pytest.raises(SystemExit) as exc:
            process.run()
    finally:
        guard.cancel()
    assert exc.value.code == EXIT_DAMAGED
    assert damaged(store.path)
