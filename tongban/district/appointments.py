"""Appointments the district sends down to its halls (docs/district.md "Appointments").

The province's booking platform exports one file for the whole district; ``tongban district
appointments import FILE`` checks every row (the hall's own file format plus a ``hall`` column) and
stores all of them or none. Each change to a hall's booking (added, cancelled) takes the next number
of that hall's change counter, and the hall pulls what changed since the number it holds
(``GET /api/v1/appointments?since=N``), loads it with its own checks, and acknowledges
(``POST /api/v1/appointments/ack``). No hall waits on this: the pull runs in its devices process.

Personal data: the hall keeps an ID number only as an HMAC under its own secret key
(queue/identity.py), a key the district never sees, so the district has to carry the number itself
to the hall. It keeps the full ID number and phone only until the hall acknowledges the row, or the
slot is over for a hall that never asks, and then only the masked forms, as hand-offs do
(district/handoffs.py). Nothing here prints, logs or answers a full number except the hall's own pull.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import psycopg
from flask import Blueprint, Flask, Response, jsonify, make_response, request
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout

from ..queue import appointments as hall_appointments
from ..queue.appointments import MAX_ROWS, REFERENCE, Problem, shown
from ..queue.identity import mask_id, normalize_id
from ..queue.masking import mask_personal
from ..texts import Msg, both
from . import api, db
from .context import clock, connection, hall_from_token

bp = Blueprint("district_appointments", __name__, url_prefix="/api/v1/appointments")
# PostgreSQL down or every connection busy: a 503 the hall retries, as for its pushes (api.py).
bp.register_error_handler(psycopg.OperationalError, api.database_unavailable)
bp.register_error_handler(PoolTimeout, api.database_unavailable)

#: The district file's fields: the hall's (queue/appointments.py FIELDS), with ``hall`` required.
FIELDS = hall_appointments.FIELDS
REQUIRED = (*hall_appointments.REQUIRED, "hall")
#: Rows per page of a hall's pull: a busy hall books a few hundred a day, so one page is usual.
PAGE = 200
MAX_PAGE = 500
#: China keeps one time; a district elsewhere passes --timezone.
DEFAULT_TZ = "Asia/Shanghai"
_PHONE = re.compile(r"^\+?\d{5,20}$")
_MAX_HALL_PROBLEM = 400


class DistrictAppointmentError(ValueError):
    """A request or command about appointments the district refuses: ``code``, words, HTTP status."""

    def __init__(self, code: str, key: str, status: int = 400, **values: Any):
        self.code, self.status = code, status
        self.message_zh, self.message_en = both(key, **values)
        super().__init__(f"{self.message_zh} / {self.message_en}")

    def answer(self) -> Response:
        return make_response(
            jsonify(error=self.code, message_zh=self.message_zh, message_en=self.message_en), self.status
        )


class AppointmentsRefused(ValueError):
    """A booking file with problems: nothing was stored. ``problems`` as the hall's import words them."""

    code = "invalid_appointments"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        zh, en = both("err_invalid_appointments", n=len(problems))
        super().__init__(f"{zh} / {en}")


@dataclass(frozen=True)
class ImportResult:
    added: int
    unchanged: int
    halls: dict[str, int]  # bookings added per hall

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "unchanged": self.unchanged, "halls": self.halls}


# ---------- checking a file ----------


def _text(row: Mapping, name: str) -> object:
    value = row.get(name)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _catalogue_matters(conn: psycopg.Connection[Any]) -> set[str] | None:
    """The matter codes of the newest published catalogue, or None when there is none to check by
    (each hall checks the matter against its own file anyway)."""
    row = conn.execute("SELECT body FROM catalogue_versions ORDER BY id DESC LIMIT 1").fetchone()
    if row is None or not isinstance(row[0], dict):
        return None
    return {str(m["code"]) for m in row[0].get("matters", []) if isinstance(m, dict) and "code" in m}


