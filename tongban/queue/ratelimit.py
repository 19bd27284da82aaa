"""Button mashing at a kiosk (docs/architecture.md §Numbering): at most N tickets per kiosk in any 60 seconds.

Called from ``HallService.take_ticket`` inside its ``BEGIN IMMEDIATE`` transaction, so two presses that
arrive together are counted one after the other and the limit holds exactly. The kiosk page's
idempotency key makes one press burst one ticket; this limit is the backstop behind it, so a child
hammering the screen cannot empty a line's daily quota. Staff-issued tickets are not limited.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from .errors import QueueError
from .store import utc_iso

WINDOW_S = 60


class KioskRateLimited(QueueError):
    code = "kiosk_rate_limited"


def check_kiosk_rate(conn: sqlite3.Connection, kiosk: str | None, now: datetime, limit: int) -> None:
    """Refuse the next ticket when this kiosk already issued ``limit`` in the last minute."""
    if kiosk is None:
        return
    since = utc_iso(now - timedelta(seconds=WINDOW_S))
    count = conn.execute("SELECT COUNT(*) FROM tickets WHERE kiosk = ? AND issued_at > ?", (kiosk, since)).fetchone()[0]
    if count >= limit:
        oldest = conn.execute(
            "SELECT MIN(issued_at) FROM tickets WHERE kiosk = ? AND issued_at > ?", (kiosk, since)
        ).fetchone()[0]
        retry = max(1, WINDOW_S - int((now - datetime.fromisoformat(oldest)).total_seconds()))
        raise KioskRateLimited(
            "err_kiosk_rate_limited",
            {"retry": retry},
            retry_after_s=retry,
            limit=limit,
        )
