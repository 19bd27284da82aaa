"""Three halls and one district, each part as it runs for real: three hall databases, each with its
own `tongban devices` process (the sync worker inside), and the district app on a throwaway
PostgreSQL. Tickets, calls, ratings and a cross-site case flow through; the district's day rows equal
each hall's own day report; a devices process killed in the middle of a push, a district away, and a
hall restored from a backup lose nothing and double nothing (docs/district.md)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from tongban.config import parse_hall_config
from tongban.district import reports as district_reports
from tongban.ops import backup
from tongban.queue import outbox, ratings, reports
from tongban.queue.cases import CaseService
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .._toml import dumps
from ..conftest import small_hall_doc
from ..test_cases_pages import ADDRESS, ID_1, PHONE_1
from ._district import add_hall, serving

pytestmark = pytest.mark.slow

TONGBAN = [sys.executable, "-m", "tongban"]


def wait_until(condition: Callable[[], object], timeout: float = 90.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def hall_doc(hall_id: str) -> dict:
    """The small test hall, open around the clock every day with room for a busy test."""
    doc = small_hall_doc()
    doc["hall"]["id"] = hall_id
    doc["hall"]["name_zh"] = f"{hall_id}大厅"
    doc["hall"]["hours"] = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    for line in doc["lines"]:
        line.pop("last_issue", None)
        line["daily_quota"] = 5000
    return doc


class Hall:
    """One hall box: its database, its hall file and its devices process (started on demand)."""

    def __init__(self, folder: Path, hall_id: str, district_base: str, token: str):
        folder.mkdir(parents=True, exist_ok=True)
        self.id = hall_id
        self.folder = folder
        doc = hall_doc(hall_id)
        self.config = parse_hall_config(doc, hall_id)
        self.config_path = folder / "hall.toml"
        self.config_path.write_text(dumps(doc), encoding="utf-8")
        self.db = str(folder / "hall.db")
        self.clock = SystemClock()
        with self.store() as store:
            HallService(store, self.config, self.clock).sync_with_config()
            outbox.join(store, district_base, token)
        self.process: subprocess.Popen | None = None

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        store = Store(self.db)
        try:
            yield store
        finally:
            store.close()

    def start_devices(self) -> None:
        self.log = open(self.folder / "devices.log", "ab")  # closed in stop_devices
        self.process = subprocess.Popen(
            [*TONGBAN, "devices", "--config", str(self.config_path), "--db", self.db],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_devices(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)
        self.process = None
        self.log.close()

    def busy_day(self, tickets: int, *, seed: int) -> None:
        """Tickets through every outcome the report counts: served and rated, no-show, waiting."""
        with self.store() as store:
            service = HallService(store, self.config, self.clock)
            for window in (1, 2):
                if store.one("SELECT state FROM windows WHERE number = ?", (window,))[0] != "open":
                    service.window_action(window, "open", clerk=f"clerk{window}")
            for i in range(tickets):
                service.take_ticket(matter=("M1", "M2", "M3")[(i + seed) % 3])
            for i in range(tickets - 3):
                window = 1 + i % 2
                called = service.call_next(window, clerk=f"clerk{window}")
                if called is None:
                    break
                if (i + seed) % 7 == 0:
                    service.act(called.id, "recall", window=window, actor=f"clerk{window}")
                    service.act(called.id, "recall", window=window, actor=f"clerk{window}")
                    service.act(called.id, "no_show", window=window, actor=f"clerk{window}")
                    continue
                service.act(called.id, "start", window=window, actor=f"clerk{window}")
                service.act(called.id, "finish", window=window, actor=f"clerk{window}")
                if (i + seed) % 3:
                    level = 1 + (i * 7 + seed) % 5
                    ratings.rate(store, called.id, level, ["slow"] if level <= 2 else None, now=self.clock.now())

    def backlog(self) -> int:
        with self.store() as store:
            return outbox.status(store, self.clock.now()).backlog

    def day_totals(self) -> dict:
        with self.store() as store:
            return reports.day_report(store, self.config, self.today()).totals

    def today(self) -> str:
        return self.clock.now().astimezone(self.config.hall.tz).date().isoformat()


def district_counts(url: str, hall: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        tickets = conn.execute("SELECT count(*) FROM tickets WHERE hall = %s", (hall,)).fetchone()
        events = conn.execute("SELECT count(*) FROM events WHERE hall = %s", (hall,)).fetchone()
    assert tickets is not None and events is not None
    return tickets[0], events[0]


def hall_counts(hall: Hall) -> tuple[int, int]:
    with hall.store() as store:
        tickets = store.one("SELECT count(*) FROM tickets")
        events = store.one("SELECT count(*) FROM events")
    assert tickets is not None and events is not None
    return tickets[0], events[0]


def synced(hall: Hall, url: str) -> bool:
    return hall.backlog() == 0 and district_counts(url, hall.id) == hall_counts(hall)


@pytest.fixture
def district(district_url):
    """The district app on 127.0.0.1 and three halls joined to it (devices processes not started)."""
    with serving(district_url) as base:
        yield district_url, base


def test_three_halls_flow_into_one_district_and_its_report_is_their_own(district, tmp_path):
    url, base = district
    halls = [Hall(tmp_path / h, h, base, add_hall(url, h)) for h in ("street-1", "street-2", "bureau-1")]
    try:
        for n, hall in enumerate(halls):
            hall.start_devices()
            hall.busy_day(12 + 4 * n, seed=n)

        # A cross-site case: received at a street hall, handed to the bureau's office.
        street, bureau = halls[0], halls[2]
        with street.store() as store:
            cases = CaseService(store, street.config, street.clock)
            served = store.one("SELECT id FROM tickets WHERE state = 'done' AND matter = 'M2' LIMIT 1")
            assert served is not None
            case = cases.open(
                ticket_id=served[0],
                matter="M2",
                window=1,
                actor="clerk1",
                form={"applicant_name": "张三", "id_number": ID_1, "phone": PHONE_1, "address": ADDRESS},
            )
            cases.hand_off(case.id, to_hall="bureau-1", to_window="3号窗口", actor="clerk1", window=1)

        def received() -> int | None:
            with bureau.store() as store:
                row = store.one("SELECT id FROM cases WHERE origin_hall = 'street-1'")
            return row[0] if row else None

        wait_until(received, what="the bureau to receive the handed-off case")
        for hall in halls:
            wait_until(lambda hall=hall: synced(hall, url), what=f"{hall.id} to drain its outbox")

        with psycopg.connect(url) as conn:
            rows = {
                r["hall"]: r
                for r in district_reports.hall_day_rows(
                    conn, date.fromisoformat(halls[0].today()), now=halls[0].clock.now()
                )
            }
            held = conn.execute("SELECT body::text FROM cases").fetchall()
        for hall in halls:
            own, row = hall.day_totals(), rows[hall.id]
            assert (row["issued"], row["served"], row["no_show"]) == (own["issued"], own["served"], own["no_shows"])
            assert row["waiting_now"] == own["waiting"]
            assert row["ratings"] == own["rated"] and own["rated"] > 0
            # The same waits to the microsecond: PostgreSQL's arithmetic and Python's floats differ in
            # the last bits only, so "equal" is to a billionth of a minute.
            assert row["mean_wait_min"] == pytest.approx(own["wait_mean"], rel=0, abs=1e-9)
            assert row["p90_wait_min"] == pytest.approx(own["wait_p90"], rel=0, abs=1e-9)
            assert row["satisfaction"] == pytest.approx(own["satisfaction"], rel=0, abs=1e-12)
        # Every number of every hall, summed, is the district's.
        assert sum(r["issued"] for r in rows.values()) == sum(h.day_totals()["issued"] for h in halls)
        # The case is at both halls' rows, masked: the district never holds the applicant in full.
        assert len(held) == 2
        assert not any(s in body for (body,) in held for s in ("张三", ID_1, PHONE_1, ADDRESS))

        # The street hall follows the case at the bureau.
        def followed() -> str | None:
            with street.store() as store:
                row = store.one("SELECT remote_state FROM cases WHERE id = ?", (case.id,))
            return row[0] if row and row[0] not in (None, "in_transit") else None

        assert wait_until(followed, what="the street hall to see the case's state at the bureau") == "received"
    finally:
        for hall in halls:
            hall.stop_devices()


class HoldSecondBatch:
    """WSGI middleware: the second sync batch waits, already read, until the test lets it through;
    so a devices process can be killed while its push is in flight, deterministically."""

    def __init__(self, app):
        self.app = app
        self.batches = 0
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/api/v1/sync" and environ["REQUEST_METHOD"] == "POST":
            self.batches += 1
            if self.batches == 2:
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                self.arrived.set()
                self.release.wait(60)
                import io

                environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def test_a_devices_process_killed_mid_push_loses_and_doubles_nothing(district_url, tmp_path):
    from werkzeug.serving import make_server

    from tongban.district.app import create_district_app

    app = create_district_app(district_url, pool_size=4)
    held = HoldSecondBatch(app)
    server = make_server("127.0.0.1", 0, held, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    hall = Hall(tmp_path / "street-1", "street-1", base, add_hall(district_url, "street-1"))
    try:
        hall.busy_day(80, seed=1)  # over one batch of changes (about ten a ticket), waiting before the process starts
        hall.start_devices()
        assert held.arrived.wait(90), "the second batch never came"
        hall.stop_devices(signal.SIGKILL)  # its push is in flight: the district has the batch, the hall no answer
        held.release.set()
        before = district_counts(district_url, "street-1")
        assert before[0] + before[1] < sum(hall_counts(hall))  # killed in the middle, not after
        hall.start_devices()
        wait_until(lambda: synced(hall, district_url), what="the backlog to drain after the restart")
        with psycopg.connect(district_url) as conn:
            acked = conn.execute("SELECT acked FROM hall_generations WHERE hall = 'street-1'").fetchall()
            outbox_top = Store(hall.db).one("SELECT max(seq) FROM outbox")
        assert len(acked) == 1 and outbox_top is not None and acked[0][0] <= outbox_top[0]
    finally:
        held.release.set()
        hall.stop_devices()
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["district_pool"].close()


def test_a_district_away_is_caught_up_after_it_returns(district_url, tmp_path):
    """The district stopped while a hall issues: the hall works on, its panel shows the backlog and the
    error, and after the district returns the backlog drains with nothing lost or doubled. (The 2-minute
    drill with issue latency measured is bench/drill_district_outage.py.)"""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    hall = Hall(tmp_path / "street-1", "street-1", base, add_hall(district_url, "street-1"))
    district = _serve_district(district_url, port)
    try:
        hall.start_devices()
        hall.busy_day(10, seed=2)
        wait_until(lambda: synced(hall, district_url), what="the first sync")
        _stop(district)
        hall.busy_day(20, seed=3)  # the hall issues and serves while the district is away
        with hall.store() as store:
            status = wait_until(
                lambda: (s := outbox.status(store, hall.clock.now())).last_error and s, what="the error on the panel"
            )
        assert status.backlog > 0
        district = _serve_district(district_url, port)
        wait_until(lambda: synced(hall, district_url), what="the backlog to drain")
        with psycopg.connect(district_url) as conn:
            uids = conn.execute("SELECT count(DISTINCT uid), count(*) FROM events WHERE hall = 'street-1'").fetchone()
        assert uids is not None and uids[0] == uids[1] == hall_counts(hall)[1]
    finally:
        hall.stop_devices()
        _stop(district)


def test_a_hall_restored_from_a_backup_keeps_syncing_without_collisions(district, tmp_path):
    url, base = district
    hall = Hall(tmp_path / "street-1", "street-1", base, add_hall(url, "street-1"))
    try:
        hall.start_devices()
        hall.busy_day(8, seed=4)
        wait_until(lambda: synced(hall, url), what="the first sync")
        copy = backup.take_backup(hall.db, tmp_path / "backups")
        hall.busy_day(6, seed=5)  # synced to the district, then lost with the restore
        wait_until(lambda: synced(hall, url), what="the second sync")
        lost = hall_counts(hall)[0] - 8
        hall.stop_devices()
        backup.restore(copy, hall.db, tmp_path / "backups")
        hall.start_devices()
        hall.busy_day(5, seed=6)  # its numbers and ids go over the lost ones again

        def caught_up() -> bool:
            tickets, _ = district_counts(url, "street-1")
            return hall.backlog() == 0 and tickets == hall_counts(hall)[0] + lost

        wait_until(caught_up, what="the restored hall to sync")
        with psycopg.connect(url) as conn:
            generations = conn.execute("SELECT count(*) FROM hall_generations WHERE hall = 'street-1'").fetchone()
            ids = conn.execute(
                "SELECT count(*), count(DISTINCT local_id) FROM tickets WHERE hall = 'street-1'"
            ).fetchone()
        assert generations is not None and generations[0] == 2
        # Tickets lost at the hall stay at the district beside the new ones that reused their ids.
        assert ids is not None and lost == 6
        assert (ids[0], ids[1]) == (8 + 6 + 5, 8 + 6)
    finally:
        hall.stop_devices()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_district(url: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [*TONGBAN, "district", "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import urllib.request

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nothing", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    wait_until(answers, what="the district to answer")
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
