"""Hall changes as the hall's outbox sends them (the wire protocol of issue 17), for the district tests."""

from __future__ import annotations

from typing import Any

DAY = "2026-12-07"


def at(minute: int, second: int = 0) -> str:
    return f"{DAY}T01:{minute:02d}:{second:02d}.000000+00:00"


def ticket(uid: str, *, local_id: int = 1, state: str = "waiting", number: str = "A001", **more: Any) -> dict:
    body = {
        "uid": uid,
        "id": local_id,
        "service_day": DAY,
        "prefix": "A",
        "seq": local_id,
        "number": number,
        "line": "A",
        "matter": "m1",
        "state": state,
        "green": 0,
        "green_reason": None,
        "transferred": 0,
        "issued_at": at(0),
        "called_at": None,
        "finished_at": None,
        "window": None,
        "clerk": None,
        "kiosk": "k1",
    }
    body.update(more)
    return {"kind": "ticket", "key": uid, "body": body}


def event(uid: str, ticket_uid: str, action: str, when: str, *, undone_uid: str | None = None, **more: Any) -> dict:
    body = {
        "uid": uid,
        "id": 1,
        "ticket_uid": ticket_uid,
        "window": 1,
        "action": action,
        "from_state": None,
        "to_state": None,
        "actor": "clerk1",
        "at": when,
        "data": {},
        "undone_uid": undone_uid,
    }
    body.update(more)
    return {"kind": "event", "key": uid, "body": body}


def numbered(changes: list[dict], first: int = 1) -> list[dict]:
    """The changes with seq first, first + 1, … as the outbox numbers them."""
    return [{"seq": first + i, **c} for i, c in enumerate(changes)]


def batch(hall: str, changes: list[dict], *, generation: str = "g1", first: int = 1) -> dict:
    return {"hall": hall, "generation": generation, "changes": numbered(changes, first)}


def busy_day(n_tickets: int, prefix: str = "t") -> list[dict]:
    """A ticket's life as the outbox has it: issued, called, started, finished (a ticket change and an
    event at each step)."""
    out: list[dict] = []
    for i in range(n_tickets):
        uid = f"{prefix}{i:06d}"
        minute = i % 50
        out.append(ticket(uid, local_id=i + 1, number=f"A{i:03d}"))
        out.append(event(f"{uid}i", uid, "issue", at(minute)))
        out.append(ticket(uid, local_id=i + 1, number=f"A{i:03d}", state="called", called_at=at(minute, 30), window=1))
        out.append(event(f"{uid}c", uid, "call", at(minute, 30)))
        out.append(ticket(uid, local_id=i + 1, number=f"A{i:03d}", state="serving", called_at=at(minute, 30), window=1))
        out.append(event(f"{uid}s", uid, "start", at(minute, 40)))
        out.append(
            ticket(
                uid,
                local_id=i + 1,
                number=f"A{i:03d}",
                state="done",
                called_at=at(minute, 30),
                finished_at=at(minute + 5),
                window=1,
            )
        )
        out.append(event(f"{uid}f", uid, "finish", at(minute + 5)))
    return out
