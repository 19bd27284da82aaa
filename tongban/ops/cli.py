"""``tongban doctor``, ``tongban backup``, ``tongban restore`` and ``tongban account passwd``.

On an installed box the paths come from /etc/tongban/tongban.env (TONGBAN_CONFIG, TONGBAN_DB), so
``sudo tongban doctor`` needs no options. Run as root, these commands switch to the database
file's owner first: a file SQLite creates beside the database (-wal, -shm, a backup) must belong to
the tongban user, or the services could no longer write.
"""

from __future__ import annotations

import grp
import os
import pwd
import sys
from pathlib import Path

import click

DEFAULT_DB = "var/tongban.db"
DEFAULT_BIND = "unix:/run/tongban/web.sock"  # tongban-web.service, behind nginx
DEVICE_GROUPS = ("dialout", "lp")  # as the units' SupplementaryGroups=
ENV_FILE = Path("/etc/tongban/tongban.env")


def installed(name: str, fallback: str | None = None) -> str | None:
    """A setting from /etc/tongban/tongban.env (what the units use), when this box has one."""
    try:
        lines = ENV_FILE.read_text(encoding="utf-8").splitlines()
    except OSError:
        return fallback
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key == name and not line.lstrip().startswith("#"):
            return value.strip().strip('"')
    return fallback


def become_owner(database: str | Path) -> None:
    """As root, become the owner of the database (and of its folder when the file does not exist yet)."""
    if os.geteuid() != 0:
        return
    path = Path(database)
    target = path if path.exists() else path.resolve().parent
    try:
        st = target.stat()
    except OSError:
        return
    if st.st_uid == 0:
        return
    user = pwd.getpwuid(st.st_uid)
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for name in DEVICE_GROUPS:
        try:
            groups.add(grp.getgrnam(name).gr_gid)
        except KeyError:
            pass
    os.setgroups(sorted(groups))
    os.setgid(user.pw_gid)
    os.setuid(st.st_uid)
    os.environ["HOME"] = user.pw_dir


def _config_option(required: bool = True):
    return click.option(
        "--config",
        "config_path",
        envvar="TONGBAN_CONFIG",
        required=required,
        default=lambda: installed("TONGBAN_CONFIG"),
        type=click.Path(),
        help=f"hall TOML file [env TONGBAN_CONFIG, else {ENV_FILE}]",
    )


def _db_option():
    return click.option(
        "--db",
        envvar="TONGBAN_DB",
        default=lambda: installed("TONGBAN_DB", DEFAULT_DB),
        show_default=DEFAULT_DB,
        help=f"SQLite database file [env TONGBAN_DB, else {ENV_FILE}]",
    )


def _backup_folder(config_path: str | None, db: str, folder: str | None) -> Path:
    if folder:
        return Path(folder)
    if config_path:
        from ..config import ConfigError, load_hall_config

        try:
            return load_hall_config(config_path).operations.backup_path(db)
        except ConfigError as exc:
            raise click.ClickException(
                f"{config_path}: {'; '.join(exc.problems[:3])} (or give the backup folder with --to/--folder)"
            ) from None
    return Path(db).resolve().parent / "backups"


def _front_options(command):
    """Where nginx listens and where the web does, as tongban.env says (the units and nginx's site)."""
    for option in reversed(
        [
            click.option(
                "--host",
                envvar="TONGBAN_HOST",
                default=lambda: installed("TONGBAN_HOST", "0.0.0.0"),
                show_default="0.0.0.0",
                help="where nginx listens [env TONGBAN_HOST]",
            ),
            click.option(
                "--port",
                envvar="TONGBAN_PORT",
                type=int,
                default=lambda: installed("TONGBAN_PORT", "8000"),
                show_default="8000",
                help="[env TONGBAN_PORT]",
            ),
            click.option(
                "--bind",
                envvar="TONGBAN_BIND",
                default=lambda: installed("TONGBAN_BIND", DEFAULT_BIND),
                show_default=DEFAULT_BIND,
                help="where the web listens [env TONGBAN_BIND]",
            ),
            click.option(
                "--screens",
                envvar="TONGBAN_SCREENS",
                type=int,
                default=lambda: installed("TONGBAN_SCREENS", "32"),
                show_default="32",
                help="screens the web has threads for [env TONGBAN_SCREENS]",
            ),
        ]
    ):
        command = option(command)
    return command


def _site(host: str, port: int, bind: str, screens: int) -> str:
    from ..front import listen_address, site_config

    return site_config(listen=listen_address(host, port), upstream=bind, screens=screens)


