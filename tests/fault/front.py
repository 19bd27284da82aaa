"""A hall behind its front server, run the way `tongban demo --front` runs it: nginx from the site
file on a temporary prefix, gunicorn on a unix socket in it, the devices process beside them. Shared
by tests/test_front_drills.py and bench/bench_front.py, with the attacks they both drive."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests._toml import dumps
from tests.fault.hall import ROOT, free_port, load_hall_doc

# Demo passwords sign in under `tongban demo` only; it gives them to its clerks.
CLERK_PASSWORD = "demo-clerk"


def front_hall_doc() -> dict:
    """The load test hall (no quotas, no kiosk rate limit, open all day) with two kiosks."""
    doc = load_hall_doc()
    doc["kiosks"] = [{"id": f"kiosk-{n}", "name": f"{n}号取号机"} for n in (1, 2)]
    return doc


@dataclass
class FrontDemo:
    folder: Path
    doc: dict = field(default_factory=front_hall_doc)
    port: int = field(default_factory=free_port)
    front: bool = True  # False: plain `tongban demo`, gunicorn on TCP (bench/bench_front.py --direct)
    proc: subprocess.Popen | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    prefix: Path | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "hall.toml"
        self.config.write_text(dumps(self.doc), encoding="utf-8")
        self.db = self.folder / "demo.db"
        self.log_path = self.folder / "demo.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "TONGBAN_LOG": "WARNING"}
        cmd = ["demo", "--config", str(self.config), "--db", str(self.db), "--port", str(self.port)]
        cmd += ["--front"] if self.front else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tongban", *cmd],
            cwd=ROOT,
            env=env,
            stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tongban demo --front exited {self.proc.returncode}: {self.log()[-2000:]}")
            if "Press Ctrl-C" in self.log() and self.health() == 200:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"tongban demo --front not up in {timeout} s: {self.log()[-2000:]}")
        log = self.log()
        self.tokens = dict(re.findall(r"terminal (\S+)\s+\S+/enrol\?token=(t_\S+)", log))
        if self.front:
            self.prefix = Path(re.search(r"front server .*\((\S+)/nginx\.conf\)", log).group(1))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self, timeout: float = 5) -> int:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=timeout) as r:
                return r.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def web_worker(self) -> int:
        """The gunicorn worker's pid: the child of the process running `tongban serve`."""
        master = next(pid for pid, args in _processes() if " serve " in args and _ppid(pid) == self.proc.pid)
        return next(pid for pid, _args in _processes() if _ppid(pid) == master)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # the demo stops nginx, the web and the devices
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def _processes() -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                continue
    return out


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS in /proc/PID/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for {pid}")


# ---------- what a hall's users do ----------


class StreamReader:
    """An SSE stream read on its own thread, e.g. the hall display's; ``saw(text)`` waits for text."""

    def __init__(self, port: int, path: str, cookie: str = ""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: hall\r\nCookie: {cookie}\r\n\r\n".encode())
        self.text = ""
        self.changed = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            while chunk := self.sock.recv(65536):
                with self.changed:
                    self.text += chunk.decode(errors="replace")
                    self.changed.notify_all()
        except OSError:
            pass

    def saw(self, needle: str, timeout: float = 15) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: needle in self.text, timeout)

    def close(self) -> None:
        self.sock.close()


# ---------- attacks ----------


class SlowHeaders:
    """Sockets that send a request's header one line every ``every_s`` seconds and never finish it."""

    def __init__(self, port: int, count: int, every_s: float = 5.0):
        self.socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: hall\r\n")
            self.socks.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, args=(every_s,), daemon=True)
        self._thread.start()

    def _drip(self, every_s: float) -> None:
        n = 0
        while not self._stop.wait(every_s):
            n += 1
            for s in self.socks:
                try:
                    s.sendall(f"X-Slow-{n}: {n}\r\n".encode())
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for s in self.socks:
            s.close()


def open_phone_streams(port: int, tokens: list[str], count: int) -> list[socket.socket]:
    """``count`` open GET /t/<token>/live, round-robin over the tickets, each read to its first bytes."""
    socks = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(f"GET /t/{tokens[i % len(tokens)]}/live HTTP/1.1\r\nHost: hall\r\n\r\n".encode())
        socks.append(s)
    for s in socks:
        s.recv(4096)  # the status line and the first event, or the polling answer
    return socks


def send_huge_body(port: int, path: str, size: int, *, chunked: bool = False, unix: str | None = None):
    """Stream a ``size``-byte JSON body (never held in memory) until the server answers; returns
    (status line, bytes sent)."""
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(unix)
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: hall\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
    piece = b"[" * 65536
    sent = 0
    answer = b""
    try:
        while sent < size:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break
            s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            sent += len(piece)
        s.settimeout(30)
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    except OSError:  # the server closed while we were still sending: read what it said
        try:
            answer += s.recv(4096)
        except OSError:
            pass
    finally:
        s.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), sent


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth
