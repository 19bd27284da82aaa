"""`tongban doctor` checks a running install and says what to do for every finding; and the
backup/restore commands an IT person types."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from tests._toml import dumps
from tongban.cli import main
from tongban.config import load_hall_config
from tongban.ops.backup import list_backups, take_backup
from tongban.ops.damage import mark_damaged
from tongban.ops.doctor import FAIL, NOTE, OK, WARN, Doctor, transport_reachable
from tongban.queue.accounts import Accounts
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store
from tongban.web.app import create_app

from .conftest import small_hall_doc, wait_for


@pytest.fixture
def printer_port():
    """A network printer stand-in that accepts connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def install(tmp_path, printer_port):
    """A hall file and a database as a box has them after a day's work."""
    doc = small_hall_doc()
    doc["operations"] = {"backup_dir": str(tmp_path / "backups"), "disk_warn_mb": 1}
    doc["printers"] = [
        {"id": "p-net", "url": f"tcp://127.0.0.1:{printer_port}"},
        {"id": "p-gone", "url": f"tcp://127.0.0.1:{_closed_port()}"},
        {"id": "p-usb", "url": f"file://{tmp_path}/dev/usb/lp0"},
        {"id": "p-demo", "url": "dummy://"},
    ]
    doc["buses"] = [
        {
            "id": "floor1",
            "url": str(tmp_path / "dev" / "tongban" / "serial-A1"),
            "preset": "sum8-ff",
            "devices": [{"address": 1, "kind": "window", "window": 1}],
        },
        {
            "id": "test",
            "url": "loop://",
            "preset": "sum8-ff",
            "devices": [{"address": 1, "kind": "window", "window": 2}],
        },
    ]
    config = tmp_path / "hall.toml"
    config.write_text(dumps(doc), encoding="utf-8")
    db = tmp_path / "tongban.db"
    hall = load_hall_config(config)
    store = Store(db)
    service = HallService(store, hall, SystemClock())
    service.sync_with_config()
    store.setting("secret_key", lambda: "x" * 64)
    Accounts(store, SystemClock()).add("boss", "a-long-password", name="经理", role="manager")
    store.close()
    take_backup(db, tmp_path / "backups", kind="nightly")
    return config, db


def _by_check(findings):
    out = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def test_a_healthy_install_with_some_devices_missing(install, tmp_path):
    config, db = install
    findings = Doctor(str(config), str(db), url=None).run()
    checks = _by_check(findings)
    assert checks["config"][0].status == OK and checks["database"][0].status == OK
    assert checks["backups"][0].status == OK and "checks ok" in checks["backups"][0].message
    assert checks["clock"][0].status == OK
    assert checks["accounts"][0].status == OK
    assert checks["printer p-net"][0].status in (OK, NOTE)
    assert checks["printer p-gone"][0].status == FAIL and "ping 127.0.0.1" in checks["printer p-gone"][0].fix
    assert checks["printer p-usb"][0].status == FAIL and "/dev/tongban/" in checks["printer p-usb"][0].fix
    assert checks["printer p-demo"][0].status in (OK, NOTE)
    assert checks["bus floor1"][0].status == FAIL and "plugged in" in checks["bus floor1"][0].fix
    assert checks["bus test"][0].status == OK
    for finding in findings:
        if finding.status in (WARN, FAIL):
            assert finding.fix, f"{finding.check}: no advice"


def test_a_plugged_in_device_node_is_found(install, tmp_path):
    config, db = install
    node = tmp_path / "dev" / "usb" / "lp0"
    node.parent.mkdir(parents=True)
    node.write_bytes(b"")
    checks = _by_check(Doctor(str(config), str(db), url=None).run())
    assert checks["printer p-usb"][0].status in (OK, NOTE)


