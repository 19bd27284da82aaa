"""One worker per kiosk ID-card reader: polls for a card, reads it once per placement, hands it on.

The devices process owns the reader's port (docs/architecture.md §Devices); the kiosk page learns of
a card from the `card_reads` row this writes (queue/idcards.py), through its live stream. A reader
that is unplugged or answers nonsense becomes a device state and one alert, like a printer: the
kiosk carries on without it, and the worker reopens the port with backoff (docs/idcard.md).

Nothing here logs a card's contents: names and numbers stay out of the journal, even masked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import monotonic

from ..config import HallConfig, Kiosk
from ..idcard.config import ReaderTarget, parse_reader_url
from ..idcard.drivers import ReaderDriver, open_reader
from ..idcard.errors import IdcardError, NoCard, ReaderGone, SelectFailed
from ..idcard.reader import CardReader
from ..queue import idcards, printing
from ..queue.clock import Clock
from ..queue.store import Store
from .loop import StoreLoop

log = logging.getLogger("tongban.idcard")

POLL_S = 0.3  # find card this often: a card put down is noticed before the citizen looks up
REREAD_S = 5.0  # the same card found again this soon was not lifted; some readers flicker
FAILURES_FOR_ERROR = 3  # read errors in a row before the reader counts as faulty (one is a moved card)
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0

Opener = Callable[[ReaderTarget], ReaderDriver]


class CardReaderWorker:
    def __init__(
        self,
        kiosk: Kiosk,
        database: str,
        config: HallConfig,
        clock: Clock,
        opener: Opener = open_reader,
        *,
        poll_s: float = POLL_S,
        backoff_min_s: float = BACKOFF_MIN_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ):
        assert kiosk.idcard  # only kiosks with a reader get a worker
        self.kiosk = kiosk
        self.target = parse_reader_url(kiosk.idcard)
        self.device = f"idcard:{kiosk.id}"
        self.config = config
        self.clock = clock
        self.opener = opener
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.names = printing.device_names(config)
        self.driver: ReaderDriver | None = None
        self.state: str | None = None  # as last written to device_status
        self.on_reader = False  # a card found and read, not yet lifted
        self.last_hash: str | None = None
        self.last_read_at = 0.0  # monotonic
        self.failures = 0
        self.backoff_s = backoff_min_s
        self.retry_at = 0.0
        self.reads = 0  # cards handed to the kiosk, for the tests and the log
        # A window's read holds the number in full for its case; once stale, this worker clears it
        # (monotonic time when to), so it never outlives the minute it is good for.
        self.forget_at: float | None = None
        self.loop = StoreLoop(f"idcard-{kiosk.id}", database, self.run_once, idle_s=poll_s)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        self._close()

    def _close(self) -> None:
        if self.driver is not None:
            try:
                self.driver.close()
            except Exception:  # closing a dead port must not stop the worker
                log.debug("idcard %s: close failed", self.kiosk.id, exc_info=True)
            self.driver = None

    def _report(self, store: Store, state: str, detail: str) -> None:
        """device_status and an alert, only when the state changes: every commit re-renders every
        live screen, so a reader polled three times a second must not write each time."""
        if state == self.state:
            return
        printing.record_device_status(store, self.device, "idcard", state, detail, self.clock.now(), names=self.names)
        self.state = state

    def run_once(self, store: Store) -> bool:
        """One poll. Never raises for a reader fault; returns False (wait POLL_S) in every case."""
        if self.forget_at is not None and monotonic() >= self.forget_at:
            idcards.forget_full_reads(store, self.clock.now())
            self.forget_at = None
        if self.driver is None:
            if monotonic() < self.retry_at:
                return False
            try:
                self.driver = self.opener(self.target)
            except ReaderGone as exc:
                self._gone(store, exc)
                return False
            self.backoff_s = self.backoff_min_s
            log.info("idcard %s: reader open at %s", self.kiosk.id, self.target.where)
        try:
            self._poll(store)
        except ReaderGone as exc:
            self._close()
            self._gone(store, exc)
        except NoCard:
            self.on_reader = False  # lifted between find and read
        except SelectFailed as exc:
            # a card moved while being found: the citizen tries again, not a reader fault
            log.info("idcard %s: %s", self.kiosk.id, exc.detail)
            self.on_reader = False
        except IdcardError as exc:
            self.failures += 1
            self.on_reader = False
            log.warning("idcard %s: %s (%d in a row)", self.kiosk.id, exc, self.failures)
            if self.failures >= FAILURES_FOR_ERROR:
                self._report(store, exc.state, f"{exc.code}: {exc.detail}")
        return False

    def _gone(self, store: Store, exc: IdcardError) -> None:
        self.on_reader = False
        self.retry_at = monotonic() + self.backoff_s
        log.warning("idcard %s: %s; retrying in %.0f s", self.kiosk.id, exc.detail or exc.code, self.backoff_s)
        self.backoff_s = min(self.backoff_s * 2, self.backoff_max_s)
        self._report(store, "offline", f"{exc.code}: {exc.detail}")

    def _poll(self, store: Store) -> None:
        assert self.driver is not None
        reader = CardReader(self.driver)
        found = reader.find()
        if self.failures < FAILURES_FOR_ERROR:
            # the reader answered: it is there and working (after repeated read errors, only a
            # good read clears the fault, not a find that any half-working reader answers)
            self._report(store, "ok", "")
        if not found:
            self.on_reader = False
            return
        if self.on_reader:
            return  # the card read already: one read per placement
        card = reader.read()
        self.failures = 0
        self.on_reader = True
        self._report(store, "ok", "")
        digest = idcards.id_hash(store, card.id_number)
        if digest == self.last_hash and monotonic() - self.last_read_at < REREAD_S:
            return  # the reader lost and found the same card: not a new placement
        self.last_hash, self.last_read_at = digest, monotonic()
        idcards.record_read(
            store,
            self.kiosk.id,
            id_number=card.id_number,
            name=card.name,
            sex=card.sex,
            birth_date=card.birth_date,
            now=self.clock.now(),
        )
        self.reads += 1
        if idcards.is_window_reader(self.kiosk.id):
            self.forget_at = monotonic() + idcards.FRESH_S + 1
        log.info("idcard %s: card read", self.kiosk.id)


def reader_places(config: HallConfig) -> list[Kiosk]:
    """Every reader in the hall file, as the place it serves: the kiosks with an ``idcard``, and the
    windows with one as ``window:<n>`` (the key their reads and device state go by)."""
    places = [k for k in config.kiosks if k.idcard]
    places += [
        Kiosk(id=idcards.window_reader(w.number), name=w.name, idcard=w.idcard) for w in config.windows if w.idcard
    ]
    return places


def card_reader_workers(config: HallConfig, database: str, clock: Clock, **options) -> list[CardReaderWorker]:
    """A worker for each ID-card reader in the hall file: the kiosks' and the windows'."""
    return [CardReaderWorker(place, database, config, clock, **options) for place in reader_places(config)]
