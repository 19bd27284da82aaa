"""A device thread of the devices process: one step at a time on its own database connection."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..queue.store import Store

log = logging.getLogger("tongban.devices")


class StoreLoop:
    """Runs ``step(store)`` until stopped. A step returns True when it did work (run again at once)
    and False when idle (wait ``idle_s``). A failing step is logged and retried after a pause: one
    bad print job or display frame must never stop a printer's queue or the displays."""

    def __init__(
        self, name: str, database: str, step: Callable[[Store], bool], *, idle_s: float, error_pause_s: float = 1.0
    ):
        self.name = name
        self.database = database
        self.step = step
        self.idle_s = idle_s
        self.error_pause_s = error_pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        store = Store(self.database, migrate=False)
        try:
            while not self._stop.is_set():
                try:
                    busy = self.step(store)
                except Exception:
                    log.exception("%s: step failed", self.name)
                    self._stop.wait(self.error_pause_s)
                    continue
                if not busy:
                    self._stop.wait(self.idle_s)
        finally:
            store.close()
