"""``tongban doctor``: check a running install and say, for every finding, what to do.

Read-only: it never writes the database and, unless ``probe`` is asked for, never talks to a
printer or a bus itself (the devices process owns them; a second conversation on an RS-485 line or
a USB printer would disturb it). It checks that each device's transport is reachable (TCP connect,
device node present and openable, USB id on the bus) and reads the status the devices process
recorded in ``device_status``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import ConfigError, HallConfig, load_hall_config
from .backup import check_backup_file, list_backups, restore_help
from .damage import damaged
from .disk import disk_status

OK, NOTE, WARN, FAIL = "ok", "note", "warn", "fail"
BACKUP_MAX_AGE = timedelta(hours=36)
DEVICE_STATUS_MAX_AGE = timedelta(minutes=5)
BUILD_YEAR = 2026  # a clock before this year means the real-time clock lost its time


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok, note, warn, fail
    message: str
    fix: str = ""  # what to do; empty when nothing needs doing

    def line(self) -> str:
        mark = {OK: "ok  ", NOTE: "note", WARN: "WARN", FAIL: "FAIL"}[self.status]
        text = f"[{mark}] {self.check}: {self.message}"
        if self.fix:
            text += "\n" + "\n".join(f"       → {part}" for part in self.fix.splitlines())
        return text


@dataclass
class Doctor:
    config_path: str
    database: str
    url: str | None = "http://127.0.0.1:8000"
    probe: bool = False
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # The front server, when the web listens on a unix socket behind nginx (TONGBAN_BIND=unix:…):
    # the site file as `tongban nginx-site` makes it, where nginx reads it, and the web's socket.
    site: str | None = None
    site_path: Path = Path("/etc/nginx/sites-enabled/tongban")
    socket: str | None = None

    def run(self) -> list[Finding]:
        findings: list[Finding] = []
        config = self._config(findings)
        conn = self._database(findings, config)
        folder = (
            config.operations.backup_path(self.database) if config else Path(self.database).resolve().parent / "backups"
        )
        if config:
            findings += self._disk(config)
        findings += self._backups(folder, conn)
        findings += self._clock(conn)
        if conn is not None:
            findings += self._accounts(conn)
        if config:
            findings += self._printers(config, conn)
            findings += self._buses(config, conn)
            findings += self._card_readers(config, conn)
        findings += self._services()
        if self.site is not None:
            findings += self._front(self.site)
        if self.url:
            findings.append(self._web())
        if conn is not None:
            conn.close()
        return findings

    # ---- config and database ----

    def _config(self, findings: list[Finding]) -> HallConfig | None:
        try:
            config = load_hall_config(self.config_path)
        except ConfigError as exc:
            findings.append(
                Finding(
                    "config",
                    FAIL,
                    f"{self.config_path}: {len(exc.problems)} problem(s): " + "; ".join(exc.problems[:5]),
                    f"edit {self.config_path}, then `tongban check-config {self.config_path}` until "
                    f"it says ok, then `systemctl restart tongban-web tongban-devices`",
                )
            )
            return None
        findings.append(
            Finding(
                "config",
                OK,
                f"{self.config_path}: {config.hall.name_zh} ({len(config.lines)} "
                f"lines, {len(config.windows)} windows, {len(config.printers)} printers, "
                f"{len(config.buses)} buses)",
            )
        )
        return config

    def _database(self, findings: list[Finding], config: HallConfig | None) -> sqlite3.Connection | None:
        db = Path(self.database)
        folder = config.operations.backup_path(db) if config else db.resolve().parent / "backups"
        if not db.is_file():
            findings.append(
                Finding(
                    "database",
                    FAIL,
                    f"{db}: no such file",
                    "check --db; the installed path is /var/lib/tongban/tongban.db. The web "
                    "creates it at first start (systemctl start tongban-web)",
                )
            )
            return None
        marked = damaged(db)
        if marked:
            findings.append(
                Finding(
                    "database",
                    FAIL,
                    f"{db} is marked damaged by a failed integrity check: " + marked.splitlines()[0],
                    restore_help(db, folder),
                )
            )
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            conn.row_factory = sqlite3.Row
            result = [r[0] for r in conn.execute("PRAGMA quick_check")]
        except sqlite3.Error as exc:
            findings.append(Finding("database", FAIL, f"{db}: cannot be read ({exc})", restore_help(db, folder)))
            return None
        if result != ["ok"]:
            findings.append(
                Finding(
                    "database", FAIL, f"{db}: quick_check failed: {'; '.join(result[:3])}", restore_help(db, folder)
                )
            )
            return conn
        size = sum(os.stat(p).st_size for p in (db, Path(f"{db}-wal")) if p.exists())
        findings.append(Finding("database", OK, f"{db}: quick_check ok ({size / 2**20:.1f} MB)"))
        from ..queue.store import migrations

        try:
            applied = {r["name"] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
        except sqlite3.Error:
            applied = set()
        pending = [m.name for m in migrations._migrations if m.name not in applied]
        if pending:
            findings.append(
                Finding(
                    "schema",
                    NOTE,
                    f"{len(pending)} migration(s) pending: {', '.join(pending)}",
                    "they run at the next start of tongban-web or tongban-devices, after a "
                    "verified backup (kind pre-migration)",
                )
            )
        try:
            row = conn.execute(
                "SELECT day, ran_at, result FROM job_runs WHERE job = 'integrity' ORDER BY day DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error:
            row = None
        if row is None:
            findings.append(
                Finding(
                    "integrity",
                    NOTE,
                    "no nightly integrity_check recorded yet",
                    "it runs at operations.backup_time, and at the start of tongban-devices",
                )
            )
        elif not json.loads(row["result"]).get("ok"):
            findings.append(
                Finding("integrity", FAIL, f"the integrity_check of {row['day']} failed", restore_help(db, folder))
            )
        else:
            findings.append(Finding("integrity", OK, f"last integrity_check {row['day']}: ok"))
        try:
            has_secret = conn.execute("SELECT 1 FROM settings WHERE key = 'secret_key'").fetchone()
        except sqlite3.Error:
            has_secret = None
        if not has_secret:
            findings.append(
                Finding(
                    "secret key",
                    NOTE,
                    "no session secret yet",
                    "the web generates one at its first start and keeps it in the database",
                )
            )
        return conn

    # ---- disk, backups, clock, accounts ----

    def _disk(self, config: HallConfig) -> list[Finding]:
        out = []
        ops = config.operations
        for s in disk_status(self.database, ops.backup_path(self.database), ops.disk_warn_mb):
            if s.ok:
                out.append(Finding(f"disk ({s.what})", OK, f"{s.free_mb} MB free of {s.total_mb} MB at {s.path}"))
            else:
                out.append(
                    Finding(
                        f"disk ({s.what})",
                        WARN,
                        s.message_en,
                        f"free space on {s.path}: `journalctl --vacuum-size=200M`, remove old files "
                        f"in the backup folder (keep the newest), or move operations.backup_dir to "
                        f"another disk. Tickets keep issuing; backups stop before the last "
                        f"{ops.disk_warn_mb // 2} MB",
                    )
                )
        return out

    def _backups(self, folder: Path, conn) -> list[Finding]:
        if not folder.is_dir():
            return [
                Finding(
                    "backups",
                    WARN,
                    f"no backup folder {folder}",
                    "mount the backup disk there (see docs/install.md), or run "
                    "`sudo -u tongban tongban backup` to create it and take a first backup",
                )
            ]
        out = []
        if not os.access(folder, os.W_OK):
            out.append(
                Finding("backups", WARN, f"{folder} is not writable by this user", f"sudo chown tongban: {folder}")
            )
        regular = [b for b in list_backups(folder) if b.kind in ("nightly", "manual")]
        if not regular:
            out.append(
                Finding(
                    "backups",
                    WARN,
                    f"no backup in {folder} yet",
                    "take one now: `sudo -u tongban tongban backup`; nightly ones follow at "
                    "operations.backup_time while tongban-devices runs",
                )
            )
            return out
        newest = regular[0]
        age = datetime.now() - newest.taken_at
        problems = check_backup_file(newest.path)
        if problems:
            out.append(
                Finding(
                    "backups",
                    FAIL,
                    f"the newest backup {newest.name} fails its check: {problems[0]}",
                    "take a new one now (`sudo -u tongban tongban backup`) and check the backup disk",
                )
            )
        elif age > BACKUP_MAX_AGE:
            out.append(
                Finding(
                    "backups",
                    WARN,
                    f"the newest backup is {age.days} day(s) {age.seconds // 3600} h old ({newest.name})",
                    "is tongban-devices running (systemctl status tongban-devices)? is the backup "
                    "disk mounted? the manager console shows backup_failed alerts with the reason",
                )
            )
        else:
            out.append(
                Finding(
                    "backups",
                    OK,
                    f"{len(regular)} backup(s) in {folder}; newest {newest.name} "
                    f"({newest.size / 2**20:.1f} MB) checks ok",
                )
            )
        return out

    def _clock(self, conn) -> list[Finding]:
        now = self.now()
        if now.year < BUILD_YEAR:
            return [
                Finding(
                    "clock",
                    FAIL,
                    f"the clock says {now:%Y-%m-%d %H:%M} UTC",
                    "the real-time clock lost its time (BIOS battery?): set it with "
                    "`sudo timedatectl set-time 'YYYY-MM-DD HH:MM:SS'`; ticket numbering follows the date",
                )
            ]
        out = []
        latest = None
        if conn is not None:
            try:
                row = conn.execute("SELECT MAX(at) FROM events").fetchone()
                latest = datetime.fromisoformat(row[0]) if row and row[0] else None
            except sqlite3.Error:
                latest = None
        if latest is not None and latest - now > timedelta(minutes=5):
            out.append(
                Finding(
                    "clock",
                    FAIL,
                    f"the clock ({now:%Y-%m-%d %H:%M} UTC) is behind the newest event "
                    f"in the database ({latest:%Y-%m-%d %H:%M} UTC)",
                    "set the right time (`sudo timedatectl set-time …`), then restart tongban-web "
                    "and tongban-devices; wait times and the service day use this clock",
                )
            )
        else:
            out.append(Finding("clock", OK, f"{now.astimezone():%Y-%m-%d %H:%M %Z}, not behind the database"))
        synced = _run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if synced == "no":
            out.append(
                Finding(
                    "clock sync",
                    NOTE,
                    "not synchronised with a time server (expected offline)",
                    "compare the clock with a phone now and then; a hall network with an NTP "
                    "server can be set in /etc/systemd/timesyncd.conf",
                )
            )
        return out

    def _accounts(self, conn) -> list[Finding]:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        from ..queue.accounts import DEMO_PASSWORDS

        try:
            rows = conn.execute("SELECT username, password_hash, role, must_change, disabled FROM accounts").fetchall()
        except sqlite3.Error:
            return []
        hasher = PasswordHasher()
        demo = []
        for row in rows:
            if row["disabled"]:
                continue
            for password in DEMO_PASSWORDS:
                try:
                    hasher.verify(row["password_hash"], password)
                    demo.append(row["username"])
                    break
                except (VerificationError, InvalidHashError):
                    continue
        managers = [r for r in rows if r["role"] == "manager" and not r["disabled"]]
        out = []
        if not managers:
            out.append(
                Finding(
                    "accounts",
                    WARN,
                    "no manager account",
                    "sudo -u tongban tongban account add NAME --name '…' --role manager --db …",
                )
            )
        if demo:
            out.append(
                Finding(
                    "accounts",
                    WARN,
                    f"{len(demo)} account(s) still have a demo password: "
                    f"{', '.join(sorted(demo)[:8])}{' …' if len(demo) > 8 else ''}",
                    "they cannot sign in until the password is changed; set one now with "
                    "`sudo -u tongban tongban account passwd USER --db …`, or disable unused ones",
                )
            )
        elif managers:
            out.append(
                Finding("accounts", OK, f"{len(rows)} account(s), {len(managers)} manager(s), no demo passwords")
            )
        return out

    # ---- devices ----

    def _recorded(self, conn, device: str) -> tuple[str, str, datetime] | None:
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT state, detail, at FROM device_status WHERE device = ?", (device,)).fetchone()
        except sqlite3.Error:
            return None
        return (row["state"], row["detail"], datetime.fromisoformat(row["at"])) if row else None

    def _printers(self, config: HallConfig, conn) -> list[Finding]:
        out = []
        try:
            from ..printers import check_status
        except ImportError:  # pragma: no cover - the printers package ships with the hall
            check_status = None
        for printer in config.printers:
            name = f"printer {printer.id}"
            url = printer.url
            reach = transport_reachable(url)
            recorded = self._recorded(conn, f"printer:{printer.id}")
            if reach.status == FAIL:
                out.append(Finding(name, FAIL, f"{url}: {reach.message}", reach.fix))
                continue
            detail = reach.message
            status = reach.status
            fix = reach.fix
            if self.probe and check_status is not None:
                probe = check_status(printer)
                detail += f"; DLE EOT status now: {probe.state} {probe.detail}".rstrip()
                if probe.state not in ("ok", "paper_near_end"):
                    status, fix = WARN, _printer_fix(probe.state)
            elif recorded is not None:
                state, text, at = recorded
                age = self.now() - at
                detail += f"; last status {state}{' (' + text + ')' if text else ''}, {int(age.total_seconds())} s ago"
                if age > DEVICE_STATUS_MAX_AGE:
                    status, fix = (
                        WARN,
                        ("the devices process has not checked it for a while: systemctl status tongban-devices"),
                    )
                elif state not in ("ok", "paper_near_end"):
                    status, fix = WARN, _printer_fix(state)
            elif status == OK:
                status, fix = (
                    NOTE,
                    "no status recorded yet: is tongban-devices running? (or run doctor --probe with it stopped)",
                )
            out.append(Finding(name, status, f"{url}: {detail}", fix))
        return out

    def _buses(self, config: HallConfig, conn) -> list[Finding]:
        out = []
        for bus in config.buses:
            bid = bus.id
            url = bus.url
            reach = transport_reachable(url)
            out.append(Finding(f"bus {bid}", reach.status, f"{url}: {reach.message}", reach.fix))
            if conn is not None:
                try:
                    rows = conn.execute(
                        "SELECT device, state, detail, at FROM device_status WHERE device LIKE ?", (f"bus:{bid}:%",)
                    ).fetchall()
                except sqlite3.Error:
                    rows = []
                bad = [r for r in rows if r["state"] not in ("ok", "online")]
                if bad:
                    out.append(
                        Finding(
                            f"bus {bid}",
                            WARN,
                            f"{len(bad)} device(s) not answering: "
                            + ", ".join(f"{r['device']} {r['state']}" for r in bad[:6]),
                            "check the display's power and address, and the RS-485 wiring (A/B, "
                            "termination); docs/displays.md",
                        )
                    )
        return out

    def _card_readers(self, config: HallConfig, conn) -> list[Finding]:
        """The kiosks' and windows' ID-card readers: the port there, and the state the worker last recorded."""
        out = []
        readers = [(k.id, k.idcard) for k in config.kiosks if k.idcard]
        readers += [(f"window:{w.number}", w.idcard) for w in config.windows if w.idcard]
        for place, url in readers:
            # The port is checked as a printer's is; whether the reader answers on it is the worker's
            # last state (docs/idcard.md, Faults), written when it changes.
            name = f"ID-card reader {place}"
            reach = transport_reachable(url)
            recorded = self._recorded(conn, f"idcard:{place}")
            if reach.status == FAIL or recorded is None or recorded[0] == "ok":
                detail = reach.message + (f"; last state {recorded[0]}" if recorded else "")
                out.append(Finding(name, reach.status, f"{url}: {detail}", reach.fix))
            else:
                out.append(
                    Finding(
                        name,
                        WARN,
                        f"{url}: {reach.message}; last state {recorded[0]} ({recorded[1]})",
                        f"tongban idcard test {url} with a card on the reader; docs/idcard.md",
                    )
                )
        return out

    def _services(self) -> list[Finding]:
        if not Path("/run/systemd/system").is_dir() or not shutil.which("systemctl"):
            return [Finding("services", NOTE, "systemd is not running here; service states not checked")]
        out = []
        units = ("tongban-web.service", "tongban-devices.service")
        for unit in (*units, "nginx.service") if self.site is not None else units:
            state = _run(["systemctl", "is-active", unit]) or "unknown"
            if state == "active":
                out.append(Finding(unit, OK, "active"))
            else:
                out.append(
                    Finding(
                        unit, FAIL, state, f"sudo systemctl start {unit}; if it stops again: journalctl -u {unit} -n 50"
                    )
                )
        return out

    def _web(self) -> Finding:
        assert self.url is not None  # run() checks the web only when there is a URL
        url = self.url.rstrip("/") + "/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.loads(response.read() or b"{}")
                server = response.headers.get("Server", "")
            said = f"{url}: {body.get('status', 'ok')} (version {body.get('version', '?')})"
            if self.site is not None and not server.startswith("nginx"):
                return Finding(
                    "web",
                    WARN,
                    f"{said}, but answered by {server or 'an unknown server'}, not nginx",
                    "the web must listen only on its socket (TONGBAN_BIND=unix:/run/tongban/web.sock in "
                    "/etc/tongban/tongban.env) and nginx on TONGBAN_PORT; then systemctl restart tongban-web nginx",
                )
            return Finding("web", OK, said + (" through nginx" if self.site is not None else ""))
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {}
            return Finding(
                "web",
                FAIL,
                f"{url}: HTTP {exc.code} {body.get('error') or body.get('db') or ''}".rstrip(),
                "journalctl -u tongban-web -n 50",
            )
        except (OSError, ValueError) as exc:
            return Finding(
                "web",
                FAIL,
                f"{url}: {getattr(exc, 'reason', exc)}",
                "sudo systemctl status tongban-web; journalctl -u tongban-web -n 50",
            )

    # ---- the front server (nginx) ----

    def _front(self, site: str) -> list[Finding]:
        from ..front import nginx_binary

        install = (
            "tongban nginx-site > /etc/nginx/sites-available/tongban && "
            "ln -sf /etc/nginx/sites-available/tongban /etc/nginx/sites-enabled/tongban && "
            "rm -f /etc/nginx/sites-enabled/default && nginx -t && systemctl reload nginx"
        )
        out = []
        if nginx_binary() is None:
            out.append(Finding("nginx", FAIL, "nginx is not installed", "apt-get install nginx; then\n" + install))
        try:
            installed = self.site_path.read_text(encoding="utf-8")
        except OSError as exc:
            out.append(
                Finding("nginx site", FAIL, f"{self.site_path}: {exc.strerror or exc}", f"install it:\n{install}")
            )
        else:
            if installed == site:
                out.append(Finding("nginx site", OK, f"{self.site_path} is what `tongban nginx-site` makes"))
            else:
                ours, theirs = site.splitlines(), installed.splitlines()
                line = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
                out.append(
                    Finding(
                        "nginx site",
                        WARN,
                        f"{self.site_path} differs from what `tongban nginx-site` makes (from line {line + 1}: "
                        f"after an upgrade, a change of tongban.env, or an edit by hand)",
                        f"see the difference: tongban nginx-site | diff {self.site_path} -\ninstall it again:\n"
                        + install,
                    )
                )
        if self.socket:
            out.append(self._web_socket(Path(self.socket)))
        return out

    def _web_socket(self, path: Path) -> Finding:
        fix = (
            "is tongban-web running? systemctl status tongban-web; it listens on TONGBAN_BIND "
            "(unix:/run/tongban/web.sock) from /etc/tongban/tongban.env"
        )
        if not path.is_socket():
            return Finding("web socket", FAIL, f"{path}: {'not a socket' if path.exists() else 'no such socket'}", fix)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(str(path))
                conn.sendall(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
                head = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
        except OSError as exc:
            return Finding("web socket", FAIL, f"{path}: {exc.strerror or exc}", fix)
        if " 200 " not in f"{head} ":
            return Finding("web socket", FAIL, f"{path}: /healthz answered {head or 'nothing'}", fix)
        return Finding("web socket", OK, f"{path}: the web answers /healthz")


def _printer_fix(state: str) -> str:
    return {
        "paper_out": "load a new paper roll",
        "cover_open": "close the printer cover",
        "offline": "check the printer's power and cable",
        "error": "switch the printer off and on; check for a paper jam",
        "unknown": "the printer does not answer status queries; print a test ticket (tongban printers test)",
    }.get(state, "check the printer (docs/printers.md)")


@dataclass(frozen=True)
class Reach:
    status: str
    message: str
    fix: str = ""


def transport_reachable(url: str, *, timeout: float = 2.0) -> Reach:
    """Is the device's transport there? TCP connect, device node, USB id; never speaks its protocol."""
    from urllib.parse import unquote, urlsplit

    if not url:
        return Reach(FAIL, "no url", "add url = … to the entry in the hall file")
    if url.startswith("/"):  # a pyserial port given as a path: /dev/ttyUSB0, /dev/tongban/serial-…
        return _device_node(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("tcp", "socket", "rfc2217"):
        host, port = parts.hostname, parts.port or (9100 if scheme == "tcp" else None)
        if not host or not port:
            return Reach(FAIL, "no host:port", "expected tcp://host:9100 or socket://host:port")
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return Reach(OK, f"TCP {host}:{port} accepts connections")
        except OSError as exc:
            return Reach(
                FAIL,
                f"TCP {host}:{port}: {exc.strerror or exc}",
                f"check the device's power and network cable; `ping {host}`; its IP address may "
                f"have changed (give it a fixed one)",
            )
    if scheme in ("serial", "file"):
        return _device_node(unquote(parts.path) or parts.netloc)
    if scheme == "usb":
        return _usb(parts.netloc)
    if scheme in ("dummy", "loop"):
        return Reach(OK, "simulated device (prints/shows nowhere)", "")
    if scheme == "cups":
        queue = parts.netloc or unquote(parts.path).lstrip("/")
        state = _run(["lpstat", "-p", queue]) if shutil.which("lpstat") else None
        if state is None:
            return Reach(WARN, f"CUPS queue {queue}: lpstat not available", "apt-get install cups-client")
        return Reach(
            OK if "enabled" in state or "idle" in state else WARN,
            state.splitlines()[0] if state else "",
            "" if "enabled" in state or "idle" in state else f"check the queue: lpstat -p {queue}",
        )
    return Reach(NOTE, f"transport {scheme}:// not checked", "")


def _device_node(path: str) -> Reach:
    node = Path(path)
    if not node.exists():
        return Reach(
            FAIL,
            f"{path} does not exist",
            "is the USB adapter or printer plugged in? `ls -l /dev/tongban/` shows the stable names "
            "the udev rules give them (systemd/99-tongban.rules)",
        )
    real = node.resolve()
    try:
        fd = os.open(real, os.O_RDWR | os.O_NONBLOCK | os.O_NOCTTY)
        os.close(fd)
    except PermissionError:
        return Reach(
            FAIL,
            f"{path} ({real}) is not writable by this user",
            "the tongban user must be in the dialout and lp groups (the units set "
            "SupplementaryGroups=dialout lp); run doctor as `sudo -u tongban tongban doctor`",
        )
    except OSError as exc:
        # busy (the devices process has it open) still proves the device is there
        return Reach(OK, f"{path} present ({exc.strerror.lower() if exc.strerror else exc})")
    return Reach(OK, f"{path} present" + (f" → {real}" if real != node else ""))


def _usb(netloc: str) -> Reach:
    try:
        vid, pid = (int(x, 16) for x in netloc.split(":")[:2])
    except ValueError:
        return Reach(FAIL, f"usb://{netloc}: expected usb://VID:PID in hex", "")
    devices = Path("/sys/bus/usb/devices")
    for dev in devices.glob("*") if devices.is_dir() else ():
        try:
            if (int((dev / "idVendor").read_text(), 16), int((dev / "idProduct").read_text(), 16)) == (vid, pid):
                return Reach(OK, f"USB {vid:04x}:{pid:04x} is connected ({dev.name})")
        except (OSError, ValueError):
            continue
    return Reach(
        FAIL,
        f"USB {vid:04x}:{pid:04x} is not connected",
        "plug the printer in and switch it on; `lsusb` lists what the box sees",
    )


def _run(cmd: list[str]) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 or done.stdout else None


def worst(findings: Iterable[Finding]) -> str:
    order = [OK, NOTE, WARN, FAIL]
    return max((f.status for f in findings), key=order.index, default=OK)
