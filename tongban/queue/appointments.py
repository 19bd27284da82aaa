"""Appointments (预约): booked time slots, loaded, checked in at the kiosk, missed, cancelled (docs/appointments.md).

A booking is made on the province's or city's platform; the hall gets it as a row (a file, the API, or
later the district service) and keeps it in ``appointments``. The citizen checks in at a kiosk, by the
booking reference typed on screen or by the ID card on the reader, from ``early_checkin_min`` before
the slot starts to ``late_checkin_min`` after it. Checking in is one transaction: the ticket is issued
through ``HallService.take_ticket`` with ``appointment_at`` = the slot's start, so the dispatch
policy's appointment credit counts from the slot's start (docs/architecture.md §Dispatch), and the
booking is marked checked in with its ticket. A booking still not checked in at the slot's end plus
``late_checkin_min`` becomes a no-show (``mark_missed``, run by the devices process).

The ID number never reaches this table: rows carry it only on the way in, and it is kept as a keyed
hash and a masked form (queue/identity.py); of the phone only the last four digits. Pure domain: no
Flask, the clock passed in.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ..config import HallConfig
from ..texts import Msg
from . import calendar, errors
from .identity import id_hash as keyed_hash
from .identity import mask_id, normalize_id
from .masking import mask_personal
from .service import HallService, Issued
from .store import Store, parse_iso, utc_iso

STATES = ("booked", "checked_in", "no_show", "cancelled")
SOURCES = ("file", "api", "district")
#: The fields of a booking row, as a CSV header or JSON keys (docs/appointments.md).
FIELDS = ("reference", "matter", "slot_start", "slot_end", "id_number", "phone", "hall")
REQUIRED = ("reference", "matter", "slot_start", "slot_end")
REFERENCE = re.compile(r"^\d{4,20}$")
MAX_SLOT_MIN = 240  # a slot longer than half a day is a mistake in the export, not a booking
MAX_ROWS = 5000  # one import; a hall books a few hundred a day
_PHONE = re.compile(r"^\+?\d{5,20}$")
_FIRST_YEAR, _LAST_YEAR = 2000, 2099


class InvalidAppointments(errors.QueueError):
    """Rows that cannot be booked: nothing was written. ``problems`` has one entry per bad field."""

    code = "invalid_appointments"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("err_invalid_appointments", {"n": len(problems)}, problems=[p.as_dict() for p in problems])


class UnknownAppointment(errors.NotFound):
    code = "unknown_appointment"


class CheckinTooEarly(errors.QueueError):
    """Before ``early_checkin_min`` ahead of the slot: ``opens_at`` says when check-in opens."""

    code = "checkin_too_early"


class CheckinTooLate(errors.QueueError):
    """Past ``late_checkin_min`` after the slot's start: the citizen takes an ordinary ticket."""

    code = "checkin_too_late"


class AppointmentNotBooked(errors.QueueError):
    """Checked in already, cancelled, or a no-show: ``state`` says which."""

    code = "appointment_not_booked"


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of one row: the row's number, the field, and the words."""

    row: int
    field: str
    what: Msg

    @property
    def message(self) -> Msg:
        if self.row == 0:  # the file as a whole (not CSV, not JSON, not text)
            return Msg("appt_problem_file", {"what": self.what})
        return Msg("appt_problem", {"row": self.row, "field": self.field, "what": self.what})

    def as_dict(self) -> dict[str, Any]:
        zh, en = self.message.both()
        return {"row": self.row, "field": self.field, "message_zh": zh, "message_en": en}

    def __str__(self) -> str:
        return self.message.en


