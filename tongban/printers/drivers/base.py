"""What every printer transport is: a `PrinterDriver`, and the `Deadline` they share (tongban/transport.py).

Kept apart from the package `__init__`, which imports the transports to pick among them: the
transports depend on this module, not back on the one that imports them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ...transport import Deadline as Deadline  # shared with the ID-card readers; the transports import it from here
from ..config import PrinterTarget
from ..status import PrinterStatus, interpret, query


class PrinterDriver(ABC):
    #: True when the link carries the printer's answers back (DLE EOT works); one-way links
    #: (a device file, a CUPS queue) cannot tell paper-out from fine.
    two_way = True

    def __init__(self, target: PrinterTarget, timeout_s: float):
        self.target = target
        self.timeout_s = timeout_s

    def open(self) -> None:  # noqa: B027 - most transports open per job in send(); a hook, not abstract
        pass

    def close(self) -> None:  # noqa: B027 - likewise: only transports that hold a connection close it
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def exchange(self, data: bytes, answer: int = 0, wait_s: float = 0.0, send_s: float | None = None) -> bytes:
        """Send `data` within `send_s` (default timeout_s); then, if `answer` > 0, read up to
        that many bytes, waiting at most `wait_s`. Returns what was read (b"" if nothing).

        Raises PrinterTimeout when sending cannot finish, PrinterReset when the link drops.
        """

    def status(self, wait_s: float | None = None) -> PrinterStatus:
        """Ask DLE EOT 1-4, waiting at most `wait_s` (default timeout_s) for all four answers.

        One wait for the four, not one each: a printer that answers slowly must not stretch a
        print past its deadline (docs/printers.md, Time)."""
        if not self.two_way:
            return PrinterStatus("unknown", f"{self.target.scheme}:// is one-way; status cannot be read")
        wait = Deadline(self.timeout_s if wait_s is None else wait_s)
        answers: dict[int, int] = {}
        for n in (1, 2, 3, 4):
            if wait.left() <= 0:
                break
            got = self.exchange(query(n), answer=1, wait_s=wait.left())
            if not got:
                break
            answers[n] = got[-1]
        return interpret(answers)
