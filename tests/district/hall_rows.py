"""Copies a hall's tickets, events, windows and cases into the district's tables, row for row, as
the sync protocol's bodies would land there (docs/district.md §Protocol). A stand-in for the real
outbox and ingest in tests of what the district shows: every hall row gets a uid made from its id,
an undo marks the event it names as undone, and a ticket's first call sets its first_call_at."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tongban.queue.masking import mask_name
from tongban.queue.store import Store


def add_hall(conn: psycopg.Connection[Any], hall: str, *, name: str = "", last_sync_at: Any = None) -> None:
    conn.execute(
        "INSERT INTO halls (id, name, token_hash, last_sync_at) VALUES (%s, %s, %s, %s)",
        (hall, name, hashlib.sha256(hall.encode()).hexdigest(), last_sync_at),
    )


def copy_hall(store: Store, conn: psycopg.Connection[Any], hall: str) -> None:
    """Every ticket, event, window and case of ``store`` into the district as hall ``hall``."""
    tickets = {r["id"]: dict(r) for r in store.all("SELECT * FROM tickets")}
    events = [dict(r) for r in store.all("SELECT * FROM events ORDER BY id")]
    undone = {json.loads(e["data"]).get("undone_event") for e in events if e["action"] == "undo"}
    first_call: dict[int, str] = {}
    for e in events:
        if e["action"] == "call" and e["ticket_id"] not in first_call:
            first_call[e["ticket_id"]] = e["at"]
    for t in tickets.values():
        conn.execute(
            """INSERT INTO tickets (hall, uid, local_id, service_day, prefix, number, line, matter, state, green,
                   green_reason, transferred, issued_at, called_at, first_call_at, finished_at, "window", clerk, kiosk)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                hall,
                f"t{t['id']}",
                t["id"],
                t["service_day"],
                t["prefix"],
                t["number"],
                t["line"],
                t["matter"],
                t["state"],
                bool(t["green"]),
                t.get("green_reason"),
                bool(t["transferred"]),
                t["issued_at"],
                t["called_at"],
                first_call.get(t["id"]),
                t["finished_at"],
                t["window"],
                t["clerk"],
                t["kiosk"],
            ),
        )
    for e in events:
        t = tickets.get(e["ticket_id"])  # window events (open, pause) belong to no ticket
        conn.execute(
            """INSERT INTO events (hall, uid, ticket_uid, service_day, "window", action, from_state, to_state, actor,
                   at, data, undone)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                hall,
                f"e{e['id']}",
                f"t{t['id']}" if t else None,
                t["service_day"] if t else None,
                e["window"],
                e["action"],
                e["from_state"],
                e["to_state"],
                e["actor"],
                e["at"],
                Jsonb(json.loads(e["data"])),
                e["id"] in undone,
            ),
        )
    for w in store.all("SELECT * FROM windows"):
        conn.execute(
            """INSERT INTO windows (hall, number, state, serving, clerk, updated_at) VALUES (%s, %s, %s, %s, %s, %s)""",
            (hall, w["number"], w["state"], Jsonb(json.loads(w["serving"])), w["clerk"], w["updated_at"]),
        )
    for c in store.all("SELECT * FROM cases"):
        c = dict(c)
        # The hall sends masked forms only (docs/district.md §Privacy): never the name, ID or phone.
        conn.execute(
            """INSERT INTO cases (hall, uid, number, mode, matter, matter_zh, matter_en, department, state,
                   opened_day, due_day, due_flag, closed_day, applicant_masked, phone_last4, handling_dept, updated_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                hall,
                f"c{c['id']}",
                c["number"],
                c["mode"],
                c["matter"],
                c["matter_zh"],
                c["matter_en"],
                c["department"],
                c["state"],
                c["opened_day"],
                c["due_day"],
                c["due_flag"],
                c.get("closed_day"),
                mask_name(c["applicant_name"]),
                c["phone_last4"],
                c.get("handling_dept"),
                c.get("opened_at"),
            ),
        )
