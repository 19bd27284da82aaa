"""Apply one hall's sync batch to the district database (docs/district.md §Protocol; spec of issue 17).

A batch is checked whole before anything is written (``parse_batch``), so a malformed change is a
named ``BatchError`` (the field and what was expected), never a database error. ``apply_batch`` then
runs in the caller's transaction: it locks the (hall, generation) row, keeps only the changes from
acked + 1 on, and writes each kind with one set-based statement, so a busy day's backlog goes in at
thousands of changes a second and a batch sent twice changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from ..texts import Msg, both

MAX_CHANGES = 2000
MAX_TEXT = 2000
MAX_ID = 64  # hall, generation and uid lengths
INT32 = 2**31 - 1
INT64 = 2**63 - 1


class BatchError(ValueError):
    """A malformed batch: ``field`` is where (``changes[3].body.issued_at``), the text says what was expected."""

    code = "bad_batch"

    def __init__(self, field_name: str, expected: Msg):
        self.field = field_name
        self.message_zh, self.message_en = both("dc_bad_batch", field=field_name, expected=expected)
        super().__init__(self.message_en)

    def as_dict(self) -> dict:
        return {"error": self.code, "message_zh": self.message_zh, "message_en": self.message_en, "field": self.field}


class BatchTooLarge(ValueError):
    code = "batch_too_large"

    def __init__(self, count: int):
        self.count = count
        self.message_zh, self.message_en = both("dc_batch_too_large", count=count, limit=MAX_CHANGES)
        super().__init__(self.message_en)

    def as_dict(self) -> dict:
        return {"error": self.code, "message_zh": self.message_zh, "message_en": self.message_en}


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str
    key: str
    body: dict[str, Any]  # checked and converted: days are dates, times datetimes, texts str


@dataclass(frozen=True)
class Batch:
    hall: str
    generation: str
    changes: list[Change]


@dataclass
class Applied:
    acked: int
    applied: int = 0  # changes newly held (unknown kinds included)
    skipped: int = 0  # at or below acked: sent before
    gap: bool = False  # the first new change was not acked + 1: nothing applied
    unknown: int = 0  # kinds this district does not know: counted as applied, stored nowhere
    by_kind: dict[str, int] = field(default_factory=dict)


# ---------- checking a batch ----------

# A field's converter: (value, where) -> the value to store; raises BatchError naming ``where``.
Conv = Callable[[Any, str], Any]


def _text(max_len: int = MAX_TEXT, *, null: bool = False, number_ok: bool = False) -> Conv:
    expected = Msg("dc_expect_text_or_null" if null else "dc_expect_text", max=max_len)

    def conv(value: Any, where: str) -> Any:
        if value is None and null:
            return None
        # SQLite has no types to speak of: a clerk or a case number may come as a number.
        if number_ok and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value) > max_len or "\x00" in value or (not null and not value):
            raise BatchError(where, expected)
        return value

    return conv


def _int(low: int, high: int, *, null: bool = False) -> Conv:
    def conv(value: Any, where: str) -> Any:
        if value is None and null:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BatchError(where, Msg("dc_expect_int", low=low, high=high))
        return value

    return conv


def _bool(value: Any, where: str) -> bool:
    if value is None:
        return False
    if value in (True, False, 0, 1) and not isinstance(value, float):
        return bool(value)
    raise BatchError(where, Msg("dc_expect_bool"))


def _day(*, null: bool = False) -> Conv:
    def conv(value: Any, where: str) -> Any:
        if value is None and null:
            return None
        try:
            if isinstance(value, str) and len(value) == 10:
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise BatchError(where, Msg("dc_expect_day"))

    return conv


def _time(*, null: bool = False) -> Conv:
    def conv(value: Any, where: str) -> Any:
        if value is None and null:
            return None
        try:
            if isinstance(value, str) and len(value) <= 40:
                moment = datetime.fromisoformat(value)
                # A time without its offset is ambiguous across halls and servers: refuse it.
                if moment.tzinfo is not None:
                    return moment
        except ValueError:
            pass
        raise BatchError(where, Msg("dc_expect_time"))

    return conv


def _clean_json(value: Any, where: str, depth: int = 0) -> Any:
    """PostgreSQL's jsonb refuses NUL in text and NaN or infinite numbers: refuse them here, by name
    (and nesting deeper than any hall row has, so the walk itself stays small)."""
    if depth > 32:
        raise BatchError(where, Msg("dc_expect_object"))
    if isinstance(value, str):
        if "\x00" in value:
            raise BatchError(where, Msg("dc_expect_text", max=MAX_TEXT))
    elif isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in k:
                raise BatchError(where, Msg("dc_expect_object"))
            _clean_json(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _clean_json(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BatchError(where, Msg("dc_expect_object"))
    return value


def _json(kind: type, expected: str, *, default: Any) -> Conv:
    def conv(value: Any, where: str) -> Any:
        if value is None:
            return default
        # A hall row's JSON column may come as its text (a trigger's NEW.data): read it.
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise BatchError(where, Msg(expected)) from None
        if not isinstance(value, kind):
            raise BatchError(where, Msg(expected))
        return _clean_json(value, where)

    return conv


_uid = _text(MAX_ID)
_opt = _text(null=True)
_opt_num = _text(null=True, number_ok=True)

# Per kind: the body fields the district keeps, and how each is checked. A field left out of a body
# counts as null (and fails if it may not be null); fields not listed here are not stored.
FIELDS: dict[str, dict[str, Conv]] = {
    "ticket": {
        "uid": _uid,
        "id": _int(0, INT64),
        "service_day": _day(),
        "prefix": _text(16),
        "number": _text(32, number_ok=True),
        "line": _text(16),
        "matter": _opt,
        "state": _text(32),
        "green": _bool,
        "green_reason": _opt,
        "transferred": _bool,
        "issued_at": _time(),
        "called_at": _time(null=True),
        "finished_at": _time(null=True),
        "window": _int(-INT32, INT32, null=True),
        "clerk": _opt_num,
        "kiosk": _opt_num,
    },
    "event": {
        "uid": _uid,
        "ticket_uid": _text(MAX_ID, null=True),
        "window": _int(-INT32, INT32, null=True),
        "action": _text(64),
        "from_state": _opt,
        "to_state": _opt,
        "actor": _opt_num,
        "at": _time(),
        "data": _json(dict, "dc_expect_object", default={}),
        "undone_uid": _text(MAX_ID, null=True),
    },
    "window": {
        "number": _int(-INT32, INT32),
        "state": _text(32),
        "serving": _json(list, "dc_expect_list", default=[]),
        "clerk": _opt_num,
        "updated_at": _time(null=True),
    },
    "case": {
        "uid": _uid,
        "id": _int(0, INT64, null=True),
        "number": _text(64, number_ok=True),
        "mode": _text(32),
        "matter": _text(128),
        "matter_zh": _opt,
        "matter_en": _opt,
        "department": _opt,
        "state": _text(32),
        "opened_day": _day(),
        "due_day": _day(null=True),
        "due_flag": _opt,
        "closed_day": _day(null=True),
        "handling_dept": _opt,
        "applicant_masked": _text(64, null=True),
        "phone_last4": _text(4, null=True, number_ok=True),
        "updated_at": _time(null=True),
        "origin_hall": _text(MAX_ID, null=True),
        "origin_case_uid": _text(MAX_ID, null=True),
        "target_hall": _text(MAX_ID, null=True),
    },
    "case_event": {
        "uid": _uid,
        "case_uid": _uid,
        "action": _text(64),
        "from_state": _opt,
        "to_state": _opt,
        "actor": _opt_num,
        "at": _time(),
        "day": _day(),
        "data": _json(dict, "dc_expect_object", default={}),
    },
    "alert": {
        "uid": _uid,
        "device": _opt_num,
        "kind": _text(64),
        "message_zh": _text(MAX_TEXT),
        "message_en": _text(MAX_TEXT),
        "at": _time(),
        "acked_at": _time(null=True),
    },
    "day_summary": {
        "day": _day(),
        "totals": _json(dict, "dc_expect_object", default=None),
    },
}


def parse_batch(payload: Any) -> Batch:
    """The request body as a checked ``Batch``; ``BatchError`` names the first bad field,
    ``BatchTooLarge`` a batch over MAX_CHANGES."""
    if not isinstance(payload, dict):
        raise BatchError("body", Msg("dc_expect_object"))
    hall = _uid(payload.get("hall"), "hall")
    generation = _uid(payload.get("generation"), "generation")
    raw = payload.get("changes")
    if not isinstance(raw, list):
        raise BatchError("changes", Msg("dc_expect_list"))
    if len(raw) > MAX_CHANGES:
        raise BatchTooLarge(len(raw))
    changes: list[Change] = []
    for i, item in enumerate(raw):
        where = f"changes[{i}]"
        if not isinstance(item, dict):
            raise BatchError(where, Msg("dc_expect_object"))
        seq = _int(1, INT64)(item.get("seq"), f"{where}.seq")
        if changes and seq != changes[-1].seq + 1:
            raise BatchError(f"{where}.seq", Msg("dc_expect_next_seq", seq=changes[-1].seq + 1))
        kind = _text(64)(item.get("kind"), f"{where}.kind")
        key = _text(MAX_TEXT, number_ok=True)(item.get("key"), f"{where}.key")
        body = item.get("body")
        if not isinstance(body, dict):
            raise BatchError(f"{where}.body", Msg("dc_expect_object"))
        spec = FIELDS.get(kind)
        if spec is None:
            checked: dict[str, Any] = {}  # a kind from a newer hall: counted, not stored, not checked
        else:
            checked = {name: conv(body.get(name), f"{where}.body.{name}") for name, conv in spec.items()}
            if kind == "day_summary" and checked["totals"] is None:
                raise BatchError(f"{where}.body.totals", Msg("dc_expect_object"))
        changes.append(Change(seq, kind, key, checked))
    return Batch(hall, generation, changes)


# ---------- applying it ----------


def acked(conn: psycopg.Connection[Any], hall: str, generation: str) -> int:
    row = conn.execute(
        "SELECT acked FROM hall_generations WHERE hall = %s AND generation = %s", (hall, generation)
    ).fetchone()
    return row[0] if row else 0


def apply_batch(conn: psycopg.Connection[Any], batch: Batch, *, now: datetime) -> Applied:
    """Apply ``batch`` in the caller's transaction (the caller commits). The hall must exist: the
    API has matched it to the token."""
    conn.execute(
        "INSERT INTO hall_generations (hall, generation, first_seen, last_seen) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (batch.hall, batch.generation, now, now),
    )
    # The lock makes two pushes of one hall (a retry racing a slow answer) apply one after the other.
    row = conn.execute(
        "SELECT acked FROM hall_generations WHERE hall = %s AND generation = %s FOR UPDATE",
        (batch.hall, batch.generation),
    ).fetchone()
    assert row is not None  # inserted above in this transaction, or there before
    held = row[0]
    new = [c for c in batch.changes if c.seq > held]
    result = Applied(acked=held, skipped=len(batch.changes) - len(new))
    if new and new[0].seq != held + 1:
        # A gap: the hall lost track (or a batch went astray). Apply nothing; it resends from acked + 1.
        result.gap = True
        conn.execute(
            "UPDATE hall_generations SET last_seen = %s WHERE hall = %s AND generation = %s",
            (now, batch.hall, batch.generation),
        )
        return result

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for change in new:
        if change.kind in FIELDS:
            by_kind.setdefault(change.kind, []).append(change.body)
        else:
            result.unknown += 1
    _write(conn, batch.hall, by_kind)

    if new:
        result.acked = new[-1].seq
        result.applied = len(new)
        result.by_kind = {kind: len(rows) for kind, rows in by_kind.items()}
    conn.execute(
        "UPDATE hall_generations SET acked = %s, last_seen = %s WHERE hall = %s AND generation = %s",
        (result.acked, now, batch.hall, batch.generation),
    )
    conn.execute("UPDATE halls SET last_sync_at = %s WHERE id = %s", (now, batch.hall))
    return result


def _last_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """One row per key, the latest: an upsert of many rows may not touch one row twice."""
    return list({row[key]: row for row in rows}.values())


def _first_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row[key], row)
    return list(seen.values())


def _column(rows: list[dict[str, Any]], name: str, wrap: Callable[[Any], Any] | None = None) -> list[Any]:
    return [wrap(row[name]) if wrap else row[name] for row in rows]


def _write(conn: psycopg.Connection[Any], hall: str, by_kind: dict[str, list[dict[str, Any]]]) -> None:
    """One statement per kind over unnest()ed arrays: a round trip per kind, not per change.

    Kinds are written in an order that lets the links between them be set whatever order the hall
    sent them in: tickets, then events (which take their ticket's service day), then the fix-ups for
    events that arrived before their ticket (a new generation resends in outbox order, but pruned rows
    are not resent).
    """
    tickets = _last_by(by_kind.get("ticket", []), "uid")
    if tickets:
        conn.execute(
            """
            INSERT INTO tickets (hall, uid, local_id, service_day, prefix, number, line, matter, state, green,
                                 green_reason, transferred, issued_at, called_at, finished_at, "window", clerk, kiosk)
            SELECT %s, * FROM unnest(%s::text[], %s::bigint[], %s::date[], %s::text[], %s::text[], %s::text[],
                                     %s::text[], %s::text[], %s::boolean[], %s::text[], %s::boolean[],
                                     %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::integer[],
                                     %s::text[], %s::text[])
            ON CONFLICT (hall, uid) DO UPDATE SET
                local_id = excluded.local_id, service_day = excluded.service_day, prefix = excluded.prefix,
                number = excluded.number, line = excluded.line, matter = excluded.matter, state = excluded.state,
                green = excluded.green, green_reason = excluded.green_reason, transferred = excluded.transferred,
                issued_at = excluded.issued_at, called_at = excluded.called_at, finished_at = excluded.finished_at,
                "window" = excluded."window", clerk = excluded.clerk, kiosk = excluded.kiosk
            """,
            [hall]
            + [
                _column(tickets, name)
                for name in (
                    "uid",
                    "id",
                    "service_day",
                    "prefix",
                    "number",
                    "line",
                    "matter",
                    "state",
                    "green",
                    "green_reason",
                    "transferred",
                    "issued_at",
                    "called_at",
                    "finished_at",
                    "window",
                    "clerk",
                    "kiosk",
                )
            ],
        )

    events = _first_by(by_kind.get("event", []), "uid")
    if events:
        # ON CONFLICT DO NOTHING: an event never changes once made, and a resent one lands on itself
        # (keeping the undone mark an undo gave it).
        conn.execute(
            """
            INSERT INTO events (hall, uid, ticket_uid, service_day, "window", action, from_state, to_state,
                                actor, at, data)
            SELECT %(hall)s, e.uid, e.ticket_uid, t.service_day, e.win, e.action, e.from_state, e.to_state,
                   e.actor, e.at, e.data
            FROM unnest(%(uid)s::text[], %(ticket_uid)s::text[], %(window)s::integer[], %(action)s::text[],
                        %(from_state)s::text[], %(to_state)s::text[], %(actor)s::text[], %(at)s::timestamptz[],
                        %(data)s::jsonb[])
                 AS e(uid, ticket_uid, win, action, from_state, to_state, actor, at, data)
            LEFT JOIN tickets t ON t.hall = %(hall)s AND t.uid = e.ticket_uid
            ON CONFLICT (hall, uid) DO NOTHING
            """,
            {
                "hall": hall,
                **{
                    name: _column(events, name)
                    for name in ("uid", "ticket_uid", "window", "action", "from_state", "to_state", "actor", "at")
                },
                "data": _column(events, "data", Jsonb),
            },
        )
        calls = [e for e in events if e["action"] == "call" and e["ticket_uid"]]
        if calls:
            # The wait ends at the first call; a recall later does not move it (least() skips nulls).
            conn.execute(
                """
                UPDATE tickets t SET first_call_at = least(t.first_call_at, c.at)
                FROM (SELECT ticket_uid, min(at) AS at FROM unnest(%s::text[], %s::timestamptz[])
                      AS u(ticket_uid, at) GROUP BY ticket_uid) c
                WHERE t.hall = %s AND t.uid = c.ticket_uid
                """,
                (_column(calls, "ticket_uid"), _column(calls, "at"), hall),
            )
        undone = [e["undone_uid"] for e in events if e["action"] == "undo" and e["undone_uid"]]
        if undone:
            conn.execute(
                "UPDATE events SET undone = true WHERE hall = %s AND uid = ANY(%s::text[]) AND NOT undone",
                (hall, undone),
            )

    if tickets:
        uids = _column(tickets, "uid")
        # Events that came before their ticket (an earlier batch, or a resend) get its day and its
        # first call now.
        conn.execute(
            """
            UPDATE events e SET service_day = t.service_day FROM tickets t
            WHERE e.hall = %s AND e.ticket_uid = ANY(%s::text[]) AND e.service_day IS NULL
              AND t.hall = e.hall AND t.uid = e.ticket_uid
            """,
            (hall, uids),
        )
        conn.execute(
            """
            UPDATE tickets t SET first_call_at = c.at
            FROM (SELECT ticket_uid, min(at) AS at FROM events
                  WHERE hall = %s AND ticket_uid = ANY(%s::text[]) AND action = 'call' GROUP BY ticket_uid) c
            WHERE t.hall = %s AND t.uid = c.ticket_uid AND t.first_call_at IS DISTINCT FROM least(t.first_call_at, c.at)
            """,
            (hall, uids, hall),
        )

    windows = _last_by(by_kind.get("window", []), "number")
    if windows:
        conn.execute(
            """
            INSERT INTO windows (hall, number, state, serving, clerk, updated_at)
            SELECT %s, * FROM unnest(%s::integer[], %s::text[], %s::jsonb[], %s::text[], %s::timestamptz[])
            ON CONFLICT (hall, number) DO UPDATE SET state = excluded.state, serving = excluded.serving,
                clerk = excluded.clerk, updated_at = excluded.updated_at
            """,
            (
                hall,
                _column(windows, "number"),
                _column(windows, "state"),
                _column(windows, "serving", Jsonb),
                _column(windows, "clerk"),
                _column(windows, "updated_at"),
            ),
        )

    cases = _last_by(by_kind.get("case", []), "uid")
    if cases:
        # body keeps only the listed (masked) fields: whatever else a hall sent is not stored.
        bodies = [Jsonb({k: _plain(v) for k, v in case.items()}) for case in cases]
        conn.execute(
            """
            INSERT INTO cases (hall, uid, number, mode, matter, matter_zh, matter_en, department, state,
                               opened_day, due_day, due_flag, closed_day, applicant_masked, phone_last4,
                               handling_dept, updated_at, body)
            SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                                     %s::text[], %s::text[], %s::date[], %s::date[], %s::text[], %s::date[],
                                     %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::jsonb[])
            ON CONFLICT (hall, uid) DO UPDATE SET
                number = excluded.number, mode = excluded.mode, matter = excluded.matter,
                matter_zh = excluded.matter_zh, matter_en = excluded.matter_en, department = excluded.department,
                state = excluded.state, opened_day = excluded.opened_day, due_day = excluded.due_day,
                due_flag = excluded.due_flag, closed_day = excluded.closed_day,
                applicant_masked = excluded.applicant_masked, phone_last4 = excluded.phone_last4,
                handling_dept = excluded.handling_dept, updated_at = excluded.updated_at, body = excluded.body
            """,
            [hall]
            + [_column(cases, name) for name in ("uid", "number", "mode", "matter")]
            + [[c[name] or "" for c in cases] for name in ("matter_zh", "matter_en", "department")]
            + [
                _column(cases, name)
                for name in (
                    "state",
                    "opened_day",
                    "due_day",
                    "due_flag",
                    "closed_day",
                    "applicant_masked",
                    "phone_last4",
                    "handling_dept",
                    "updated_at",
                )
            ]
            + [bodies],
        )

    case_events = _first_by(by_kind.get("case_event", []), "uid")
    if case_events:
        conn.execute(
            """
            INSERT INTO case_events (hall, uid, case_uid, action, from_state, to_state, actor, at, day, data)
            SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                                     %s::timestamptz[], %s::date[], %s::jsonb[])
            ON CONFLICT (hall, uid) DO NOTHING
            """,
            [hall]
            + [
                _column(case_events, name)
                for name in ("uid", "case_uid", "action", "from_state", "to_state", "actor", "at", "day")
            ]
            + [_column(case_events, "data", Jsonb)],
        )

    alerts = _last_by(by_kind.get("alert", []), "uid")
    if alerts:
        conn.execute(
            """
            INSERT INTO alerts (hall, uid, device, kind, message_zh, message_en, at, acked_at)
            SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                                     %s::timestamptz[], %s::timestamptz[])
            ON CONFLICT (hall, uid) DO UPDATE SET device = excluded.device, kind = excluded.kind,
                message_zh = excluded.message_zh, message_en = excluded.message_en, at = excluded.at,
                acked_at = excluded.acked_at
            """,
            [hall]
            + [
                _column(alerts, name)
                for name in ("uid", "device", "kind", "message_zh", "message_en", "at", "acked_at")
            ],
        )

    summaries = _last_by(by_kind.get("day_summary", []), "day")
    if summaries:
        conn.execute(
            """
            INSERT INTO day_summaries (hall, day, totals)
            SELECT %s, * FROM unnest(%s::date[], %s::jsonb[])
            ON CONFLICT (hall, day) DO UPDATE SET totals = excluded.totals
            """,
            (hall, _column(summaries, "day"), _column(summaries, "totals", Jsonb)),
        )


def _plain(value: Any) -> Any:
    """A checked value back to its JSON form for the cases.body column."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
