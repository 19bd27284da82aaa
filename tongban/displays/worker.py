"""One thread per serial bus: the host is master, one transaction on the wire at a time.

RS-485 is half-duplex and most window displays and keypads on it do not arbitrate, so every write
and every keypad poll goes through this one thread, paced by the frame spec. Callers never wait on
the wire: `show()` only records the text to show (the latest per address wins, and the number of
addresses is fixed by config, so the backlog is bounded) and wakes the thread. When the bus fails
the worker closes it, reopens with exponential backoff, and replays what each display should show
now, so a display that lost power or a converter that rebooted catches up by itself.
"""

from __future__ import annotations

import logging
import termios
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial
from serial.rs485 import RS485Settings

from .config import BusConfig
from .errors import DisplayError, FrameError
from .frames import FrameDecoder, decode_key, is_reply, poll_frame, text_frames

# What a port does when its device goes away. A USB-serial adapter pulled out mid-write fails in
# tcsetattr/tcflush with termios.error, which is no OSError: it is an outage like the others, worth
# one warning line, not an "unexpected error" with a traceback.
_PORT_ERRORS = (serial.SerialException, OSError, ValueError, termios.error)

log = logging.getLogger(__name__)

# Longest real-time nap of the thread loop, so an injected clock that tests move by hand is seen
# within this long, and stop() never waits for a long idle sleep.
_MAX_NAP_S = 0.05
_IDLE_S = 1.0


@dataclass(frozen=True)
class KeyEvent:
    bus_id: str
    address: int
    window: int
    key: str  # "next", "recall", "no_show", "pause", "start", "finish", "transfer"
    arg: str | None = None  # the line number for "transfer"


@dataclass(frozen=True)
class DeviceStatus:
    state: str  # "ok", "offline" or "unknown"
    last_ok_at: float | None  # in the worker's clock; None: never seen working
    detail: str = ""


