"""The ``tongban`` command: serve, devices, demo, check-config, account, terminal."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from .config import ConfigError, load_hall_config
from .displays.cli import displays
from .idcard.cli import idcard
from .printers import printer_warnings
from .printers.cli import printers
from .queue.accounts import AccountError, Accounts
from .queue.clock import SystemClock
from .queue.store import Store

DEFAULT_DB = "var/tongban.db"
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo-hall.toml"


def _hall_or_exit(path: str):
    try:
        return load_hall_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"{path}: {problem}", err=True)
        sys.exit(2)


def _db_path(db: str) -> str:
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    return db


@click.group()
def main() -> None:
    """Tongban (通办): kiosk and queueing for cross-province service windows."""
    logging.basicConfig(
        level=os.environ.get("TONGBAN_LOG", "INFO"), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from .logmask import mask_handlers

    mask_handlers(logging.getLogger())  # no ID or mobile number reaches a log (docs/architecture.md §Web)


@main.command("check-config")
@click.argument("files", nargs=-1, required=True, type=click.Path())
def check_config(files: tuple[str, ...]) -> None:
    """Check hall files; print every problem as path.field: what is wrong (what was expected)."""
    failed = False
    for path in files:
        try:
            hall = load_hall_config(path)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                click.echo(f"{path}: {problem}")
            continue
        click.echo(
            f"{path}: ok ({hall.hall.name_zh}: {len(hall.matters)} matters, {len(hall.lines)} lines, "
            f"{len(hall.windows)} windows)"
        )
        for printer in hall.printers:
            for warning in printer_warnings(printer):
                click.echo(f"{path}: warning: printers.{printer.id}: {warning}")
    sys.exit(1 if failed else 0)


def threads_for(screens: int) -> int:
    """Every SSE stream holds a thread (docs/architecture.md §Processes): 1.5 × screens (kiosks,
    pads, displays, consoles, with spare), the phone streams of ticket status pages (capped at
    live.PUBLIC_STREAMS; beyond that the pages poll), and 16 for ordinary requests. The front server
    caps both kinds of stream at the same numbers (tongban/front.py), so those 16 stay free whatever
    the streams do."""
    from .front import screen_streams
    from .web.live import PUBLIC_STREAMS

    return screen_streams(screens) + PUBLIC_STREAMS + 16


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True), help="hall TOML file")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite database file")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--bind",
    help="where to listen instead of --host/--port: HOST:PORT, or unix:PATH behind nginx "
    "(tongban-web.service: unix:/run/tongban/web.sock)",
)
@click.option("--screens", default=32, show_default=True, type=int, help="expected screens (sizes the thread pool)")
@click.option("--always-open", is_flag=True, help="ignore opening hours (demo)")
def serve(config_path: str, db: str, host: str, port: int, bind: str | None, screens: int, always_open: bool) -> None:
    """Run the web under gunicorn: one worker, gthread (docs/architecture.md §Processes)."""
    import sqlite3

    from gunicorn.app.base import BaseApplication

    from .ops import notify
    from .queue.store import StoreError
    from .web.app import create_app

    hall = _hall_or_exit(config_path)
    bind = bind or f"{host}:{port}"
    try:
        # On a unix socket the web stands behind nginx (docs/install.md), which says who the client is.
        behind = bind.startswith("unix:")
        app = create_app({"HALL": hall, "DATABASE": _db_path(db), "ALWAYS_OPEN": always_open, "BEHIND_PROXY": behind})
    except (StoreError, sqlite3.DatabaseError) as exc:
        # A damaged or unmigratable file: say so and stay down (exit 3 is RestartPreventExitStatus).
        from .ops.backup import restore_help

        click.echo(f"tongban-web not starting: {exc}\n{restore_help(db, hall.operations.backup_path(db))}", err=True)
        sys.exit(3)

    def end_streams_on_exit(worker):
        # gunicorn's graceful stop waits for open requests, and every live screen holds one: end the
        # streams first so a restart takes a moment, not the whole graceful timeout.
        def handle_exit(sig, frame):
            app.extensions["tongban.broker"].close_all()
            worker.handle_exit(sig, frame)

        signal.signal(signal.SIGTERM, handle_exit)
        signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn sets it: don't break active requests

    class Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": bind,
                "workers": 1,
                "worker_class": "gthread",
                "threads": threads_for(screens),
                "graceful_timeout": 5,
                "timeout": 30,
                "accesslog": "-",
                "logger_class": "tongban.logmask.AccessLogger",  # paths only, numbers masked
                "proc_name": "tongban-web",
                # Type=notify: ready once the socket is bound (tongban-web.service).
                "when_ready": lambda _server: notify.ready(f"listening on {bind}"),
                "post_worker_init": end_streams_on_exit,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    Gunicorn().run()


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True), help="hall TOML file")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite database file")
def devices(config_path: str, db: str) -> None:
    """Run the devices process: scheduler, printers, serial buses (docs/architecture.md §Processes)."""
    from .devices.process import DevicesProcess

    DevicesProcess(_hall_or_exit(config_path), _db_path(db)).run()


DEMO_MANAGER = ("manager", "demo-manager", "演示管理员")
DEMO_CLERK_PASSWORD = "demo-clerk"


def seed_demo(db: str, hall) -> dict:
    """Demo accounts and terminals; tokens are returned so the demo can print the screens' addresses."""
    store = Store(db)
    accounts = Accounts(store, SystemClock())
    try:
        if not accounts.list():
            accounts.add(DEMO_MANAGER[0], DEMO_MANAGER[1], name=DEMO_MANAGER[2], role="manager", staff_no="M001")
            for window in hall.windows:
                accounts.add(
                    f"clerk{window.number}",
                    DEMO_CLERK_PASSWORD,
                    name=f"{window.number}号窗口工作人员",
                    role="clerk",
                    staff_no=f"C{window.number:03d}",
                )
        existing = {t["id"] for t in accounts.terminals() if not t["revoked_at"]}
        tokens = {}
        for kiosk in hall.kiosks:
            tokens[kiosk.id] = _fresh_terminal(accounts, existing, kiosk.id, "kiosk", kiosk.name)
        tokens["hall-display"] = _fresh_terminal(accounts, existing, "hall-display", "display", "综合屏")
        for window in hall.windows[:2]:
            tokens[f"pad-{window.number}"] = _fresh_terminal(
                accounts, existing, f"pad-{window.number}", "pad", f"{window.number}号窗口评价器", window=window.number
            )
        return tokens
    finally:
        store.close()