def check_rows(
    conn: psycopg.Connection[Any], rows: Iterable[object], *, now: datetime, tz: ZoneInfo, first_row: int = 1
) -> list[dict[str, Any]]:
    """Every row checked with the hall's rules and words (the matter against the district's
    catalogue, the hall against the district's halls); the values to store, or AppointmentsRefused
    with every problem of every row."""
    halls = {r[0] for r in conn.execute("SELECT id FROM halls WHERE revoked_at IS NULL")}
    matters = _catalogue_matters(conn)
    problems: list[Problem] = []
    checked: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        n = first_row + i
        if i >= MAX_ROWS * 10:  # a district's file: ten halls' worth of one import
            problems.append(Problem(n, "(file)", Msg("appt_too_many", {"max": MAX_ROWS * 10})))
            break
        if not isinstance(row, Mapping):
            problems.append(Problem(n, "(row)", Msg("appt_row_not_object")))
            continue
        before = len(problems)
        for key in row:
            if key not in FIELDS:
                if key is None or (isinstance(key, str) and not key.strip()):
                    problems.append(Problem(n, "(columns)", Msg("appt_row_extra_columns")))
                else:
                    fields = ", ".join(FIELDS)
                    problems.append(Problem(n, shown(key), Msg("appt_row_unknown_field", {"fields": fields})))
        values = {name: _text(row, name) for name in FIELDS}
        for name in REQUIRED:
            if values[name] is None:
                problems.append(Problem(n, name, Msg("appt_row_missing")))
        reference, found = hall_appointments.check_reference(n, values["reference"])
        problems.extend(found)
        hall = values["hall"]
        if hall is not None and hall not in halls:
            problems.append(Problem(n, "hall", Msg("dap_row_unknown_hall", {"value": shown(hall)})))
        matter = values["matter"]
        if matter is not None and (
            not isinstance(matter, str) or len(matter) > 40 or (matters is not None and matter not in matters)
        ):
            problems.append(Problem(n, "matter", Msg("dap_row_unknown_matter", {"value": shown(matter)})))
        start, end, found = hall_appointments.check_slot(n, values["slot_start"], values["slot_end"], tz=tz, now=now)
        problems.extend(found)
        id_number = values["id_number"]
        number = normalize_id(id_number) if isinstance(id_number, str) else None
        if id_number is not None and number is None:
            problems.append(Problem(n, "id_number", Msg("appt_row_bad_id")))  # never repeated back
        phone = values["phone"]
        digits = re.sub(r"[\s-]", "", phone) if isinstance(phone, str) else None
        if phone is not None and not (digits and _PHONE.match(digits)):
            problems.append(Problem(n, "phone", Msg("appt_row_bad_phone")))
        if len(problems) > before:
            continue
        key = (str(hall), str(reference))
        if key in seen:
            problems.append(Problem(n, "reference", Msg("appt_row_repeated", {"value": reference, "first": seen[key]})))
            continue
        seen[key] = n
        checked.append(
            {
                "row": n,
                "hall": hall,
                "reference": reference,
                "matter": matter,
                "slot_start": start,
                "slot_end": end,
                "id_number": number,
                "id_masked": mask_id(number) if number else None,
                "phone": digits,
                "phone_last4": digits[-4:] if digits else None,
            }
        )
    if problems:
        raise AppointmentsRefused(sorted(problems, key=lambda p: p.row))
    return checked


# ---------- storing ----------


def _next_seq(conn: psycopg.Connection[Any], hall: str, count: int = 1) -> int:
    """Take ``count`` numbers of the hall's change counter; the first. The counter's row stays locked
    until this transaction ends, so no other change for the hall commits out of order."""
    row = conn.execute(
        "INSERT INTO appointment_cursors (hall, last_seq) VALUES (%s, %s)"
        " ON CONFLICT (hall) DO UPDATE SET last_seq = appointment_cursors.last_seq + EXCLUDED.last_seq"
        " RETURNING last_seq",
        (hall, count),
    ).fetchone()
    assert row is not None
    return int(row[0]) - count + 1


