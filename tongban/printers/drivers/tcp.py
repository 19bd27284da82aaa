"""tcp://host:9100 - raw port 9100 (JetDirect) of a network printer."""

from __future__ import annotations

import errno
import socket

from ...transport import receive
from ..errors import PrinterError, PrinterOffline, PrinterRefused, PrinterReset, PrinterTimeout
from .base import PrinterDriver

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}


class TcpDriver(PrinterDriver):
    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        self.sock: socket.socket | None = None

    @property
    def where(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    def open(self) -> None:
        try:
            self.sock = socket.create_connection((self.target.host, self.target.port), timeout=self.timeout_s)
            # status queries are 3 bytes each: without NODELAY, Nagle holds the receipt query
            # behind the job until the printer's delayed ACK (~40 ms per ticket)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except ConnectionRefusedError as e:
            raise PrinterRefused(f"{self.where} refused the connection") from e
        except TimeoutError as e:
            # many printers take one connection at a time: another host may be holding it
            raise PrinterTimeout(f"{self.where} did not accept a connection within {self.timeout_s:g} s") from e
        except socket.gaierror as e:
            raise PrinterOffline(f"cannot resolve {self.target.host}: {e.strerror}") from e
        except OSError as e:
            if e.errno in _UNREACHABLE:
                raise PrinterOffline(f"{self.where} unreachable: {e.strerror}") from e
            raise PrinterError(f"{self.where}: {e}") from e

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if self.sock is None:
            raise PrinterError("not connected")
        try:
            if data:
                self.sock.settimeout(send_s if send_s is not None else self.timeout_s)
                self.sock.sendall(data)
            if answer <= 0:
                return b""
            got, closed = receive(self.sock, answer, wait_s)
            if closed:
                raise PrinterReset(f"{self.where} closed the connection")
            return got
        except TimeoutError as e:
            raise PrinterTimeout(f"{self.where} stopped taking data for {self.timeout_s:g} s") from e
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as e:
            raise PrinterReset(f"{self.where} reset the connection: {e.strerror or e}") from e


DRIVER = TcpDriver