def _fresh_terminal(
    accounts: Accounts, existing: set[str], terminal_id: str, kind: str, name: str, window: int | None = None
) -> str:
    # The demo re-enrols its terminals on every start: tokens are only ever shown once.
    if terminal_id in existing:
        accounts.revoke_terminal(terminal_id)
        with accounts.store.immediate() as conn:
            conn.execute("DELETE FROM terminals WHERE id = ?", (terminal_id,))
    return accounts.add_terminal(terminal_id, kind, name, window=window)


@main.command()
@click.option("--config", "config_path", default=str(DEMO_CONFIG), show_default=True, type=click.Path(exists=True))
@click.option("--db", default="var/demo.db", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--front",
    is_flag=True,
    help="put nginx in front, as on a hall box: the same site file on a temporary prefix, run as you",
)
def demo(config_path: str, db: str, host: str, port: int, front: bool) -> None:
    """Run the demo hall: web and devices together, with demo logins; Ctrl-C stops both."""
    import tempfile

    from .front import Front, FrontError

    hall = _hall_or_exit(config_path)
    db = _db_path(db)
    tokens = seed_demo(db, hall)
    base = f"http://{host}:{port}"
    exe = [sys.executable, "-m", "tongban"]
    prefix = Path(tempfile.mkdtemp(prefix="tongban-front-")) if front else None
    web = ["--bind", f"unix:{prefix / 'web.sock'}"] if prefix else ["--host", host, "--port", str(port)]
    procs = [
        subprocess.Popen([*exe, "serve", "--config", config_path, "--db", db, *web, "--always-open"]),
        subprocess.Popen([*exe, "devices", "--config", config_path, "--db", db]),
    ]
    nginx = Front(prefix, host=host, port=port, upstream=f"unix:{prefix / 'web.sock'}") if prefix else None

    def stop(*_):
        if nginx:
            nginx.stop()  # first: it holds the streams, and its SIGTERM closes them at once
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 8
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if prefix:
            shutil.rmtree(prefix, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    if nginx:
        try:
            _wait_for_socket(nginx.prefix / "web.sock", procs[0])
            procs.append(nginx.start(new_session=False))
            nginx.wait_ready()
        except FrontError as exc:
            click.echo(f"tongban demo --front: {exc}", err=True)
            stop()
            sys.exit(1)
    click.echo(f"\nTongban demo: {hall.hall.name_zh} / {hall.hall.name_en}")
    if nginx:
        click.echo(f"  front server     nginx on {host}:{port} ({nginx.conf}), the web on {nginx.upstream}")
    click.echo(f"  health           {base}/healthz")
    click.echo(f"  public info      {base}/info")
    click.echo(f"  API description  {base}/api/v1/openapi.json")
    for terminal_id, token in tokens.items():
        click.echo(f"  terminal {terminal_id:<14}{base}/enrol?token={token}")
    click.echo(f"  manager login    {base}/login   user {DEMO_MANAGER[0]} / password {DEMO_MANAGER[1]}")
    click.echo(f"  clerk logins     user clerk1 … clerk{len(hall.windows)} / password {DEMO_CLERK_PASSWORD}")
    click.echo("Press Ctrl-C to stop.\n")

    try:
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        click.echo("a demo process stopped; stopping the others", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def _wait_for_socket(path: Path, web: subprocess.Popen, timeout: float = 60) -> None:
    """Until the web has bound its unix socket (nginx answers 502 before that)."""
    from .front import FrontError

    deadline = time.monotonic() + timeout
    while not path.is_socket():
        if web.poll() is not None or time.monotonic() > deadline:
            raise FrontError(f"the web did not listen on {path}")
        time.sleep(0.05)


# ---------- accounts and terminals ----------


@main.group()
def account() -> None:
    """Staff accounts (stored in the database, never in the hall file)."""


@account.command("add")
@click.argument("username")
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.option("--name", required=True, help="full name shown on the rating pad")
@click.option("--role", type=click.Choice(["clerk", "manager"]), required=True)
@click.option("--staff-no", default="", help="staff number shown on the rating pad")
@click.password_option(help="at least 8 characters")
def account_add(username, db, name, role, staff_no, password):
    with _accounts(db) as accounts:
        accounts.add(username, password, name=name, role=role, staff_no=staff_no)
    click.echo(f"added {role} {username}")


@account.command("list")
@click.option("--db", default=DEFAULT_DB, show_default=True)
def account_list(db):
    with _accounts(db) as accounts:
        for acc in accounts.list():
            click.echo(
                f"{acc.username:<16} {acc.role:<8} {acc.staff_no:<8} {acc.name}{'  (disabled)' if acc.disabled else ''}"
            )


@account.command("disable")
@click.argument("username")
@click.option("--db", default=DEFAULT_DB, show_default=True)
def account_disable(username, db):
    with _accounts(db) as accounts:
        accounts.disable(username)
    click.echo(f"disabled {username}; their sessions are closed")


@main.group()
def terminal() -> None:
    """Enrolled kiosks, rating pads and display screens."""


@terminal.command("add")
@click.argument("terminal_id")
@click.option("--db", default=DEFAULT_DB, show_default=True)
@click.option("--kind", type=click.Choice(["kiosk", "pad", "display"]), required=True)
@click.option("--name", required=True)
@click.option("--window", type=int, help="the window a rating pad belongs to")
def terminal_add(terminal_id, db, kind, name, window):
    with _accounts(db) as accounts:
        token = accounts.add_terminal(terminal_id, kind, name, window=window)
    click.echo(f"enrolled {kind} {terminal_id}. Its token (shown once, only its hash is stored):\n{token}")


@terminal.command("list")
@click.option("--db", default=DEFAULT_DB, show_default=True)
def terminal_list(db):
    with _accounts(db) as accounts:
        for t in accounts.terminals():
            state = f"revoked {t['revoked_at'][:16]}" if t["revoked_at"] else "active"
            window = f"window {t['window']}" if t["window"] else ""
            click.echo(f"{t['id']:<16} {t['kind']:<8} {state:<24} {window:<10} {t['name']}")


@terminal.command("revoke")
@click.argument("terminal_id")
@click.option("--db", default=DEFAULT_DB, show_default=True)
def terminal_revoke(terminal_id, db):
    with _accounts(db) as accounts:
        accounts.revoke_terminal(terminal_id)
    click.echo(f"revoked {terminal_id}")


@contextmanager
def _accounts(db: str) -> Iterator[Accounts]:
    """Accounts on the hall database; a refused request becomes a one-line error, not a traceback."""
    store = Store(_db_path(db))
    try:
        yield Accounts(store, SystemClock())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


# Installers test a printer or a board from the same command as everything else.
main.add_command(printers)
main.add_command(displays)
main.add_command(idcard)

# Keeping an installed hall box running (docs/install.md).
from .ops.cli import account_passwd, backup, doctor, nginx_site, restore  # noqa: E402

main.add_command(doctor)
main.add_command(nginx_site)
main.add_command(backup)
main.add_command(restore)
account.add_command(account_passwd)

# The district service (docs/district.md): optional; a hall alone never needs it.
from .district.cli import district  # noqa: E402

main.add_command(district)


# ---------- the simulator and the balancer ----------


@main.command()
@click.option(
    "--scenario",
    "scenario_name",
    default="S1",
    show_default=True,
    help="a built-in day (S1..S6, shortage, street, mix) or a scenario TOML file",
)
@click.option(
    "--hall",
    "hall_path",
    type=click.Path(exists=True),
    help="simulate this hall file (its lines, windows, hours, policy) with the scenario's demand",
)
@click.option("--seeds", default=5, show_default=True, type=int, help="days to simulate (seeds 1..N)")
@click.option("--policy", "policies", multiple=True, help="only these policies (repeatable); default all six")
@click.option("--jobs", default=1, show_default=True, type=int, help="worker processes")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of the table")
@click.option(
    "--prior-bias",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 10),
    help="start the day with per-line service times this many times the true ones (e.g. 1.33)",
)
@click.option(
    "--booked",
    default=None,
    type=click.FloatRange(0, 1),
    help="this share of the citizens book a slot (default: the scenario's, 0 for the built-in days)",
)
def simulate(
    scenario_name: str,
    hall_path: str | None,
    seeds: int,
    policies: tuple[str, ...],
    jobs: int,
    as_json: bool,
    prior_bias: float,
    booked: float | None,
) -> None:
    """Simulate seeded hall days with the real policy, balancer and estimator beside the baselines."""
    import json

    from .sim import simulator
    from .sim.baselines import POLICIES
    from .sim.scenarios import BUILTIN, ScenarioError, from_hall, load_scenario

    try:
        if scenario_name in BUILTIN:
            scenario = BUILTIN[scenario_name]
        elif Path(scenario_name).exists():
            scenario = load_scenario(scenario_name)
        else:
            raise click.BadParameter(
                f"{scenario_name!r} is neither a built-in scenario ({', '.join(BUILTIN)}) nor a file",
                param_hint="--scenario",
            )
        if hall_path:
            scenario = from_hall(_hall_or_exit(hall_path), scenario)
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(f"{scenario_name}: {problem}", err=True)
        sys.exit(2)
    for name in policies:
        if name not in POLICIES:
            raise click.BadParameter(f"{name!r} (expected one of {', '.join(POLICIES)})", param_hint="--policy")
    if seeds < 1:
        raise click.BadParameter("at least 1", param_hint="--seeds")
    if booked is not None:
        from dataclasses import replace

        scenario = replace(scenario, booked=booked)
    summary, _ = simulator.run(scenario, seeds, tuple(policies) or POLICIES, jobs=jobs, prior_bias=prior_bias)
    if as_json:
        click.echo(json.dumps(simulator.public_json(summary), ensure_ascii=False))
    else:
        click.echo(simulator.table(summary, scenario))


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(exists=True), help="hall TOML file")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite database file")
def balance(config_path: str, db: str) -> None:
    """Run the balancer once now (the devices process runs it every policy.balancer_interval_s)."""
    from .queue.service import HallService

    store = Store(_db_path(db))
    try:
        made = HallService(store, _hall_or_exit(config_path), SystemClock()).balance(actor="balancer (on demand)")
    finally:
        store.close()
    if not made:
        click.echo("no change proposed")
    for p in made:
        click.echo(
            f"window {p['window']}: {','.join(p['from'])} -> {','.join(p['to'])} [{p['state']}] "
            f"{p['reason_zh']} / {p['reason_en']}"
        )


