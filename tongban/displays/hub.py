"""All buses of a hall behind one call: "window 3 is now calling A012".

The core knows windows, not bus addresses. The hub maps a window's change to every device that
shows it (its window display, its keypad's LED, every hall board) through `DisplayWorld`, and
hands each text to the worker of that device's bus.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import serial

from .config import BusConfig
from .errors import DisplayError
from .worker import BusWorker, DeviceStatus, KeyEvent
from .world import WINDOW_STATES, DisplayWorld


class DisplayHub:
    def __init__(
        self,
        buses: Iterable[BusConfig],
        on_key: Callable[[KeyEvent], None],
        world: DisplayWorld | None = None,
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[..., Any] = serial.serial_for_url,
    ):
        self.world = world or DisplayWorld()
        self.workers = {b.id: BusWorker(b, on_key, clock=clock, opener=opener) for b in buses}
        self._lock = threading.Lock()
        # Hall board rows: window -> number of its latest call, newest first.
        self._calls: list[tuple[int, str]] = []

    def start(self) -> None:
        for w in self.workers.values():
            w.start()

    def stop(self) -> None:
        for w in self.workers.values():
            w.stop()

    def window_changed(self, window: int, state: str, number: str | None) -> None:
        """Never blocks on a bus. A recall is the same call again: it moves the window's row to
        the top of the hall boards, where a citizen looks first."""
        if state not in WINDOW_STATES:
            raise DisplayError(f"unknown window state {state!r} (expected {', '.join(WINDOW_STATES)})")
        with self._lock:
            before = list(self._calls)
            rest = [(w, n) for w, n in self._calls if w != window]
            mine = [(w, n) for w, n in self._calls if w == window]
            if state == "called" and number:
                self._calls = [(window, number)] + rest
            elif state == "serving" and number:
                if mine:  # starting service keeps the row where the call put it
                    self._calls = [(w, number if w == window else n) for w, n in self._calls]
                else:
                    self._calls = [(window, number)] + rest
            else:
                # The call is over (finished, no-show, transferred) or nobody is at the window: its
                # row goes, as on the TV display (docs/displays.md), so no citizen walks to a
                # window that is not calling them.
                self._calls = rest
            calls = list(self._calls)
            for worker in self.workers.values():
                for dev in worker.cfg.for_window(window):
                    if dev.kind == "window":
                        worker.show(dev.address, self.world.window_text(state, window, number))
                    elif dev.kind == "keypad":
                        worker.show(dev.address, self.world.keypad_text(state, window, number))
                if calls != before or state == "called":
                    for dev in worker.cfg.halls:
                        worker.show(dev.address, self.world.hall_text(calls, dev.rows))

    def status(self) -> dict[tuple[str, int], DeviceStatus]:
        """(bus id, address) -> status, for the manager console's device health."""
        out = {}
        for bus_id, w in self.workers.items():
            for address, st in w.status().items():
                out[(bus_id, address)] = st
        return out

    def bus_status(self) -> dict[str, DeviceStatus]:
        return {bus_id: w.bus_status() for bus_id, w in self.workers.items()}