def import_rows(
    conn: psycopg.Connection[Any],
    rows: Iterable[object],
    *,
    now: datetime,
    tz: ZoneInfo | None = None,
    first_row: int = 1,
) -> ImportResult:
    """Store every row, or none (the caller's transaction). A reference already held for its hall with
    the same details is left alone, so the same export can be imported again; with other details it
    is a problem, as at the hall: cancel the old booking first."""
    checked = check_rows(conn, rows, now=now, tz=tz or ZoneInfo(DEFAULT_TZ), first_row=first_row)
    purge_past(conn, now)  # also here: a district whose halls are all away still sheds old numbers
    problems: list[Problem] = []
    fresh: list[dict[str, Any]] = []
    unchanged = 0
    for values in checked:
        existing = conn.execute(
            "SELECT matter, slot_start, slot_end, id_masked, phone_last4 FROM appointments"
            " WHERE hall = %s AND reference = %s",
            (values["hall"], values["reference"]),
        ).fetchone()
        if existing is None:
            fresh.append(values)
            continue
        # After the hall acknowledged, only the masked forms are left to compare with.
        same = (values["matter"], values["slot_start"], values["slot_end"], values["id_masked"], values["phone_last4"])
        if tuple(existing) == same:
            unchanged += 1
        else:
            problems.append(Problem(values["row"], "reference", Msg("appt_row_taken", {"value": values["reference"]})))
    if problems:
        raise AppointmentsRefused(problems)
    per_hall: dict[str, int] = {}
    for values in fresh:
        per_hall[values["hall"]] = per_hall.get(values["hall"], 0) + 1
    for hall in sorted(per_hall):  # one lock order for every import: two at once cannot deadlock
        seq = _next_seq(conn, hall, per_hall[hall])
        for values in (v for v in fresh if v["hall"] == hall):
            conn.execute(
                "INSERT INTO appointments (hall, reference, matter, slot_start, slot_end, id_masked, phone_last4,"
                " id_number, phone, state, seq, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'booked', %s, %s, %s)",
                (
                    hall,
                    values["reference"],
                    values["matter"],
                    values["slot_start"],
                    values["slot_end"],
                    values["id_masked"],
                    values["phone_last4"],
                    values["id_number"],
                    values["phone"],
                    seq,
                    now,
                    now,
                ),
            )
            seq += 1
    return ImportResult(len(fresh), unchanged, per_hall)


def cancel(conn: psycopg.Connection[Any], hall: str, reference: str, *, now: datetime) -> bool:
    """Cancel a booking; it reaches the hall with its next pull. False when it was cancelled already.
    The personal data goes at once: a cancelled booking needs none at the hall."""
    row = conn.execute(
        "SELECT state FROM appointments WHERE hall = %s AND reference = %s FOR UPDATE", (hall, reference)
    ).fetchone()
    if row is None:
        raise DistrictAppointmentError(
            "unknown_appointment", "dap_unknown_appointment", 404, hall=shown(hall), reference=shown(reference)
        )
    if row[0] == "cancelled":
        return False
    seq = _next_seq(conn, hall)
    conn.execute(
        "UPDATE appointments SET state = 'cancelled', seq = %s, updated_at = %s, id_number = NULL, phone = NULL"
        " WHERE hall = %s AND reference = %s",
        (seq, now, hall, reference),
    )
    return True


def purge_past(conn: psycopg.Connection[Any], now: datetime) -> int:
    """Personal data of slots already over, whether or not the hall asked: it is of no use to anyone
    then, and a hall that is away for good must not keep it at the district for ever."""
    cur = conn.execute(
        "UPDATE appointments SET id_number = NULL, phone = NULL"
        " WHERE slot_end <= %s AND (id_number IS NOT NULL OR phone IS NOT NULL)",
        (now,),
    )
    return cur.rowcount


# ---------- what a hall pulls and acknowledges ----------


