"""Several kiosks press at the same instant, and a kiosk dies mid-write (docs/architecture.md §Numbering, §Storage).

Each kiosk is a separate OS process with its own Store on one database file, released together
through a file barrier. The clock inside each process is a FakeClock at an open hour passed in on
the command line, so these tests do not depend on the real time of day.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import small_hall_doc, wait_for
from tongban.config import parse_hall_config
from tongban.queue.clock import FakeClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

ISSUER = Path(__file__).resolve().parent / "_issuer.py"
WHEN = "2026-11-26T10:00:00+08:00"  # a Thursday morning: the small hall is open
KIOSKS = 6
PER_KIOSK = 30

pytestmark = pytest.mark.slow


@pytest.fixture
def hall_json(tmp_path) -> Path:
    doc = small_hall_doc()
    for line in doc["lines"]:
        line.pop("daily_quota", None)
        line["number_width"] = 4
    path = tmp_path / "hall.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def wait_for_files(paths: list[Path], procs: list[subprocess.Popen], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() is not None and proc.returncode != 0:
                raise AssertionError(f"kiosk process died: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "kiosk processes did not reach the barrier"
        time.sleep(0.005)


def burst(db: Path, hall_json: Path, sync: Path, lines_of: list[str]) -> list[list[str]]:
    """Start one process per kiosk, release them together, and return what each printed."""
    sync.mkdir()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(ISSUER), "burst", str(db), str(hall_json), WHEN, lines, str(sync), f"kiosk-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i, lines in enumerate(lines_of)
    ]
    try:
        wait_for_files([sync / f"kiosk-{i}.open" for i in range(len(procs))], procs)
        (sync / "open").touch()  # everyone opens the database file at once...
        wait_for_files([sync / f"kiosk-{i}.ready" for i in range(len(procs))], procs)
        (sync / "go").touch()  # ...and everyone presses at once
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outputs.append(out.split())
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def numbers_in_db(db: Path) -> list[tuple[str, int, str]]:
    store = Store(db)
    try:
        assert store.integrity_check() == ["ok"]
        return [(r["prefix"], r["seq"], r["number"]) for r in store.all("SELECT prefix, seq, number FROM tickets")]
    finally:
        store.close()


def assert_gap_free(rows: list[tuple[str, int, str]], prefix: str, total: int) -> None:
    seqs = sorted(seq for p, seq, _ in rows if p == prefix)
    assert seqs == list(range(1, total + 1)), f"line {prefix}: {seqs}"
    assert sorted(n for p, _, n in rows if p == prefix) == [f"{prefix}{i:04d}" for i in range(1, total + 1)]


def test_kiosks_pressing_at_once_get_distinct_gap_free_numbers(tmp_path, hall_json):
    db = tmp_path / "hall.db"
    Store(db).close()  # the hall database exists; the kiosks open it
    # Kiosks mostly share line A; half of them also issue B tickets in between.
    lines_of = ["A" * PER_KIOSK if i % 2 == 0 else "AB" * (PER_KIOSK // 2) for i in range(KIOSKS)]
    outputs = burst(db, hall_json, tmp_path / "sync", lines_of)
    printed = [n for out in outputs for n in out]
    assert len(printed) == KIOSKS * PER_KIOSK
    dupes = [n for n, c in Counter(printed).items() if c > 1]
    assert not dupes, f"the same number was given to two citizens: {dupes}"
    for out, lines in zip(outputs, lines_of):
        assert [n[0] for n in out] == list(lines)  # each kiosk got the line it asked for
        for prefix in "AB":  # and its own numbers rise
            mine = [int(n[1:]) for n in out if n[0] == prefix]
            assert mine == sorted(mine)
    # They really pressed together: some kiosk's A numbers are interleaved with another's.
    spans = [(min(a), max(a)) for a in ([int(n[1:]) for n in out if n[0] == "A"] for out in outputs)]
    assert any(lo1 < lo2 < hi1 for lo1, hi1 in spans for lo2, _ in spans), f"kiosks ran one after another: {spans}"
    rows = numbers_in_db(db)
    total = Counter(line for lines in lines_of for line in lines)
    assert len(rows) == sum(total.values())
    assert sorted(n for _, _, n in rows) == sorted(printed)
    assert_gap_free(rows, "A", total["A"])
    assert_gap_free(rows, "B", total["B"])


def test_kiosks_opening_a_new_database_at_once(tmp_path, hall_json):
    # No database yet: every process creates the schema (migrations) at the same moment, then issues.
    db = tmp_path / "fresh.db"
    outputs = burst(db, hall_json, tmp_path / "sync", ["B" * 10 for _ in range(4)])
    printed = sorted(n for out in outputs for n in out)
    assert printed == [f"B{i:04d}" for i in range(1, 41)]
    rows = numbers_in_db(db)
    assert_gap_free(rows, "B", 40)
    store = Store(db)
    try:
        applied = [r[0] for r in store.all("SELECT name FROM _sqlite_migrations ORDER BY id")]
        assert len(applied) == len(set(applied)), f"a migration ran twice: {applied}"
    finally:
        store.close()


def test_kiosk_killed_mid_write_loses_nothing_it_reported(tmp_path, hall_json):
    db = tmp_path / "hall.db"
    Store(db).close()
    # The kiosk's numbers go to a file, not a pipe: lines that readline() had buffered from a pipe
    # never reached communicate(), and the test then saw fewer "reported" tickets than there were.
    out_path = tmp_path / "reported.txt"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ISSUER), "loop", str(db), str(hall_json), WHEN, "A"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )

    def complete_lines() -> list[str]:
        text = out_path.read_text()
        return text[: text.rfind("\n") + 1].split()  # a line cut by the kill was never reported

    try:
        # The power goes once it has issued a few, however slow the machine is today.
        wait_for(lambda: len(complete_lines()) >= 20 or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGKILL)  # the power cut: no cleanup, no rollback, no close
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    reported = complete_lines()
    assert len(reported) >= 20, f"the kiosk issued too few tickets to test anything: {reported}"
    print(f"killed after {len(reported)} reported tickets")

    store = Store(db)
    try:
        assert store.integrity_check() == ["ok"]
        store.quick_check()
        in_db = {r["number"] for r in store.all("SELECT number FROM tickets WHERE prefix = 'A'")}
        missing = [n for n in reported if n not in in_db]
        assert not missing, f"tickets the kiosk printed are not in the database: {missing}"
        # At most the ticket being written when the power went is in the database but was not printed.
        assert len(in_db) - len(reported) in (0, 1)
        count = len(in_db)
        assert_gap_free([("A", int(n[1:]), n) for n in in_db], "A", count)
        # Issuing resumes where it stopped, without a gap or a repeat.
        config = parse_hall_config(json.loads(hall_json.read_text(encoding="utf-8")), "test-hall")
        svc = HallService(store, config, FakeClock(datetime.fromisoformat(WHEN)))
        assert [svc.take_ticket(line="A").ticket.number for _ in range(2)] == [f"A{count + 1:04d}", f"A{count + 2:04d}"]
        assert store.one("SELECT COUNT(*) FROM events WHERE action = 'issue'")[0] == count + 2
    finally:
        store.close()
