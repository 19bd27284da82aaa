"""``tongban district …``: the district service's schema, server, halls, staff and day report.

Every command that needs the database takes ``--db URL`` or ``TONGBAN_DISTRICT_DB``; a bad URL or an
unreachable server is one line naming ``--db``, never a traceback. Database libraries are imported
inside the commands, so the hall's own commands do not load them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import click

from ..devices.sync_worker import join_command
from . import reports
from .appointments import appointments_command
from .catalogue import catalogue_command

ENV_DB = "TONGBAN_DISTRICT_DB"

db_option = click.option(
    "--db",
    "db_url",
    envvar=ENV_DB,
    required=True,
    help=f"PostgreSQL URL, e.g. postgresql://tongban@/district?host=/run/postgresql (or ${ENV_DB})",
)

# What `district report` prints, in this order (tongban.district.reports.hall_day_rows gives them).
REPORT_COLUMNS = (
    "hall",
    "last_sync_at",
    "issued",
    "served",
    "no_show",
    "waiting_now",
    "mean_wait_min",
    "p90_wait_min",
    "ratings",
    "satisfaction",
    "open_cases",
    "overdue_cases",
)


def _checked(url: str) -> str:
    from . import db

    try:
        return db.check_url(url)
    except db.DistrictConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _connection(url: str) -> Iterator[Any]:
    """One transaction on the district database; refusals and an unreachable server become one line."""
    import psycopg

    from .accounts import AccountError
    from .halls import HallError

    _checked(url)
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            yield conn
    except (HallError, AccountError) as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"--db: cannot use the district database: {str(exc).strip()}") from None
    except psycopg.errors.UndefinedTable:
        raise click.ClickException("--db: the schema is missing; run `tongban district init --db URL` first") from None


@click.group("district")
def district() -> None:
    """The district service: many halls' data in one PostgreSQL (docs/district.md)."""


@district.command("init")
@db_option
def init(db_url: str) -> None:
    """Create or upgrade the district schema (yoyo migrations; safe to run again)."""
    import psycopg

    from . import db

    _checked(db_url)
    try:
        applied = db.migrate(db_url)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"--db: cannot use the district database: {str(exc).strip()}") from None
    if applied:
        for name in applied:
            click.echo(f"applied {name}")
    else:
        click.echo("schema up to date: nothing to apply")


