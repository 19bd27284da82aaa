"""file:///dev/usb/lp0 - a device file the kernel's printer driver provides.

Opened non-blocking and written with a deadline, because usblp blocks writers forever while
the printer is out of paper. Never created: a typo'd /dev path must not become a regular
file that silently swallows tickets.
"""

from __future__ import annotations

import errno
import os
import select

from ..errors import PrinterError, PrinterOffline, PrinterReset, PrinterTimeout
from .base import Deadline, PrinterDriver


class FileDriver(PrinterDriver):
    two_way = False

    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        self.fd: int | None = None

    def open(self) -> None:
        path = self.target.path
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd = os.open(path, flags)
        except FileNotFoundError as e:
            raise PrinterOffline(f"{path} does not exist (printer unplugged?)") from e
        except OSError as e:
            if e.errno == errno.ENXIO:  # a FIFO with no reader, a device with no printer
                raise PrinterOffline(f"{path}: no device behind it") from e
            raise PrinterError(f"cannot open {path}: {e.strerror}") from e

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            finally:
                self.fd = None

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if self.fd is None:
            raise PrinterError("not open")
        deadline = Deadline(send_s if send_s is not None else self.timeout_s)
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ENODEV, errno.EIO):
                    raise PrinterReset(f"{self.target.path}: {e.strerror}") from e
                raise PrinterError(f"{self.target.path}: {e.strerror}") from e
            left = deadline.left()
            if left <= 0:
                raise PrinterTimeout(f"{self.target.path}: printer stopped taking data")
            select.select([], [self.fd], [], left)
        return b""


DRIVER = FileDriver
