"""A socat pty pair to stand in for a serial cable, and a device that listens on the far end.

`socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B` gives two ptys joined back to back: the
worker opens A as if it were /dev/ttyUSB0, and `PtyDevice` plays the displays and keypads on B.
Killing socat is pulling the cable; starting it again with the same link paths is plugging it back.
"""

from __future__ import annotations

import os
import queue
import select
import shutil
import subprocess
import threading
import time

import pytest

from tests.tools.fake_displays import DeviceSimulator

from ..conftest import wait_for  # noqa: F401 - shared with this folder's tests


class SocatPair:
    def __init__(self, directory):
        self.a = str(directory / "a")  # the host's end
        self.b = str(directory / "b")  # the devices' end
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        lines: queue.Queue = queue.Queue()

        def drain(stream):  # keep reading so socat never blocks on a full stderr pipe
            for line in stream:
                lines.put(line)

        threading.Thread(target=drain, args=(self.proc.stderr,), daemon=True).start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if b"starting data transfer loop" in line:
                return
        raise RuntimeError("socat did not start")

    def kill(self) -> None:
        """Pull the cable: no goodbye, the ptys vanish under whoever has them open."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        # A killed socat leaves its links behind, pointing at /dev/pts numbers the kernel hands
        # to the next pty anyone opens (another test, another process): a worker reopening the
        # stale link would talk to a stranger. Removing them is also what unplugging a USB
        # adapter does to /dev/ttyUSB0.
        for link in (self.a, self.b):
            if os.path.islink(link):
                os.unlink(link)


class PtyDevice:
    """Every device on the bus, answering on the devices' end of the pty pair."""

    def __init__(self, path: str, sim: DeviceSimulator):
        self.path = path
        self.sim = sim
        self.gone = threading.Event()
        self._stop = threading.Event()
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._fd], [], [], 0.05)
                if not ready:
                    continue
                try:
                    data = os.read(self._fd, 4096)
                except BlockingIOError:
                    continue
                if not data:
                    break
                answer = self.sim.feed(data)
                if answer:
                    os.write(self._fd, answer)
        except OSError:
            pass  # socat went away: the cable is unplugged
        finally:
            self.gone.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        try:
            os.close(self._fd)
        except OSError:
            pass


@pytest.fixture
def socat(tmp_path):
    if shutil.which("socat") is None:
        if os.environ.get("CI"):
            pytest.fail("socat is not installed (apt-get install socat); the pty tests need it")
        pytest.skip("socat is not installed")
    pair = SocatPair(tmp_path)
    pair.start()
    yield pair
    pair.kill()