def _int(value: object, field: str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or value < low or (high is not None and value > high):
        limit = f"{low}–{high}" if high is not None else f"≥ {low}"
        raise DistrictAppointmentError("bad_request", "dap_bad_number", field=field, expected=limit)
    return value


def changes(conn: psycopg.Connection[Any], hall: str, since: object, limit: object = PAGE, *, now: datetime) -> dict:
    """The hall's bookings changed after ``since``, oldest change first, at most ``limit``; ``next`` is
    the cursor to ask with next time, ``more`` says whether to ask at once."""
    since = _int(since, "since", low=0)
    limit = _int(limit, "limit", low=1, high=MAX_PAGE)
    purge_past(conn, now)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT seq, hall, reference, matter, slot_start, slot_end, id_number, phone, state"
            " FROM appointments WHERE hall = %s AND seq > %s ORDER BY seq LIMIT %s",
            (hall, since, limit + 1),
        ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    counter = conn.execute("SELECT last_seq FROM appointment_cursors WHERE hall = %s", (hall,)).fetchone()
    out = [
        {
            **r,
            "slot_start": r["slot_start"].isoformat(),
            "slot_end": r["slot_end"].isoformat(),
        }
        for r in rows
    ]
    # ``last`` lets a hall whose cursor is ahead of the district (a district restored from an older
    # backup) notice it and start again from 0, instead of waiting for ever for numbers it has passed.
    last = int(counter[0]) if counter else 0
    return {"appointments": out, "next": rows[-1]["seq"] if rows else since, "more": more, "last": last}


def ack(conn: psycopg.Connection[Any], hall: str, payload: Any, *, now: datetime) -> dict:
    """The hall holds its changes up to ``upto``: the personal data of those rows is deleted here.
    ``refused`` (optional) names the rows the hall could not load and why, masked, for district staff."""
    if not isinstance(payload, dict):
        raise DistrictAppointmentError("bad_request", "dap_bad_number", field="upto", expected="≥ 0")
    row = conn.execute("SELECT last_seq FROM appointment_cursors WHERE hall = %s FOR UPDATE", (hall,)).fetchone()
    last = int(row[0]) if row else 0
    upto = _int(payload.get("upto"), "upto", low=0, high=last)
    refused = payload.get("refused") or []
    if not isinstance(refused, list) or len(refused) > MAX_PAGE:
        raise DistrictAppointmentError("bad_request", "dap_bad_refused")
    for item in refused:
        reference = item.get("reference") if isinstance(item, dict) else None
        words = item.get("message") if isinstance(item, dict) else None
        if not isinstance(reference, str) or not REFERENCE.match(reference) or not isinstance(words, str):
            raise DistrictAppointmentError("bad_request", "dap_bad_refused")
        conn.execute(
            "UPDATE appointments SET hall_problem = %s WHERE hall = %s AND reference = %s AND seq <= %s",
            (mask_personal(words.replace("\x00", ""))[:_MAX_HALL_PROBLEM], hall, reference, upto),
        )
    cleared = conn.execute(
        "UPDATE appointments SET id_number = NULL, phone = NULL"
        " WHERE hall = %s AND seq <= %s AND (id_number IS NOT NULL OR phone IS NOT NULL)",
        (hall, upto),
    ).rowcount
    if row is not None:
        conn.execute(
            "UPDATE appointment_cursors SET acked_seq = GREATEST(acked_seq, %s), acked_at = %s WHERE hall = %s",
            (upto, now, hall),
        )
    return {"acked": upto, "cleared": cleared}


def listing(conn: psycopg.Connection[Any], hall: str | None = None) -> list[dict]:
    """Bookings as district staff see them: masked, whether the hall has them, what it said."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT a.hall, a.reference, a.matter, a.slot_start, a.slot_end, a.id_masked, a.phone_last4, a.state,"
            " a.seq <= COALESCE(c.acked_seq, 0) AS at_hall, a.hall_problem"
            " FROM appointments a LEFT JOIN appointment_cursors c ON c.hall = a.hall"
            " WHERE %s::text IS NULL OR a.hall = %s ORDER BY a.hall, a.slot_start, a.reference",
            (hall, hall),
        ).fetchall()


# ---------- routes: HTTP in, the functions above, JSON out ----------


def _now() -> datetime:
    return clock().now()


@bp.get("")
def get_changes():
    try:
        with connection() as conn:
            hall = hall_from_token(conn)  # the one token rule of the sync API
            return jsonify(
                changes(conn, hall, request.args.get("since", "0"), request.args.get("limit", str(PAGE)), now=_now())
            )
    except DistrictAppointmentError as exc:
        return exc.answer()


@bp.post("/ack")
def post_ack():
    try:
        with connection() as conn:
            hall = hall_from_token(conn)  # the one token rule of the sync API
            return jsonify(ack(conn, hall, request.get_json(silent=True), now=_now()))
    except DistrictAppointmentError as exc:
        return exc.answer()
    except RecursionError:  # JSON nested deeper than the parser goes: not an ack either
        return DistrictAppointmentError("bad_request", "dap_bad_number", field="upto", expected="≥ 0").answer()


def register(app: Flask) -> None:
    app.register_blueprint(bp)


# ---------- tongban district appointments … ----------

_db_option = click.option(
    "--db", "url", envvar="TONGBAN_DISTRICT_DB", required=True, help="PostgreSQL URL of the district."
)


def _open(url: str):
    try:
        db.check_url(url)
        return psycopg.connect(url, connect_timeout=10)
    except db.DistrictConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"--db: cannot use the district database: {str(exc).strip()}") from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{name!r} is not a time zone (expected e.g. Asia/Shanghai)") from None


@click.group("appointments")
def appointments_command() -> None:
    """Bookings from the province's platform, sent down to each hall (docs/district.md)."""


@appointments_command.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@_db_option
@click.option("--timezone", default=DEFAULT_TZ, show_default=True, help="the zone of times given without one")
def import_command(file: str, url: str, timezone: str) -> None:
    """Check FILE (CSV or JSON, the hall's format with a hall column) and store every booking, or none."""
    from ..queue.clock import SystemClock

    zone = _zone(timezone)
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{file}: cannot read it ({exc.strerror})") from None
    name = Path(file).name
    conn = _open(url)
    try:
        with conn:
            rows, first = hall_appointments.rows_from_file(data, name)
            result = import_rows(conn, rows, now=SystemClock().now(), tz=zone, first_row=first)
    except (hall_appointments.InvalidAppointments, AppointmentsRefused) as exc:
        for problem in exc.problems:
            zh, en = problem.message.both()
            click.echo(f"{name}: {zh}\n{name}: {en}", err=True)
        zh, en = both("err_invalid_appointments", n=len(exc.problems))
        raise click.ClickException(f"{zh} / {en}") from None
    except psycopg.errors.UndefinedTable:
        raise click.ClickException("--db: the schema is missing; run `tongban district init --db URL` first") from None
    except psycopg.errors.UniqueViolation:
        # Another import stored the same booking between this one's check and its insert.
        raise click.ClickException(f"{name}: another import added the same bookings just now; run it again") from None
    finally:
        conn.close()
    halls = ", ".join(f"{h} {n}" for h, n in sorted(result.halls.items())) or "-"
    zh, en = both("dap_imported", added=result.added, unchanged=result.unchanged, halls=halls)
    click.echo(f"{zh}\n{en}")


@appointments_command.command("cancel")
@click.argument("reference")
@click.option("--hall", required=True, help="the hall the booking is for")
@_db_option
def cancel_command(reference: str, hall: str, url: str) -> None:
    """Cancel a booking; the hall learns of it at its next pull."""
    from ..queue.clock import SystemClock

    conn = _open(url)
    try:
        with conn:
            changed = cancel(conn, hall, reference, now=SystemClock().now())
    except DistrictAppointmentError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    zh, en = both("dap_cancelled" if changed else "dap_cancelled_already", reference=reference, hall=hall)
    click.echo(f"{zh} / {en}")


@appointments_command.command("list")
@click.option("--hall", default=None, help="one hall only")
@click.option("--json", "as_json", is_flag=True, help="one JSON list instead of the table")
@_db_option
def list_command(hall: str | None, as_json: bool, url: str) -> None:
    """Bookings held for the halls, masked: whether each hall has them, and what it said if it refused."""
    conn = _open(url)
    try:
        with conn:
            rows = listing(conn, hall)
    finally:
        conn.close()
    if as_json:
        plain = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
        click.echo(json.dumps(plain, ensure_ascii=False))
        return
    click.echo(f"{'hall':<16} {'reference':<20} {'matter':<10} {'slot':<28} {'id':<20} {'state':<10} at hall")
    zone = ZoneInfo(DEFAULT_TZ)
    for r in rows:
        start, end = r["slot_start"].astimezone(zone), r["slot_end"].astimezone(zone)
        slot = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
        seen = "yes" if r["at_hall"] else "no"
        problem = f"  {r['hall_problem']}" if r["hall_problem"] else ""
        click.echo(
            f"{r['hall']:<16} {r['reference']:<20} {r['matter']:<10} {slot:<28} {r['id_masked'] or '-':<20}"
            f" {r['state']:<10} {seen}{problem}"
        )
