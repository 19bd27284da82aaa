"""Test doubles for ID-card readers: a recording fake reader with chosen cards and faults.

`FakeReader` is the reader's side (tongban.idcard.simulator) with faults a test can switch on:

- ``card`` None: no card (find card answers 80);
- ``fault = "read_error"``: read answers 41 (reading the card failed);
- ``"select_failed"``: select answers 81;
- ``"bad_check"``: every answer's check byte is wrong;
- ``"garbage"``: answers are bytes of no frame at all;
- ``"slow"``: answers come ``delay_s`` late (longer than the reader waits);
- ``"silent"``: nothing comes back;
- ``"status_66"``: the SAM says it is not authorised;
- ``unplug()``: the reader vanishes: open ports fail with ReaderGone, new opens are refused
  until ``plug()``.

`requests` records every request heard, as (cmd, para). `FakeReader.opener` gives drivers for the
worker's ``opener``; `FakeReaderServer` puts the same reader behind a real TCP port for socket://.
"""

from __future__ import annotations

import socket
import threading
import time

from tongban.idcard import frames
from tongban.idcard.drivers.base import Deadline, ReaderDriver
from tongban.idcard.errors import ReaderGone
from tongban.idcard.frames import Card
from tongban.idcard.simulator import ReaderSimulator


class FakeReader(ReaderSimulator):
    def __init__(self, card: Card | None = None, *, delay_s: float = 1.5):
        super().__init__(card)
        self.fault: str | None = None
        self.delay_s = delay_s
        self.present = True  # plugged in
        self.requests: list[tuple[int, int]] = []
        self.opens = 0
        self.lock = threading.Lock()

    def place(self, card: Card | None) -> None:
        with self.lock:
            self.card = card

    def lift(self) -> None:
        self.place(None)

    def unplug(self) -> None:
        self.present = False

    def plug(self) -> None:
        self.present = True

    def finds(self) -> int:
        return sum(1 for r in self.requests if r == frames.FIND)

    def answer(self, cmd: int, para: int) -> bytes:
        with self.lock:
            self.requests.append((cmd, para))
            fault = self.fault
            if fault == "read_error" and (cmd, para) == frames.READ:
                return frames.answer_frame(frames.SW3_READ_FAILED)
            if fault == "select_failed" and (cmd, para) == frames.SELECT:
                return frames.answer_frame(frames.SW3_SELECT_FAILED)
            if fault == "status_66":
                return frames.answer_frame(0x66)
            out = super().answer(cmd, para)
            if fault == "bad_check":
                out = out[:-1] + bytes((out[-1] ^ 0xFF,))
            if fault == "garbage":
                out = b"\x13\x37 not a frame \xff\xfe" * 3
            return out

    def opener(self, target=None) -> FakeReaderDriver:
        if not self.present:
            raise ReaderGone("fake reader unplugged")
        self.opens += 1
        return FakeReaderDriver(self)


class FakeReaderDriver(ReaderDriver):
    """A driver whose far end is a FakeReader, with its timing: slow answers arrive late."""

    def __init__(self, reader: FakeReader):
        super().__init__(None, 1.0)  # type: ignore[arg-type] - no URL: the fake is the target
        self.reader = reader
        self.pending = b""
        self.ready_at = 0.0

    def exchange(self, data, answer, wait_s):
        if not self.reader.present:
            raise ReaderGone("fake reader unplugged")
        if data:
            self.pending = self.reader.feed(data)
            if self.reader.fault == "silent":
                self.pending = b""
            self.ready_at = time.monotonic() + (self.reader.delay_s if self.reader.fault == "slow" else 0)
        deadline = Deadline(wait_s)
        if self.ready_at > time.monotonic():
            # the answer is on its way: wait for it, but no longer than the caller would
            time.sleep(min(deadline.left(), self.ready_at - time.monotonic()))
            if self.ready_at > time.monotonic():
                return b""
        got, self.pending = self.pending[:answer], self.pending[answer:]
        return got


class FakeReaderServer:
    """The fake reader behind a TCP port, as a serial-to-Ethernet converter would put it:
    socket://127.0.0.1:<port>. ``vanish()`` drops the connection and stops listening."""

    def __init__(self, reader: FakeReader):
        self.reader = reader
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                out = self.reader.feed(data)
                if self.reader.fault == "silent":
                    continue
                if self.reader.fault == "slow":
                    time.sleep(self.reader.delay_s)
                # in pieces, as a converter forwards a 1.3 KB answer
                for i in range(0, len(out), 200):
                    conn.sendall(out[i : i + 200])
        except OSError:
            return

    def vanish(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.listener.close()
        self._thread.join(timeout=2)

    close = vanish
