"""Cards read at the kiosks: from the devices process to the kiosk page, through the database.

The devices process owns the readers (devices/idcard_worker.py); the web never opens a port. A
read becomes one `card_reads` row, and the kiosk's live stream re-renders on that commit like on any
other (docs/architecture.md §Processes). The row holds what the kiosk needs and nothing more: the
masked number and name, a keyed hash of the number to find the citizen's appointment with, sex and
birth date for the green channel by age, and a token. The full number is not stored, nor logged
(docs/idcard.md, Privacy).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import errors
from .identity import id_hash
from .masking import mask_id, mask_name
from .store import Store, parse_iso, utc_iso

FRESH_S = 60  # a read older than this is stale: the citizen has gone, the next one must not get it
KEEP_S = 3600  # rows are deleted after an hour, used or not


class CardGone(errors.QueueError):
    """The read a page showed is used, stale (over FRESH_S) or replaced by another card."""

    code = "card_gone"


@dataclass(frozen=True)
class CardSeen:
    """A card read at a kiosk, as the kiosk may know it."""

    id: int
    kiosk: str
    read_at: datetime
    id_masked: str
    id_hash: str
    name_masked: str
    sex: str
    birth_date: date
    token: str

    def age(self, today: date) -> int:
        """Whole years on ``today`` (the green channel by age)."""
        b = self.birth_date
        return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def window_reader(number: int) -> str:
    """The ``card_reads.kiosk`` (and device) key of window ``number``'s reader: never a kiosk id,
    which has no colon (config.py)."""
    return f"window:{number}"


def is_window_reader(reader: str) -> bool:
    return reader.startswith("window:")


def record_read(
    store: Store, kiosk: str, *, id_number: str, name: str, sex: str, birth_date: date, now: datetime
) -> CardSeen:
    """One card read at ``kiosk`` (a kiosk id, or ``window:<n>``): stored masked and hashed; reads
    past KEEP_S deleted. A window's read also keeps the number and name in full, for the case the
    clerk opens with it (take_window_read), until used or stale (forget_full_reads)."""
    digest = id_hash(store, id_number)
    token = secrets.token_urlsafe(12)
    full = (id_number, name) if is_window_reader(kiosk) else (None, None)
    with store.immediate() as conn:
        conn.execute("DELETE FROM card_reads WHERE read_at < ?", (utc_iso(now - timedelta(seconds=KEEP_S)),))
        _forget_full(conn, now)
        # An older unused read at this kiosk is superseded: only the card on the reader now counts.
        conn.execute(
            "UPDATE card_reads SET consumed_at = ?, id_number = NULL, name = NULL"
            " WHERE kiosk = ? AND consumed_at IS NULL",
            (utc_iso(now), kiosk),
        )
        cur = conn.execute(
            "INSERT INTO card_reads (kiosk, read_at, id_masked, id_hash, name_masked, sex, birth_date, token,"
            " id_number, name) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                kiosk,
                utc_iso(now),
                mask_id(id_number),
                digest,
                mask_name(name),
                sex,
                birth_date.isoformat(),
                token,
                *full,
            ),
        )
        assert cur.lastrowid is not None  # set by the INSERT just above
        row_id = cur.lastrowid
    return CardSeen(row_id, kiosk, now, mask_id(id_number), digest, mask_name(name), sex, birth_date, token)


def _seen(row) -> CardSeen:
    return CardSeen(
        id=row["id"],
        kiosk=row["kiosk"],
        read_at=parse_iso(row["read_at"]),
        id_masked=row["id_masked"],
        id_hash=row["id_hash"],
        name_masked=row["name_masked"],
        sex=row["sex"],
        birth_date=date.fromisoformat(row["birth_date"]),
        token=row["token"],
    )


_FRESH = (
    "SELECT * FROM card_reads WHERE kiosk = ? AND consumed_at IS NULL AND read_at >= ? AND read_at <= ?"
    " ORDER BY read_at DESC, id DESC LIMIT 1"
)


def waiting_card(store: Store, kiosk_id: str, now: datetime) -> CardSeen | None:
    """The fresh, unused card read at this kiosk, without using it (for showing a notice)."""
    since = utc_iso(now - timedelta(seconds=FRESH_S))
    row = store.one(_FRESH, (kiosk_id, since, utc_iso(now)))
    return _seen(row) if row else None


def latest_card(store: Store, kiosk_id: str, now: datetime, token: str | None = None) -> CardSeen | None:
    """The card read at this kiosk within FRESH_S, used up: a second call gets None.

    With ``token``, only that read (the one the page showed): a card read since, or at another
    kiosk, is not taken by a page that never saw it."""
    since = utc_iso(now - timedelta(seconds=FRESH_S))
    with store.immediate() as conn:
        row = conn.execute(_FRESH, (kiosk_id, since, utc_iso(now))).fetchone()
        if row is None or (token is not None and not hmac.compare_digest(row["token"], token)):
            return None
        done = conn.execute(
            "UPDATE card_reads SET consumed_at = ?, id_number = NULL, name = NULL WHERE id = ? AND consumed_at IS NULL",
            (utc_iso(now), row["id"]),
        )
        if done.rowcount != 1:
            return None
    return _seen(row)


# ---------- a window's reader: the number in full, for a case ----------


@dataclass(frozen=True)
class FullRead:
    """A window's card read with what a case's record needs. Its ``repr`` leaves out the number and
    the name, so neither reaches a log or a traceback."""

    seen: CardSeen
    id_number: str
    name: str

    def __repr__(self) -> str:
        return f"FullRead(reader={self.seen.kiosk!r}, id_masked={self.seen.id_masked!r})"


def _forget_full(conn, now: datetime) -> int:
    """Clear the full number and name of every read used or past FRESH_S: only a fresh, unused
    window read holds them."""
    cur = conn.execute(
        "UPDATE card_reads SET id_number = NULL, name = NULL"
        " WHERE (id_number IS NOT NULL OR name IS NOT NULL) AND (consumed_at IS NOT NULL OR read_at < ?)",
        (utc_iso(now - timedelta(seconds=FRESH_S)),),
    )
    return cur.rowcount


def forget_full_reads(store: Store, now: datetime) -> int:
    """What the window reader's worker runs once a read it stored has gone stale: how many cleared."""
    with store.immediate() as conn:
        return _forget_full(conn, now)


def take_window_read(store: Store, reader: str, now: datetime, token: str) -> FullRead | None:
    """The fresh window read the clerk's form showed (by its token), used up, with the number in
    full; None when it is used, stale or replaced. Call it inside the transaction that stores the
    number where it belongs (the case), so a refused case leaves the read for another try."""
    with store.immediate() as conn:
        row = conn.execute(_FRESH, (reader, utc_iso(now - timedelta(seconds=FRESH_S)), utc_iso(now))).fetchone()
        if row is None or row["id_number"] is None or not hmac.compare_digest(row["token"], token):
            return None
        conn.execute(
            "UPDATE card_reads SET consumed_at = ?, id_number = NULL, name = NULL WHERE id = ? AND consumed_at IS NULL",
            (utc_iso(now), row["id"]),
        )
    return FullRead(_seen(row), row["id_number"], row["name"] or "")
