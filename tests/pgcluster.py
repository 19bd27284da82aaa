"""A throwaway PostgreSQL cluster for the district tests: Debian's server binaries, a temp folder,
a unix socket only (no TCP port), trust auth, run as a non-root user (the server refuses root).

``scripts/setup --test`` installs Debian's postgresql; the cluster is made and started here, so CI
and a new clone need nothing running beforehand.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("PostgreSQL's server binaries are missing: run scripts/setup --test (Debian's postgresql)")


def _server_user() -> str | None:
    """Root cannot run the server: use Debian's postgres user, else nobody."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run PostgreSQL")


def database_name(url: str) -> str:
    return urlsplit(url).path.strip("/")


class PgCluster:
    """initdb + pg_ctl start in a temp folder; ``url(dbname)`` for clients; ``stop()`` removes it all."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="tongban-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "tongban", "-E", "UTF8", "--no-sync")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / tool), *args],
            check=True,
            user=self.user,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> None:
        # fsync off and a small shared_buffers: a throwaway cluster on a busy test box.
        options = f"-k {self.socket_dir} -c listen_addresses='' -F -c shared_buffers=32MB -c max_connections=200"
        log = str(self.root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60", "-l", log, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://tongban@/{dbname}?host={self.socket_dir}"

    def new_database(self, prefix: str = "t", *, template: str | None = None) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        # FILE_COPY: with fsync off, copying the files beats writing the template through the WAL.
        source = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{source}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Gone with whatever still holds it open (a test's pool, a killed server's backends)."""
        name = database_name(url)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
