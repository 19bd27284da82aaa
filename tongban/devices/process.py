"""The devices process: the hall's only scheduler, and the owner of printers and buses.

It runs APScheduler's BlockingScheduler, so each job runs once per hall however the web is served.
Daily jobs record themselves in ``job_runs`` and are caught up at start, instead of relying on the
scheduler's misfire handling across a power cut (docs/architecture.md §Processes).
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler

from ..config import HallConfig
from ..ops import notify
from ..ops.backup import restore_help
from ..ops.damage import damaged
from ..ops.nightly import DatabaseDamaged, NightlyJobs
from ..queue import catalogue, outbox, printing
from ..queue.appointments import mark_missed
from ..queue.cases import CaseService
from ..queue.catalogue import CatalogueOverlay
from ..queue.clock import Clock, SystemClock
from ..queue.service import HallService
from ..queue.store import Store, StoreError
from . import appointments_pull, catalogue_pull, handoff_sync
from .display_follower import DisplayFollower, build_hub
from .idcard_worker import card_reader_workers
from .print_worker import PrinterWorker, check_printers, printer_configs
from .sync_worker import SyncWorker

log = logging.getLogger("tongban.devices")

HEALTH_INTERVAL_S = 30
APPOINTMENTS_INTERVAL_S = 60  # a booking becomes a no-show within a minute of its time
EXIT_DAMAGED = 3  # the units' RestartPreventExitStatus: restarting cannot fix it
NIGHTLY_CATCH_UP_DELAY_S = 20  # after start: printers and buses first, then a missed night


class HallScheduler(BlockingScheduler):
    """A BlockingScheduler that is stopped by asking, from any thread, and stops in its own loop.

    ``shutdown()`` called from a job's thread (the nightly check finding a damaged file) or a signal
    handler could land while the loop was removing a finished one-off job (``sd-ready``): the job
    store had been shut down under it and start() died with JobLookupError. Stopping between two
    rounds of the loop leaves nothing half-done. (APScheduler 3.x's loop, which this pins.)
    """

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self._stop_asked = threading.Event()

    def request_stop(self) -> None:
        self._stop_asked.set()
        if self._event is not None:
            self._event.set()

    def _main_loop(self) -> None:
        wait_seconds: float | None = threading.TIMEOUT_MAX
        while self.state != STATE_STOPPED:
            if self._stop_asked.is_set():
                self.shutdown(wait=False)
                return
            self._event.wait(wait_seconds)
            self._event.clear()
            if self._stop_asked.is_set():
                continue
            wait_seconds = self._process_jobs()


@dataclass
class DevicesProcess:
    config: HallConfig
    database: str
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.scheduler = HallScheduler(timezone=self.config.hall.timezone)
        self.nightly = NightlyJobs(self.config, self.database, self.clock)
        self.exit_code = 0
        self.printers = printer_configs(self.config)
        # The hall file plus the district's applied catalogue (queue/catalogue.py); the pull checks
        # new catalogues against this same hall file.
        self.catalogue = CatalogueOverlay(self.config)
        catalogue_pull.install(self.config, self.database)
        self.printer_workers = [
            PrinterWorker(p, self.database, self.config, self.clock, catalogue=self.catalogue)
            for p in self.printers.values()
        ]
        self.card_readers = card_reader_workers(self.config, self.database, self.clock)
        self.hub = build_hub(self.config, self.database, self.clock)
        self.follower = DisplayFollower(self.hub, self.database, self.config, self.clock) if self.hub else None
        # Idle until `tongban district join` stores a district (docs/architecture.md §District sync).
        self.sync = SyncWorker(
            self.database,
            self.config.hall.id,
            self.clock,
            # The catalogue first: a hand-off names the district's windows directory, and a booking
            # names a matter the catalogue may have brought.
            exchanges=(catalogue_pull.exchange, handoff_sync.exchange, appointments_pull.exchange),
        )

    def service(self, store: Store) -> HallService:
        return HallService(store, self.catalogue.current(store), self.clock)

    def roll_over(self) -> dict:
        store = Store(self.database)
        try:
            # A pending district catalogue becomes the hall's at the roll-over, before the new day's first ticket.
            applied = catalogue.apply_at_roll_over(store, self.config, self.clock)
            if applied["result"] not in ("nothing", "not_a_new_day"):
                log.info("district catalogue at roll-over: %s", applied)
            result = self.service(store).roll_over()
            # The district's day summaries (past days' report totals, once each) and the outbox's
            # acknowledged rows past their week (docs/architecture.md §District sync).
            now = self.clock.now()
            summarized = outbox.summarize_days(store, self.catalogue.current(store), now)
            pruned = outbox.prune(store, now)
        finally:
            store.close()
        log.info("roll-over: %s; day summaries %s; outbox rows pruned %d", result, summarized, pruned)
        return result

    def case_daily(self) -> dict:
        """Cases' near/past-due flags and the retention purge (queue/cases.py). Once per hall-local
        day (job_runs 'cases'); both depend on today only, so one run catches up any missed days."""
        store = Store(self.database)
        try:
            result = CaseService(store, self.catalogue.current(store), self.clock).daily()
        finally:
            store.close()
        log.info("cases: %s", result)
        return result

    def appointments_missed(self) -> int:
        """Bookings not checked in by their slot's end plus late_checkin_min become no-shows
        (queue/appointments.py). Each minute: a missed run is caught up by the next, which marks every
        booking past its time, however long ago."""
        store = Store(self.database)
        try:
            missed = mark_missed(store, self.config, self.clock.now())
        finally:
            store.close()
        if missed:
            log.info("appointments: %d booking(s) became no-shows", missed)
        return missed

    def balance(self) -> list[dict]:
        """The balancer (docs/architecture.md §Balancer): runs here, the hall's only scheduler, so once per hall."""
        store = Store(self.database)
        try:
            made = self.service(store).balance(actor="balancer")
        finally:
            store.close()
        for p in made:
            log.info(
                "balancer: window %s %s -> %s [%s] %s", p["window"], p["from"], p["to"], p["state"], p["reason_en"]
            )
        return made

    def run_nightly(self) -> dict | None:
        """integrity_check and backup (tongban/ops/nightly.py); a damaged file stops this process."""
        try:
            return self.nightly.run()
        except DatabaseDamaged as exc:
            log.critical("%s", exc)
            notify.status("database damaged: integrity_check failed; see the journal for how to restore")
            self.exit_code = EXIT_DAMAGED
            self.scheduler.request_stop()
            return None

    def schedule_operations(self) -> None:
        """Nightly integrity check and backup, systemd readiness and watchdog (docs/architecture.md §Operations)."""
        # At the configured time; also shortly after start and every hour, which only does something
        # when a night was missed (box switched off, power cut) or a backup failed (job_runs).
        at = self.config.operations.backup_time
        self.scheduler.add_job(
            self.run_nightly,
            "cron",
            hour=at.hour,
            minute=at.minute,
            id="nightly",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        self.scheduler.add_job(
            self.run_nightly,
            "interval",
            hours=1,
            id="nightly-catch-up",
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC) + timedelta(seconds=NIGHTLY_CATCH_UP_DELAY_S),
        )
        # READY once the scheduler runs jobs; watchdog pings from a job, so a wedged scheduler gets
        # the process restarted (WatchdogSec= in tongban-devices.service).
        self.scheduler.add_job(notify.ready, "date", args=[f"hall {self.config.hall.id}"], id="sd-ready")
        interval = notify.watchdog_interval()
        if interval:
            self.scheduler.add_job(
                notify.watchdog_ping,
                "interval",
                seconds=interval,
                id="sd-watchdog",
                coalesce=True,
                max_instances=1,
                next_run_time=datetime.now(UTC),
            )

    def schedule(self) -> None:
        self.scheduler.add_job(
            self.balance,
            "interval",
            seconds=self.config.policy.balancer_interval_s,
            id="balancer",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        # Local midnight in the hall's zone; a run missed by a power cut is caught up at start.
        self.scheduler.add_job(
            self.roll_over,
            "cron",
            hour=0,
            minute=0,
            second=5,
            id="rollover",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        # Cases after the roll-over; hourly too, which does nothing once today's run is recorded.
        self.scheduler.add_job(
            self.case_daily,
            "cron",
            hour=0,
            minute=10,
            id="cases",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        self.scheduler.add_job(
            self.case_daily, "interval", hours=1, id="cases-catch-up", coalesce=True, max_instances=1
        )
        self.scheduler.add_job(
            self.appointments_missed,
            "interval",
            seconds=APPOINTMENTS_INTERVAL_S,
            id="appointments",
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            self.check_devices,
            "interval",
            seconds=HEALTH_INTERVAL_S,
            id="device-health",
            coalesce=True,
            max_instances=1,
        )

    def check_devices(self) -> None:
        """Printers' DLE EOT and the buses' device states, for the consoles' device health and alerts."""
        if self.printers:
            check_printers(self.printers, self.database, self.clock, names=printing.printer_names(self.config))
        if self.follower:
            store = Store(self.database, migrate=False)
            try:
                self.follower.record_health(store)
            finally:
                store.close()

    def start_devices(self) -> None:
        for worker in self.printer_workers:
            worker.start()
        for reader in self.card_readers:
            reader.start()
        if self.hub and self.follower:  # there is a follower exactly when there is a hub
            self.hub.start()
            self.follower.start()
        self.sync.start()

    def stop_devices(self) -> None:
        self.sync.stop()
        for worker in self.printer_workers:
            worker.stop()
        for reader in self.card_readers:
            reader.stop()
        if self.hub and self.follower:
            self.follower.stop()
            self.hub.stop()

    def run(self) -> None:
        folder = self.config.operations.backup_path(self.database)
        marked = damaged(self.database)
        if marked:
            log.critical("not starting: %s is marked damaged (%s.damaged):\n%s", self.database, self.database, marked)
            raise SystemExit(EXIT_DAMAGED)
        try:
            store = Store(self.database, backup_dir=folder)
        except (StoreError, sqlite3.DatabaseError) as exc:
            log.critical("not starting: %s\n%s", exc, restore_help(self.database, folder))
            raise SystemExit(EXIT_DAMAGED) from None
        try:
            store.quick_check()
            self.service(store).sync_with_config()
            # Jobs this process held when it was killed are taken back once their leases run out
            # (docs/architecture.md §Print jobs); those already past it, now.
            printing.sweep(store, self.clock.now(), names=printing.printer_names(self.config))
        except (StoreError, sqlite3.DatabaseError) as exc:
            log.critical("not starting: %s\n%s", exc, restore_help(self.database, folder))
            raise SystemExit(EXIT_DAMAGED) from None
        finally:
            store.close()
        self.roll_over()
        self.case_daily()
        self.schedule()
        self.schedule_operations()
        self.start_devices()

        def stop(_signum, _frame):
            self.scheduler.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        log.info(
            "devices process running for hall %s: %d printer(s), %d bus(es), %d ID-card reader(s)",
            self.config.hall.id,
            len(self.printers),
            len(self.config.buses),
            len(self.card_readers),
        )
        try:
            self.scheduler.start()
        finally:
            notify.stopping()
            self.stop_devices()
        if self.exit_code:
            raise SystemExit(self.exit_code)