@dataclass(frozen=True)
class Appointment:
    id: int
    reference: str
    matter: str
    slot_start: datetime
    slot_end: datetime
    service_day: str
    id_masked: str | None
    phone_last4: str | None
    state: str
    ticket_id: int | None
    source: str

    @classmethod
    def from_row(cls, row) -> Appointment:
        return cls(
            row["id"],
            row["reference"],
            row["matter"],
            parse_iso(row["slot_start"]),
            parse_iso(row["slot_end"]),
            row["service_day"],
            row["id_masked"],
            row["phone_last4"],
            row["state"],
            row["ticket_id"],
            row["source"],
        )

    @property
    def phone_masked(self) -> str:
        return f"*******{self.phone_last4}" if self.phone_last4 else ""

    def slot_text(self, config: HallConfig) -> str:
        """09:00–09:30 in hall time (the kiosk adds the date for a booking of another day)."""
        start = calendar.local(self.slot_start, config.hall)
        end = calendar.local(self.slot_end, config.hall)
        return f"{start:%H:%M}–{end:%H:%M}"

    def as_dict(self, config: HallConfig) -> dict[str, Any]:
        """The booking as the manager's page and the CLI list it: masked, never the hash."""
        return {
            "reference": self.reference,
            "matter": self.matter,
            "slot_start": calendar.local(self.slot_start, config.hall).isoformat(),
            "slot_end": calendar.local(self.slot_end, config.hall).isoformat(),
            "service_day": self.service_day,
            "id_masked": self.id_masked,
            "phone_masked": self.phone_masked or None,
            "state": self.state,
            "ticket_id": self.ticket_id,
            "source": self.source,
        }


@dataclass(frozen=True)
class ImportResult:
    added: int
    unchanged: int  # rows already booked with the same details (a file imported again)
    references: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "unchanged": self.unchanged, "references": list(self.references)}


# ---------- loading ----------


def shown(value: object) -> str:
    """A value as a problem may repeat it: short, and never an ID or mobile number in full."""
    text = value if isinstance(value, str) else repr(value)
    return mask_personal(text[:40] + ("…" if len(text) > 40 else ""))


def parse_time(value: object, tz: tzinfo) -> datetime | None:
    """``YYYY-MM-DD HH:MM`` in ``tz`` (the hall's time), or ISO 8601 with its offset; None when it is neither."""
    if isinstance(value, str) and value.isascii() and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment
    return None


def check_reference(n: int, value: object) -> tuple[str | None, list[Problem]]:
    """Row ``n``'s booking reference (None when absent; the caller reports a missing one): its digits
    (a JSON number counts as its digits), or None with the problem. The hall's import and the
    district's file both check with this, so a reference one accepts the other accepts too."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if value is None:
        return None, []
    if isinstance(value, str) and REFERENCE.match(value):
        return value, []
    return None, [Problem(n, "reference", Msg("appt_row_bad_reference", {"value": shown(value)}))]


def check_slot(
    n: int, start_value: object, end_value: object, *, tz: tzinfo, now: datetime
) -> tuple[datetime | None, datetime | None, list[Problem]]:
    """Row ``n``'s slot_start and slot_end (absent ones are skipped; the caller reports them missing):
    the parsed times, and the problems: not a time, ending before it starts, longer than
    MAX_SLOT_MIN or over midnight in ``tz``, already over at ``now``. Shared by the hall's import and
    the district's file, so both refuse the same slots in the same words."""
    problems: list[Problem] = []
    times: dict[str, datetime] = {}
    for name, value in (("slot_start", start_value), ("slot_end", end_value)):
        if value is None:
            continue
        moment = parse_time(value, tz)
        if moment is None:
            problems.append(Problem(n, name, Msg("appt_row_bad_time", {"value": shown(value)})))
        else:
            times[name] = moment
    start, end = times.get("slot_start"), times.get("slot_end")
    if start is not None and end is not None:
        if end <= start:
            problems.append(Problem(n, "slot_end", Msg("appt_row_end_before_start")))
        elif end - start > timedelta(minutes=MAX_SLOT_MIN) or start.astimezone(tz).date() != end.astimezone(tz).date():
            problems.append(Problem(n, "slot_end", Msg("appt_row_slot_too_long", {"max": MAX_SLOT_MIN})))
        elif end <= now:
            problems.append(Problem(n, "slot_end", Msg("appt_row_past")))
    return start, end, problems


