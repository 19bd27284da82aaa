"""serial:///dev/ttyUSB1?baudrate=115200 - a reader on RS-232 or a USB-serial adapter (loop:// too).

pyserial's serial_for_url, as the display buses use, so `loop://` works in tests as well.
"""

from __future__ import annotations

import termios

import serial  # pyserial (absolute import: this module's own name does not shadow it)

from ..errors import IdcardError, ReaderGone
from .base import Deadline, ReaderDriver


class SerialReader(ReaderDriver):
    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        self.port: serial.Serial | None = None

    def open(self) -> None:
        t = self.target
        try:
            self.port = serial.serial_for_url(
                t.pyserial_url, baudrate=t.baudrate, timeout=self.timeout_s, write_timeout=self.timeout_s
            )
        except (serial.SerialException, ValueError, OSError) as e:
            raise ReaderGone(f"cannot open {t.where}: {e}") from e

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except (serial.SerialException, OSError, termios.error):
                pass
            self.port = None

    def exchange(self, data, answer, wait_s):
        if self.port is None:
            raise IdcardError("not open")
        try:
            if data:
                self.port.reset_input_buffer()
                self.port.write(data)
            got = b""
            deadline = Deadline(wait_s)
            # read() returns early with what came when the timeout passes; loop so a frame that
            # arrives in pieces (a USB-serial adapter hands over 64 bytes at a time) is whole
            while len(got) < answer:
                left = deadline.left()
                if left <= 0:
                    break
                self.port.timeout = left
                chunk = self.port.read(answer - len(got))
                if not chunk:
                    break
                got += chunk
            return got
        except serial.SerialTimeoutException as e:
            raise ReaderGone(f"{self.target.where}: the reader stopped taking data") from e
        except (serial.SerialException, OSError, termios.error) as e:
            # termios.error is not an OSError: flushing a tty whose adapter was pulled raises it (EIO)
            raise ReaderGone(f"{self.target.where}: link lost: {e}") from e


DRIVER = SerialReader
