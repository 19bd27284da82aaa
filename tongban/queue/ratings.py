"""好差评: one rating per service event, written to the events log (docs/architecture.md §Ticket lifecycle).

A citizen rates a finished service on the rating pad at the window (five levels, the national
好差评 scale). A bad rating (不满意, 非常不满意) may carry reasons from a short list and a comment.
If nobody rates before the pad's timeout, the service is closed as "not rated". Either way the
ticket gets exactly one ``rate`` event (``tickets.rated`` = 1 marks it closed), carrying what the day
report needs without joins: level, reasons, comment, window, clerk, matter, line and number.

Functions here write through the store like the service does (one ``BEGIN IMMEDIATE`` each); no Flask.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..texts import both, labels
from . import errors
from .store import Store, parse_iso, utc_iso

#: level: (中文, English) from the text table (queue.toml). 5 is the best; the order is the one the pad shows.
LEVELS: dict[int, tuple[str, str]] = labels("rating_level_", (5, 4, 3, 2, 1))
BAD_LEVELS = (2, 1)
NOT_RATED = both("rating_not_rated")
#: What the API and the pad accept for a level, in words a developer can check against the pad.
LEVEL_EXPECTED = f"an integer 1 ({LEVELS[1][0]}) to 5 ({LEVELS[5][0]})"

#: Reasons a citizen can pick for a bad rating (a short list, as the pads in halls show).
REASONS: dict[str, tuple[str, str]] = labels(
    "rating_reason_", ("long_wait", "attitude", "unclear", "slow", "come_back", "other")
)

COMMENT_MAX = 200
#: Seconds the pad waits for a rating after the service finishes; then it records "not rated".
RATING_TIMEOUT_S = 60


class InvalidRating(ValueError):
    """Level, reasons or comment are not what the pad can send."""

    def __init__(self, field: str, expected: str):
        self.field = field
        self.expected = expected
        super().__init__(f"{field}: expected {expected}")


@dataclass(frozen=True)
class Pending:
    """A finished service at a window waiting for its rating."""

    ticket_id: int
    number: str
    matter: str | None
    line: str
    clerk: str | None
    finished_at: datetime
    deadline: datetime


def check(level: object, reasons: Iterable[str] | None, comment: str | None) -> tuple[int, list[str], str | None]:
    """Validate what a pad sends; returns the cleaned values."""
    if not isinstance(level, int) or isinstance(level, bool) or level not in LEVELS:
        raise InvalidRating("level", LEVEL_EXPECTED)
    cleaned: list[str] = []
    for reason in reasons or ():
        # A code, never a list or an object (those are not hashable: a lookup would raise TypeError).
        if not isinstance(reason, str) or reason not in REASONS:
            raise InvalidRating("reasons", f"reason codes from {', '.join(REASONS)}")
        if reason not in cleaned:
            cleaned.append(reason)
    if cleaned and level not in BAD_LEVELS:
        raise InvalidRating("reasons", "no reasons unless the level is 1 or 2")
    if comment is not None:
        if not isinstance(comment, str):
            raise InvalidRating("comment", "text")
        comment = " ".join(comment.split()) or None
        if comment and len(comment) > COMMENT_MAX:
            raise InvalidRating("comment", f"at most {COMMENT_MAX} characters")
    return level, cleaned, comment


def rate(
    store: Store,
    ticket_id: int,
    level: int,
    reasons: Iterable[str] | None = None,
    comment: str | None = None,
    *,
    now: datetime,
    actor: str | None = None,
    window: int | None = None,
) -> dict:
    """Record a citizen's rating of a finished service; ``window`` set means "from that window's pad"."""
    level, cleaned, comment = check(level, reasons, comment)
    return _close(
        store,
        ticket_id,
        now=now,
        actor=actor,
        window=window,
        rating={"level": level, "level_zh": LEVELS[level][0], "reasons": cleaned, "comment": comment, "rated": True},
    )


def expire_rating(
    store: Store, ticket_id: int, *, now: datetime, actor: str | None = "system", window: int | None = None
) -> dict:
    """Close a finished service as not rated (the pad timed out)."""
    return _close(
        store,
        ticket_id,
        now=now,
        actor=actor,
        window=window,
        rating={"level": None, "level_zh": NOT_RATED[0], "reasons": [], "comment": None, "rated": False},
    )


def _close(store: Store, ticket_id: int, *, now: datetime, actor: str | None, window: int | None, rating: dict) -> dict:
    with store.immediate() as conn:
        row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise errors.UnknownTicket("err_no_ticket_id", {"ticket_id": ticket_id})
        if window is not None and row["window"] != window:
            raise errors.WrongWindow("err_not_served_here", {"number": row["number"], "window": window})
        if row["rated"]:
            raise errors.AlreadyRated(
                "err_already_rated",
                {"number": row["number"]},
                ticket=row["number"],
            )
        if row["state"] != "done":
            raise errors.IllegalTransition(
                "err_rate_unfinished",
                {"number": row["number"]},
                state=row["state"],
            )
        data = {
            **rating,
            "window": row["window"],
            "clerk": row["clerk"],
            "matter": row["matter"],
            "line": row["line"],
            "number": row["number"],
        }
        # The guard in the UPDATE is the safety net if two pads answer at the same instant.
        if conn.execute("UPDATE tickets SET rated = 1 WHERE id = ? AND rated = 0", (ticket_id,)).rowcount != 1:
            raise errors.AlreadyRated(
                "err_already_rated",
                {"number": row["number"]},
                ticket=row["number"],
            )
        store.add_event(
            action="rate",
            at=now,
            ticket_id=ticket_id,
            window=row["window"],
            from_state="done",
            to_state="done",
            actor=actor,
            data=data,
        )
    return {"ticket": ticket_id, **data}


def pending(store: Store, window: int, now: datetime, *, timeout_s: float = RATING_TIMEOUT_S) -> Pending | None:
    """The newest finished, unrated service at this window still inside the pad's timeout."""
    since = utc_iso(now - timedelta(seconds=timeout_s))
    row = store.one(
        "SELECT id, number, matter, line, clerk, finished_at FROM tickets WHERE window = ?"
        " AND state = 'done' AND rated = 0 AND finished_at > ? ORDER BY finished_at DESC, id DESC"
        " LIMIT 1",
        (window, since),
    )
    if row is None:
        return None
    finished = parse_iso(row["finished_at"])
    return Pending(
        row["id"],
        row["number"],
        row["matter"],
        row["line"],
        row["clerk"],
        finished,
        finished + timedelta(seconds=timeout_s),
    )


def expire_stale(
    store: Store, window: int, now: datetime, *, timeout_s: float = RATING_TIMEOUT_S, actor: str | None = "system"
) -> list[int]:
    """Close every finished service at this window whose rating time is over; returns the ticket ids."""
    until = utc_iso(now - timedelta(seconds=timeout_s))
    rows = store.all(
        "SELECT id FROM tickets WHERE window = ? AND state = 'done' AND rated = 0 AND finished_at <= ?", (window, until)
    )
    closed = []
    for row in rows:
        try:
            expire_rating(store, row["id"], now=now, actor=actor)
        except errors.AlreadyRated:
            continue  # rated at this very moment on the pad: the rating wins
        closed.append(row["id"])
    return closed


def rating_of(store: Store, ticket_id: int) -> dict | None:
    row = store.one("SELECT data FROM events WHERE ticket_id = ? AND action = 'rate' ORDER BY id LIMIT 1", (ticket_id,))
    return json.loads(row["data"]) if row else None