def _text_field(row: Mapping, name: str) -> object:
    value = row.get(name)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _check_row(
    n: int, row: object, config: HallConfig, now: datetime, problems: list[Problem]
) -> dict[str, Any] | None:
    """One row's fields, checked: the values to store (the ID number still as given, for the caller
    to hash and mask inside its transaction), or None with the row's problems appended."""
    if not isinstance(row, Mapping):
        problems.append(Problem(n, "(row)", Msg("appt_row_not_object")))
        return None
    before = len(problems)
    for key in row:
        if key not in FIELDS:
            if key is None or (isinstance(key, str) and not key.strip()):
                problems.append(Problem(n, "(columns)", Msg("appt_row_extra_columns")))
            else:
                problems.append(Problem(n, shown(key), Msg("appt_row_unknown_field", {"fields": ", ".join(FIELDS)})))
    values = {name: _text_field(row, name) for name in FIELDS}
    for name in REQUIRED:
        if values[name] is None:
            problems.append(Problem(n, name, Msg("appt_row_missing")))
    reference, found = check_reference(n, values["reference"])
    problems.extend(found)
    matter = values["matter"]
    if matter is not None:
        known = isinstance(matter, str) and any(m.code == matter for m in config.matters)
        if not known:
            problems.append(Problem(n, "matter", Msg("appt_row_unknown_matter", {"value": shown(matter)})))
    start, end, found = check_slot(n, values["slot_start"], values["slot_end"], tz=config.hall.tz, now=now)
    problems.extend(found)
    id_number = values["id_number"]
    if id_number is not None and (not isinstance(id_number, str) or normalize_id(id_number) is None):
        # The value is never repeated: a mistyped ID number is still personal data.
        problems.append(Problem(n, "id_number", Msg("appt_row_bad_id")))
    phone = values["phone"]
    digits = re.sub(r"[\s-]", "", phone) if isinstance(phone, str) else None
    if phone is not None and not (digits and _PHONE.match(digits)):
        problems.append(Problem(n, "phone", Msg("appt_row_bad_phone")))
    hall = values["hall"]
    if hall is not None and hall != config.hall.id:
        problems.append(Problem(n, "hall", Msg("appt_row_other_hall", {"value": shown(hall), "hall": config.hall.id})))
    if len(problems) > before:
        return None
    assert start is not None and end is not None  # no problems: both given and parsed
    return {
        "reference": reference,
        "matter": matter,
        "slot_start": utc_iso(start),
        "slot_end": utc_iso(end),
        "service_day": calendar.service_day(start, config.hall),
        "id_number": id_number,
        "phone_last4": digits[-4:] if digits else None,
    }