# ---------- lines closed by the manager ----------


@main.group()
def line() -> None:
    """Close a line to new tickets, with a reason the kiosks show, and open it again."""


@contextmanager
def _hall_service(config_path: str, db: str):
    """The hall's service on the database; a refusal becomes a one-line error (中文 / English)."""
    from .queue.errors import QueueError
    from .queue.service import HallService

    store = Store(_db_path(db))
    try:
        service = HallService(store, _hall_or_exit(config_path), SystemClock())
        service.sync_with_config()
        yield service
    except QueueError as exc:
        raise click.ClickException(f"{exc.message_zh} / {exc.message_en}") from None
    finally:
        store.close()


_config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True), help="hall TOML file"
)
_db_option = click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite database file")
_by_option = click.option("--by", "actor", default="operator (cli)", show_default=True, help="who, for the events log")


def _line_text(state) -> str:
    if not state.closed:
        return f"{state.prefix:<4} open     {state.name_zh} / {state.name_en}"
    since = f" since {state.closed_at:%Y-%m-%d %H:%M} UTC" if state.closed_at else ""
    return f"{state.prefix:<4} closed   {state.name_zh} / {state.name_en}: {state.reason} (by {state.closed_by}{since})"


@line.command("close")
@click.argument("prefix")
@click.option("--reason", required=True, help="why, shown on the kiosks; 'Chinese / English' shows both")
@_config_option
@_db_option
@_by_option
def line_close(prefix: str, reason: str, config_path: str, db: str, actor: str) -> None:
    """Stop issuing tickets for line PREFIX; tickets already taken are still called."""
    with _hall_service(config_path, db) as service:
        click.echo(_line_text(service.close_line(prefix, reason, actor=actor)))


