"""serial:///dev/ttyUSB0?baudrate=9600 - RS-232 printers and USB-serial adapters."""

from __future__ import annotations

import serial  # pyserial (absolute import: this module's own name does not shadow it)

from ..errors import PrinterError, PrinterOffline, PrinterReset, PrinterTimeout
from ..ticket import transfer_seconds
from .base import PrinterDriver


class SerialDriver(PrinterDriver):
    def __init__(self, target, timeout_s):
        super().__init__(target, timeout_s)
        self.port: serial.Serial | None = None

    def open(self) -> None:
        t = self.target
        try:
            # serial_for_url, like the display buses, so socket:// and loop:// work too
            self.port = serial.serial_for_url(
                t.path,
                baudrate=t.baudrate,
                rtscts=t.rtscts,
                xonxoff=t.xonxoff,
                timeout=self.timeout_s,
                write_timeout=self.timeout_s,
            )
            # a stale byte from before (an earlier unanswered query) would be read as the
            # answer to our first DLE EOT
            self.port.reset_input_buffer()
        except (serial.SerialException, ValueError) as e:
            raise PrinterOffline(f"cannot open {t.path}: {e}") from e

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except (serial.SerialException, OSError):
                pass
            self.port = None

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if self.port is None:
            raise PrinterError("not open")
        try:
            if data:
                if send_s is None:
                    # the wire itself takes time at low baud rates; only the rest is a fault
                    send_s = self.timeout_s + transfer_seconds(len(data), self.target.baudrate)
                self.port.write_timeout = send_s
                self.port.write(data)
            if answer <= 0:
                return b""
            self.port.timeout = wait_s
            return self.port.read(answer)
        except serial.SerialTimeoutException as e:
            raise PrinterTimeout(f"{self.target.path}: printer stopped taking data (flow control held)") from e
        except (serial.SerialException, OSError) as e:
            raise PrinterReset(f"{self.target.path}: link lost: {e}") from e


DRIVER = SerialDriver
