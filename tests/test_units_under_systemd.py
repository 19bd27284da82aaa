"""The two service units under a real systemd as PID 1, not just `systemd-analyze verify`.

A throwaway container boots this machine's own /usr with an empty /etc and /var (systemd-nspawn
--volatile=yes, Debian's systemd-container), sharing the host's network. Inside it the units are
installed as docs/install.md says, with their full hardening, and we check what a hall's IT person
relies on: both start as Type=notify services as the `tongban` user and the web answers; a hung
devices process is killed by its watchdog and started again; a crashed web comes back; and the web
stops within seconds even with live screens connected.

Needs root and systemd-nspawn; skipped otherwise, or when this machine cannot boot a container.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import wait_for
from .fault.hall import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("systemd-nspawn"),
    reason="needs root and systemd-nspawn (Debian's systemd-container)",
)


def _python_home() -> Path:
    """Where the interpreter behind the project's venv lives (the venv links to it)."""
    return Path(os.path.realpath(sys.executable)).parents[1]


def _under(path: Path, *tops: str) -> bool:
    return any(path == Path(top) or Path(top) in path.parents for top in tops)


class Box:
    """A booted container; ``sh`` runs a shell script inside it as root."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.log = folder / "container.log"
        self.binds = [ROOT] + ([] if str(_python_home()).startswith("/usr/") else [_python_home()])
        args = [
            "systemd-nspawn",
            "--directory=/",
            "--volatile=yes",
            f"--machine=tongban-{self.port}",
            "--register=no",
            "--keep-unit",
            "--quiet",
            *[f"--bind-ro={p}" for p in self.binds],
            "--boot",
            "systemd.firstboot=off",
            "systemd.unit=multi-user.target",
        ]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.init = None

    def boot(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            children = subprocess.run(
                ["ps", "--ppid", str(self.proc.pid), "-o", "pid="], capture_output=True, text=True
            ).stdout.split()
            if children:
                self.init = int(children[0])
                state = self.sh("systemctl is-system-running 2>/dev/null || true", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return True
            time.sleep(0.5)
        return False

    def sh(self, script: str, *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["nsenter", "-t", str(self.init), "-m", "-u", "-i", "-p", "-n", "sh", "-s"],
            input=script,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode:
            raise AssertionError(f"in the container:\n{script}\n-> {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def show(self, unit: str, prop: str) -> str:
        return self.sh(f"systemctl show -P {prop} {unit}").stdout.strip()

    def install(self) -> None:
        # ProtectHome=yes hides /root and /home, PrivateTmp=yes the host's /tmp. A hall box has its
        # venv in /opt and Python in /usr; a test checkout or Python may live in one of those, and
        # only then are they made visible (read-only) to the services.
        hidden = [p for p in self.binds if _under(p, "/root", "/home", "/tmp", "/var/tmp")]
        drop_in = (
            ""
            if not hidden
            else "[Service]\n"
            + ("ProtectHome=tmpfs\n" if any(_under(p, "/root", "/home") for p in hidden) else "")
            + "".join(f"BindReadOnlyPaths={p}\n" for p in hidden)
        )
        self.sh(f"""set -e
mkdir -p /etc/sysusers.d /etc/tongban /opt/tongban
install -m 0644 {ROOT}/systemd/tongban.sysusers.conf /etc/sysusers.d/tongban.conf
systemd-sysusers
ln -sfn {ROOT}/.venv /opt/tongban/venv
cp {ROOT}/config/demo-hall.toml /etc/tongban/hall.toml
printf '%s\\n' TONGBAN_CONFIG=/etc/tongban/hall.toml TONGBAN_DB=/var/lib/tongban/tongban.db \\
  TONGBAN_HOST=127.0.0.1 TONGBAN_PORT={self.port} TONGBAN_BIND=127.0.0.1:{self.port} TONGBAN_SCREENS=16 \\
  > /etc/tongban/tongban.env
install -m 0644 {ROOT}/systemd/tongban-web.service {ROOT}/systemd/tongban-devices.service /etc/systemd/system/
for unit in tongban-web tongban-devices; do
  mkdir -p /etc/systemd/system/$unit.service.d
  printf '%s' '{drop_in}' > /etc/systemd/system/$unit.service.d/test-machine.conf
