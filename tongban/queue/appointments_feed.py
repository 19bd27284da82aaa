"""Bookings the district sends down, taken into the hall (docs/appointments.md "From the district").

The devices process pulls a page of changes (devices/appointments_pull.py) and hands it here. Unlike
a file, which a person can fix and load again, a page from the district is taken row by row: each
booking is checked by ``appointments.import_rows`` (source ``district``), a bad one is set aside with
its problems as an alert for the manager, and the rest load. A cancellation cancels the booking if it
is still booked. The page's cursor is saved in the same transaction, so a page is taken once however
the process dies; a page taken twice anyway changes nothing (``import_rows`` leaves a booking with
the same details alone).

The cursor and the acknowledged position live in ``settings``. The district deletes a booking's ID
number and phone once the hall acknowledges it, so a lost acknowledgement is sent again first.
Pure domain: no network, the clock passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..config import HallConfig
from ..texts import Msg
from . import appointments
from .store import Store, utc_iso

CURSOR = "district.appointments_cursor"  # the district's change number this hall has taken up to
ACKED = "district.appointments_acked"  # … and has told the district it holds
ALERT_DEVICE = "district"
ALERT_KIND = "appointment"


@dataclass
class Received:
    """What one page did: bookings added, already held, cancelled, and the rows refused with their
    problems (``refused``: reference and words, masked, which the acknowledgement tells the district)."""

    added: int = 0
    unchanged: int = 0
    cancelled: int = 0
    over: int = 0  # slots already over when they arrived (the hall was away): nothing to check in
    refused: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "unchanged": self.unchanged,
            "cancelled": self.cancelled,
            "over": self.over,
            "refused": self.refused,
        }


def _number(store: Store, key: str) -> int:
    row = store.one("SELECT value FROM settings WHERE key = ?", (key,))
    try:
        return max(0, int(row["value"])) if row else 0
    except ValueError:
        return 0


def cursor(store: Store) -> int:
    return _number(store, CURSOR)


def acked(store: Store) -> int:
    return _number(store, ACKED)


def start_again(store: Store) -> None:
    """Forget the cursor: the district has fewer changes than the hall took (it was restored from an
    older backup). Everything comes again; bookings the hall holds are left as they are."""
    with store.immediate() as conn:
        conn.execute("DELETE FROM settings WHERE key IN (?, ?)", (CURSOR, ACKED))


def record_acked(store: Store, upto: int) -> None:
    with store.immediate() as conn:
        conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (ACKED, str(upto)))


def _reference(row: object) -> str | None:
    value = row.get("reference") if isinstance(row, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and appointments.REFERENCE.match(value) else None


def _booking(row: Mapping) -> dict[str, Any]:
    """The fields a booking file has, from the district's row (which adds its seq and state)."""
    return {k: row[k] for k in appointments.FIELDS if row.get(k) is not None}


def _over(row: Mapping, now: datetime) -> bool:
    """The booking's slot ended already (a slot_end that does not parse is import_rows' to name)."""
    end = row.get("slot_end")
    try:
        moment = datetime.fromisoformat(end) if isinstance(end, str) and len(end) <= 40 else None
    except ValueError:
        return False
    return moment is not None and moment.tzinfo is not None and moment <= now


def _alert(conn, what: Msg, now: datetime) -> None:
    zh, en = what.both()
    conn.execute(
        "INSERT INTO alerts (device, kind, message_zh, message_en, at) VALUES (?,?,?,?,?)",
        (ALERT_DEVICE, ALERT_KIND, zh, en, utc_iso(now)),
    )


def receive(store: Store, config: HallConfig, rows: Sequence[object], upto: int, *, now: datetime) -> Received:
    """Take one page of the district's changes, up to its change number ``upto``: one transaction,
    the cursor included."""
    result = Received()
    with store.immediate() as conn:
        held = {
            r["reference"]: r["state"]
            for r in conn.execute("SELECT reference, state FROM appointments WHERE hall = ?", (config.hall.id,))
        }
        bookings: list[dict[str, Any]] = []
        cancels: list[str] = []
        for row in rows:
            reference = _reference(row)
            if not isinstance(row, Mapping):
                bookings.append(row)  # type: ignore[arg-type]  # import_rows names it as not a booking
            elif row.get("state") == "cancelled":
                if reference is not None:
                    cancels.append(reference)
            elif _over(row, now):
                # A hall back after a day away would otherwise alert its manager once per booking it
                # missed; a slot that is over cannot be checked in, so there is nothing to load.
                result.over += 1
            elif reference in held and row.get("id_number") is None and row.get("phone") is None:
                # Sent again after the district cleared its personal data (this hall's cursor went
                # back, as after a restore): the hall has it already, with its hash.
                result.unchanged += 1
            else:
                bookings.append(_booking(row))
        # Check them all at once; take out the rows with problems and load the rest. import_rows
        # refuses a whole list, so this ends at most once per bad row.
        while bookings:
            try:
                loaded = appointments.import_rows(store, config, bookings, source="district", now=now)
            except appointments.InvalidAppointments as exc:
                bad: set[int] = set()
                for problem in exc.problems:
                    bad.add(problem.row)
                    booking = bookings[problem.row - 1] if 0 < problem.row <= len(bookings) else None
                    reference = _reference(booking) or "?"
                    words = Msg(
                        "dap_hall_refused", {"reference": reference, "field": problem.field, "what": problem.what}
                    )
                    _alert(conn, words, now)
                    if reference != "?":
                        result.refused.append({"reference": reference, "message": words.en})
                # Rows a refused attempt wrote before it stopped stay in this transaction; the next
                # attempt finds them and counts them as held.
                kept = [b for i, b in enumerate(bookings, 1) if i not in bad]
                if len(kept) == len(bookings):  # a problem naming no row: nothing can load safely
                    break
                bookings = kept
                continue
            result.added += loaded.added
            result.unchanged += loaded.unchanged
            break
        for reference in cancels:
            state = conn.execute(
                "SELECT state FROM appointments WHERE hall = ? AND reference = ?", (config.hall.id, reference)
            ).fetchone()
            if state is None or state["state"] == "cancelled":
                continue  # never loaded here (refused, or cancelled before it came), or done already
            if state["state"] != "booked":
                # Checked in or missed already: what happened in the hall stands; the manager is told.
                label = Msg(f"appt_state_{state['state']}")
                _alert(conn, Msg("dap_hall_cancel_late", {"reference": reference, "state": label}), now)
                continue
            appointments.cancel(store, config, reference, now=now)
            result.cancelled += 1
        conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (CURSOR, str(upto)))
    return result