@line.command("open")
@click.argument("prefix")
@_config_option
@_db_option
@_by_option
def line_open(prefix: str, config_path: str, db: str, actor: str) -> None:
    """Issue tickets for line PREFIX again."""
    with _hall_service(config_path, db) as service:
        click.echo(_line_text(service.open_line(prefix, actor=actor)))


@line.command("list")
@_config_option
@_db_option
def line_list(config_path: str, db: str) -> None:
    """Every line, open or closed (with the reason, who closed it and when)."""
    with _hall_service(config_path, db) as service:
        for state in service.line_states():
            click.echo(_line_text(state))


# ---------- appointments ----------


@main.group()
def appointments() -> None:
    """Booked time slots (预约): load a file of bookings, list a day's, cancel one (docs/appointments.md)."""


@appointments.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_config_option
@_db_option
def appointments_import(file: str, config_path: str, db: str) -> None:
    """Book every row of FILE (CSV or JSON), or none: every bad row is listed with its field."""
    from .queue import appointments as appts

    with _hall_service(config_path, db) as service:
        try:
            rows, first = appts.rows_from_file(Path(file).read_bytes(), file)
            result = appts.import_rows(
                service.store, service.config, rows, source="file", now=service.clock.now(), first_row=first
            )
        except appts.InvalidAppointments as exc:
            for problem in exc.problems:
                zh, en = problem.message.both()
                click.echo(f"{file}: {zh}", err=True)
                click.echo(f"{file}: {en}", err=True)
            raise click.ClickException(f"{exc.message_zh} / {exc.message_en}") from None
        click.echo(f"{result.added} booked, {result.unchanged} already there")


