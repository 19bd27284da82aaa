"""Fake printers for tests (ours and the devices process's).

- `FakeNetworkPrinter`: a real TCP server on 127.0.0.1 (ephemeral port) that stores what it
  receives and answers DLE EOT the way a printer in a chosen state would. It can go mute,
  reset the connection mid-job, hold its only connection slot so connects time out, or be slow:
  take each chunk (a status query, the ticket) only `slow_s` after it came.
- `FakeSerialPrinter`: the same printer behind a serial port (e.g. one end of a socat pty pair).
- `RecordingDriver`: an in-memory driver that records every exchange.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

from tongban.printers.config import PrinterTarget
from tongban.printers.drivers import PrinterDriver
from tongban.printers.errors import PrinterError
from tongban.printers.status import answer_bytes

SILENT = "silent"  # a printer that never answers DLE EOT (or a device that is not a printer)


class _PrinterBrain:
    """What a printer does with incoming bytes: keep them, answer real-time status queries."""

    def __init__(self, state: str, answers: dict[int, int] | None = None):
        self.lock = threading.Lock()
        self.set_state(state, answers)
        self._tail = b""

    def set_state(self, state: str, answers: dict[int, int] | None = None) -> None:
        with self.lock:
            self.state = state
            self.answers = answers if answers is not None else ({} if state == SILENT else answer_bytes(state))

    def feed(self, chunk: bytes) -> bytes:
        """Bytes in, reply out. DLE EOT is real-time: scanned for in the raw stream, as a
        printer does, including across chunk boundaries."""
        with self.lock:
            buf = self._tail + chunk
            reply = bytearray()
            i = buf.find(b"\x10\x04")
            while i != -1 and i + 2 < len(buf):
                got = self.answers.get(buf[i + 2])
                if got is not None:
                    reply.append(got)
                i = buf.find(b"\x10\x04", i + 3)
            # keep a possibly split query for the next chunk
            self._tail = buf[-2:] if buf.endswith((b"\x10", b"\x10\x04")) else b""
            return bytes(reply)


class FakeNetworkPrinter:
    """A loopback "network printer". Use as a context manager; `url` is its tcp:// URL."""

    def __init__(
        self,
        state: str = "ok",
        *,
        answers: dict[int, int] | None = None,
        reset_after: int | None = None,
        busy: bool = False,
        state_after: tuple[int, str] | None = None,
        slow_s: float = 0.0,
    ):
        self.brain = _PrinterBrain(state, answers)
        self.slow_s = slow_s  # each chunk received is taken (and answered) only this long after it came
        self.state_after = state_after  # (bytes, state): e.g. paper runs out during the job
        self.reset_after = reset_after  # bytes received on a connection before it drops it (RST)
        self.busy = busy  # hold the only connection slot: every connect times out
        self.connections: list[bytearray] = []
        self._ended = 0  # connections over (closed by the driver, dropped, or stopped)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._fillers: list[socket.socket] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def received(self) -> bytes:
        with self._lock:
            return b"".join(bytes(c) for c in self.connections)

    def set_state(self, state: str, answers: dict[int, int] | None = None) -> None:
        self.brain.set_state(state, answers)

    def wait_for(self, nbytes: int, timeout_s: float = 5.0) -> bytes:
        """`received` once it holds at least `nbytes` (or whatever came within `timeout_s`)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.received) < nbytes:
            time.sleep(0.01)
        return self.received

    def wait_closed(self, connections: int = 1, timeout_s: float = 5.0) -> bytes:
        """`received` once `connections` connections were accepted and all of them are over: then it
        holds everything the driver sent. A driver's connect can return before this printer's
        thread has accepted, let alone read, so `received` right after a print may still be short.
        Raises TimeoutError if that does not happen within `timeout_s`."""
        end = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if len(self.connections) >= connections and self._ended >= len(self.connections):
                    return b"".join(bytes(c) for c in self.connections)
            if time.monotonic() >= end:
                raise TimeoutError(f"{len(self.connections)} connection(s), {self._ended} over, in {timeout_s} s")
            time.sleep(0.01)

    def start(self) -> FakeNetworkPrinter:
        if self.busy:
            # Linux drops a SYN while the accept queue is full; with a backlog of 0 one
            # never-accepted connection fills it, like a printer serving another host
            self.sock.listen(0)
            while True:
                c = socket.socket()
                c.settimeout(0.1)
                try:
                    c.connect(("127.0.0.1", self.port))
                    self._fillers.append(c)
                except OSError:
                    c.close()
                    break
            return self
        self.sock.listen(8)
        t = threading.Thread(target=self._accept_loop, name="fake-printer-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if not r:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            store = bytearray()
            with self._lock:
                self.connections.append(store)
            t = threading.Thread(target=self._serve, args=(conn, store), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket, store: bytearray) -> None:
        try:
            self._converse(conn, store)
        finally:
            with self._lock:
                self._ended += 1

    def _converse(self, conn: socket.socket, store: bytearray) -> None:
        with conn:
            while not self._stop.is_set():
                r, _, _ = select.select([conn], [], [], 0.05)
                if not r:
                    continue
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                if self.slow_s and self._stop.wait(self.slow_s):  # a printer busy with what came before
                    return
                if self.reset_after is not None and len(store) + len(chunk) >= self.reset_after:
                    with self._lock:
                        store += chunk[: self.reset_after - len(store)]
                    # linger 0: close sends RST, like a printer that reboots mid-job
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                with self._lock:
                    store += chunk
                if self.state_after is not None and len(store) >= self.state_after[0]:
                    self.brain.set_state(self.state_after[1])
                reply = self.brain.feed(chunk)
                if reply:
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

    def stop(self) -> None:
        self._stop.set()
        for c in self._fillers:
            c.close()
        # The accept loop sees the stop within its 50 ms select; closing the socket under it first
        # made select() fail with EBADF in that thread.
        for t in self._threads:
            t.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> FakeNetworkPrinter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeSerialPrinter:
    """A printer on a serial port: opens `port_url` with pyserial and behaves like the
    network fake. With a socat pty pair, the driver opens the other end."""

    def __init__(self, port_url: str, state: str = "ok", *, answers: dict[int, int] | None = None):
        self.port_url = port_url
        self.brain = _PrinterBrain(state, answers)
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = None

    @property
    def received(self) -> bytes:
        with self._lock:
            return bytes(self._buf)

    def set_state(self, state: str, answers: dict[int, int] | None = None) -> None:
        self.brain.set_state(state, answers)

    def start(self) -> FakeSerialPrinter:
        import serial

        self.port = serial.serial_for_url(self.port_url, baudrate=115200, timeout=0.05)
        self._thread = threading.Thread(target=self._loop, name="fake-serial-printer", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        import serial

        while not self._stop.is_set():
            try:
                # one byte, then whatever else is there: read(4096) would sit out its whole
                # timeout before answering a 3-byte status query
                chunk = self.port.read(1)
                if chunk and self.port.in_waiting:
                    chunk += self.port.read(self.port.in_waiting)
            except (serial.SerialException, OSError):
                return
            if not chunk:
                continue
            with self._lock:
                self._buf += chunk
            reply = self.brain.feed(chunk)
            if reply:
                try:
                    self.port.write(reply)
                except (serial.SerialException, OSError):
                    return

    def wait_for(self, nbytes: int, timeout_s: float = 5.0) -> bytes:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.received) < nbytes:
            time.sleep(0.01)
        return self.received

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        if self.port is not None:
            self.port.close()

    def __enter__(self) -> FakeSerialPrinter:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class RecordingDriver(PrinterDriver):
    """In-memory driver: answers DLE EOT for `state`, records every exchange in `calls`.

    `fail` (a PrinterError) is raised when the job itself is sent, after the status check.
    """

    def __init__(
        self,
        state: str = "ok",
        *,
        two_way: bool = True,
        fail: PrinterError | None = None,
        after_state: str | None = None,
        timeout_s: float = 1.0,
    ):
        super().__init__(PrinterTarget("dummy", name="recording"), timeout_s)
        self.two_way = two_way
        self.brain = _PrinterBrain(state)
        self.after_state = after_state  # state the printer is in once the job is sent
        self.fail = fail
        self.calls: list[tuple[str, bytes]] = []
        self.opened = self.closed = 0

    @property
    def job(self) -> bytes:
        return b"".join(data for kind, data in self.calls if kind == "send")

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if len(data) == 3 and data[:2] == b"\x10\x04":
            self.calls.append(("query", data))
            return self.brain.feed(data)[:answer] if answer else b""
        self.calls.append(("send", data))
        if self.fail is not None:
            raise self.fail
        if self.after_state is not None:
            self.brain.set_state(self.after_state)
        return b""
