"""What every reader transport is: a `ReaderDriver` with one transport method, `exchange`.

Kept apart from the package `__init__`, which imports the transports to pick among them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ...transport import Deadline as Deadline  # shared with the printers; the transports import it from here
from ..config import ReaderTarget


class ReaderDriver(ABC):
    def __init__(self, target: ReaderTarget, timeout_s: float):
        self.target = target
        self.timeout_s = timeout_s

    def open(self) -> None:  # noqa: B027 - a hook: the dummy reader has nothing to open
        pass

    def close(self) -> None:  # noqa: B027 - likewise
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def exchange(self, data: bytes, answer: int, wait_s: float) -> bytes:
        """Send `data` (if any), then read up to `answer` bytes, waiting at most `wait_s`.

        Sending first drops whatever unread input there is: a late answer to an earlier request
        (a slow reader, a timed-out read) must not be taken for the answer to this one. Returns
        what was read, fewer bytes than asked on a timeout. Raises ReaderGone when the link drops.
        """