@appointments.command("list")
@click.option("--day", default=None, help="YYYY-MM-DD, hall time (default: today)")
@_config_option
@_db_option
def appointments_list(day: str | None, config_path: str, db: str) -> None:
    """One day's bookings per slot, masked."""
    from .queue import appointments as appts
    from .queue import calendar

    with _hall_service(config_path, db) as service:
        day = day or calendar.service_day(service.clock.now(), service.hall)
        for slot in appts.day_slots(service.store, service.config, day):
            counts = ", ".join(f"{state} {slot[state]}" for state in appts.STATES)
            click.echo(f"{day} {slot['start']}-{slot['end']}: {counts}")
            for b in slot["bookings"]:
                click.echo(
                    f"  {b['reference']}  {b['matter']}  {b['id_masked'] or '-'}  {b['phone_masked'] or '-'}"
                    f"  {b['state']}  {b['ticket_number'] or ''}".rstrip()
                )


@appointments.command("cancel")
@click.argument("reference")
@_config_option
@_db_option
def appointments_cancel(reference: str, config_path: str, db: str) -> None:
    """Cancel the booking REFERENCE (only while it is booked)."""
    from .queue import appointments as appts

    with _hall_service(config_path, db) as service:
        appointment = appts.cancel(service.store, service.config, reference, now=service.clock.now())
        click.echo(f"{appointment.reference}: {appointment.state}")