done
# A short watchdog, so the test sees it bite within seconds (the shipped unit says 60 s).
printf '[Service]\\nWatchdogSec=3\\n' > /etc/systemd/system/tongban-devices.service.d/watchdog.conf
systemctl daemon-reload
""")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status == 200  # 503 when the database is not ok
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # nspawn asks the container's systemd to power off
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    if not (ROOT / ".venv" / "bin" / "tongban").exists():
        pytest.skip("no project venv with the tongban command (scripts/setup makes it)")
    b = Box(tmp_path_factory.mktemp("systemd"))
    try:
        if not b.boot():
            pytest.skip(f"this machine cannot boot a container: {b.log.read_text(errors='replace')[-800:]}")
        b.install()
        started = b.sh("systemctl start tongban-web tongban-devices", check=False)  # waits for READY=1
        if started.returncode:
            journal = b.sh("journalctl -u tongban-web -u tongban-devices --no-pager | tail -40", check=False)
            raise AssertionError(f"the units did not start:\n{started.stderr}\n{journal.stdout}")
        yield b
    finally:
        b.stop()


def test_both_services_start_as_notify_units_as_the_tongban_user(box):
    for unit, status in (("tongban-web", f"listening on 127.0.0.1:{box.port}"), ("tongban-devices", "hall demo-hall")):
        assert box.show(unit, "ActiveState") == "active"
        assert box.show(unit, "Type") == "notify"
        assert box.show(unit, "StatusText") == status  # sent by the process itself over sd_notify
        pid = box.show(unit, "MainPID")
        assert box.sh(f"ps -o user= -p {pid}").stdout.strip() == "tongban"
    assert wait_for(box.healthy, timeout=10)
    assert box.sh("stat -c %U /var/lib/tongban/tongban.db").stdout.strip() == "tongban"
    # Where the web's socket goes behind nginx (here the web listens on TCP itself: no nginx inside).
    assert box.sh("stat -c %U:%a /run/tongban").stdout.strip() == "tongban:755"


def test_the_watchdog_restarts_a_hung_devices_process(box):
    hung = box.show("tongban-devices", "MainPID")
    box.sh(f"kill -STOP {hung}")
    assert wait_for(
        lambda: (
            box.show("tongban-devices", "MainPID") not in ("0", hung)
            and box.show("tongban-devices", "ActiveState") == "active"
        ),
        timeout=30,
    )
    journal = box.sh("journalctl -u tongban-devices --no-pager").stdout
    assert "Watchdog timeout" in journal
    assert int(box.show("tongban-devices", "NRestarts")) >= 1


def test_a_crashed_web_comes_back(box):
    crashed = box.show("tongban-web", "MainPID")
    box.sh(f"kill -KILL {crashed}")
    assert wait_for(lambda: box.show("tongban-web", "MainPID") not in ("0", crashed) and box.healthy(), timeout=30)
    assert int(box.show("tongban-web", "NRestarts")) >= 1


def test_the_web_stops_within_seconds_with_screens_connected(box):
    made = box.sh(
        "setpriv --reuid=tongban --regid=tongban --init-groups /opt/tongban/venv/bin/tongban terminal add"
        " hall-screen --kind display --name 综合屏 --db /var/lib/tongban/tongban.db"
    ).stdout
    token = re.search(r"\bt_\S+", made).group(0)
    screens = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", box.port), timeout=30)
        s.sendall(
            f"GET /display/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: tongban_terminal={token}\r\n\r\n".encode()
        )
        first = s.recv(4096)
        assert b"200 OK" in first and b"Transfer-Encoding: chunked" in first
        screens.append((s, bytearray(first)))
    started = time.monotonic()
    box.sh("systemctl stop tongban-web")
    took = time.monotonic() - started
    assert box.show("tongban-web", "ActiveState") == "inactive"
    for s, body in screens:
        while chunk := s.recv(4096):
            body += chunk
        s.close()
    # The server ended every stream itself (the chunked body's last chunk is there): it did not
    # leave them for gunicorn to cut at its graceful timeout (5 s), which is what held a stop.
    assert all(body.endswith(b"\r\n0\r\n\r\n") for _, body in screens), [bytes(b[-40:]) for _, b in screens]
    # And the stop an operator waits for stays under the required 4 s, kept as a bound because it
    # is the requirement (a restart must not leave the hall's screens dark for long). With the
    # streams ended it takes about 2.6 s, 2.9 s on a busy 2-core box: most of it is gunicorn
    # keeping the screens' now idle kept-alive connections open for 2 s. A stop that waited for
    # the streams would take the graceful timeout, 5 s.
    assert took < 4, f"stop took {took:.1f} s"
    box.sh("systemctl start tongban-web")
    assert wait_for(box.healthy, timeout=10)
