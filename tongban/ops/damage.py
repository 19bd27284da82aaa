"""The marker a failed integrity check leaves next to the database (``tongban.db.damaged``).

It lives outside the database on purpose: a damaged file may not even accept the row that would say
so. While it exists the web refuses to start (and answers 503 if it is running), the devices process
refuses to start, and ``tongban doctor`` reports it. ``tongban restore`` removes it; so can a person
who has checked the file (``PRAGMA integrity_check`` says ok) and deletes the marker by hand.
"""

from __future__ import annotations

import os
from pathlib import Path


def marker_path(database: str | Path) -> Path:
    return Path(f"{database}.damaged")


def mark_damaged(database: str | Path, message: str) -> Path:
    path = marker_path(database)
    tmp = Path(f"{path}.tmp")
    tmp.write_text(message.rstrip() + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def damaged(database: str | Path) -> str | None:
    """The marker's message, or None when the database is not marked damaged."""
    try:
        return marker_path(database).read_text(encoding="utf-8").strip() or "the database failed a check"
    except FileNotFoundError:
        return None


def clear_damaged(database: str | Path) -> None:
    marker_path(database).unlink(missing_ok=True)


def restore_help(database: str | Path, backup_folder: str | Path) -> str:
    """What to do, in commands, with the newest backup that still passes its check."""
    from .backup import check_backup_file, list_backups

    good = next(
        (b for b in list_backups(backup_folder) if b.kind != "before-restore" and not check_backup_file(b.path)), None
    )
    lines = ["How to restore:", "  1. sudo systemctl stop tongban-web tongban-devices"]
    if good is not None:
        lines.append(
            f"  2. sudo -u tongban tongban restore {good.path} --db {database}"
            f"   (newest good backup, taken {good.taken_at:%Y-%m-%d %H:%M})"
        )
    else:
        lines.append(
            f"  2. sudo -u tongban tongban restore BACKUP_FILE --db {database}"
            f"   (no good backup found in {backup_folder}; look on the backup disk)"
        )
    lines += [
        "  3. sudo systemctl start tongban-web tongban-devices",
        "  Tickets issued after that backup are lost; the damaged file is kept in the backup folder.",
        "  See docs/install.md, 'Restoring a backup'.",
    ]
    return "\n".join(lines)
