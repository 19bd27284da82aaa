"""Test doubles: the devices on a bus, and a bus you can unplug.

`DeviceSimulator` plays every display and keypad on one bus from the bytes it hears: it records what
each address was told to show and answers polls with keys a test "pressed". `FakeBus` puts it behind
a real pyserial `loop://` port (so the worker's reads and writes go through pyserial) and can be
unplugged and plugged back. The core's tests can use both to drive displays without hardware.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

import serial

from tongban.displays.frames import FrameDecoder, FrameSpec, decode_text, is_reply, reply_frame


class DeviceSimulator:
    def __init__(self, spec: FrameSpec, keypads: set[int] | None = None):
        self.spec = spec
        self.keypads = set(keypads or ())
        self._decoder = FrameDecoder(spec)
        self._lock = threading.Lock()
        self._keys: dict[int, deque] = defaultdict(deque)
        self._rows: dict[int, dict[int, str]] = defaultdict(dict)
        self.frames: list[bytes] = []  # every frame heard, in order
        self.shown: dict[int, list[str]] = defaultdict(list)  # address -> texts, in order
        self.polls: dict[int, int] = defaultdict(int)

    def press(self, address: int, key: str, arg: int = 0) -> None:
        with self._lock:
            self._keys[address].append((key, arg))

    def screen(self, address: int) -> str | None:
        """What the device at `address` shows now (rows joined by newlines)."""
        with self._lock:
            rows = self._rows.get(address)
            if not rows:
                return None
            return "\n".join(rows.get(i, "") for i in range(max(rows) + 1))

    def feed(self, data: bytes) -> bytes:
        """Bytes the host sent; returns what the devices answer."""
        out = bytearray()
        for f in self._decoder.feed(data):
            with self._lock:
                self.frames.append(f.raw)
                if is_reply(self.spec, f):
                    continue  # another device's answer, not for us to act on
                if self.spec.command is None or f.command == self.spec.text_command:
                    self._show(f)
                elif f.command == self.spec.poll_command and f.address in self.keypads:
                    self.polls[f.address] += 1
                    key, arg = self._keys[f.address].popleft() if self._keys[f.address] else (None, 0)
                    out += reply_frame(self.spec, f.address, key, arg)
        return bytes(out)

    def _show(self, f) -> None:
        if self.spec.row is not None:
            self._rows[f.address][f.row] = decode_text(self.spec, f.payload)
        else:
            sep = self.spec.line_separator
            parts = f.payload.split(sep) if sep else [f.payload]
            self._rows[f.address] = {i: decode_text(self.spec, p) for i, p in enumerate(parts)}
        rows = self._rows[f.address]
        self.shown[f.address].append("\n".join(rows.get(i, "") for i in range(max(rows) + 1)))

    def texts(self, address: int) -> list[str]:
        with self._lock:
            return list(self.shown.get(address, []))


class FakeBus:
    """`opener` for BusWorker: each open returns a pyserial loop:// port with the simulated devices
    on the other end. `unplug()` makes the open port fail and new opens refuse until `plug()`.
    `threads` holds the id of every thread that opened or used a port (the bus worker's alone,
    unless a caller touches the wire)."""

    def __init__(self, spec: FrameSpec, keypads: set[int] | None = None):
        self.sim = DeviceSimulator(spec, keypads)
        self.opens = 0
        self.open_attempts = 0
        self.threads: set[int] = set()
        self.wire: list[bytes] = []  # every write, in order, as it went on the wire
        self._plugged = True
        self._lock = threading.Lock()

    def unplug(self) -> None:
        self._plugged = False

    def plug(self) -> None:
        self._plugged = True

    @property
    def plugged(self) -> bool:
        return self._plugged

    def opener(self, url: str, **kwargs: Any) -> _FakePort:
        self.threads.add(threading.get_ident())
        self.open_attempts += 1
        if not self._plugged:
            raise serial.SerialException(f"could not open port {url}: unplugged")
        self.opens += 1
        return _FakePort(self, serial.serial_for_url("loop://", **kwargs))


class _FakePort:
    def __init__(self, bus: FakeBus, inner):
        self._bus = bus
        self._inner = inner

    def _check(self):
        self._bus.threads.add(threading.get_ident())
        if not self._bus.plugged:
            raise serial.SerialException(
                "device reports readiness to read but returned no data "
                "(device disconnected or multiple access on port?)"
            )

    def write(self, data: bytes) -> int:
        self._check()
        with self._bus._lock:
            self._bus.wire.append(bytes(data))
        n = self._inner.write(data)  # loop:// hears itself, like an RS-485 adapter with echo
        answer = self._bus.sim.feed(bytes(data))
        if answer:
            self._inner.write(answer)
        return n

    def read(self, size: int = 1) -> bytes:
        self._check()
        return self._inner.read(size)

    @property
    def in_waiting(self) -> int:
        self._check()
        return self._inner.in_waiting

    def reset_input_buffer(self) -> None:
        self._check()
        self._inner.reset_input_buffer()

    def flush(self) -> None:
        self._check()

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._inner, name, value)


class WatchedOpener:
    """`opener` for BusWorker around a real one (pyserial's serial_for_url): counts the opens tried
    and notes in `threads` the id of every thread that opened or used a port, so that a test can
    show that the hub's callers never touch the bus, whatever state the bus is in."""

    def __init__(self, opener: Any = serial.serial_for_url):
        self._opener = opener
        self.attempts = 0
        self.threads: set[int] = set()

    def __call__(self, url: str, **kwargs: Any) -> _WatchedPort:
        self.threads.add(threading.get_ident())
        self.attempts += 1
        return _WatchedPort(self, self._opener(url, **kwargs))


class _WatchedPort:
    def __init__(self, watch: WatchedOpener, inner):
        object.__setattr__(self, "_watch", watch)
        object.__setattr__(self, "_inner", inner)

    def __getattr__(self, name):
        self._watch.threads.add(threading.get_ident())
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        self._watch.threads.add(threading.get_ident())
        setattr(self._inner, name, value)
