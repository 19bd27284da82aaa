"""What the device transports share: a `Deadline`, and reading a TCP answer before it.

The ticket printers (printers/drivers) and the ID-card readers (idcard/drivers) are separate
packages, and neither should load the other (a reader box has no printer libraries, and the other
way round), so what both use lives here, on the standard library alone.
"""

from __future__ import annotations

import socket
import time


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


def receive(sock: socket.socket, answer: int, wait_s: float) -> tuple[bytes, bool]:
    """Read up to `answer` bytes from `sock`, waiting at most `wait_s` for all of them.

    Returns what came (fewer bytes than asked when the time ran out) and whether the peer closed
    the connection; each driver turns a close into its own error (ReaderGone, PrinterReset), so
    this raises only what the socket raises (OSError), never an error of one package."""
    got = b""
    deadline = Deadline(wait_s)
    while len(got) < answer:
        left = deadline.left()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(answer - len(got))
        except TimeoutError:
            break
        if not chunk:
            return got, True
        got += chunk
    return got, False