def test_recorded_printer_status_is_reported_with_what_to_do(install):
    config, db = install
    store = Store(db)
    now = datetime.now(UTC).isoformat()
    with store.immediate() as conn:
        conn.execute(
            "INSERT INTO device_status (device, kind, state, detail, at) VALUES (?,?,?,?,?)",
            ("printer:p-net", "printer", "paper_out", "paper end sensor", now),
        )
    store.close()
    finding = _by_check(Doctor(str(config), str(db), url=None).run())["printer p-net"][0]
    assert finding.status == WARN and "paper_out" in finding.message and "paper roll" in finding.fix


def test_a_damaged_database_fails_with_the_restore_commands(install, tmp_path):
    config, db = install
    mark_damaged(db, "integrity_check failed: row 3 missing from index tickets_waiting")
    finding = next(
        f for f in Doctor(str(config), str(db), url=None).run() if f.status == FAIL and f.check == "database"
    )
    assert "marked damaged" in finding.message
    newest = list_backups(tmp_path / "backups")[0]
    assert f"tongban restore {newest.path}" in finding.fix


def test_no_recent_backup_and_a_full_disk_are_warnings(install, tmp_path, monkeypatch):
    config, db = install
    for b in list_backups(tmp_path / "backups"):
        b.path.unlink()
    take_backup(db, tmp_path / "backups", kind="nightly", now=datetime.now() - timedelta(days=3))
    from collections import namedtuple

    from tongban.ops import disk

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _p: usage(10 * 2**30, 0, 0))
    checks = _by_check(Doctor(str(config), str(db), url=None).run())
    assert checks["backups"][0].status == WARN and "3 day(s)" in checks["backups"][0].message
    disk_findings = [f for name, fs in checks.items() if name.startswith("disk") for f in fs]
    assert disk_findings and all(f.status == WARN for f in disk_findings)
    assert "Tickets keep issuing" in disk_findings[0].fix


def test_a_clock_behind_the_database_fails(install):
    config, db = install
    store = Store(db)
    store.add_event(action="note", at=datetime.now(UTC) + timedelta(days=2))
    store.conn.commit()
    store.close()
    finding = _by_check(Doctor(str(config), str(db), url=None).run())["clock"][0]
    assert finding.status == FAIL and "timedatectl set-time" in finding.fix
    lost = Doctor(str(config), str(db), url=None, now=lambda: datetime(2000, 1, 1, tzinfo=UTC))
    assert _by_check(lost.run())["clock"][0].status == FAIL


def test_demo_passwords_are_named(install):
    config, db = install
    store = Store(db)
    Accounts(store, SystemClock(), allow_demo_passwords=True).add("clerk1", "demo-clerk", name="一号", role="clerk")
    store.close()
    finding = next(f for f in _by_check(Doctor(str(config), str(db), url=None).run())["accounts"])
    assert finding.status == WARN and "clerk1" in finding.message and "account passwd" in finding.fix


def test_a_bad_config_fails_with_how_to_check_it(install, tmp_path):
    _config, db = install
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall]\nid = 'x'\n", encoding="utf-8")
    finding = Doctor(str(bad), str(db), url=None).run()[0]
    assert finding.check == "config" and finding.status == FAIL and "tongban check-config" in finding.fix