def import_rows(
    store: Store, config: HallConfig, rows: Iterable[object], *, source: str, now: datetime, first_row: int = 1
) -> ImportResult:
    """Book every row, or none: one transaction, and every problem of every row in one refusal.

    ``rows`` are mappings of FIELDS (a CSV's lines, a JSON array, the district's answer). A reference
    already booked with the same details is left as it is (the same file imported twice); with other
    details it is a problem. Rows are numbered from ``first_row`` in the problems (a CSV's first data
    line is row 2, under its header, as a spreadsheet shows it)."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} (expected one of {', '.join(SOURCES)})")
    problems: list[Problem] = []
    checked: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        n = first_row + i
        if i >= MAX_ROWS:
            problems.append(Problem(n, "(file)", Msg("appt_too_many", {"max": MAX_ROWS})))
            break
        values = _check_row(n, row, config, now, problems)
        if values is None:
            continue
        if values["reference"] in seen:
            problems.append(
                Problem(
                    n,
                    "reference",
                    Msg("appt_row_repeated", {"value": values["reference"], "first": seen[values["reference"]]}),
                )
            )
            continue
        seen[values["reference"]] = n
        checked.append((n, values))
    added: list[str] = []
    unchanged = 0
    with store.immediate() as conn:
        for n, values in checked:
            hashed = keyed_hash(store, values["id_number"]) if values["id_number"] else None
            masked = mask_id(values["id_number"]) if values["id_number"] else None
            existing = conn.execute(
                "SELECT matter, slot_start, slot_end, id_hash, phone_last4 FROM appointments"
                " WHERE hall = ? AND reference = ?",
                (config.hall.id, values["reference"]),
            ).fetchone()
            same = (values["matter"], values["slot_start"], values["slot_end"], hashed, values["phone_last4"])
            if existing is not None:
                if tuple(existing) == same:
                    unchanged += 1
                else:
                    problems.append(Problem(n, "reference", Msg("appt_row_taken", {"value": values["reference"]})))
                continue
            if problems:
                continue  # nothing will be written; the loop goes on only to find every problem
            conn.execute(
                "INSERT INTO appointments (hall, reference, matter, slot_start, slot_end, service_day, id_masked,"
                " id_hash, phone_last4, state, source, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,'booked',?,?,?)",
                (
                    config.hall.id,
                    values["reference"],
                    values["matter"],
                    values["slot_start"],
                    values["slot_end"],
                    values["service_day"],
                    masked,
                    hashed,
                    values["phone_last4"],
                    source,
                    utc_iso(now),
                    utc_iso(now),
                ),
            )
            added.append(values["reference"])
        if problems:
            problems.sort(key=lambda p: p.row)
            raise InvalidAppointments(problems)  # rolls back every insert above
    return ImportResult(len(added), unchanged, tuple(added))


def rows_from_file(data: bytes, name: str) -> tuple[list[object], int]:
    """The rows of a booking file (docs/appointments.md), and the number of its first row: a JSON
    array of objects (or ``{"appointments": [...]}``), from 1; or a CSV with a header line, from 2, as a
    spreadsheet numbers it. CSV in UTF-8 (with or without Excel's BOM) or, as Chinese Excel saves it,
    GB 18030. InvalidAppointments when the file is neither."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidAppointments([Problem(0, "(file)", Msg("appt_file_not_text"))]) from None
    is_json = name.lower().endswith(".json") or (not name.lower().endswith(".csv") and text.lstrip()[:1] in "[{")
    if is_json:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidAppointments([Problem(0, "(file)", Msg("appt_file_not_json"))]) from None
        if isinstance(doc, dict) and set(doc) == {"appointments"}:
            doc = doc["appointments"]
        if not isinstance(doc, list):
            raise InvalidAppointments([Problem(0, "(file)", Msg("appt_file_not_json"))])
        return doc, 1
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        rows: list[object] = [{k.strip() if isinstance(k, str) else k: v for k, v in r.items()} for r in reader]
    except csv.Error:
        raise InvalidAppointments([Problem(0, "(file)", Msg("appt_file_not_csv"))]) from None
    if not reader.fieldnames or "reference" not in [f.strip() for f in reader.fieldnames]:
        raise InvalidAppointments([Problem(0, "(file)", Msg("appt_file_not_csv"))])
    return rows, 2


# ---------- finding and checking in ----------


def get(store: Store, config: HallConfig, reference: str) -> Appointment:
    row = store.one("SELECT * FROM appointments WHERE hall = ? AND reference = ?", (config.hall.id, reference))
    if row is None:
        raise UnknownAppointment("err_unknown_appointment", {"reference": shown(reference)}, field="reference")
    return Appointment.from_row(row)


def find_for_checkin(
    store: Store, config: HallConfig, *, id_hash: str | None = None, reference: str | None = None, now: datetime
) -> Appointment | None:
    """The booking a kiosk offers to check in, or None.

    By ``reference`` (typed at the kiosk): that booking, whatever its day or state, so the kiosk can
    say why it cannot be checked in now. By ``id_hash`` (the card on the reader): today's first
    booking of that number that is still booked and whose check-in has not closed; None when there
    is none, and the kiosk shows the usual choice."""
    if reference is not None:
        if not REFERENCE.match(reference):
            return None
        row = store.one("SELECT * FROM appointments WHERE hall = ? AND reference = ?", (config.hall.id, reference))
        return Appointment.from_row(row) if row else None
    if id_hash is None:
        return None
    closes_after = utc_iso(now - timedelta(minutes=config.appointments.late_checkin_min))
    row = store.one(
        "SELECT * FROM appointments WHERE hall = ? AND id_hash = ? AND service_day = ? AND state = 'booked'"
        " AND slot_start >= ? ORDER BY slot_start, id LIMIT 1",
        (config.hall.id, id_hash, calendar.service_day(now, config.hall), closes_after),
    )
    return Appointment.from_row(row) if row else None


def checkin_window(config: HallConfig, appointment: Appointment) -> tuple[datetime, datetime]:
    """From when until when the booking may be checked in."""
    a = config.appointments
    return (
        appointment.slot_start - timedelta(minutes=a.early_checkin_min),
        appointment.slot_start + timedelta(minutes=a.late_checkin_min),
    )


def _refuse_unless_booked(store: Store, appointment: Appointment) -> None:
    if appointment.state == "booked":
        return
    values: dict[str, Any] = {}
    if appointment.state == "checked_in":
        row = store.one("SELECT number FROM tickets WHERE id = ?", (appointment.ticket_id,))
        values["number"] = row["number"] if row else ""
    raise AppointmentNotBooked(f"err_appointment_{appointment.state}", values, state=appointment.state)


def check_window(config: HallConfig, appointment: Appointment, now: datetime) -> None:
    """Raise CheckinTooEarly or CheckinTooLate when ``now`` is outside the booking's check-in window."""
    opens, closes = checkin_window(config, appointment)
    slot = appointment.slot_text(config)
    if now < opens:
        local_opens = calendar.local(opens, config.hall)
        same_day = calendar.service_day(now, config.hall) == local_opens.date().isoformat()
        opens_at = f"{local_opens:%H:%M}" if same_day else f"{local_opens:%Y-%m-%d %H:%M}"
        raise CheckinTooEarly("err_checkin_too_early", {"slot": slot, "opens_at": opens_at}, opens_at=opens_at)
    if now > closes:
        late = config.appointments.late_checkin_min
        raise CheckinTooLate("err_checkin_too_late", {"slot": slot, "late": late}, late_checkin_min=late)


def refusal(store: Store, config: HallConfig, appointment: Appointment, now: datetime) -> errors.QueueError | None:
    """What ``check_in`` would refuse for this booking now (not booked, too early, too late), without
    checking in: the kiosk shows it instead of a button that would fail. The line's own checks
    (opening hours, quota) are ``HallService.check_issuable``'s."""
    try:
        _refuse_unless_booked(store, appointment)
        check_window(config, appointment, now)
    except errors.QueueError as exc:
        return exc
    return None


def check_in(
    service: HallService,
    reference: str,
    *,
    kiosk: str | None = None,
    actor: str | None = None,
    request_key: str | None = None,
) -> tuple[Appointment, Issued]:
    """Check a booking in: its ticket, issued with ``appointment_at`` = the slot's start, and the
    booking marked checked in, in one transaction (a refusal of either writes nothing).

    The same ``request_key`` again (a double tap, a retried post) answers with the ticket the first
    one issued, as ``take_ticket`` does."""
    store, config = service.store, service.config
    now = service.clock.now()
    with store.immediate() as conn:
        appointment = get(store, config, reference)
        if appointment.state == "checked_in" and request_key is not None:
            requester = kiosk or actor or "public"
            earlier = conn.execute(
                "SELECT ticket_id FROM take_requests WHERE requester = ? AND key = ?", (requester, request_key)
            ).fetchone()
            if earlier is not None and earlier["ticket_id"] == appointment.ticket_id:
                return appointment, _take(service, appointment, kiosk, actor, request_key)
        _refuse_unless_booked(store, appointment)
        check_window(config, appointment, now)
        issued = _take(service, appointment, kiosk, actor, request_key)
        conn.execute(
            "UPDATE appointments SET state = 'checked_in', ticket_id = ?, updated_at = ? WHERE id = ?",
            (issued.ticket.id, utc_iso(now), appointment.id),
        )
    return get(store, config, reference), issued


def _take(
    service: HallService, appointment: Appointment, kiosk: str | None, actor: str | None, request_key: str | None
) -> Issued:
    row = service.store.one("SELECT id_hash, id_masked FROM appointments WHERE id = ?", (appointment.id,))
    assert row is not None  # read in the same transaction
    return service.take_ticket(
        matter=appointment.matter,
        appointment_at=appointment.slot_start,
        kiosk=kiosk,
        actor=actor,
        request_key=request_key,
        id_hash=row["id_hash"],
        id_masked=row["id_masked"],
    )


def cancel(store: Store, config: HallConfig, reference: str, *, now: datetime) -> Appointment:
    """A booking the citizen or the platform called off: booked → cancelled, one transaction."""
    with store.immediate() as conn:
        appointment = get(store, config, reference)
        _refuse_unless_booked(store, appointment)
        conn.execute(
            "UPDATE appointments SET state = 'cancelled', updated_at = ? WHERE id = ?", (utc_iso(now), appointment.id)
        )
    return get(store, config, reference)


def mark_missed(store: Store, config: HallConfig, now: datetime) -> int:
    """Every booking still booked at its slot's end plus ``late_checkin_min`` becomes a no-show; how many."""
    cutoff = utc_iso(now - timedelta(minutes=config.appointments.late_checkin_min))
    with store.immediate() as conn:
        cur = conn.execute(
            "UPDATE appointments SET state = 'no_show', updated_at = ?"
            " WHERE hall = ? AND state = 'booked' AND slot_end <= ?",
            (utc_iso(now), config.hall.id, cutoff),
        )
    return cur.rowcount


# ---------- what the manager and the report see ----------


def day_slots(store: Store, config: HallConfig, day: str) -> list[dict[str, Any]]:
    """One day's bookings per slot (start and end, hall time), with the counts per state and the
    bookings themselves, masked."""
    rows = store.all(
        "SELECT a.*, t.number AS ticket_number FROM appointments a LEFT JOIN tickets t ON t.id = a.ticket_id"
        " WHERE a.hall = ? AND a.service_day = ? ORDER BY a.slot_start, a.slot_end, a.reference",
        (config.hall.id, day),
    )
    slots: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        a = Appointment.from_row(row)
        start, end = calendar.local(a.slot_start, config.hall), calendar.local(a.slot_end, config.hall)
        key = (f"{start:%H:%M}", f"{end:%H:%M}")
        slot = slots.setdefault(key, {"start": key[0], "end": key[1], **{s: 0 for s in STATES}, "bookings": []})
        slot[a.state] += 1
        slot["bookings"].append({**a.as_dict(config), "ticket_number": row["ticket_number"]})
    return list(slots.values())


def day_counts(store: Store, config: HallConfig, first: str, last: str | None = None) -> dict[str, int]:
    """For the report: bookings of the days ``first`` to ``last`` (cancelled ones left out of
    ``booked``), how many checked in, how many were no-shows, how many were cancelled."""
    counts = dict.fromkeys(STATES, 0)
    for row in store.all(
        "SELECT state, COUNT(*) AS n FROM appointments WHERE hall = ? AND service_day BETWEEN ? AND ? GROUP BY state",
        (config.hall.id, first, last or first),
    ):
        counts[row["state"]] = row["n"]
    return {
        "booked": counts["booked"] + counts["checked_in"] + counts["no_show"],
        "checked_in": counts["checked_in"],
        "no_show": counts["no_show"],
        "cancelled": counts["cancelled"],
    }
