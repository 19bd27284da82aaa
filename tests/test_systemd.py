"""Installation: the units in systemd/ pass `systemd-analyze verify`, the two services rate
OK or better in `systemd-analyze security --offline=true`, and the kiosk launcher, the Chromium
policy, the udev rules and the sysusers file do what docs/install.md says.

No systemd runs here (PID 1 is not systemd in CI containers): `verify` runs against a scratch root
holding a copy of the system's unit directory and stand-ins for the programs the units start, so a
wrong ExecStart path, an unknown key or a missing dependency still fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "systemd"
SERVICES = ("tongban-web.service", "tongban-devices.service")
DISTRICT = "tongban-district.service"  # on the district server, not a hall box (docs/district.md)
UNITS = (*SERVICES, "tongban-kiosk.service", DISTRICT)
# Where docs/install.md puts the programs the units start.
PROGRAMS = ("/opt/tongban/venv/bin/tongban", "/usr/bin/cage", "/usr/local/lib/tongban/tongban-kiosk")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's systemd package (scripts/setup --test does)")
    return path


@pytest.fixture(scope="module")
def sdroot(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sdroot")
    system_units = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir())
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    for program in PROGRAMS:
        stub = root / program.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, root / "etc/systemd/system" / unit)
    return root


def _unit(name: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
        else:
            key, _, value = line.partition("=")
            sections[current].append((key, value))
    return sections


def _get(unit: dict, section: str, key: str) -> list[str]:
    return [v for k, v in unit[section] if k == key]


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_passes(sdroot, unit):
    done = subprocess.run(
        [_tool("systemd-analyze"), "verify", f"--root={sdroot}", unit], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_verify_would_catch_a_wrong_program_path(sdroot, tmp_path):
    broken = sdroot / "etc/systemd/system/tongban-broken.service"
    broken.write_text(
        (SYSTEMD / "tongban-web.service")
        .read_text()
        .replace("/opt/tongban/venv/bin/tongban", "/opt/tongban/bin/tongban")
    )
    try:
        done = subprocess.run(
            [_tool("systemd-analyze"), "verify", f"--root={sdroot}", broken.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        broken.unlink()
    assert done.returncode != 0 and "/opt/tongban/bin/tongban" in done.stderr


RATINGS_OK = ("OK", "SAFE", "PERFECT")


@pytest.mark.parametrize("unit", (*SERVICES, DISTRICT))
def test_systemd_analyze_security_rates_the_services_ok(unit):
    done = subprocess.run(
        [_tool("systemd-analyze"), "security", "--offline=true", "--no-pager", str(SYSTEMD / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Unknown key" not in done.stderr, done.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert m, done.stdout[-500:]
    assert m.group(2) in RATINGS_OK and float(m.group(1)) < 5.0, f"{unit}: {m.group(0)}"


@pytest.mark.parametrize("unit", SERVICES)
def test_services_run_as_the_static_user_with_state_directory_and_notify(unit):
    u = _unit(unit)
    s = dict(u["Service"])
    assert s["Type"] == "notify"
    assert (s["User"], s["Group"]) == ("tongban", "tongban")
    assert s["SupplementaryGroups"].split() == ["dialout", "lp"]
    assert s["StateDirectory"] == "tongban" and s["WorkingDirectory"] == "/var/lib/tongban"
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes" and s["CapabilityBoundingSet"] == ""
    assert s["RestartPreventExitStatus"] == "3"  # a damaged database: restarting cannot fix it
    assert s["EnvironmentFile"] == "/etc/tongban/tongban.env"
    assert "DynamicUser" not in s  # a static user: the database must keep one owner for years
    assert _get(u, "Install", "WantedBy") == ["multi-user.target"]


def test_web_runs_tongban_serve_and_devices_has_a_watchdog():
    web = dict(_unit("tongban-web.service")["Service"])
    devices = dict(_unit("tongban-devices.service")["Service"])
    assert web["ExecStart"].startswith("/opt/tongban/venv/bin/tongban serve ")
    assert "--screens ${TONGBAN_SCREENS}" in web["ExecStart"]
    # Behind nginx: the web listens on a unix socket in its runtime directory, not on the network.
    assert "--bind ${TONGBAN_BIND}" in web["ExecStart"] and "--host" not in web["ExecStart"]
    assert web["RuntimeDirectory"] == "tongban" and web["RuntimeDirectoryMode"] == "0755"
    assert devices["ExecStart"].startswith("/opt/tongban/venv/bin/tongban devices ")
    assert int(devices["WatchdogSec"]) >= 30 and "WatchdogSec" not in web
    assert devices["DevicePolicy"] == "closed" and web["PrivateDevices"] == "yes"


def test_district_runs_district_serve_on_localhost_with_the_password_out_of_sight():
    s = dict(_unit(DISTRICT)["Service"])
    assert s["ExecStart"].startswith("/opt/tongban/venv/bin/tongban district serve --db ${TONGBAN_DISTRICT_DB} ")
    # nginx in front: the service itself answers on this server only.
    assert "--host 127.0.0.1" in s["ExecStart"] and "0.0.0.0" not in s["ExecStart"]
    # No state on this disk (it is all in PostgreSQL), so a user made at start is enough.
    assert s["DynamicUser"] == "yes" and "StateDirectory" not in s
    assert s["EnvironmentFile"] == "/etc/tongban/district.env"
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes" and s["CapabilityBoundingSet"] == ""
    env = dict(
        line.split("=", 1)
        for line in (SYSTEMD / "district.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(re.findall(r"\$\{(\w+)\}", s["ExecStart"])) <= set(env)
    # libpq reads PGPASSWORD from the environment: the URL on the command line (seen by ps) has none.
    assert "PGPASSWORD" in env and ":" not in env["TONGBAN_DISTRICT_DB"].split("@")[0].removeprefix("postgresql:")


def test_env_example_names_what_the_units_use():
    env = dict(
        line.split("=", 1)
        for line in (SYSTEMD / "tongban.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    used = set()
    for unit in SERVICES:
        used |= set(re.findall(r"\$\{(\w+)\}", dict(_unit(unit)["Service"])["ExecStart"]))
    assert used <= set(env)
    assert env["TONGBAN_DB"] == "/var/lib/tongban/tongban.db"
    assert env["TONGBAN_BIND"] == "unix:/run/tongban/web.sock"
    assert {"TONGBAN_HOST", "TONGBAN_PORT"} <= set(env)  # where nginx listens (tongban nginx-site)


def test_kiosk_unit_runs_chromium_under_cage_and_restarts():
    u = _unit("tongban-kiosk.service")
    s = dict(u["Service"])
    assert s["ExecStart"].startswith("/usr/bin/cage ") and s["ExecStart"].endswith(
        "/usr/local/lib/tongban/tongban-kiosk"
    )
    assert " -s" not in s["ExecStart"]  # no switching to a text console
    assert s["Restart"] == "always" and s["User"] == "tongban-kiosk" and s["PAMName"] == "tongban-kiosk"
    assert s["TTYPath"] == "/dev/tty1" and "getty@tty1.service" in _get(u, "Unit", "Conflicts")
    assert (SYSTEMD / "pam.d-tongban-kiosk").read_text().count("pam_systemd.so") == 1


def test_sysusers_creates_the_static_users_in_their_groups(tmp_path):
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group"):
        shutil.copy(f"/etc/{name}", tmp_path / "etc" / name)
    done = subprocess.run(
        [_tool("systemd-sysusers"), f"--root={tmp_path}", str(SYSTEMD / "tongban.sysusers.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    passwd = (tmp_path / "etc/passwd").read_text()
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",") for line in (tmp_path / "etc/group").read_text().splitlines()
    }
    assert re.search(r"^tongban:x:\d+:\d+:[^:]*:/var/lib/tongban:/usr/sbin/nologin$", passwd, re.M)
    assert "tongban" in groups["dialout"] and "tongban" in groups["lp"]
    assert "tongban-kiosk" in groups["video"] and "tongban-kiosk" in groups["input"]


# ---------- the kiosk launcher and the Chromium policy ----------


def _policy(tmp_path, url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SYSTEMD / "tongban-kiosk-policy"), url, str(tmp_path / "managed" / "tongban.json")],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://192.168.1.10:8000/enrol?token=t_abc", "http://192.168.1.10:8000"),
        ("http://tongban-hall.local:8000", "http://tongban-hall.local:8000"),
        ("https://hall.example:443/kiosk/kiosk-1", "https://hall.example:443"),
    ],
)
def test_policy_allows_only_the_hall_server(tmp_path, url, origin):
    done = _policy(tmp_path, url)
    assert done.returncode == 0, done.stderr
    policy = json.loads((tmp_path / "managed" / "tongban.json").read_text())
    assert policy["URLBlocklist"] == ["*"] and policy["URLAllowlist"] == [origin]
    assert policy["DeveloperToolsAvailability"] == 2 and policy["IncognitoModeAvailability"] == 1
    assert policy["DownloadRestrictions"] == 3 and policy["BrowserGuestModeEnabled"] is False
    assert policy["RestoreOnStartupURLs"] == [origin + "/"]
    assert oct((tmp_path / "managed" / "tongban.json").stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("url", ["", "ftp://hall:21", 'http://hall:8000"; rm -rf /', "hall:8000", "file:///etc"])
def test_policy_refuses_what_is_not_a_hall_address(tmp_path, url):
    done = _policy(tmp_path, url)
    assert done.returncode == 2 and "usage" in done.stderr
    assert not (tmp_path / "managed" / "tongban.json").exists()


@pytest.fixture
def fake_chromium(tmp_path):
    stub = tmp_path / "chromium"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_OUT"\n')
    stub.chmod(0o755)
    return stub


def _launch(tmp_path, fake_chromium, **env):
    full = {
        "PATH": os.environ["PATH"],
        "TONGBAN_CHROMIUM": str(fake_chromium),
        "STATE_DIRECTORY": str(tmp_path / "state"),
        "ARGS_OUT": str(tmp_path / "args"),
        "TONGBAN_KIOSK_PROBE": "true",
        **env,
    }
    return subprocess.run([str(SYSTEMD / "tongban-kiosk")], env=full, capture_output=True, text=True, timeout=30)


def test_launcher_opens_the_hall_page_in_kiosk_mode(tmp_path, fake_chromium):
    url = "http://192.168.1.10:8000/enrol?token=t_abc"
    done = _launch(tmp_path, fake_chromium, TONGBAN_KIOSK_URL=url)
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "args").read_text().splitlines()
    assert args[-1] == url and "--kiosk" in args and "--ozone-platform=wayland" in args
    assert f"--user-data-dir={tmp_path / 'state' / 'chromium'}" in args
    assert "--disable-session-crashed-bubble" in args and "--noerrdialogs" in args


def test_launcher_clears_the_restore_pages_bubble_after_a_power_cut(tmp_path, fake_chromium):
    prefs = tmp_path / "state" / "chromium" / "Default" / "Preferences"
    prefs.parent.mkdir(parents=True)
    prefs.write_text('{"profile":{"exit_type":"Crashed","exited_cleanly":false}}')
    assert _launch(tmp_path, fake_chromium, TONGBAN_KIOSK_URL="http://hall:8000/").returncode == 0
    assert json.loads(prefs.read_text())["profile"] == {"exit_type": "Normal", "exited_cleanly": True}


def test_launcher_waits_for_the_hall_server_before_opening_the_page(tmp_path, fake_chromium):
    """After a power cut the screen boots first: Chromium must not sit on its error page while the
    server starts, so the launcher asks the server until it answers, then opens the page."""
    probe = tmp_path / "probe"
    probe.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$*" >> "$PROBES"\n[ "$(wc -l < "$PROBES")" -ge 3 ]\n'
    )  # the server answers on the third try
    probe.chmod(0o755)
    url = "http://192.168.1.10:8000/enrol?token=t_abc"
    done = _launch(
        tmp_path,
        fake_chromium,
        TONGBAN_KIOSK_URL=url,
        TONGBAN_KIOSK_PROBE=str(probe),
        TONGBAN_KIOSK_RETRY_S="0.05",
        PROBES=str(tmp_path / "probes"),
    )
    assert done.returncode == 0, done.stderr
    probes = (tmp_path / "probes").read_text().splitlines()
    assert len(probes) == 3 and all(p.endswith("http://192.168.1.10:8000/healthz") for p in probes)
    assert "waiting for the hall server at http://192.168.1.10:8000" in done.stderr
    assert (tmp_path / "args").read_text().splitlines()[-1] == url


@pytest.mark.parametrize("url", [None, "", "javascript:alert(1)"])
def test_launcher_refuses_without_a_hall_url(tmp_path, fake_chromium, url):
    env = {} if url is None else {"TONGBAN_KIOSK_URL": url}
    done = _launch(tmp_path, fake_chromium, **env)
    assert done.returncode == 2 and "TONGBAN_KIOSK_URL" in done.stderr
    assert not (tmp_path / "args").exists()


@pytest.mark.parametrize("script", ["tongban-kiosk", "tongban-kiosk-policy"])
def test_scripts_are_posix_shell(script):
    assert subprocess.run(["sh", "-n", str(SYSTEMD / script)], capture_output=True).returncode == 0
    assert os.access(SYSTEMD / script, os.X_OK)


# ---------- udev rules ----------

UDEV_KEYS = {
    "SUBSYSTEM",
    "KERNEL",
    "ENV",
    "ATTR",
    "ATTRS",
    "DRIVERS",
    "ACTION",
    "SYMLINK",
    "GROUP",
    "MODE",
    "OWNER",
    "IMPORT",
    "TAG",
    "RUN",
}
_PAIR = re.compile(r'\s*([A-Z]+)(?:\{([A-Za-z0-9_]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(?:,|$)')


def _rules():
    for number, raw in enumerate((SYSTEMD / "99-tongban.rules").read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            m = _PAIR.match(line, pos)
            assert m, f"99-tongban.rules:{number}: cannot parse at {line[pos : pos + 30]!r}"
            pairs.append(m.groups())
            pos = m.end()
        yield number, pairs


def test_udev_rules_parse_and_give_stable_names_with_access():
    rules = list(_rules())
    assert len(rules) >= 5
    names = []
    for number, pairs in rules:
        for key, _attr, op, value in pairs:
            assert key in UDEV_KEYS, f"line {number}: unknown key {key}"
            is_match = op in ("==", "!=")
            assert is_match == (
                key in ("SUBSYSTEM", "KERNEL", "ATTR", "ATTRS", "DRIVERS", "ACTION")
                or (key == "ENV" and op in ("==", "!="))
            ), f"line {number}: {key}{op}"
            if key == "SYMLINK":
                assert op == "+=" and value.startswith("tongban/"), f"line {number}: {value}"
                names.append(value)
            if key == "GROUP":
                assert value in ("dialout", "lp")
            if key == "MODE":
                assert value == "0660"
        assert any(op in ("==", "!=") for _k, _a, op, _v in pairs), f"line {number} matches every device"
    assert any(n.startswith("tongban/serial-") for n in names)
    assert any(n.startswith("tongban/printer-") for n in names)
