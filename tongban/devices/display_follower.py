"""Serial displays and keypads in the devices process (docs/architecture.md §Devices).

Displays follow the events log: every call, recall, start, finish and window change is an event,
whichever process wrote it (a clerk's browser, a keypad, the balancer), so reading new events by id
is all it takes to know which windows to redraw. Keypad keys go to the same service API as the
clerk console, acting as the clerk signed in at that window.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from ..config import HallConfig
from ..displays import DisplayHub, KeyEvent
from ..queue import errors, printing
from ..queue.clock import Clock
from ..queue.service import HallService
from ..queue.store import Store
from .loop import StoreLoop

log = logging.getLogger("tongban.displays")

FOLLOW_POLL_S = 0.1


def display_state(service: HallService, number: int) -> tuple[str, str | None]:
    """A window as its LED shows it: idle, called A012, serving A012, paused or closed."""
    window = service.window(number)
    if window.state != "open":
        return window.state, None
    current = service.current_ticket(number)
    if current is None:
        return "idle", None
    return current.state, current.number


# A keypad has no screen to ask on: its no-show key's second press on the same ticket within this many
# seconds is the confirmation an early no-show needs (docs/architecture.md §Ticket lifecycle).
KEYPAD_CONFIRM_S = 10.0


class KeypadRouter:
    """Turns a keypad key into a service action for that window's signed-in clerk."""

    def __init__(self, database: str, config: HallConfig, clock: Clock):
        self.database = database
        self.config = config
        self.clock = clock
        self._armed: dict[int, tuple[int, datetime]] = {}  # window: (ticket, first no-show press)
        self._lock = threading.Lock()

    def __call__(self, event: KeyEvent) -> None:
        store = Store(self.database, migrate=False)
        try:
            self.handle(HallService(store, self.config, self.clock), event)
        except errors.QueueError as exc:
            # The clerk sees nothing but the LED; the refusal is logged for the manager.
            log.info(
                "keypad %s/%s window %s %s refused: %s",
                event.bus_id,
                event.address,
                event.window,
                event.key,
                exc.message_en,
            )
        finally:
            store.close()

    def handle(self, service: HallService, event: KeyEvent) -> None:
        window = service.window(event.window)
        clerk = window.clerk or f"keypad:{event.bus_id}:{event.address}"
        current = service.current_ticket(event.window)
        key = event.key
        if key == "next":
            service.call_next(event.window, clerk=clerk)
        elif key == "pause":
            service.window_action(event.window, "resume" if window.state == "paused" else "pause", actor=clerk)
        elif current is None:
            raise errors.NothingWaiting("err_keypad_no_ticket")
        elif key == "no_show":
            self._no_show(service, event.window, current.id, clerk)
        elif key in ("recall", "start", "finish"):
            service.act(current.id, key, window=event.window, actor=clerk)
        elif key == "transfer":
            lines = self.config.lines
            index = int(event.arg) - 1 if event.arg and event.arg.isdigit() else -1
            if not 0 <= index < len(lines):
                raise errors.UnknownLine("err_keypad_no_line", {"n": event.arg})
            service.act(current.id, "transfer", window=event.window, actor=clerk, to_line=lines[index].prefix)

    def _no_show(self, service: HallService, window: int, ticket_id: int, clerk: str) -> None:
        """An early no-show takes two presses of the key on the same ticket within KEYPAD_CONFIRM_S."""
        now = self.clock.now()
        with self._lock:
            armed = self._armed.pop(window, None)
        second = armed is not None and armed[0] == ticket_id and (now - armed[1]).total_seconds() <= KEYPAD_CONFIRM_S
        try:
            service.act(ticket_id, "no_show", window=window, actor=clerk, confirmed=second)
        except errors.NoShowUnconfirmed:
            with self._lock:
                self._armed[window] = (ticket_id, now)
            raise


class DisplayFollower:
    """Redraws each window's devices when the events log says the window changed."""

    def __init__(self, hub: DisplayHub, database: str, config: HallConfig, clock: Clock):
        self.hub = hub
        self.database = database
        self.config = config
        self.clock = clock
        self.names = printing.device_names(config)
        self.last_event = 0
        self.loop = StoreLoop("display-follower", database, self.follow, idle_s=FOLLOW_POLL_S)

    def start(self) -> None:
        store = Store(self.database, migrate=False)
        try:
            row = store.one("SELECT COALESCE(MAX(id), 0) FROM events")
            assert row is not None  # an aggregate without GROUP BY returns exactly one row
            self.last_event = row[0]
            service = HallService(store, self.config, self.clock)
            for window in self.config.windows:  # what every display should show now
                self.hub.window_changed(window.number, *display_state(service, window.number))
        finally:
            store.close()
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()

    def follow(self, store: Store) -> bool:
        """Redraw the windows named by new events; True when there were any."""
        rows = store.all(
            "SELECT id, window, action FROM events WHERE id > ? AND window IS NOT NULL ORDER BY id", (self.last_event,)
        )
        if not rows:
            return False
        self.last_event = rows[-1]["id"]
        service = HallService(store, self.config, self.clock)
        # A recall is shown again even though nothing else changed: each call/recall event redraws.
        for window in dict.fromkeys(r["window"] for r in rows):
            self.hub.window_changed(window, *display_state(service, window))
        return True

    def record_health(self, store: Store) -> None:
        for (bus_id, address), status in self.hub.status().items():
            printing.record_device_status(
                store,
                f"bus:{bus_id}:{address}",
                "display",
                status.state,
                getattr(status, "detail", "") or "",
                self.clock.now(),
                names=self.names,
            )


def build_hub(config: HallConfig, database: str, clock: Clock, **hub_kw) -> DisplayHub | None:
    if not config.buses:
        return None
    return DisplayHub(config.buses, KeypadRouter(database, config, clock), clock=time.time, **hub_kw)
