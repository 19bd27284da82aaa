"""usb://VID:PID - printers that speak USB directly, through python-escpos' Usb (pyusb).

python-escpos passes `timeout` straight to pyusb, where 0 means wait forever; a kiosk
printer with no paper then hangs the devices process. We always pass a finite timeout
(milliseconds) and use it on every write and read.
"""

from __future__ import annotations

import errno

from ..errors import PrinterError, PrinterOffline, PrinterReset, PrinterTimeout
from .base import PrinterDriver


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _escpos_usb(**kwargs):
    from escpos.printer import Usb

    if not Usb.is_usable():
        raise PrinterError("usb:// needs pyusb and libusb-1.0 (pip install pyusb; apt-get install libusb-1.0-0)")
    return Usb(**kwargs)


def _is_timeout(e: BaseException) -> bool:
    return type(e).__name__ == "USBTimeoutError" or getattr(e, "errno", None) == errno.ETIMEDOUT


class UsbDriver(PrinterDriver):
    def __init__(self, target, timeout_s, factory=None):
        super().__init__(target, timeout_s)
        self.factory = factory or _escpos_usb  # tests inject a fake device here
        self.printer = None

    @property
    def where(self) -> str:
        return f"usb://{self.target.vendor_id:04x}:{self.target.product_id:04x}"

    def open(self) -> None:
        from escpos.exceptions import DeviceNotFoundError

        kwargs = dict(idVendor=self.target.vendor_id, idProduct=self.target.product_id, timeout=_ms(self.timeout_s))
        if self.target.in_ep is not None:
            kwargs["in_ep"] = self.target.in_ep
        if self.target.out_ep is not None:
            kwargs["out_ep"] = self.target.out_ep
        self.printer = self.factory(**kwargs)
        try:
            self.printer.open(raise_not_found=True)
        except DeviceNotFoundError as e:
            self.printer = None
            raise PrinterOffline(f"{self.where} not found (unplugged, or no permission): {e}") from e

    def close(self) -> None:
        if self.printer is not None:
            try:
                self.printer.close()
            except (OSError, RuntimeError):
                pass
            self.printer = None

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if self.printer is None:
            raise PrinterError("not open")
        dev = self.printer.device
        try:
            if data:
                dev.write(self.printer.out_ep, data, _ms(send_s if send_s is not None else self.timeout_s))
            if answer <= 0:
                return b""
            try:
                return bytes(dev.read(self.printer.in_ep, answer, _ms(wait_s)))
            except OSError as e:
                if _is_timeout(e):
                    return b""
                raise
        except OSError as e:  # pyusb's USBError is an IOError
            if _is_timeout(e):
                raise PrinterTimeout(f"{self.where}: printer stopped taking data") from e
            raise PrinterReset(f"{self.where}: {e}") from e


DRIVER = UsbDriver