def test_the_web_is_asked_for_its_health(install):
    config, db = install
    app = create_app({"HALL": load_hall_config(config), "DATABASE": str(db)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert _by_check(Doctor(str(config), str(db), url=url).run())["web"][0].status == OK
        mark_damaged(db, "bad")
        # The web looks at the marker once a second: wait until it has seen it, then ask the doctor.
        assert wait_for(lambda: _http_status(f"{url}/healthz") == 503, timeout=10, interval=0.1)
        web = _by_check(Doctor(str(config), str(db), url=url).run())["web"][0]
        assert web.status == FAIL and "503" in web.message
    finally:
        server.shutdown()
    down = _by_check(Doctor(str(config), str(db), url=f"http://127.0.0.1:{_closed_port()}").run())["web"][0]
    assert down.status == FAIL and "systemctl status tongban-web" in down.fix


@pytest.mark.parametrize(
    "url, status",
    [("dummy://", OK), ("loop://", OK), ("usb://ffff:fffe", FAIL), ("tcp://", FAIL), ("", FAIL), ("cups://", WARN)],
)
def test_transports(url, status):
    result = transport_reachable(url)
    assert result.status in ((status, NOTE) if status == WARN else (status,)), result


# ---------- the commands ----------


def test_doctor_command_prints_findings_and_fails_on_a_failure(install):
    config, db = install
    result = CliRunner().invoke(main, ["doctor", "--config", str(config), "--db", str(db), "--url", ""])
    assert result.exit_code == 1  # p-gone, p-usb and bus floor1 are not there
    assert "[FAIL] printer p-gone" in result.output and "→ " in result.output
    assert "failed," in result.output.splitlines()[-1]


def test_doctor_reads_the_paths_from_the_environment(install):
    config, db = install
    result = CliRunner().invoke(
        main, ["doctor", "--url", ""], env={"TONGBAN_CONFIG": str(config), "TONGBAN_DB": str(db)}
    )
    assert "[ok  ] database" in result.output


def test_backup_then_restore_commands(install, tmp_path):
    config, db = install
    runner = CliRunner()
    r = runner.invoke(main, ["backup", "--config", str(config), "--db", str(db)])
    assert r.exit_code == 0 and "integrity_check ok" in r.output
    manual = next(b for b in list_backups(tmp_path / "backups") if b.kind == "manual")
    r = runner.invoke(main, ["restore", "--list", "--config", str(config), "--db", str(db)])
    assert r.exit_code == 0 and f"{manual.path}  manual" in r.output and " ok" in r.output
    r = runner.invoke(main, ["restore", str(manual.path), "--config", str(config), "--db", str(db)], input="n\n")
    assert r.exit_code != 0 and "Aborted" in r.output
    r = runner.invoke(main, ["restore", str(manual.path), "--config", str(config), "--db", str(db), "--yes"])
    assert r.exit_code == 0, r.output
    assert "systemctl start tongban-web tongban-devices" in r.output
    assert any(b.kind == "before-restore" for b in list_backups(tmp_path / "backups"))
    r = runner.invoke(main, ["restore", str(config), "--db", str(db), "--yes", "--folder", str(tmp_path / "backups")])
    assert r.exit_code != 0 and "not an SQLite database" in r.output


def test_an_installed_box_needs_no_options(install, tmp_path, monkeypatch):
    config, db = install
    from tongban.ops import cli as ops_cli

    env_file = tmp_path / "tongban.env"
    env_file.write_text(f"# as /etc/tongban/tongban.env\nTONGBAN_CONFIG={config}\nTONGBAN_DB={db}\nTONGBAN_PORT=8000\n")
    monkeypatch.setattr(ops_cli, "ENV_FILE", env_file)
    monkeypatch.delenv("TONGBAN_CONFIG", raising=False)
    monkeypatch.delenv("TONGBAN_DB", raising=False)
    result = CliRunner().invoke(main, ["doctor", "--url", ""])
    assert f"[ok  ] database: {db}" in result.output
    assert CliRunner().invoke(main, ["backup"]).exit_code == 0


# ---------- nginx in front of the web ----------


@pytest.fixture
def fronted(install):
    """The web on a unix socket with nginx in front, from the site file, as on a box (short paths:
    a socket's path is at most 108 bytes)."""
    import shutil
    import tempfile
    from pathlib import Path

    from tongban.front import Front

    if shutil.which("nginx") is None:
        pytest.skip("needs Debian's nginx (scripts/setup --test)")
    config, db = install
    folder = Path(tempfile.mkdtemp(prefix="tb-doctor-"))
    sock = folder / "web.sock"
    server = make_server(f"unix://{sock}", 0, create_app({"HALL": load_hall_config(config), "DATABASE": str(db)}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    front = Front(folder / "nginx", host="127.0.0.1", port=_closed_port(), upstream=f"unix:{sock}", screens=8)
    front.start(log=open(folder / "nginx.log", "wb"))
    front.wait_ready()
    yield config, db, front, sock
    front.stop()
    server.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def _front_doctor(config, db, front, sock, **kw) -> dict:
    args = {
        "url": f"http://127.0.0.1:{front.port}",
        "site": front.site.read_text(),
        "site_path": front.site,
        "socket": str(sock),
        **kw,
    }
    return _by_check(Doctor(str(config), str(db), **args).run())


def test_nginx_in_front_of_the_web_is_checked(fronted):
    checks = _front_doctor(*fronted)
    assert checks["nginx site"][0].status == OK
    assert checks["web socket"][0].status == OK and "/healthz" in checks["web socket"][0].message
    assert checks["web"][0].status == OK and "through nginx" in checks["web"][0].message


def test_a_changed_or_missing_site_file_says_how_to_install_it(fronted):
    config, db, front, sock = fronted
    edited = front.site.read_text().replace("client_max_body_size", "client_max_body_size 100m; #")
    changed = _front_doctor(config, db, front, sock, site=edited)["nginx site"][0]
    assert changed.status == WARN and "differs" in changed.message
    assert "tongban nginx-site | diff" in changed.fix and "systemctl reload nginx" in changed.fix
    missing = _front_doctor(config, db, front, sock, site_path=front.prefix / "none.conf")["nginx site"][0]
    assert missing.status == FAIL and "sites-enabled/tongban" in missing.fix


def test_a_stopped_nginx_or_web_fails(fronted):
    config, db, front, sock = fronted
    front.stop()
    web = _front_doctor(config, db, front, sock)["web"][0]
    assert web.status == FAIL and "systemctl status tongban-web" in web.fix
    gone = _front_doctor(config, db, front, sock, socket=str(sock) + ".old")["web socket"][0]
    assert gone.status == FAIL and "TONGBAN_BIND" in gone.fix


def test_a_web_answering_without_nginx_is_a_warning(install, fronted):
    config, db, front, sock = fronted
    app = create_app({"HALL": load_hall_config(config), "DATABASE": str(db)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        web = _front_doctor(config, db, front, sock, url=f"http://127.0.0.1:{server.server_port}")["web"][0]
    finally:
        server.shutdown()
    assert web.status == WARN and "not nginx" in web.message and "TONGBAN_BIND" in web.fix


def test_doctor_checks_the_front_when_the_web_listens_on_a_socket(fronted, tmp_path, monkeypatch):
    config, db, front, sock = fronted
    from tongban.ops import cli as ops_cli

    env = tmp_path / "tongban.env"
    env.write_text(
        f"TONGBAN_CONFIG={config}\nTONGBAN_DB={db}\nTONGBAN_HOST=127.0.0.1\nTONGBAN_PORT={front.port}\n"
        f"TONGBAN_BIND=unix:{sock}\nTONGBAN_SCREENS=8\n"
    )
    monkeypatch.setattr(ops_cli, "ENV_FILE", env)
    for name in ("TONGBAN_CONFIG", "TONGBAN_DB", "TONGBAN_HOST", "TONGBAN_PORT", "TONGBAN_BIND", "TONGBAN_SCREENS"):
        monkeypatch.delenv(name, raising=False)
    # Installed as docs/install.md says: what `tongban nginx-site` prints for this box.
    installed = tmp_path / "sites-available-tongban"
    installed.write_text(CliRunner().invoke(main, ["nginx-site"]).output, encoding="utf-8")
    out = CliRunner().invoke(main, ["doctor", "--nginx-site", str(installed)]).output
    assert "[ok  ] nginx site" in out and "[ok  ] web socket" in out and "through nginx" in out
    plain = CliRunner().invoke(main, ["doctor", "--bind", "127.0.0.1:8001", "--url", ""]).output
    assert "nginx site" not in plain and "web socket" not in plain
