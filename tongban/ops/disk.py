"""Free space on the disks the hall needs: the database's and the backup folder's.

``disk_status`` is what the manager console shows (through ``tongban.web.context.disk_warnings``) and what
``tongban doctor`` checks. Issuing a ticket needs a few kilobytes in the database and writes no
other file, so the warning comes long before tickets stop; backups refuse to eat the reserve.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..texts import Msg, both, table


@dataclass(frozen=True)
class DiskStatus:
    what: str  # "database" or "backups"
    path: str
    free_mb: int
    total_mb: int
    warn_mb: int
    ok: bool
    message_zh: str
    message_en: str

    def as_dict(self) -> dict:
        return asdict(self)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_path(what: str, path: str | Path, warn_mb: int) -> DiskStatus:
    path = Path(path)
    label = Msg(f"ops_disk_{what}") if f"ops_disk_{what}" in table() else what
    try:
        usage = shutil.disk_usage(_existing(path))
    except OSError as exc:
        return DiskStatus(
            what,
            str(path),
            0,
            0,
            warn_mb,
            False,
            *both("ops_disk_unreadable", label=label, what=what, error=exc.strerror),
        )
    free_mb, total_mb = usage.free // 2**20, usage.total // 2**20
    ok = free_mb >= warn_mb
    zh, en = both("ops_disk_free" if ok else "ops_disk_low", label=label, what=what, free_mb=free_mb, warn_mb=warn_mb)
    return DiskStatus(what, str(path), free_mb, total_mb, warn_mb, ok, zh, en)


def disk_status(database: str | Path, backup_folder: str | Path, warn_mb: int) -> list[DiskStatus]:
    found = [check_path("database", Path(database).resolve().parent, warn_mb)]
    backups = Path(backup_folder)
    same = False
    try:
        same = _existing(backups).stat().st_dev == _existing(Path(database).resolve().parent).stat().st_dev
    except OSError:
        pass
    if not same:
        found.append(check_path("backups", backups, warn_mb))
    return found


def disk_warnings(database: str | Path, backup_folder: str | Path, warn_mb: int) -> list[dict]:
    """Only the problems, as dicts with message_zh/message_en for a page; empty when all is well."""
    return [s.as_dict() for s in disk_status(database, backup_folder, warn_mb) if not s.ok]
