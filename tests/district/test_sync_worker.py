"""The sync worker against a small fake district on 127.0.0.1 (docs/architecture.md §District sync):
it pushes everything once, backs off while the district is away, drains the backlog when it returns,
resends after a gap, starts a new generation when the district is ahead, and loses or doubles
nothing when an answer is lost. Tests wait for conditions, never for fixed times."""

from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import wait_for
from tongban.devices.sync_worker import SyncWorker, backoff_delay
from tongban.queue import outbox

HALL = "hall-1"
TOKEN = "tok-" + "a" * 40


class FakeDistrict:
    """The district's sync rules in a few lines: per (hall, generation) apply seq acked+1, acked+2…
    in order, skip what it has, refuse a gap. ``mode``: "ok", "refuse" (503), "bad_token" (401),
    "hang_up" (apply, then drop the connection before answering), "forget" (lose all but the first
    ``forget_to`` changes once), "ahead" (claim 1000 for the first generation it sees)."""

    def __init__(self, port: int = 0):
        self.applied: dict[tuple[str, int], dict] = {}  # (generation, seq) → change
        self.acked: dict[str, int] = {}
        self.applied_twice = 0
        self.requests: list[dict] = []
        self.mode = "ok"
        self.forget_to = 0
        self.lock = threading.Lock()
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        district = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}" or district.mode == "bad_token":
                    return self._answer(401, {"error": "bad_token"})
                if district.mode == "refuse":
                    return self._answer(503, {"error": "busy"})
                acked = district.apply(body)
                if district.mode == "hang_up":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return None
                return self._answer(200, {"hall": body["hall"], "generation": body["generation"], "acked": acked})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def apply(self, body: dict) -> int:
        with self.lock:
            self.requests.append(body)
            generation = body["generation"]
            if self.mode == "ahead" and not self.acked:
                self.acked[generation] = 1000
            acked = self.acked.setdefault(generation, 0)
            changes = [c for c in body["changes"] if c["seq"] > acked]
            if changes and changes[0]["seq"] != acked + 1:
                return acked  # a gap: apply none
            for change in changes:
                if (generation, change["seq"]) in self.applied:
                    self.applied_twice += 1
                self.applied[(generation, change["seq"])] = change
                acked = change["seq"]
            self.acked[generation] = acked
            if self.mode == "forget" and acked > self.forget_to:
                self.acked[generation] = self.forget_to
                for key in [k for k in self.applied if k[0] == generation and k[1] > self.forget_to]:
                    del self.applied[key]
                self.mode = "ok"
            return self.acked[generation]

    def holds(self, store) -> bool:
        """Every outbox row, in the current generation, applied exactly once."""
        batch = outbox.pending(store, 100_000, after=0)
        with self.lock:
            got = {seq: c for (gen, seq), c in self.applied.items() if gen == batch.generation}
        return [got.get(c["seq"]) for c in batch.changes] == batch.changes


@pytest.fixture
def district():
    d = FakeDistrict()
    yield d
    d.stop()


@pytest.fixture
def worker_for(store):
    made = []

    def make(**options):
        options = {
            "rng": random.Random(7),
            "poll_s": 0.02,
            "idle_cycle_s": 30,
            "backoff_first_s": 0.05,
            "backoff_most_s": 0.4,
            "save_every_s": 0.1,
            "exchange_every_s": 0,
            **options,
        }
        worker = SyncWorker(store.path, HALL, **options)
        made.append(worker)
        worker.start()
        return worker

    yield make
    for worker in made:
        worker.stop()


def busy(service, n: int = 5) -> None:
    if service.store.one("SELECT state FROM windows WHERE number = 1")["state"] == "closed":
        service.window_action(1, "open", clerk="clerk1")
    for _ in range(n):
        t = service.take_ticket(line="A").ticket
        service.call_next(1, clerk="clerk1")
        service.act(t.id, "start", window=1, actor="clerk1")
        service.act(t.id, "finish", window=1, actor="clerk1")


def synced(store, district) -> bool:
    return district.holds(store) and outbox.status(store, outbox_now()).backlog == 0


def outbox_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_backoff_doubles_to_a_minute_with_jitter():
    rng = random.Random(3)
    for failures, whole in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (20, 60)]:
        delay = backoff_delay(failures, rng)
        assert whole / 2 <= delay <= whole


def test_a_hall_not_joined_sends_nothing(service, store, district, worker_for):
    busy(service, 1)
    worker = worker_for()
    assert wait_for(lambda: outbox.status(store, outbox_now()).backlog > 0)
    assert not district.requests and not worker.delays


def test_everything_reaches_the_district_once(service, store, district, worker_for):
    busy(service, 3)
    outbox.join(store, district.url, TOKEN)
    worker_for()
    assert wait_for(lambda: synced(store, district), timeout=10)
    busy(service, 2)  # new rows while running are picked up by the poll
    assert wait_for(lambda: synced(store, district), timeout=10)
    assert district.applied_twice == 0
    state = outbox.status(store, outbox_now())
    assert state.last_success_at is not None and state.last_error is None