@click.command("nginx-site")
@_front_options
def nginx_site(host: str, port: int, bind: str, screens: int) -> None:
    """Print nginx's site file for this box: nginx on TONGBAN_HOST:TONGBAN_PORT in front of the web
    on TONGBAN_BIND (docs/install.md, section 4; `tongban doctor` checks the installed copy)."""
    click.echo(_site(host, port, bind, screens), nl=False)


@click.command()
@_config_option()
@_db_option()
@click.option(
    "--url",
    envvar="TONGBAN_URL",
    default=lambda: f"http://127.0.0.1:{installed('TONGBAN_PORT', '8000')}",
    show_default="http://127.0.0.1:TONGBAN_PORT",
    help="the web to ask for /healthz ('' to skip)",
)
@click.option("--probe", is_flag=True, help="also ask each printer for its DLE EOT status (stop tongban-devices first)")
@_front_options
@click.option(
    "--nginx-site",
    "site_path",
    default="/etc/nginx/sites-enabled/tongban",
    show_default=True,
    type=click.Path(),
    help="the site file nginx reads (checked when the web listens on a unix: socket)",
)
def doctor(
    config_path: str, db: str, url: str, probe: bool, host: str, port: int, bind: str, screens: int, site_path: str
) -> None:
    """Check a running install: config, database, disk, backups, clock, accounts, devices, services,
    and nginx in front of the web.

    Every finding says what to do. Exit status 1 when something fails, else 0.
    """
    from .doctor import FAIL, Doctor, worst

    become_owner(db)
    checks = Doctor(config_path, db, url=url or None, probe=probe)
    if bind.startswith("unix:"):  # behind nginx
        checks.site, checks.site_path, checks.socket = _site(host, port, bind, screens), Path(site_path), bind[5:]
    findings = checks.run()
    for finding in findings:
        click.echo(finding.line())
    level = worst(findings)
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("fail", "warn", "note")}
    click.echo(f"\n{counts['fail']} failed, {counts['warn']} warning(s), {counts['note']} note(s)")
    sys.exit(1 if level == FAIL else 0)


@click.command()
@_config_option(required=False)
@_db_option()
@click.option("--to", "folder", type=click.Path(), help="backup folder (default: operations.backup_dir)")
def backup(config_path: str | None, db: str, folder: str | None) -> None:
    """Take a checked online backup now; the services keep running."""
    from .backup import BackupError, take_backup

    become_owner(db)
    target = _backup_folder(config_path, db, folder)
    try:
        path = take_backup(db, target, kind="manual")
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {db} to {path} ({path.stat().st_size / 2**20:.1f} MB, integrity_check ok)")


@click.command()
@click.argument("file", type=click.Path(), required=False)
@_config_option(required=False)
@_db_option()
@click.option(
    "--folder",
    type=click.Path(),
    help="where the current database is kept before it is replaced (default: operations.backup_dir)",
)
@click.option("--list", "list_only", is_flag=True, help="list the backups and whether each passes its check")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def restore(file: str | None, config_path: str | None, db: str, folder: str | None, list_only: bool, yes: bool) -> None:
    """Replace the database with backup FILE, after checking FILE (stop both services first).

    The current database is kept in the backup folder (kind before-restore), so a restore can be undone.
    """
    from .backup import RestoreError, check_backup_file, list_backups
    from .backup import restore as do_restore

    become_owner(db)
    target = _backup_folder(config_path, db, folder)
    if list_only or not file:
        backups = list_backups(target)
        if not backups:
            click.echo(f"no backups in {target}")
        for b in backups:
            problems = check_backup_file(b.path)
            click.echo(
                f"{b.path}  {b.kind:<15} {b.size / 2**20:7.1f} MB  {'ok' if not problems else 'BAD: ' + problems[0]}"
            )
        if not file:
            return
    if not yes:
        click.confirm(
            f"Replace {db} with {file}? Tickets issued after that backup was taken are lost "
            f"(the current file is kept in {target})",
            abort=True,
        )
    try:
        result = do_restore(file, db, target)
    except RestoreError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {result.database} from {result.source}")
    if result.saved_as:
        click.echo(f"the database as it was is kept as {result.saved_as}")
    click.echo("now: sudo systemctl start tongban-web tongban-devices")


@click.command("passwd")
@click.argument("username")
@_db_option()
@click.password_option(help="at least 8 characters, not a demo password")
def account_passwd(username: str, db: str, password: str) -> None:
    """Set a staff member's password (clears 'must change'); their open sessions stay."""
    from ..queue.accounts import AccountError, Accounts
    from ..queue.clock import SystemClock
    from ..queue.store import Store

    become_owner(db)
    store = Store(db)
    try:
        Accounts(store, SystemClock()).set_password(username, password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"password set for {username}")
