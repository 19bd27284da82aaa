"""Pushes the hall's outbox to its district, a thread of the devices process (docs/architecture.md
§District sync).

The web never touches the network: it only writes rows, and triggers append their changes to the
outbox in the same transaction. This thread reads batches (queue/outbox.py), POSTs them to the
district's ``/api/v1/sync`` and moves on only from the district's answer (``acked``). A push killed
half-way (SIGKILL, power cut) is simply sent again: the district applies each (hall, generation,
seq) once, in order, so nothing is lost or doubled. While the district is away it backs off (1 s
doubling to 60 s, with jitter so that twenty halls do not all come back in the same second).

After each cycle it runs its ``exchanges`` (the catalogue pull, case hand-offs): each is
``exchange(client, store, clock)`` and may raise ``DistrictUnavailable``.

``join_command`` is ``tongban district join`` (the district click group adds it).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ..queue import outbox
from ..queue.clock import Clock, SystemClock
from ..queue.store import Store
from .district_client import DistrictClient, DistrictUnavailable

log = logging.getLogger("tongban.devices.sync")

#: Changes per POST: well under the district's 2000, small enough to answer within a second.
BATCH = 500
#: How often an idle worker looks for new outbox rows (one indexed read): the lag target is p99 < 5 s.
POLL_S = 0.5
#: An idle hall still asks the district this often, so "last success" stays fresh and the
#: exchanges (catalogue, handoffs) run.
IDLE_CYCLE_S = 30.0
#: Exchanges run after a cycle at most this often (a busy hall pushes every half second).
EXCHANGE_EVERY_S = 5.0
#: Acknowledgements are saved at most this often while pushing: each save is a commit, and every
#: commit re-renders the hall's live screens (web/live.py).
SAVE_EVERY_S = 5.0
BACKOFF_FIRST_S = 1.0
BACKOFF_MOST_S = 60.0
SYNC_PATH = "/api/v1/sync"

Exchange = Callable[[DistrictClient, Store, Clock], None]


def backoff_delay(
    failures: int, rng: random.Random, *, first: float = BACKOFF_FIRST_S, most: float = BACKOFF_MOST_S
) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``first`` doubling up to ``most``, then a
    random half to whole of it, so halls cut off together do not all come back at once."""
    delay = min(most, first * 2 ** max(0, failures - 1))
    return delay * (0.5 + 0.5 * rng.random())