class BusWorker:
    def __init__(
        self,
        cfg: BusConfig,
        on_key: Callable[[KeyEvent], None],
        clock: Callable[[], float] = time.monotonic,
        opener: Callable[..., Any] = serial.serial_for_url,
    ):
        self.cfg = cfg
        self.spec = cfg.frame
        self._on_key = on_key
        self._clock = clock
        self._opener = opener
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._addresses = {d.address for d in cfg.devices}
        # Shared with callers, under _lock:
        self._desired: dict[int, str] = {}
        self._pending: OrderedDict[int, str] = OrderedDict()
        self._status: dict[int, DeviceStatus] = {
            d.address: DeviceStatus("unknown", None, "not contacted yet") for d in cfg.devices
        }
        self._bus = DeviceStatus("unknown", None, "not opened yet")
        # Worker-thread only:
        self._port: Any = None
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._backoff_s = cfg.backoff_min_ms / 1000
        self._next_open_at = float("-inf")
        self._next_tx_at = float("-inf")
        self._next_poll: dict[int, float] = {d.address: float("-inf") for d in cfg.keypads}
        self._missed: dict[int, int] = {d.address: 0 for d in cfg.keypads}
        self._prefer_poll = False

    # -- the caller's side: never touches the wire -----------------------------------------------

    def show(self, address: int, text: str) -> None:
        if address not in self._addresses:
            raise DisplayError(f"bus {self.cfg.id} has no device at address {address}")
        with self._lock:
            self._desired[address] = text
            # Re-assigning keeps the address's place in line, so one busy window cannot starve
            # the others, and only its latest text is ever sent.
            self._pending[address] = text
        self._wake.set()

    def desired(self) -> dict[int, str]:
        with self._lock:
            return dict(self._desired)

    def status(self) -> dict[int, DeviceStatus]:
        with self._lock:
            return dict(self._status)

    def bus_status(self) -> DeviceStatus:
        with self._lock:
            return self._bus

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"bus-{self.cfg.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        t, self._thread = self._thread, None
        if t is not None:
            t.join(timeout)
            if t.is_alive():
                log.warning("bus %s: worker did not stop within %.1fs", self.cfg.id, timeout)
                return
        self._close()

    # -- the worker's side ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                due = self.run_once()
            except Exception as e:  # a bug must cost one transaction, not the whole bus
                log.exception("bus %s: unexpected error", self.cfg.id)
                self._fault(e)
                due = self._next_open_at
            nap = due - self._clock()
            if nap > 0:
                self._wake.wait(min(nap, _MAX_NAP_S))
        self._close()

    def run_once(self) -> float:
        """Do at most one thing on the bus (open it, write one frame, or poll one keypad) and
        return the clock time when something may next be due. Tests call this directly with a
        fake clock; the thread calls it in a loop."""
        now = self._clock()
        if self._port is None:
            if now < self._next_open_at:
                return self._next_open_at
            if not self._open():
                return self._next_open_at
            now = self._clock()
        if now < self._next_tx_at:
            return self._next_tx_at
        poll_addr = self._due_keypad(now)
        write_ready = bool(self._outbox) or bool(self._pending)
        try:
            if poll_addr is not None and (self._prefer_poll or not write_ready):
                self._prefer_poll = False
                self._poll(poll_addr, now)
            elif write_ready:
                self._prefer_poll = True
                self._write_next()
            else:
                nxt = min(self._next_poll.values(), default=now + _IDLE_S)
                return min(nxt, now + _IDLE_S)
        except _PORT_ERRORS as e:
            self._fault(e)
            return self._next_open_at
        self._next_tx_at = self._clock() + self.cfg.pacing_ms / 1000
        return self._next_tx_at

    def _due_keypad(self, now: float) -> int | None:
        due = [(t, a) for a, t in self._next_poll.items() if t <= now]
        return min(due)[1] if due else None

    def _open(self) -> bool:
        port = None
        try:
            port = self._opener(self.cfg.url, **self.cfg.serial_kwargs())
            if self.cfg.rs485:
                # Kernel RS-485 mode: RTS high while sending, low to hear the reply. Converters
                # that switch direction by themselves need rs485 = false.
                port.rs485_mode = RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
        except _PORT_ERRORS as e:
            if port is not None:
                _quiet_close(port)
            self._schedule_reopen(e)
            return False
        self._port = port
        self._backoff_s = self.cfg.backoff_min_ms / 1000
        now = self._clock()
        with self._lock:
            was_down = self._bus.state == "offline"
            self._bus = DeviceStatus("ok", now, "open")
            # Whatever a display showed before the outage may be gone (it rebooted, or missed
            # frames): send every display its current text again, after anything already queued.
            for address, text in self._desired.items():
                self._pending.setdefault(address, text)
            for address, st in self._status.items():
                if st.state == "offline":
                    self._status[address] = DeviceStatus("unknown", st.last_ok_at, "bus back; not yet confirmed")
        if was_down:
            log.info("bus %s: %s open again, replaying %d display(s)", self.cfg.id, self.cfg.url, len(self._desired))
        for a in self._next_poll:
            self._next_poll[a] = now
        return True

    def _schedule_reopen(self, exc: BaseException) -> None:
        now = self._clock()
        delay = self._backoff_s
        self._next_open_at = now + delay
        self._backoff_s = min(self._backoff_s * 2, self.cfg.backoff_max_ms / 1000)
        detail = f"bus {self.cfg.id} down: {exc}; retry in {delay:.1f}s"
        with self._lock:
            first = self._bus.state != "offline"
            self._bus = DeviceStatus("offline", self._bus.last_ok_at, detail)
            for address, st in self._status.items():
                self._status[address] = DeviceStatus("offline", st.last_ok_at, detail)
        # One warning per outage; the retries go to debug so a dead bus does not flood the log.
        (log.warning if first else log.debug)("%s", detail)

    def _fault(self, exc: BaseException) -> None:
        self._close()
        self._outbox.clear()
        self._schedule_reopen(exc)

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            _quiet_close(port)

    def _write_next(self) -> None:
        if self._outbox:
            address = self._outbox[0][0]
            with self._lock:
                newer = address in self._pending
            if newer:  # a newer text for this board is queued: the rest of the old one is moot
                while self._outbox and self._outbox[0][0] == address:
                    self._outbox.popleft()
        if not self._outbox:
            with self._lock:
                if not self._pending:
                    return
                address, text = self._pending.popitem(last=False)
            try:
                frames = text_frames(self.spec, address, text)
            except FrameError as e:
                # A text this frame format cannot carry is the caller's problem, not the bus's:
                # report it on the device and keep the bus running.
                log.warning("bus %s display %d: cannot send %r: %s", self.cfg.id, address, text, e)
                with self._lock:
                    st = self._status[address]
                    self._status[address] = DeviceStatus(st.state, st.last_ok_at, f"text not sent: {e}")
                return
            self._outbox.extend((address, f) for f in frames)
        address, frame = self._outbox[0]
        port = self._port
        # Drop stale bytes (our own echo on adapters that hear themselves, line noise) so they
        # never fill the input buffer or pass for a reply later.
        port.reset_input_buffer()
        port.write(frame)
        port.flush()
        self._outbox.popleft()
        if not any(a == address for a, _ in self._outbox):
            self._set_ok(address, "shown")

    def _poll(self, address: int, now: float) -> None:
        self._next_poll[address] = now + self.cfg.poll_interval_ms / 1000
        port = self._port
        sent = poll_frame(self.spec, address)
        port.reset_input_buffer()
        port.write(sent)
        port.flush()
        reply = self._read_reply(port, address, sent)
        if reply is None:
            self._missed[address] += 1
            if self._missed[address] >= self.cfg.offline_after_missed:
                with self._lock:
                    st = self._status[address]
                    self._status[address] = DeviceStatus(
                        "offline", st.last_ok_at, f"no reply to {self._missed[address]} polls"
                    )
            return
        self._missed[address] = 0
        try:
            key, arg = decode_key(self.spec, reply)
        except FrameError as e:
            self._set_ok(address, f"replied, but {e}")
            log.warning("bus %s keypad %d: %s", self.cfg.id, address, e)
            return
        self._set_ok(address, "answering polls")
        if key is None:
            return
        dev = self.cfg.device(address)
        # Only the configured keypads are polled, and a keypad's window is required by the config.
        assert dev is not None and dev.window is not None
        event = KeyEvent(self.cfg.id, address, dev.window, key, arg)
        try:
            self._on_key(event)
        except Exception:  # the service's refusal or bug must not stop the bus
            log.exception("bus %s: key handler failed for %s", self.cfg.id, event)

    def _read_reply(self, port, address: int, sent: bytes):
        dec = FrameDecoder(self.spec)
        budget = 4 * (self.spec.overhead + 16) + len(sent)
        seen = 0
        while seen <= budget:
            data = port.read(1)  # waits up to timeout_s for the first byte of anything
            if not data:
                return None
            waiting = port.in_waiting
            if waiting:
                data += port.read(waiting)
            seen += len(data)
            for f in dec.feed(data):
                if f.raw == sent:
                    continue  # our own poll, echoed back by the adapter
                if is_reply(self.spec, f) and f.address == address:
                    return f
        return None

    def _set_ok(self, address: int, detail: str) -> None:
        with self._lock:
            self._status[address] = DeviceStatus("ok", self._clock(), detail)


def _quiet_close(port) -> None:
    try:
        port.close()
    except Exception:  # closing a dead port may fail again; it is already gone either way
        log.debug("close failed", exc_info=True)
