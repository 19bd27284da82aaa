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
