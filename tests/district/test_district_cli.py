"""``tongban district …`` at the command line, on a real throwaway PostgreSQL.

The serve tests start the real command (gunicorn, several workers) in a subprocess on 127.0.0.1 and
wait for conditions (the port answering, a transaction holding row locks), never for a fixed time.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from tongban.cli import main
from tongban.devices.district_client import DistrictClient, DistrictUnavailable
from tongban.district import reports as district_reports

from ._core_batches import batch, busy_day


def run(*args: str, env: dict | None = None, input: str | None = None):
    return CliRunner().invoke(main, ["district", *args], env=env, input=input)


def one(url: str, sql: str, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()


# ---------- init, hall, account, report ----------


def test_init_applies_the_schema_once(pg_cluster):
    url = pg_cluster.new_database()
    first = run("init", "--db", url)
    assert first.exit_code == 0, first.output
    assert "applied 0001_core" in first.output
    again = run("init", "--db", url)
    assert again.exit_code == 0 and "nothing to apply" in again.output
    assert one(url, "SELECT count(*) FROM halls") == (0,)


@pytest.mark.parametrize(
    "command", [["init"], ["hall", "list"], ["hall", "add", "h1"], ["report", "--day", "2026-12-07"]]
)
def test_a_bad_db_url_names_the_field(command):
    result = run(*command, "--db", "mysql://nope")
    assert result.exit_code != 0
    assert "--db" in result.output and "PostgreSQL URL" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line_naming_the_field(tmp_path):
    result = run("hall", "list", "--db", f"postgresql://tongban@/none?host={tmp_path}")
    assert result.exit_code == 1
    assert result.output.startswith("Error: --db: cannot use the district database")


def test_the_db_comes_from_the_environment_too(district_url):
    result = run("hall", "add", "h1", env={"TONGBAN_DISTRICT_DB": district_url})
    assert result.exit_code == 0, result.output
    assert one(district_url, "SELECT id FROM halls") == ("h1",)


def test_hall_add_prints_the_token_once_and_stores_only_its_hash(district_url):
    added = run("hall", "add", "street-1", "--name", "Street hall 1", "--db", district_url)
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("h_") and len(token) > 40
    assert "tongban district join" in added.output
    with psycopg.connect(district_url) as conn:
        stored = conn.execute("SELECT * FROM halls").fetchall()
        assert token not in repr(stored)
        (token_hash,) = conn.execute("SELECT token_hash FROM halls WHERE id = 'street-1'").fetchone()
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()

    listed = run("hall", "list", "--db", district_url)
    assert listed.exit_code == 0
    assert "street-1" in listed.output and "active" in listed.output and "Street hall 1" in listed.output
    assert token not in listed.output and token_hash not in listed.output

    twice = run("hall", "add", "street-1", "--db", district_url)
    assert twice.exit_code == 1 and "street-1" in twice.output and "exists already" in twice.output
    bad = run("hall", "add", "no spaces", "--db", district_url)
    assert bad.exit_code == 1 and "not usable" in bad.output


def test_hall_revoke(district_url):
    run("hall", "add", "h1", "--db", district_url)
    revoked = run("hall", "revoke", "h1", "--db", district_url)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in run("hall", "list", "--db", district_url).output
    again = run("hall", "revoke", "h1", "--db", district_url)
    assert again.exit_code == 1 and "h1" in again.output


def test_account_add_from_a_file_and_from_the_prompt(district_url, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("a long secret\n")
    added = run("account", "add", "li", "--name", "Li Si", "--password-file", str(secret), "--db", district_url)
    assert added.exit_code == 0, added.output
    assert "li" in added.output and "a long secret" not in added.output
    (stored,) = one(district_url, "SELECT password_hash FROM accounts WHERE username = 'li'")
    assert stored.startswith("$argon2") and "a long secret" not in stored

    prompted = run("account", "add", "wang", "--name", "Wang", "--db", district_url, input="another one\nanother one\n")
    assert prompted.exit_code == 0, prompted.output
    assert one(district_url, "SELECT count(*) FROM accounts") == (2,)


@pytest.mark.parametrize("password, words", [("short", "at least 8"), ("demo-manager", "demo password")])
def test_account_add_refuses_weak_passwords(district_url, tmp_path, password, words):
    secret = tmp_path / "pw"
    secret.write_text(password)
    result = run("account", "add", "li", "--name", "Li", "--password-file", str(secret), "--db", district_url)
    assert result.exit_code == 1 and words in result.output
    assert one(district_url, "SELECT count(*) FROM accounts") == (0,)


def test_account_add_twice_is_refused(district_url, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("a long secret")
    run("account", "add", "li", "--name", "Li", "--password-file", str(secret), "--db", district_url)
    again = run("account", "add", "li", "--name", "Li", "--password-file", str(secret), "--db", district_url)
    assert again.exit_code == 1 and "exists already" in again.output


ROW = {
    "hall": "h1",
    "last_sync_at": datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
    "issued": 12,
    "served": 10,
    "no_show": 1,
    "waiting_now": 1,
    "mean_wait_min": 7.25,
    "p90_wait_min": 15.0,
    "ratings": 8,
    "satisfaction": 0.875,
    "open_cases": 2,
    "overdue_cases": 0,
}


@pytest.fixture
def stub_reports(monkeypatch):
    """The CLI prints what reports.hall_day_rows gives (its figures are tested in
    test_district_reports.py and test_three_halls.py); here, its columns and formats."""
    calls = []

    def hall_day_rows(conn, day, *, now):
        calls.append((day, now))
        return [ROW, {**ROW, "hall": "h2", "last_sync_at": None, "mean_wait_min": None, "issued": 0}]

    monkeypatch.setattr(district_reports, "hall_day_rows", hall_day_rows)
    return calls


def test_report_prints_one_row_per_hall(district_url, stub_reports):
    result = run("report", "--db", district_url, "--day", "2026-12-07")
    assert result.exit_code == 0, result.output
    header, first, second = result.output.splitlines()
    assert header.split() == list(ROW)
    assert first.split()[0] == "h1" and "7.2" in first and "0.88" in first
    assert second.split()[:2] == ["h2", "-"]
    assert stub_reports[0][0] == date(2026, 12, 7)
    assert stub_reports[0][1].tzinfo is not None


def test_report_as_json(district_url, stub_reports):
    result = run("report", "--db", district_url, "--day", "2026-12-07", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [list(r) for r in rows] == [list(ROW)] * 2
    assert rows[0]["last_sync_at"] == "2026-12-07T09:30:00+00:00" and rows[1]["mean_wait_min"] is None


def test_report_refuses_a_bad_day(district_url, stub_reports):
    result = run("report", "--db", district_url, "--day", "7/12/2026")
    assert result.exit_code == 2 and "--day" in result.output and "YYYY-MM-DD" in result.output


# ---------- serve ----------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = 60, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server ended (exit {proc.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Server:
    """`tongban district serve` in its own process group, so a kill reaches the master and every worker."""

    def __init__(self, url: str, log: Path, workers: int = 3):
        self.url, self.log, self.workers = url, log, workers
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "tongban", "district", "serve", "--db", self.url]
        cmd += ["--port", str(self.port), "--workers", str(self.workers), "--threads", "2"]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.answers, "the district to answer", proc=self.proc)
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        try:
            DistrictClient(self.base, "none", timeout=2).post_json("/api/v1/sync", {})
        except DistrictUnavailable as exc:
            return exc.status == 401  # up: it refused the token
        return False

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


@pytest.fixture
def server(district_url, tmp_path):
    made: list[Server] = []

    def start(workers: int = 3) -> Server:
        made.append(Server(district_url, tmp_path / "district.log", workers).start())
        return made[-1]

    yield start
    for s in made:
        s.stop()


def add_hall(url: str, hall: str) -> str:
    result = run("hall", "add", hall, "--db", url)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.mark.slow
def test_serve_answers_with_several_workers(district_url, server):
    tokens = {h: add_hall(district_url, h) for h in ("h1", "h2", "h3", "h4")}
    srv = server(workers=3)
    assert len(wait_for(lambda: len(srv.worker_pids()) == 3 and srv.worker_pids(), "three workers")) == 3
    answers: dict[str, dict] = {}

    def push(hall: str) -> None:
        answers[hall] = DistrictClient(srv.base, tokens[hall]).post_json("/api/v1/sync", batch(hall, busy_day(50)))

    threads = [threading.Thread(target=push, args=(h,)) for h in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert {h: a["acked"] for h, a in answers.items()} == dict.fromkeys(tokens, 400)
    assert one(district_url, "SELECT count(*) FROM events") == (800,)
    with pytest.raises(DistrictUnavailable) as refused:
        DistrictClient(srv.base, tokens["h1"]).post_json("/api/v1/sync", batch("h2", []))
    assert refused.value.status == 403

    # A worker killed outright is replaced, and the others answer meanwhile: no state was in it.
    before = srv.worker_pids()
    os.kill(before[0], signal.SIGKILL)
    for hall in tokens:
        assert DistrictClient(srv.base, tokens[hall]).post_json("/api/v1/sync", batch(hall, []))["acked"] == 400
    wait_for(lambda: len(srv.worker_pids()) == 3 and before[0] not in srv.worker_pids(), "a new worker")


def writing_transaction(url: str) -> bool:
    """Another connection holds uncommitted writes to the tickets or events table: a batch is mid-way."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND l.mode = 'RowExclusiveLock'"
            " AND l.relation IN ('tickets'::regclass, 'events'::regclass)"
        ).fetchone()
        return bool(row and row[0])


