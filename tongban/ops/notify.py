"""systemd's sd_notify protocol, in the dozen lines it takes (no extra dependency).

The service manager passes ``NOTIFY_SOCKET`` (a unix datagram socket; ``@`` starts an abstract name)
and, with ``WatchdogSec=``, ``WATCHDOG_USEC``. Outside systemd both are unset and every call is a
no-op, so the same code runs under ``tongban demo``, the tests and a unit file.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("tongban.notify")


def notify(*fields: str) -> bool:
    """Send ``READY=1``, ``WATCHDOG=1``, ``STATUS=…``, ``STOPPING=1``…; True if a manager was told."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
        return True
    except OSError as exc:  # a notify failure must never take the service down
        log.warning("sd_notify %s failed: %s", fields, exc)
        return False


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []), f"MAINPID={os.getpid()}")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def stopping(text: str = "") -> bool:
    return notify("STOPPING=1", *([f"STATUS={text}"] if text else []))


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between pings (a third of WatchdogSec), or None when no watchdog is asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 1e6 / 3)
    except ValueError:
        return None
