"""The front server: Debian's nginx in front of the web (docs/install.md, section 4).

``site_config`` fills the site template (tongban/nginx/tongban.conf); it is the one function that
makes the site file: for a hall box (``tongban nginx-site``), for ``tongban doctor`` to compare the
installed file with, and for ``Front``, which runs nginx with it on a temporary prefix as the current
user (``tongban demo --front``, the tests and bench/bench_front.py).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from .web.limits import MAX_BODY_BYTES
from .web.live import PUBLIC_STREAMS

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "tongban.conf"
STATIC = Path(__file__).resolve().parent / "static"
SOCKET = "/run/tongban/web.sock"  # where tongban-web.service listens (TONGBAN_BIND)
SITE = Path("/etc/nginx/sites-available/tongban")
SITE_ENABLED = Path("/etc/nginx/sites-enabled/tongban")


class FrontError(Exception):
    """nginx is missing, refuses the configuration, or did not start."""


def screen_streams(screens: int) -> int:
    """Live streams of kiosks, pads, displays and consoles the web has threads for (cli.threads_for)."""
    return int(1.5 * screens)


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def site_config(
    *,
    listen: str,
    upstream: str = f"unix:{SOCKET}",
    screens: int = 32,
    static: Path = STATIC,
    access_log: str = "/var/log/nginx/access.log",
) -> str:
    """The site file: nginx on ``listen`` (host:port) in front of the web at ``upstream`` (what
    ``tongban serve --bind`` was given: unix:/path or host:port)."""
    values = {
        "ACCESS_LOG": access_log,
        "LISTEN": listen,
        "UPSTREAM": upstream,
        "STATIC": str(static),
        "MAX_BODY_KB": str(MAX_BODY_BYTES // 1024),
        "SCREEN_STREAMS": str(screen_streams(screens)),
        "PHONE_STREAMS": str(PUBLIC_STREAMS),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if left:
        raise FrontError(f"{TEMPLATE}: no value for {', '.join(left)}")
    return text


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


# nginx.conf for a run on a temporary prefix: every path nginx writes is inside it, and it runs in the
# foreground as the user who started it (only root may switch users; then the workers stay root too,
# since they serve files and a socket that only this user may reach).
MAIN = """\
# Made by tongban.front for a run on a temporary prefix; the site is the hall box's own (tongban.conf).
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
{user}
events {{
    worker_connections {connections};
}}
http {{
    types {{
        text/html html;
        text/css css;
        text/plain txt;
        application/javascript js;
        application/json json;
        audio/ogg ogg;
        image/png png;
        image/svg+xml svg;
    }}
    default_type application/octet-stream;
    sendfile on;
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/tongban.conf;
}}
"""


class Front:
    """nginx with the site file on ``prefix`` (a folder of its own), listening on ``host:port`` in
    front of the web at ``upstream``."""

    def __init__(self, prefix: Path, *, host: str, port: int, upstream: str, screens: int = 32):
        self.prefix = Path(prefix).resolve()
        self.host, self.port = host, port
        self.upstream = upstream
        self.screens = screens
        self.proc: subprocess.Popen | None = None

    @property
    def conf(self) -> Path:
        return self.prefix / "nginx.conf"

    @property
    def site(self) -> Path:
        return self.prefix / "tongban.conf"

    def write(self) -> Path:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.site.write_text(
            site_config(
                listen=listen_address(self.host, self.port),
                upstream=self.upstream,
                screens=self.screens,
                access_log=str(self.prefix / "access.log"),
            ),
            encoding="utf-8",
        )
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        connections = 4096 if soft == resource.RLIM_INFINITY else max(256, min(4096, soft // 2))
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf.write_text(MAIN.format(prefix=self.prefix, user=user, connections=connections), encoding="utf-8")
        return self.conf

    def command(self) -> list[str]:
        nginx = nginx_binary()
        if nginx is None:
            raise FrontError("nginx is not installed (Debian: apt-get install nginx)")
        return [nginx, "-p", f"{self.prefix}/", "-c", str(self.conf), "-e", "stderr"]

    def start(self, *, log: IO | int | None = None, new_session: bool = True) -> subprocess.Popen:
        self.write()
        checked = subprocess.run([*self.command(), "-t", "-q"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise FrontError(f"nginx refuses {self.conf}: {checked.stderr.strip()}")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=new_session
        )
        return self.proc

    def wait_ready(self, timeout: float = 10) -> None:
        """Until nginx accepts connections on its address."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise FrontError(f"nginx exited ({None if self.proc is None else self.proc.returncode})")
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise FrontError(f"nginx is not listening on {self.host}:{self.port} after {timeout} s")

    def stop(self, timeout: float = 5) -> None:
        """Fast shutdown (SIGTERM: open streams are closed, not waited for)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