def held(url: str) -> tuple[int, int, int]:
    (acked,) = one(url, "SELECT coalesce(max(acked), 0) FROM hall_generations") or (0,)
    (tickets,) = one(url, "SELECT count(*) FROM tickets")
    (events,) = one(url, "SELECT count(*) FROM events")
    return acked, tickets, events


@pytest.mark.slow
@pytest.mark.parametrize("victims", ["everything", "workers"])
def test_sigkill_in_the_middle_of_a_batch_loses_nothing_and_doubles_nothing(district_url, server, victims):
    """``everything``: the master and its workers die and the district is started again; ``workers``:
    only the workers die, and gunicorn's master starts new ones."""
    token = add_hall(district_url, "h1")
    changes = busy_day(900)  # 7200 changes: 900 tickets, 3600 events
    srv = server(workers=2)
    stop = threading.Event()

    def hall_pushing() -> None:
        """A hall's sync loop: push 2000 at a time from what the district holds, until it is gone."""
        client = DistrictClient(srv.base, token, timeout=30)
        acked = 0
        while not stop.is_set():
            try:
                first = acked % len(changes)  # round again: resends are part of the drill
                answer = client.post_json("/api/v1/sync", batch("h1", changes[first : first + 2000], first=first + 1))
                acked = answer["acked"] if answer["acked"] < len(changes) else 0
            except DistrictUnavailable:
                return

    pusher = threading.Thread(target=hall_pushing)
    pusher.start()
    try:
        # Some batches in, then the next one half written.
        wait_for(lambda: held(district_url)[0] >= 2000, "a first batch held", timeout=120, proc=srv.proc)
        wait_for(lambda: writing_transaction(district_url), "a batch half written", timeout=120, proc=srv.proc)
        if victims == "everything":
            srv.kill()
        else:
            killed = srv.worker_pids()
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
    finally:
        stop.set()
        pusher.join(timeout=60)

    # PostgreSQL rolls back the dead client's transaction: what is held is exactly a prefix.
    wait_for(lambda: not writing_transaction(district_url), "the killed transaction to be rolled back")
    acked, tickets, events = held(district_url)
    print(f"killed with {acked} of {len(changes)} changes held")
    assert tickets == len({c["body"]["uid"] for c in changes[:acked] if c["kind"] == "ticket"})
    assert events == sum(c["kind"] == "event" for c in changes[:acked])

    # Back up: the hall resends from acked + 1, and then once more from the start.
    if victims == "everything":
        srv = server(workers=2)
    else:
        wait_for(lambda: len(set(srv.worker_pids()) - set(killed)) == 2, "new workers", proc=srv.proc)
        wait_for(srv.answers, "the new workers to answer", proc=srv.proc)
    client = DistrictClient(srv.base, token, timeout=30)
    answer = client.post_json("/api/v1/sync", batch("h1", []))
    assert answer["acked"] == acked
    while acked < len(changes):
        answer = client.post_json("/api/v1/sync", batch("h1", changes[acked : acked + 2000], first=acked + 1))
        assert answer["acked"] > acked
        acked = answer["acked"]
    for first in range(0, len(changes), 2000):
        assert (
            client.post_json("/api/v1/sync", batch("h1", changes[first : first + 2000], first=first + 1))["applied"]
            == 0
        )
    assert held(district_url) == (7200, 900, 3600)
    assert one(district_url, "SELECT count(*) FROM tickets WHERE state = 'done' AND first_call_at IS NOT NULL") == (
        900,
    )
