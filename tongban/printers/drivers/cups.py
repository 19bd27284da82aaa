"""cups://queue - a raw CUPS queue, through the `lp` and `lpstat` commands.

Through the command line rather than pycups, so no C extension and no libcups headers on
the kiosk; the runner is injectable so the exact commands are testable without CUPS.
A CUPS queue is one-way: it says whether the queue is enabled, never whether there is
paper, and a job to a stopped queue would print hours later - so a disabled queue fails
the ticket at once.
"""

from __future__ import annotations

import subprocess

from ..errors import PrinterError, PrinterTimeout
from ..status import PrinterStatus
from .base import PrinterDriver

JOB_TITLE = "tongban-ticket"


class CupsDriver(PrinterDriver):
    two_way = False

    def __init__(self, target, timeout_s, runner=None):
        super().__init__(target, timeout_s)
        self.run = runner or subprocess.run

    def lp_command(self) -> list[str]:
        # -o raw: the bytes are already ESC/POS; any CUPS filter would mangle them
        return ["lp", "-d", self.target.name, "-o", "raw", "-t", JOB_TITLE, "-"]

    def lpstat_command(self) -> list[str]:
        return ["lpstat", "-p", self.target.name]

    def _call(self, cmd: list[str], data: bytes | None, timeout: float) -> subprocess.CompletedProcess:
        try:
            return self.run(cmd, input=data, capture_output=True, timeout=timeout)
        except FileNotFoundError as e:
            raise PrinterError(f"{cmd[0]} not found: install cups-client") from e
        except subprocess.TimeoutExpired as e:
            raise PrinterTimeout(f"{cmd[0]} did not finish within {timeout:g} s") from e

    def status(self, wait_s=None) -> PrinterStatus:
        proc = self._call(self.lpstat_command(), None, self.timeout_s)
        out = (proc.stdout or b"").decode("utf-8", "replace")
        err = (proc.stderr or b"").decode("utf-8", "replace").strip()
        if proc.returncode != 0:
            return PrinterStatus("offline", err or f"no CUPS queue {self.target.name}")
        if " disabled" in out:
            reason = out.split("\n", 1)[1].strip() if "\n" in out.strip() else ""
            return PrinterStatus(
                "offline", f"CUPS queue {self.target.name} disabled" + (f": {reason}" if reason else "")
            )
        return PrinterStatus("unknown", f"CUPS queue {self.target.name} enabled; paper state is not reported")

    def exchange(self, data, answer=0, wait_s=0.0, send_s=None):
        if not data:
            return b""
        proc = self._call(self.lp_command(), data, send_s if send_s is not None else self.timeout_s)
        if proc.returncode != 0:
            err = (proc.stderr or b"").decode("utf-8", "replace").strip()
            raise PrinterError(f"lp failed ({proc.returncode}): {err}")
        return b""


DRIVER = CupsDriver