@district.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True, type=int)
@click.option("--bind", help="where to listen instead of --host/--port: HOST:PORT, or unix:PATH behind nginx")
@click.option(
    "--workers",
    default=max(2, min(8, 2 * (os.cpu_count() or 1))),
    show_default=True,
    type=click.IntRange(1, 64),
    help="gunicorn worker processes",
)
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="threads per worker")
def serve(db_url: str, host: str, port: int, bind: str | None, workers: int, threads: int) -> None:
    """Run the district web under gunicorn with several workers and no state in the process."""
    import psycopg
    from gunicorn.app.base import BaseApplication

    from ..ops import notify
    from . import db

    _checked(db_url)
    try:
        pending = db.pending_migrations(db_url)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"--db: cannot use the district database: {str(exc).strip()}") from None
    if pending:
        raise click.ClickException(
            f"--db: the schema is not up to date ({', '.join(pending)}); run `tongban district init --db URL`"
        )
    bind = bind or f"{host}:{port}"

    def close_pool(_arbiter, worker) -> None:
        pool = getattr(worker, "district_pool", None)
        if pool is not None:
            pool.close()

    class Gunicorn(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": bind,
                "workers": workers,
                "worker_class": "gthread",
                "threads": threads,
                "graceful_timeout": 10,
                "timeout": 60,
                "accesslog": "-",
                "logger_class": "tongban.logmask.AccessLogger",
                "proc_name": "tongban-district",
                "when_ready": lambda _server: notify.ready(f"listening on {bind}"),
                "worker_exit": close_pool,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            # Called in each worker after the fork (no preload): every worker opens its own pool, as
            # connections and the pool's threads do not survive a fork.
            from .app import create_district_app

            return create_district_app(db_url, pool_size=threads)

    Gunicorn().run()


# ---------- halls ----------


@district.group("hall")
def hall() -> None:
    """The halls that push to this district, and their tokens."""


@hall.command("add")
@click.argument("hall_id")
@click.option("--name", default="", help="the hall's name, for the district's pages")
@db_option
def hall_add(hall_id: str, name: str, db_url: str) -> None:
    """Add a hall and print its token, once: only its SHA-256 is stored."""
    from ..queue.clock import SystemClock
    from ..texts import both
    from . import halls

    with _connection(db_url) as conn:
        token = halls.add(conn, hall_id, name=name, now=SystemClock().now())
    zh, en = both("dc_cli_hall_added", hall=hall_id)
    click.echo(f"{zh}\n{en}\n{token}")


@hall.command("list")
@db_option
def hall_list(db_url: str) -> None:
    """Every hall: id, state, last accepted push, name."""
    from . import halls

    with _connection(db_url) as conn:
        rows = halls.list_halls(conn)
    click.echo(f"{'hall':<20} {'state':<8} {'last_sync_at':<20} name")
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        click.echo(f"{row['id']:<20} {state:<8} {_cell(row['last_sync_at']):<20} {row['name']}")


@hall.command("revoke")
@click.argument("hall_id")
@db_option
def hall_revoke(hall_id: str, db_url: str) -> None:
    """Refuse this hall's token from now on (its data stays for the reports)."""
    from ..queue.clock import SystemClock
    from ..texts import both
    from . import halls

    with _connection(db_url) as conn:
        halls.revoke(conn, hall_id, now=SystemClock().now())
    zh, en = both("dc_cli_hall_revoked", hall=hall_id)
    click.echo(f"{zh} / {en}")


# ---------- district staff ----------


@district.group("account")
def account() -> None:
    """District staff who sign in to the district's pages."""


@account.command("add")
@click.argument("username")
@click.option("--name", required=True, help="full name")
@click.option(
    "--password-file",
    type=click.File("r"),
    help="read the password from this file's first line (- for stdin) instead of asking",
)
@db_option
def account_add(username: str, name: str, password_file, db_url: str) -> None:
    """Add a district staff account (argon2; at least 8 characters; not a demo password)."""
    from ..queue.clock import SystemClock
    from ..texts import both
    from . import accounts

    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _connection(db_url) as conn:
        accounts.add(conn, username, password, name=name, clock=SystemClock())
    zh, en = both("dc_cli_account_added", username=username, name=name)
    click.echo(f"{zh} / {en}")


# ---------- the day report ----------


@district.command("report")
@db_option
@click.option("--day", required=True, help="the service day, YYYY-MM-DD")
@click.option("--json", "as_json", is_flag=True, help="print one JSON list instead of the table")
def report(db_url: str, day: str, as_json: bool) -> None:
    """One row per hall for DAY: tickets, waits, no-shows, ratings and cases."""
    from ..queue.clock import SystemClock

    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a day (expected YYYY-MM-DD)", param_hint="--day") from None
    _checked(db_url)
    with _connection(db_url) as conn:
        rows = reports.hall_day_rows(conn, the_day, now=SystemClock().now())
    if as_json:
        click.echo(json.dumps([{c: _plain(row.get(c)) for c in REPORT_COLUMNS} for row in rows], ensure_ascii=False))
        return
    table = [list(REPORT_COLUMNS)] + [[_cell(row.get(c)) for c in REPORT_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(REPORT_COLUMNS))]
    for line in table:
        click.echo(
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
        )
    if not rows:
        click.echo(f"no halls in the district on {the_day}", err=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)  # a Decimal from PostgreSQL


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S%z")
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 1 or value == 0 else f"{value:.2f}"
    return str(value)


# The hall's side of joining, publishing the catalogue and importing bookings live with their own
# code; one group for every `tongban district …` command.
district.add_command(join_command)
district.add_command(catalogue_command)
district.add_command(appointments_command)