class SyncWorker:
    """One thread; ``start()``/``stop()`` with the devices process's other workers."""

    def __init__(
        self,
        database: str,
        hall_id: str,
        clock: Clock | None = None,
        *,
        rng: random.Random | None = None,
        client_factory: Callable[[str, str], DistrictClient] = DistrictClient,
        poll_s: float = POLL_S,
        idle_cycle_s: float = IDLE_CYCLE_S,
        backoff_first_s: float = BACKOFF_FIRST_S,
        backoff_most_s: float = BACKOFF_MOST_S,
        save_every_s: float = SAVE_EVERY_S,
        exchange_every_s: float = EXCHANGE_EVERY_S,
        exchanges: Sequence[Exchange] = (),
    ):
        self.database = database
        self.hall_id = hall_id
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.client_factory = client_factory
        self.poll_s = poll_s
        self.idle_cycle_s = idle_cycle_s
        self.backoff_first_s = backoff_first_s
        self.backoff_most_s = backoff_most_s
        self.save_every_s = save_every_s
        self.exchange_every_s = exchange_every_s
        # What else the hall asks the district after a push: the devices process passes the
        # catalogue pull and the case hand-offs (devices/process.py).
        self.exchanges = tuple(exchanges)
        self.failures = 0
        self.delays: list[float] = []  # the backoff waits chosen, for the log and the tests
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="district-sync", daemon=True)
        # In memory between saves: the district's answer is the truth, a lost one is asked again.
        self._generation: str | None = None
        self._acked: int | None = None
        self._unsaved = False
        self._saved_at = time.monotonic()
        self._exchanged_at: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            # A push in flight may wait out the client's timeout; if so, it is sent again next start.
            self._thread.join(timeout=5)

    # ---------- the loop ----------

    def _run(self) -> None:
        store = Store(self.database, migrate=False)
        try:
            while not self._stop.is_set():
                try:
                    outbox.ensure_generation(store, outbox.file_identity(self.database))
                    self._loop(store)
                except Exception:
                    # Whatever went wrong (the database busy past its timeout, a full disk), the
                    # thread lives on: sync must not stop until the next restart.
                    log.exception("district sync: starting again in %.0f s", self.backoff_most_s)
                    self._stop.wait(self.backoff_most_s)
        finally:
            try:
                self._save(store)
            except Exception:
                log.exception("district sync: saving the last acknowledgement failed")
            store.close()

    def _loop(self, store: Store) -> None:
        seen_top: int | None = None
        last_cycle = float("-inf")
        while not self._stop.is_set():
            joined = outbox.district(store)
            top = outbox.last_written(store)
            idle_due = self._monotonic() - last_cycle >= self.idle_cycle_s
            if joined is None or (top == seen_top and not idle_due):
                self._save_if_due(store)
                self._stop.wait(self.poll_s)
                continue
            url, token = joined
            client = self.client_factory(url, token)
            try:
                self.cycle(store, client)
            except DistrictUnavailable as exc:
                self._failed(store, str(exc))
                continue
            except Exception as exc:
                # A bug or a database hiccup must not end the thread: sync would stop until restart.
                log.exception("district sync cycle failed")
                self._failed(store, f"{type(exc).__name__}: {exc}")
                continue
            last_cycle = self._monotonic()
            seen_top = top
            self.failures = 0
            self._exchange(store, client)

    def _failed(self, store: Store, message: str) -> None:
        self.failures += 1
        delay = backoff_delay(self.failures, self.rng, first=self.backoff_first_s, most=self.backoff_most_s)
        self.delays.append(delay)
        log.warning("district sync failed (%d in a row, next try in %.1f s): %s", self.failures, delay, message)
        self._save(store)
        outbox.record_error(store, message, self.clock.now())
        self._stop.wait(delay)

    @staticmethod
    def _monotonic() -> float:
        return time.monotonic()

    # ---------- one push cycle ----------

    def cycle(self, store: Store, client: DistrictClient) -> None:
        """Push until the district holds everything written so far (raises DistrictUnavailable)."""
        while not self._stop.is_set():
            known = self._acked if self._generation_is_current(store) else None
            batch = outbox.pending(store, BATCH, after=known)
            body = {"hall": self.hall_id, "generation": batch.generation, "changes": batch.changes}
            acked = self._acked_from(client.post_json(SYNC_PATH, body), batch.generation)
            ack = outbox.record_ack(store, batch.generation, acked, self.clock.now(), save=False)
            before = self._acked if batch.generation == self._generation else None
            self._generation, self._acked = ack.generation, ack.acked
            if ack.new_generation:
                # Saved already (record_ack does, for a new generation); send everything again.
                log.warning("the district holds more than this hall wrote: new generation %s", ack.generation)
                self._unsaved = False
                continue
            self._unsaved = True
            if not batch.changes:
                break
            last = batch.last
            assert last is not None
            if acked >= last:
                if len(batch.changes) < BATCH:
                    break
                continue
            # The district holds less than we sent: a gap (it lost some, or we sent from a stale
            # acked) is resent from acked + 1; the same answer to a batch that began there is a refusal.
            if before == acked and batch.changes[0]["seq"] == acked + 1:
                raise DistrictUnavailable(f"the district did not take the changes after {acked}")
        self._save_if_due(store, force=self._stop.is_set())

    def _generation_is_current(self, store: Store) -> bool:
        current = store.one("SELECT value FROM settings WHERE key = ?", (outbox.GENERATION,))
        return self._acked is not None and current is not None and current["value"] == self._generation

    def _acked_from(self, answer: Any, generation: str) -> int:
        if not isinstance(answer, dict):
            raise DistrictUnavailable("the district's answer is not an object")
        acked = answer.get("acked")
        if isinstance(acked, bool) or not isinstance(acked, int) or acked < 0:
            raise DistrictUnavailable(f"the district's answer has no usable acked ({acked!r})")
        if answer.get("generation") not in (None, generation):
            raise DistrictUnavailable("the district answered for another generation")
        return acked

    def _save_if_due(self, store: Store, *, force: bool = False) -> None:
        if self._unsaved and (force or self._monotonic() - self._saved_at >= self.save_every_s):
            self._save(store)

    def _save(self, store: Store) -> None:
        if not self._unsaved or self._generation is None or self._acked is None:
            return
        ack = outbox.record_ack(store, self._generation, self._acked, self.clock.now())
        self._generation, self._acked = ack.generation, ack.acked
        self._unsaved = False
        self._saved_at = self._monotonic()

    def _exchange(self, store: Store, client: DistrictClient) -> None:
        now = self._monotonic()
        if self._exchanged_at is not None and now - self._exchanged_at < self.exchange_every_s:
            return
        self._exchanged_at = now
        for exchange in self.exchanges:
            name = getattr(exchange, "__qualname__", repr(exchange))
            try:
                exchange(client, store, self.clock)
            except DistrictUnavailable as exc:
                # One exchange failing (an endpoint the district lacks) must not stop the push.
                log.warning("district exchange %s failed: %s", name, exc)
                outbox.record_error(store, f"{name}: {exc}", self.clock.now())
            except Exception:
                log.exception("district exchange %s failed", name)


# ---------- tongban district join ----------


@click.command("join")
@click.option("--url", required=True, help="the district service, e.g. https://district.example:8443")
@click.option("--token", required=True, help="this hall's token, printed once by `tongban district hall add`")
@click.option("--db", default="var/tongban.db", show_default=True, help="the hall's SQLite database file")
def join_command(url: str, token: str, db: str) -> None:
    """Join this hall to a district: store the district's address and this hall's token.

    The devices process picks them up within a second and starts sending; nothing else changes.
    """
    from ..ops.cli import become_owner

    if not Path(db).is_file():
        raise click.ClickException(f"--db: no hall database at {db} (start the hall once, or pass --db)")
    become_owner(db)
    store = Store(db)
    try:
        url = outbox.join(store, url, token)
    except outbox.JoinError as exc:
        raise click.ClickException(f"--{exc.details['field']}: {exc.message_zh} / {exc.message_en}") from None
    finally:
        store.close()
    click.echo(f"joined {url} with token {outbox.mask_token(token.strip())} ({db})")
