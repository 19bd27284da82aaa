"""One ticket per kiosk confirm form (table ``kiosk_requests``).

Each confirm screen carries a one-time key: a double tap or a retried post of the same form answers
with the ticket the first post took (and its print job) instead of taking a second ticket.
"""

from __future__ import annotations

from datetime import datetime

from .store import Store, parse_iso, utc_iso

# A request key whose ticket never appeared (the process died between claiming and issuing) is taken
# over after this long, so the citizen's retry still gets a ticket.
STALE_CLAIM_S = 10.0


def claim(store: Store, kiosk: str, key: str, now: datetime) -> dict | None:
    """Reserve this confirm form's key, or return what an earlier post of the same form got.

    Returns None when this request now owns the key (and must issue), else the existing row (its
    ticket_id may still be None while the first post is issuing).
    """
    with store.immediate() as conn:
        row = conn.execute("SELECT * FROM kiosk_requests WHERE kiosk = ? AND key = ?", (kiosk, key)).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO kiosk_requests (kiosk, key, created_at) VALUES (?, ?, ?)", (kiosk, key, utc_iso(now))
            )
            return None
        if row["ticket_id"] is None and (now - parse_iso(row["created_at"])).total_seconds() > STALE_CLAIM_S:
            # The post that claimed it never finished (a crash between claim and issue): take it over.
            conn.execute(
                "UPDATE kiosk_requests SET created_at = ? WHERE kiosk = ? AND key = ?", (utc_iso(now), kiosk, key)
            )
            return None
        return dict(row)


def lookup(store: Store, kiosk: str, key: str) -> dict | None:
    """The key's row as it stands (None once a failed post released it)."""
    row = store.one("SELECT * FROM kiosk_requests WHERE kiosk = ? AND key = ?", (kiosk, key))
    return dict(row) if row else None


def finish(store: Store, kiosk: str, key: str, ticket_id: int | None, job_id: int | None) -> None:
    """Record the ticket (and print job) the key got, or release the key when no ticket was taken."""
    with store.immediate() as conn:
        if ticket_id is None:
            conn.execute("DELETE FROM kiosk_requests WHERE kiosk = ? AND key = ?", (kiosk, key))
        else:
            conn.execute(
                "UPDATE kiosk_requests SET ticket_id = ?, print_job = ? WHERE kiosk = ? AND key = ?",
                (ticket_id, job_id, kiosk, key),
            )