def test_backs_off_while_away_and_drains_after_return(service, store, district, worker_for):
    outbox.join(store, district.url, TOKEN)
    district.stop()
    busy(service, 4)
    worker = worker_for()
    assert wait_for(lambda: len(worker.delays) >= 5, timeout=10)
    first, most = 0.05, 0.4
    for n, delay in enumerate(worker.delays[:5], start=1):
        whole = min(most, first * 2 ** (n - 1))
        assert whole / 2 <= delay <= whole
    state = outbox.status(store, outbox_now())
    assert state.backlog > 0 and state.last_error and TOKEN not in state.last_error
    district.start()  # same port
    assert wait_for(lambda: synced(store, district), timeout=10)
    assert district.applied_twice == 0
    assert wait_for(lambda: outbox.status(store, outbox_now()).last_error is None)


def test_refused_tokens_back_off_and_say_so(service, store, district, worker_for):
    outbox.join(store, district.url, TOKEN)
    district.mode = "bad_token"
    busy(service, 1)
    worker = worker_for()
    assert wait_for(lambda: len(worker.delays) >= 3)
    assert "401" in (outbox.status(store, outbox_now()).last_error or "")
    district.mode = "ok"
    assert wait_for(lambda: synced(store, district), timeout=10)


def test_a_gap_is_resent_from_the_districts_acked(service, store, district, worker_for):
    busy(service, 3)
    outbox.join(store, district.url, TOKEN)
    district.mode, district.forget_to = "forget", 4
    worker_for()
    assert wait_for(lambda: synced(store, district), timeout=10)
    assert district.mode == "ok" and district.applied_twice == 0


def test_a_lost_answer_loses_and_doubles_nothing(service, store, district, worker_for):
    # The district applied the batch, and the answer never arrived (the hall was killed mid-push, or
    # the line dropped): the resend is skipped, and the hall moves on from the district's word.
    busy(service, 3)
    outbox.join(store, district.url, TOKEN)
    district.mode = "hang_up"
    worker = worker_for()
    assert wait_for(lambda: worker.delays and district.requests, timeout=10)
    district.mode = "ok"
    assert wait_for(lambda: synced(store, district), timeout=10)
    assert district.applied_twice == 0


def test_a_killed_worker_resumes_without_doubling(service, store, district, worker_for):
    busy(service, 2)
    outbox.join(store, district.url, TOKEN)
    first = worker_for(save_every_s=3600)  # acknowledgements kept in memory only, as when killed
    assert wait_for(lambda: district.holds(store), timeout=10)
    first._save = lambda store: None  # type: ignore[method-assign]  # what a SIGKILL leaves: no last save
    first.stop()
    assert outbox.status(store, outbox_now()).backlog > 0  # the file never learnt the ack
    busy(service, 1)
    worker_for()
    assert wait_for(lambda: synced(store, district), timeout=10)
    assert district.applied_twice == 0


def test_a_district_ahead_of_the_hall_gets_a_new_generation(service, store, district, worker_for):
    busy(service, 1)
    outbox.join(store, district.url, TOKEN)
    first = outbox.pending(store, 1).generation
    district.mode = "ahead"
    worker_for()
    assert wait_for(lambda: synced(store, district), timeout=10)
    assert outbox.pending(store, 1).generation != first
    assert district.acked[first] == 1000


def test_exchanges_run_after_a_cycle(service, store, district, worker_for):
    calls = []
    outbox.join(store, district.url, TOKEN)
    busy(service, 1)
    worker_for(exchanges=[lambda client, s, clock: calls.append(client.url)])
    assert wait_for(lambda: calls, timeout=10)
    assert calls[0] == district.url


# ---------- the manager console's sync panel ----------


@pytest.fixture
def console(tmp_path, hall_config, clock):
    """The manager's console (a signed-in test client) and its database."""
    from tests.apiclient import make_hall_client
    from tests.test_staff_pages import staff

    hall = make_hall_client(tmp_path, hall_config, clock)
    return staff(hall, "manager"), str(tmp_path / "api.db")


def sync_panel(manager) -> str:
    html = manager.get("/manage/").get_data(as_text=True)
    panel = html[html.index('id="sync"') :]
    return panel[: panel.index("</section>")]


def test_the_panel_says_when_the_hall_is_not_joined(console):
    panel = sync_panel(console[0])
    assert "区县同步" in panel and "District sync" in panel
    assert "未接入区县" in panel and "Not joined to a district" in panel
    assert panel.index("未接入区县") < panel.index("Not joined to a district")  # Chinese first


def test_the_panel_shows_last_success_backlog_and_last_error(console, clock):
    from tongban.queue.store import Store

    manager, db = console
    store = Store(db)
    try:
        outbox.join(store, "https://district.example:8443", TOKEN)
        batch = outbox.pending(store, 1)
        outbox.record_ack(store, batch.generation, 1, clock.now() - timedelta(minutes=3))
        outbox.record_error(store, "HTTP 503 from /api/v1/sync: busy", clock.now())
        backlog = outbox.status(store, clock.now()).backlog
    finally:
        store.close()
    panel = sync_panel(manager)
    assert "district.example:8443" in panel and TOKEN not in panel
    assert "3 分钟前" in panel and "3 min ago" in panel
    assert f'data-backlog="{backlog}"' in panel and backlog > 0
    assert "HTTP 503" in panel and "上次错误" in panel and "Last error" in panel
