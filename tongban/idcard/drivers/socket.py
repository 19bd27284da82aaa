"""socket://host:port - a reader behind a serial-to-Ethernet converter (raw TCP, one connection)."""

from __future__ import annotations

import socket

from ...transport import receive
from ..errors import IdcardError, ReaderGone
from .base import ReaderDriver


class SocketReader(ReaderDriver):
    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        self.sock: socket.socket | None = None

    def open(self) -> None:
        try:
            self.sock = socket.create_connection((self.target.host, self.target.port), timeout=self.timeout_s)
            # requests are 10 bytes: without NODELAY, Nagle may hold one behind a delayed ACK
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise ReaderGone(f"cannot connect to {self.target.where}: {e.strerror or e}") from e

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def _drop_input(self) -> None:
        assert self.sock is not None
        self.sock.setblocking(False)
        try:
            while True:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ReaderGone(f"{self.target.where} closed the connection")
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def exchange(self, data, answer, wait_s):
        if self.sock is None:
            raise IdcardError("not connected")
        try:
            if data:
                self._drop_input()
                self.sock.settimeout(self.timeout_s)
                self.sock.sendall(data)
            got, closed = receive(self.sock, answer, wait_s)
            if closed:
                raise ReaderGone(f"{self.target.where} closed the connection")
            return got
        except ReaderGone:
            raise
        except OSError as e:
            raise ReaderGone(f"{self.target.where}: {e.strerror or e}") from e


DRIVER = SocketReader
