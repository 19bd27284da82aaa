"""Proxy (代收代办) and multi-place (多地联办) cases: from the ticket to the citizen (docs/cases.md).

The window receives the materials, checks their form and the applicant's identity, sends them to the
handling department in the other province (EMS, or online for joint handling), records the result
when it comes back, and hands it to the citizen.

States::

    received ──check──► checked ──send──► sent ──result──► result_received ──deliver──► delivered
       ▲   │                                  │
       │   └──check (incomplete)──┐           └──result (needs more materials)──┐
       │                          ▼                                              ▼
       └────────supplement──── needs_materials ◄─────────────────────────────────┘

    withdraw: from any open state to withdrawn.

Every step is one ``BEGIN IMMEDIATE`` transaction that updates the case row and appends one row to
``case_events`` (who, when, window, from, to). Events hold no personal data (field names, not values;
no free text), because they are never purged; notes and personal fields live on the case row.

The time limit runs in working days (``workdays.WorkCalendar``) from the day the case is received,
and again from the day a supplement completes the materials (补正后重新计算). It runs in received,
checked and sent; it stops while the case waits for the applicant (needs_materials) and once the
result is back. The devices process's daily job (``daily``) flags running cases near or past due.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config import HallConfig, Matter
from ..texts import Msg, labels, table
from . import calendar, errors, idcards
from .clock import Clock
from .masking import mask_id, mask_name, mask_personal, mask_phone
from .store import Store, utc_iso
from .workdays import WEEKENDS_ONLY, WorkCalendar

CASE_MODES = ("proxy", "multi-place")
STATES = (
    "received",
    "checked",
    "sent",
    "needs_materials",
    "result_received",
    "delivered",
    "withdrawn",
    "handed_off",
)
OPEN_STATES = ("received", "checked", "sent", "needs_materials", "result_received")
# A case handed to another hall of the district is closed here: the other hall handles it, and the
# retention clock for the personal data kept here runs from the hand-off.
FINAL_STATES = ("delivered", "withdrawn", "handed_off")
#: States in which the legal time limit runs (and so can be near or past due).
RUNNING = ("received", "checked", "sent")

#: action: (states it is allowed from, the states it may lead to)
STEPS: dict[str, tuple[frozenset[str | None], frozenset[str]]] = {
    "open": (frozenset({None}), frozenset({"received"})),
    "check": (frozenset({"received"}), frozenset({"checked", "needs_materials", "received"})),
    "send": (frozenset({"checked"}), frozenset({"sent"})),
    "result": (frozenset({"sent"}), frozenset({"result_received", "needs_materials"})),
    "supplement": (frozenset({"needs_materials"}), frozenset({"received"})),
    "deliver": (frozenset({"result_received"}), frozenset({"delivered"})),
    "withdraw": (frozenset(OPEN_STATES), frozenset({"withdrawn"})),
    "edit": (frozenset(OPEN_STATES), frozenset(OPEN_STATES)),
    # Before it goes to the handling department: a case already sent is followed where it is.
    "handoff": (frozenset({"received", "checked", "needs_materials"}), frozenset({"handed_off"})),
}
ACTIONS = ("check", "send", "result", "supplement", "deliver", "withdraw", "edit")

#: (中文, English) for each code, from the text table (tongban/texts/cases.toml).
STATE_TEXT = labels("case_st_", STATES)
ACTION_TEXT = labels("case_act_", ("open", *ACTIONS, "handoff", "handoff_refused", "flag", "purge"))
#: A handed-off case's state at the hall it went to, as the district last said: its states, or in transit.
REMOTE_STATE_TEXT = labels("case_st_", (*STATES, "in_transit"))
MODE_TEXT = labels("case_mode_", CASE_MODES)
IDENTITY_METHODS = labels("case_id_method_", ("card_reader", "face", "manual"))
IDENTITY_OUTCOMES = labels("case_id_outcome_", ("yes", "no"))
REVIEW_OUTCOMES = labels("case_review_", ("pass", "incomplete"))
SEND_CHANNELS = labels("case_send_via_", ("ems", "online"))
RESULTS = labels("case_result_is_", ("approved", "refused", "more_materials"))
RETURN_CHANNELS = labels("case_return_via_", ("mail", "online"))
DELIVERY_CHANNELS = labels("case_deliver_via_", ("window", "mail", "online"))
WITHDRAW_REASONS = labels("case_withdraw_why_", ("applicant", "identity", "other"))
#: 省级行政区划代码 (GB/T 2260) of the places a case can be handled in.
PROVINCES = labels(
    "province_",
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split(),
)
#: First two digits of a resident ID number: the provinces, plus Taiwan (71) and the residence
#: permits of Hong Kong (81), Macao (82) and Taiwan (83) residents, which follow the same scheme.
ID_REGIONS = set(PROVINCES) | {"71", "81", "82", "83"}

#: The columns the retention job clears (docs/architecture.md §Cases): the applicant, and the free text a clerk typed.
PERSONAL_FIELDS = (
    "applicant_name",
    "id_number",
    "phone",
    "phone_last4",
    "address",
    "delivery_waybill",
    "review_note",
    "result_note",
    "withdrawn_note",
)
APPLICANT_FIELDS = ("applicant_name", "id_number", "phone", "address")
HANDLING_FIELDS = ("province", "handling_dept", "handling_address", "handling_phone", "handling_contact")
PAGE_SIZE = 50
#: What travels with a handed-off case (hall → district → hall): what the receiving hall needs to
#: handle it, personal data included. The district deletes it once the receiver has it.
HANDOFF_FIELDS = (
    "number",
    "mode",
    "matter",
    "matter_zh",
    "matter_en",
    "department",
    "opened_day",
    "time_limit_days",
    "clock_from",
    "due_day",
    "applicant_name",
    "id_number",
    "phone",
    "phone_last4",
    "address",
    "identity_method",
    "identity_ok",
    "review_outcome",
    "province",
    "handling_dept",
    "handling_address",
    "handling_phone",
    "handling_contact",
)
_HALL_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _next_number(conn, today: date) -> str:
    """KS-<day>-<n>: the day's next case number (inside the opening transaction)."""
    seq = conn.execute("SELECT COUNT(*) + 1 FROM cases WHERE opened_day = ?", (today.isoformat(),)).fetchone()[0]
    return f"KS-{today:%Y%m%d}-{seq:03d}"


# ---------- refusals ----------


class CaseError(errors.QueueError):
    code = "case_error"


class UnknownCase(errors.NotFound):
    code = "unknown_case"


class IllegalCaseStep(CaseError):
    code = "illegal_case_step"


class NotACaseMatter(CaseError):
    code = "not_a_case_matter"


class TicketNotServed(CaseError):
    code = "ticket_not_served"


class CaseExists(CaseError):
    code = "case_exists"


class HandoffRefused(CaseError):
    """A hand-off from another hall that cannot become a case here (a malformed body)."""

    code = "handoff_refused"


class InvalidInput(CaseError):
    """One or more fields are wrong; ``problems`` maps each field to (中文, English)."""

    code = "invalid_input"

    def __init__(self, problems: Mapping[str, Msg]):
        self.problems = {field: msg.both() for field, msg in problems.items()}
        zh = "；".join(zh for zh, _en in self.problems.values())
        en = "; ".join(f"{k}: {en}" for k, (_zh, en) in self.problems.items())
        super().__init__(
            "err_invalid_input",
            {"problems_zh": zh, "problems_en": en},
            field=next(iter(problems)),
            fields=sorted(problems),
        )


class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, Msg] = {}

    def add(self, field: str, problem: str | Msg, /, **values) -> None:
        """The first problem of ``field``: a text key and its values, or a Msg (a validator's answer)."""
        self.found.setdefault(field, problem if isinstance(problem, Msg) else Msg(problem, values))

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidInput(self.found)


# ---------- validators (docs/cases.md says what each accepts) ----------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number (GB 11643)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def check_id_number(text: str, today: date | None = None) -> tuple[str | None, Msg | None]:
    """18 characters: 6-digit region (first two a province, or 71/81/82/83), birth date YYYYMMDD,
    3-digit sequence, check character (0-9 or X). Spaces are dropped and x becomes X."""
    value = re.sub(r"\s", "", text or "").upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return None, Msg("err_id_length")
    if value[:2] not in ID_REGIONS:
        return None, Msg("err_id_region")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None, Msg("err_id_birth_invalid")
    if born.year < 1900 or (today is not None and born > today):
        return None, Msg("err_id_birth_implausible")
    if id_check_digit(value[:17]) != value[17]:
        return None, Msg("err_id_check")
    return value, None


def check_phone(text: str) -> tuple[str | None, Msg | None]:
    """A mainland mobile number: 11 digits starting 1[3-9]; spaces, dashes and a +86 prefix are dropped."""
    value = re.sub(r"[\s-]", "", text or "")
    if value.startswith("+86"):
        value = value[3:]
    if not re.fullmatch(r"1[3-9]\d{9}", value):
        return None, Msg("err_mobile")
    return value, None


_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial8: str) -> int:
    """UPU S10 check digit of the 8-digit serial of an item identifier such as EA123456785CN."""
    check = 11 - sum(int(d) * w for d, w in zip(serial8, _S10_WEIGHTS)) % 11
    return {10: 0, 11: 5}.get(check, check)


def check_waybill(text: str) -> tuple[str | None, Msg | None]:
    """An EMS waybill: either UPU S10 (2 letters, 8 digits and a check digit, 2 letters, e.g.
    EA123456785CN; the check digit is verified) or 13 digits (domestic EMS, e.g. 1012345678901).
    Spaces are dropped, letters upper-cased."""
    value = re.sub(r"\s", "", text or "").upper()
    if re.fullmatch(r"\d{13}", value):
        return value, None
    m = re.fullmatch(r"[A-Z]{2}(\d{8})(\d)[A-Z]{2}", value)
    if not m:
        return None, Msg("err_waybill_format")
    if s10_check_digit(m.group(1)) != int(m.group(2)):
        return None, Msg("err_waybill_check")
    return value, None


# ---------- reading ----------


class Case:
    """A case row with its materials; attribute access to columns, masked views for lists."""

    def __init__(self, row: Mapping[str, Any] | sqlite3.Row, materials: list[dict] | None = None):
        self._row = dict(row)
        self.materials = materials or []

    def __getattr__(self, name: str) -> Any:
        try:
            return self._row[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._row)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def purged(self) -> bool:
        return self.purged_at is not None

    @property
    def masked(self) -> dict[str, str]:
        return {
            "name": mask_name(self.applicant_name),
            "id_number": mask_id(self.id_number),
            "phone": mask_phone(self.phone),
        }

    @property
    def missing(self) -> list[str]:
        return [m["name"] for m in self.materials if not m["received"]]

    def allowed(self) -> list[str]:
        return [a for a in ACTIONS if self.state in STEPS[a][0]]


@dataclass(frozen=True)
class Filters:
    q: str = ""
    state: str = ""  # a state, "open", or "" for all
    due: str = ""  # near, overdue, flagged, or ""
    matter: str = ""
    department: str = ""
    day_from: str = ""
    day_to: str = ""
    page: int = 1


def _day(text: str) -> str | None:
    try:
        return date.fromisoformat(text).isoformat() if text else None
    except ValueError:
        return None


def _search_sql(f: Filters) -> tuple[str, list]:
    where, params = [], []
    q = re.sub(r"\s", "", f.q or "")
    if q:
        alternatives = ["c.number LIKE ?"]
        params.append(f"%{q.upper()}%")
        waybill = q.upper()
        alternatives.append(
            "c.waybill_out = ? OR c.waybill_back = ? OR EXISTS (SELECT 1 FROM case_events e"
            " WHERE e.case_id = c.id AND e.action IN ('send', 'result') AND e.data LIKE ?)"
        )
        params += [waybill, waybill, f'%"{waybill}"%']
        digits = re.sub(r"\D", "", q)
        if len(digits) in (4, 11) and digits == q.lstrip("+"):
            alternatives.append("c.phone_last4 = ?")
            params.append(digits[-4:])
        if day := _day(q):
            alternatives.append("c.opened_day = ?")
            params.append(day)
        where.append("(" + " OR ".join(alternatives) + ")")
    if f.state == "open":
        where.append(f"c.state IN ({','.join('?' * len(OPEN_STATES))})")
        params += OPEN_STATES
    elif f.state in STATES:
        where.append("c.state = ?")
        params.append(f.state)
    if f.due in ("near", "overdue"):
        where.append(f"c.due_flag = ? AND c.state IN ({','.join('?' * len(RUNNING))})")
        params += [f.due, *RUNNING]
    elif f.due == "flagged":
        where.append(f"c.due_flag IS NOT NULL AND c.state IN ({','.join('?' * len(RUNNING))})")
        params += RUNNING
    if f.matter:
        where.append("c.matter = ?")
        params.append(f.matter)
    if f.department:
        where.append("c.department = ?")
        params.append(f.department)
    if day_from := _day(f.day_from):
        where.append("c.opened_day >= ?")
        params.append(day_from)
    if day_to := _day(f.day_to):
        where.append("c.opened_day <= ?")
        params.append(day_to)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def search(store: Store, f: Filters, *, limit: int | None = PAGE_SIZE) -> tuple[list[Case], int]:
    """Cases matching the filters, newest first, and how many match in all."""
    where, params = _search_sql(f)
    count = store.one(f"SELECT COUNT(*) FROM cases c{where}", params)
    assert count is not None  # an aggregate without GROUP BY returns exactly one row
    total = count[0]
    sql = f"SELECT c.* FROM cases c{where} ORDER BY c.id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)} OFFSET {int(limit) * (max(f.page, 1) - 1)}"
    return [Case(r) for r in store.all(sql, params)], total


def get(store: Store, case_id: int) -> Case:
    row = store.one("SELECT * FROM cases WHERE id = ?", (case_id,))
    if row is None:
        raise UnknownCase("err_no_case_id", {"case_id": case_id})
    materials = [dict(m) for m in store.all("SELECT * FROM case_materials WHERE case_id = ? ORDER BY idx", (case_id,))]
    return Case(row, materials)


def by_token(store: Store, token: str) -> Case:
    row = store.one("SELECT id FROM cases WHERE token = ?", (token,))
    if row is None:
        raise UnknownCase("err_no_such_case")
    return get(store, row["id"])


def case_for_ticket(store: Store, ticket_id: int) -> Case | None:
    """The live (not withdrawn) case opened from a ticket, if any: the console links to it."""
    row = store.one(
        "SELECT id FROM cases WHERE ticket_id = ? AND state != 'withdrawn' ORDER BY id DESC LIMIT 1", (ticket_id,)
    )
    return get(store, row["id"]) if row else None


def events(store: Store, case_id: int) -> list[dict]:
    rows = store.all(
        "SELECT e.*, a.name AS actor_name FROM case_events e LEFT JOIN accounts a"
        " ON a.username = e.actor WHERE e.case_id = ? ORDER BY e.id",
        (case_id,),
    )
    return [{**dict(r), "data": json.loads(r["data"])} for r in rows]


def access_log(store: Store, case_id: int) -> list[dict]:
    return [
        {**dict(r), "detail": json.loads(r["detail"])}
        for r in store.all("SELECT * FROM case_access_log WHERE case_id = ? ORDER BY id", (case_id,))
    ]


def log_access(
    store: Store, case_ids: Iterable[int], action: str, actor: str, now: datetime, detail: dict | None = None
) -> None:
    """One row per case whose personal data was shown (page, receipt) or exported (docs/architecture.md §Cases).

    The log is append-only, so nothing personal may go in: ID and mobile numbers in ``detail`` (an
    export's search filters) are masked."""
    ids = list(case_ids)
    if not ids:
        return
    text = mask_personal(json.dumps(detail or {}, ensure_ascii=False, sort_keys=True))
    with store.immediate() as conn:
        conn.executemany(
            "INSERT INTO case_access_log (case_id, action, actor, at, detail) VALUES (?,?,?,?,?)",
            [(i, action, actor, utc_iso(now), text) for i in ids],
        )


def opens_case(matter: Matter | None) -> bool:
    """Whether a ticket for this matter can open a case (the console shows the button)."""
    return matter is not None and matter.mode in CASE_MODES


def replay(evts: list[dict]) -> dict[str, Any]:
    """Rebuild a case's state and due day from its events alone."""
    state: dict[str, Any] = {"state": None, "due_day": None}
    for e in evts:
        if e["action"] in ("flag", "purge"):
            continue
        if e["from_state"] != state["state"]:
            raise ValueError(f"case event {e['id']} starts from {e['from_state']}, case was {state['state']}")
        state["state"] = e["to_state"]
        if "due_day" in e["data"]:
            state["due_day"] = e["data"]["due_day"]
    return state


# ---------- the day report and the consoles ----------


def case_counts(store: Store, day: str, *, first: str | None = None) -> dict[str, int]:
    """For the report: cases opened, sent and delivered on ``day`` (hall-local YYYY-MM-DD), or from
    ``first`` to ``day``, and cases overdue at the end of ``day`` (time limit running, due day before it)."""
    first = first or day
    opened_row = store.one("SELECT COUNT(*) FROM cases WHERE opened_day BETWEEN ? AND ?", (first, day))
    sent_row = store.one(
        "SELECT COUNT(DISTINCT case_id) FROM case_events WHERE action = 'send' AND day BETWEEN ? AND ?", (first, day)
    )
    delivered_row = store.one(
        "SELECT COUNT(DISTINCT case_id) FROM case_events WHERE action = 'deliver' AND day BETWEEN ? AND ?",
        (first, day),
    )
    # Aggregates without GROUP BY return exactly one row.
    assert opened_row is not None and sent_row is not None and delivered_row is not None
    opened, sent, delivered = opened_row[0], sent_row[0], delivered_row[0]
    overdue = 0
    candidates = store.all(
        "SELECT id FROM cases WHERE opened_day <= ? AND (closed_day IS NULL OR closed_day >= ?)", (day, day)
    )
    for row in candidates:
        evts = [
            {**dict(e), "data": json.loads(e["data"])}
            for e in store.all("SELECT * FROM case_events WHERE case_id = ? AND day <= ? ORDER BY id", (row["id"], day))
        ]
        at_end = replay(evts)
        if at_end["state"] in RUNNING and at_end["due_day"] and at_end["due_day"] < day:
            overdue += 1
    return {"opened": opened, "sent": sent, "delivered": delivered, "overdue": overdue}


def flagged(store: Store, now: datetime, tz: str | ZoneInfo = "Asia/Shanghai") -> list[dict]:
    """Running cases near or past their due day, most urgent first, for the clerk and manager consoles.

    ``near`` comes from the daily job (it needs the working-day calendar); ``overdue`` is also worked
    out here from the due day, so a case past due shows even if the job has not run yet today.
    A case leaves the list when its time limit stops (result back, waiting for a supplement,
    withdrawn), which is what "until handled" means here.
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    today = now.astimezone(zone).date().isoformat()
    marks = ",".join("?" * len(RUNNING))
    rows = store.all(
        f"SELECT * FROM cases WHERE state IN ({marks}) AND (due_flag IS NOT NULL OR due_day < ?) ORDER BY due_day, id",
        (*RUNNING, today),
    )
    out = []
    for r in rows:
        flag = "overdue" if r["due_day"] < today else r["due_flag"]
        out.append(
            {
                "id": r["id"],
                "number": r["number"],
                "mode": r["mode"],
                "matter": r["matter"],
                "matter_zh": r["matter_zh"],
                "matter_en": r["matter_en"],
                "state": r["state"],
                "due_day": r["due_day"],
                "flag": flag,
                "flagged_at": r["flagged_at"],
                "days_late": (date.fromisoformat(today) - date.fromisoformat(r["due_day"])).days
                if flag == "overdue"
                else 0,
                "window": r["window"],
                "clerk": r["clerk"],
                "province": r["province"],
            }
        )
    out.sort(key=lambda c: (c["flag"] != "overdue", c["due_day"], c["id"]))
    return out


def due_flag(cal: WorkCalendar, due_day: date, today: date, near_days: int) -> str | None:
    if today > due_day:
        return "overdue"
    return "near" if cal.working_days_between(today, due_day) <= near_days else None


# ---------- the service ----------


class CaseService:
    def __init__(self, store: Store, config: HallConfig, clock: Clock):
        self.store = store
        self.config = config
        self.clock = clock
        self.calendar: WorkCalendar = config.cases.calendar or WEEKENDS_ONLY

    def today(self, now: datetime | None = None) -> date:
        return date.fromisoformat(calendar.service_day(now or self.clock.now(), self.config.hall))

    def due_day(self, start: date, days: int) -> date:
        return self.calendar.add_working_days(start, days)

    # ----- opening -----

    def open_with_card(
        self,
        *,
        reader: str,
        token: str,
        ticket_id: int | None,
        matter: str | None,
        window: int | None,
        actor: str,
        form: Mapping[str, str],
    ) -> Case:
        """Receive a case whose applicant is the card just read at the clerk's window (``reader``,
        ``window:<n>``): the ID number from the card, never typed, and the name from it when the form
        leaves the name blank. The read is used up in the case's own transaction, so a refused form
        (a missing phone) leaves it for the next try. A read used, stale or replaced is a problem of
        the id_number field."""
        with self.store.immediate():
            read = idcards.take_window_read(self.store, reader, self.clock.now(), token)
            if read is None:
                raise InvalidInput({"id_number": Msg("err_card_gone")})
            fields = {key: form.get(key) or "" for key in form}
            fields["id_number"] = read.id_number
            if not fields.get("applicant_name", "").strip():
                fields["applicant_name"] = read.name
            return self.open(ticket_id=ticket_id, matter=matter, window=window, actor=actor, form=fields)

    def open(
        self, *, ticket_id: int | None, matter: str | None, window: int | None, actor: str, form: Mapping[str, str]
    ) -> Case:
        """Receive a case (收件) from a served ticket, or for a matter without a ticket."""
        now = self.clock.now()
        today = self.today(now)
        ticket = None
        if ticket_id is not None:
            ticket = self.store.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
            if ticket is None:
                raise errors.UnknownTicket("err_no_ticket_id", {"ticket_id": ticket_id})
            if ticket["state"] not in ("serving", "suspended", "done"):
                raise TicketNotServed(
                    "err_case_ticket_not_served",
                    {"number": ticket["number"]},
                    state=ticket["state"],
                )
            if matter and ticket["matter"] and matter != ticket["matter"]:
                raise InvalidInput({"matter": Msg("err_case_matter_differs")})
            matter = matter or ticket["matter"]
            window = ticket["window"] if ticket["window"] is not None else window
        if not matter:
            raise InvalidInput({"matter": Msg("err_case_choose_matter")})
        try:
            m = self.config.matter(matter)
        except KeyError:
            raise errors.UnknownMatter("err_no_matter", {"matter": matter}, field="matter") from None
        if not opens_case(m):
            raise NotACaseMatter(
                "err_case_on_site",
                {"name_zh": m.name_zh, "name_en": m.name_en},
                mode=m.mode,
            )
        p = _Problems()
        values = self._applicant(form, p, today, required=True)
        values.update(self._handling(form, p, required=False))
        materials = self._materials(form, m.materials, p)
        p.raise_if_any()
        due = self.due_day(today, m.time_limit_days)
        flag = due_flag(self.calendar, due, today, self.config.cases.near_due_days)
        token = secrets.token_urlsafe(18)
        with self.store.immediate() as conn:
            if ticket_id is not None:
                assert ticket is not None  # loaded (or raised UnknownTicket) above when ticket_id is given
                existing = conn.execute(
                    "SELECT number FROM cases WHERE ticket_id = ? AND state != 'withdrawn'", (ticket_id,)
                ).fetchone()
                if existing:
                    raise CaseExists(
                        "err_case_exists",
                        {"number": ticket["number"], "case": existing["number"]},
                        case=existing["number"],
                    )
            number = _next_number(conn, today)
            columns = {
                "number": number,
                "token": token,
                "mode": m.mode,
                "matter": m.code,
                "matter_zh": m.name_zh,
                "matter_en": m.name_en,
                "department": m.department,
                "ticket_id": ticket_id,
                "window": window,
                "clerk": actor,
                "state": "received",
                "opened_at": utc_iso(now),
                "opened_day": today.isoformat(),
                "time_limit_days": m.time_limit_days,
                "clock_from": today.isoformat(),
                "due_day": due.isoformat(),
                "due_flag": flag,
                "flagged_at": utc_iso(now) if flag else None,
                "updated_at": utc_iso(now),
                **values,
            }
            cur = conn.execute(
                f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                tuple(columns.values()),
            )
            case_id = cur.lastrowid
            assert case_id is not None  # set by the INSERT just above
            conn.executemany(
                "INSERT INTO case_materials (case_id, idx, name, received, copies) VALUES (?,?,?,?,?)",
                [(case_id, i, name, int(copies > 0), copies) for i, (name, copies) in enumerate(materials)],
            )
            self._event(
                conn,
                case_id,
                "open",
                None,
                "received",
                actor,
                window,
                now,
                {
                    "matter": m.code,
                    "ticket_id": ticket_id,
                    "due_day": due.isoformat(),
                    "time_limit_days": m.time_limit_days,
                    "materials": [[name, copies] for name, copies in materials],
                },
            )
        return get(self.store, case_id)

    # ----- steps -----

    def act(self, case_id: int, action: str, *, actor: str, window: int | None, form: Mapping[str, str]) -> Case:
        if action not in ACTIONS:
            raise IllegalCaseStep("err_case_unknown_action", {"action": action})
        now = self.clock.now()
        today = self.today(now)
        with self.store.immediate() as conn:
            case = self._locked(conn, case_id)
            allowed, _targets = STEPS[action]
            if case.state not in allowed:
                hint = f"err_case_hint_{case.state}_{action}"
                raise IllegalCaseStep(
                    "err_case_cannot",
                    {
                        "number": case.number,
                        "state": Msg(f"case_st_{case.state}"),
                        "state_lower": STATE_TEXT[case.state][1].lower(),
                        "action": Msg(f"case_act_{action}"),
                        "hint": Msg(hint) if hint in table() else "",
                    },
                    state=case.state,
                    action=action,
                )
            updates, target, data = getattr(self, f"_step_{action}")(conn, case, form, today, now)
            if action == "check":
                updates["reviewed_by"] = actor
            updates["state"] = target
            updates["updated_at"] = utc_iso(now)
            if target not in RUNNING:
                updates.update(due_flag=None, flagged_at=None)
            if target in FINAL_STATES:
                updates["closed_day"] = today.isoformat()
            sets = ", ".join(f"{k} = ?" for k in updates)
            conn.execute(f"UPDATE cases SET {sets} WHERE id = ?", (*updates.values(), case_id))
            self._event(conn, case_id, action, case.state, target, actor, window, now, data)
        return get(self.store, case_id)

    def _step_check(self, conn, case: Case, form, today, now):
        """形式审查 and 身份核验: who and when are the actor and the time of this step."""
        p = _Problems()
        method = _choice(form, "identity_method", IDENTITY_METHODS, p)
        identity = _choice(form, "identity_ok", IDENTITY_OUTCOMES, p)
        outcome = _choice(form, "review_outcome", REVIEW_OUTCOMES, p)
        note = _text(form, "review_note", p, limit=500)
        materials = self._materials(form, [m["name"] for m in case.materials], p)
        missing = [name for name, copies in materials if copies == 0]
        if outcome == "pass" and missing:
            p.add("review_outcome", "err_case_materials_missing", missing="、".join(missing), count=len(missing))
        if outcome == "incomplete" and not missing and not note:
            p.add("review_note", "err_case_say_missing")
        p.raise_if_any()
        self._save_materials(conn, case.id, materials)
        if identity == "no":
            target = "received"
        elif outcome == "pass":
            target = "checked"
        else:
            target = "needs_materials"
        updates = {
            "identity_method": method,
            "identity_ok": 1 if identity == "yes" else 0,
            "review_outcome": outcome,
            "review_note": note,
            "reviewed_at": utc_iso(now),
        }
        return (
            updates,
            target,
            {
                "identity_method": method,
                "identity_ok": identity == "yes",
                "review_outcome": outcome,
                "missing": missing,
                "materials": [[n, c] for n, c in materials],
            },
        )

    def _step_send(self, conn, case: Case, form, today, now):
        p = _Problems()
        handling = self._handling(form, p, required=True, current=case)
        channel = _choice(form, "send_channel", SEND_CHANNELS, p)
        if channel == "online" and case.mode == "proxy":
            p.add("send_channel", "err_case_proxy_by_ems")
        waybill = ref = None
        if channel == "ems":
            waybill = _waybill(form, "waybill_out", p)
        elif channel == "online":
            ref = _text(form, "send_ref", p, limit=60)
        sent_on = _date_field(form, "sent_on", p, earliest=date.fromisoformat(case.clock_from), latest=today)
        p.raise_if_any()
        return (
            {
                **handling,
                "send_channel": channel,
                "waybill_out": waybill,
                "send_ref": ref,
                "sent_on": sent_on.isoformat(),
            },
            "sent",
            {
                "channel": channel,
                "waybill": waybill,
                "sent_on": sent_on.isoformat(),
                "province": handling["province"],
                "fields": sorted(k for k in handling if handling[k] != getattr(case, k)),
            },
        )

    def _step_result(self, conn, case: Case, form, today, now):
        p = _Problems()
        result = _choice(form, "result", RESULTS, p)
        channel = _choice(form, "return_channel", RETURN_CHANNELS, p)
        waybill = _waybill(form, "waybill_back", p) if channel == "mail" else None
        returned_on = _date_field(form, "returned_on", p, earliest=date.fromisoformat(case.sent_on), latest=today)
        note = _text(form, "result_note", p, limit=500)
        if result == "more_materials" and not note:
            p.add("result_note", "err_case_say_asked")
        p.raise_if_any()
        target = "needs_materials" if result == "more_materials" else "result_received"
        return (
            {
                "result": result,
                "return_channel": channel,
                "waybill_back": waybill,
                "returned_on": returned_on.isoformat(),
                "result_note": note,
            },
            target,
            {"result": result, "channel": channel, "waybill": waybill, "returned_on": returned_on.isoformat()},
        )

    def _step_supplement(self, conn, case: Case, form, today, now):
        """The applicant brings what was missing: the time limit runs again from today."""
        p = _Problems()
        materials = self._materials(form, [m["name"] for m in case.materials], p)
        p.raise_if_any()
        self._save_materials(conn, case.id, materials)
        due = self.due_day(today, case.time_limit_days)
        flag = due_flag(self.calendar, due, today, self.config.cases.near_due_days)
        return (
            {
                "clock_from": today.isoformat(),
                "due_day": due.isoformat(),
                "due_flag": flag,
                "flagged_at": utc_iso(now) if flag else None,
                "review_outcome": None,
                "identity_ok": None,
                "identity_method": None,
                "reviewed_by": None,
                "reviewed_at": None,
                "review_note": None,
            },
            "received",
            {"due_day": due.isoformat(), "materials": [[n, c] for n, c in materials]},
        )

    def _step_deliver(self, conn, case: Case, form, today, now):
        p = _Problems()
        channel = _choice(form, "delivery_channel", DELIVERY_CHANNELS, p)
        waybill = None
        if channel == "mail":
            waybill = _waybill(form, "delivery_waybill", p)
            if not case.address and not case.purged:
                p.add("delivery_channel", "err_case_no_address")
        earliest = date.fromisoformat(case.returned_on) if case.returned_on else date.fromisoformat(case.opened_day)
        delivered_on = _date_field(form, "delivered_on", p, earliest=earliest, latest=today)
        p.raise_if_any()
        return (
            {"delivery_channel": channel, "delivery_waybill": waybill, "delivered_on": delivered_on.isoformat()},
            "delivered",
            {"channel": channel, "delivered_on": delivered_on.isoformat()},
        )

    def _step_withdraw(self, conn, case: Case, form, today, now):
        p = _Problems()
        reason = _choice(form, "withdrawn_reason", WITHDRAW_REASONS, p)
        note = _text(form, "withdrawn_note", p, limit=500)
        if reason == "other" and not note:
            p.add("withdrawn_note", "err_case_say_why")
        p.raise_if_any()
        return {"withdrawn_reason": reason, "withdrawn_note": note}, "withdrawn", {"reason": reason}

    def _step_edit(self, conn, case: Case, form, today, now):
        """Correct the applicant or the handling place; the event names the fields, never their values."""
        p = _Problems()
        values = self._applicant(form, p, today, required=True)
        values.update(self._handling(form, p, required=case.state in ("sent", "result_received")))
        p.raise_if_any()
        changed = {k: v for k, v in values.items() if getattr(case, k) != v}
        if not changed:
            raise InvalidInput({"applicant_name": Msg("err_case_nothing_changed")})
        return changed, case.state, {"fields": sorted(k for k in changed if k != "phone_last4")}

    # ----- the daily job (devices process) -----

    def daily(self) -> dict:
        """Due flags and the retention purge, once per hall-local day (``job_runs`` 'cases').

        Both only depend on today, so after a power cut one run catches up however many days were
        missed; a second run on the same day returns the first run's result.
        """
        now = self.clock.now()
        today = self.today(now)
        with self.store.immediate() as conn:
            done = conn.execute(
                "SELECT result FROM job_runs WHERE job = 'cases' AND day = ?", (today.isoformat(),)
            ).fetchone()
            if done:
                return json.loads(done["result"])
            result = {"near": 0, "overdue": 0, "changed": 0, "purged": 0}
            marks = ",".join("?" * len(RUNNING))
            for row in conn.execute(f"SELECT * FROM cases WHERE state IN ({marks})", RUNNING).fetchall():
                flag = due_flag(
                    self.calendar, date.fromisoformat(row["due_day"]), today, self.config.cases.near_due_days
                )
                if flag:
                    result[flag] += 1
                if flag != row["due_flag"]:
                    result["changed"] += 1
                    conn.execute(
                        "UPDATE cases SET due_flag = ?, flagged_at = ? WHERE id = ?",
                        (flag, utc_iso(now) if flag else None, row["id"]),
                    )
                    self._event(
                        conn,
                        row["id"],
                        "flag",
                        row["state"],
                        row["state"],
                        "system",
                        None,
                        now,
                        {"flag": flag, "was": row["due_flag"], "due_day": row["due_day"]},
                    )
            cutoff = (today - timedelta(days=self.config.cases.retention_days)).isoformat()
            stale = conn.execute(
                "SELECT id, state FROM cases WHERE closed_day IS NOT NULL AND closed_day <= ? AND purged_at IS NULL",
                (cutoff,),
            ).fetchall()
            for row in stale:
                sets = ", ".join(f"{f} = NULL" for f in PERSONAL_FIELDS)
                conn.execute(f"UPDATE cases SET {sets}, purged_at = ? WHERE id = ?", (utc_iso(now), row["id"]))
                self._event(
                    conn,
                    row["id"],
                    "purge",
                    row["state"],
                    row["state"],
                    "system",
                    None,
                    now,
                    {"fields": list(PERSONAL_FIELDS), "retention_days": self.config.cases.retention_days},
                )
            result["purged"] = len(stale)
            conn.execute(
                "INSERT INTO job_runs (job, day, ran_at, result) VALUES ('cases', ?, ?, ?)",
                (today.isoformat(), utc_iso(now), json.dumps(result)),
            )
        return result

    # ----- helpers -----

    # ----- cross-site cases (docs/cases.md "Cross-site cases") -----

    def hand_off(self, case_id: int, *, to_hall: str, to_window: str, actor: str, window: int | None) -> Case:
        """Hand a case to another hall of the district (收受分离): one transaction closes it here as
        handed_off, records the step, and queues what the other hall needs to handle it. The devices
        process takes it to the district (devices/handoff_sync.py); this never waits on the network."""
        get(self.store, case_id)  # no such case is a 404 before any field is a 422
        p = _Problems()
        hall_id = (to_hall or "").strip()
        if not _HALL_ID.match(hall_id) or hall_id == self.config.hall.id:
            p.add("to_hall", "err_handoff_hall")
        to_window = re.sub(r"\s+", " ", (to_window or "").strip())
        if len(to_window) > 40:
            p.add("to_window", "err_case_too_long", limit=40)
        p.raise_if_any()
        now = self.clock.now()
        today = self.today(now)
        uid = secrets.token_hex(8)
        with self.store.immediate() as conn:
            case = self._locked(conn, case_id)
            if case.state not in STEPS["handoff"][0] or case.purged:
                raise IllegalCaseStep(
                    "err_case_cannot",
                    {
                        "number": case.number,
                        "state": Msg(f"case_st_{case.state}"),
                        "state_lower": STATE_TEXT[case.state][1].lower(),
                        "action": Msg("case_act_handoff"),
                        "hint": "",
                    },
                    state=case.state,
                    action="handoff",
                )
            body = {
                **{k: case.as_dict()[k] for k in HANDOFF_FIELDS},
                "materials": [
                    {"name": m["name"], "received": m["received"], "copies": m["copies"]} for m in case.materials
                ],
                "origin_hall": self.config.hall.id,
                "origin_hall_name_zh": self.config.hall.name_zh,
                "origin_hall_name_en": self.config.hall.name_en,
                "origin_case_uid": uid,
                "origin_number": case.number,
                "to_window": to_window,
            }
            conn.execute(
                "INSERT INTO handoffs_out (uid, case_id, to_hall, to_window, body, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'queued', ?)",
                (uid, case_id, hall_id, to_window, json.dumps(body, ensure_ascii=False), utc_iso(now)),
            )
            conn.execute(
                "UPDATE cases SET state = 'handed_off', target_hall = ?, target_window = ?,"
                " remote_state = 'in_transit', remote_updated_at = ?, due_flag = NULL, flagged_at = NULL,"
                " closed_day = ?, updated_at = ? WHERE id = ?",
                (hall_id, to_window, utc_iso(now), today.isoformat(), utc_iso(now), case_id),
            )
            self._event(
                conn,
                case_id,
                "handoff",
                case.state,
                "handed_off",
                actor,
                window,
                now,
                {"to_hall": hall_id, "to_window": to_window, "handoff": uid},
            )
        return get(self.store, case_id)

    def receive_handoff(self, from_hall: str, body: Mapping[str, Any]) -> Case:
        """A case another hall handed here, from the district's inbox: a new case in this hall's list,
        marked with where it came from. Received twice (an ack lost), it is the same case."""
        uid = body.get("origin_case_uid") if isinstance(body, Mapping) else None
        if not isinstance(uid, str) or not uid or not _HALL_ID.match(from_hall or ""):
            raise HandoffRefused("err_handoff_malformed", {"field": "origin_case_uid"})
        existing = self.store.one(
            "SELECT id FROM cases WHERE origin_hall = ? AND origin_case_uid = ?", (from_hall, uid)
        )
        if existing:
            return get(self.store, existing["id"])
        required = (("mode", str), ("matter", str), ("matter_zh", str), ("due_day", str), ("time_limit_days", int))
        for key, kind in required:
            if not isinstance(body.get(key), kind) or (key == "mode" and body[key] not in CASE_MODES):
                raise HandoffRefused("err_handoff_malformed", {"field": key})
        due_text = _day(str(body["due_day"]))
        if due_text is None:
            raise HandoffRefused("err_handoff_malformed", {"field": "due_day"})
        given = body.get("materials")
        materials: list = given if isinstance(given, list) else []
        now = self.clock.now()
        today = self.today(now)
        # The citizen's time limit does not start again: the due day is the one the first hall set.
        due = date.fromisoformat(due_text)
        flag = due_flag(self.calendar, due, today, self.config.cases.near_due_days)
        with self.store.immediate() as conn:
            columns = {
                **{k: body.get(k) for k in HANDOFF_FIELDS if k not in ("opened_day", "due_day", "number")},
                "number": _next_number(conn, today),
                "token": secrets.token_urlsafe(18),
                "matter_en": str(body.get("matter_en") or ""),
                "department": str(body.get("department") or ""),
                "clock_from": _day(str(body.get("clock_from") or "")) or today.isoformat(),
                "state": "received",
                "opened_at": utc_iso(now),
                "opened_day": today.isoformat(),
                "due_day": due.isoformat(),
                "due_flag": flag,
                "flagged_at": utc_iso(now) if flag else None,
                "origin_hall": from_hall,
                "origin_case_uid": uid,
                "origin_number": str(body.get("origin_number") or ""),
                "updated_at": utc_iso(now),
            }
            cur = conn.execute(
                f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                tuple(columns.values()),
            )
            case_id = cur.lastrowid
            assert case_id is not None
            conn.executemany(
                "INSERT INTO case_materials (case_id, idx, name, received, copies) VALUES (?,?,?,?,?)",
                [
                    (case_id, i, str(m.get("name", "")), int(bool(m.get("received"))), int(m.get("copies") or 0))
                    for i, m in enumerate(materials)
                    if isinstance(m, Mapping)
                ],
            )
            self._event(
                conn,
                case_id,
                "open",
                None,
                "received",
                f"hall:{from_hall}",
                None,
                now,
                {"matter": columns["matter"], "from_hall": from_hall, "due_day": due.isoformat(), "handoff": uid},
            )
        return get(self.store, case_id)

    def _locked(self, conn, case_id: int) -> Case:
        row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
        if row is None:
            raise UnknownCase("err_no_case_id", {"case_id": case_id})
        mats = [
            dict(m)
            for m in conn.execute("SELECT * FROM case_materials WHERE case_id = ? ORDER BY idx", (case_id,)).fetchall()
        ]
        return Case(row, mats)

    def _event(
        self, conn, case_id: int, action: str, from_state, to_state, actor, window, now: datetime, data: dict
    ) -> None:
        conn.execute(
            "INSERT INTO case_events (case_id, action, from_state, to_state, actor, window, at, day, data)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                case_id,
                action,
                from_state,
                to_state,
                actor,
                window,
                utc_iso(now),
                calendar.service_day(now, self.config.hall),
                json.dumps(data, ensure_ascii=False, sort_keys=True),
            ),
        )

    def _applicant(self, form, p: _Problems, today: date, *, required: bool) -> dict:
        name = re.sub(r"\s+", " ", (form.get("applicant_name") or "").strip())
        if required and not name:
            p.add("applicant_name", "err_case_name_required")
        elif len(name) > 40:
            p.add("applicant_name", "err_case_name_too_long")
        id_number, problem = check_id_number(form.get("id_number", ""), today)
        if problem:
            p.add("id_number", problem)
        phone, problem = check_phone(form.get("phone", ""))
        if problem:
            p.add("phone", problem)
        address = _text(form, "address", p, limit=200)
        return {
            "applicant_name": name,
            "id_number": id_number,
            "phone": phone,
            "phone_last4": phone[-4:] if phone else None,
            "address": address,
        }

    def _handling(self, form, p: _Problems, *, required: bool, current: Case | None = None) -> dict:
        def pick(key):
            value = (form.get(key) or "").strip()
            if not value and current is not None:
                value = getattr(current, key) or ""
            return value

        province = pick("province")
        if province and province not in PROVINCES:
            p.add("province", "err_case_choose_province")
        elif required and not province:
            p.add("province", "err_case_province_required")
        values = {"province": province or None}
        for key, limit in (
            ("handling_dept", 100),
            ("handling_address", 200),
            ("handling_phone", 40),
            ("handling_contact", 40),
        ):
            value = pick(key)
            if len(value) > limit:
                p.add(key, "err_case_too_long", limit=limit)
            if required and key in ("handling_dept", "handling_address") and not value:
                p.add(key, "err_case_handling_required")
            values[key] = value or None
        if values["handling_phone"] and not re.fullmatch(r"[\d\s()+\-转]{5,40}", values["handling_phone"]):
            p.add("handling_phone", "err_case_phone_format")
        return values

    def _materials(self, form, names: Iterable[str], p: _Problems) -> list[tuple[str, int]]:
        """Each material of the checklist: ``material_<i>`` ticked means received, ``copies_<i>`` its count."""
        out = []
        for i, name in enumerate(names):
            received = form.get(f"material_{i}") in ("on", "1", "true", "yes")
            raw = (form.get(f"copies_{i}") or "").strip()
            copies = 0
            if received:
                if not raw:
                    copies = 1
                # ASCII digits only, as web/params.py reads numbers: "²".isdigit() is true, int("²") raises.
                elif re.fullmatch(r"[0-9]{1,2}", raw) and 1 <= int(raw) <= 99:
                    copies = int(raw)
                else:
                    p.add(f"copies_{i}", "err_case_copies", name=name, n=i + 1)
            out.append((name, copies))
        return out

    def _save_materials(self, conn, case_id: int, materials: list[tuple[str, int]]) -> None:
        for i, (_name, copies) in enumerate(materials):
            conn.execute(
                "UPDATE case_materials SET received = ?, copies = ? WHERE case_id = ? AND idx = ?",
                (int(copies > 0), copies, case_id, i),
            )


def _choice(form, key: str, options: Mapping[str, Any], p: _Problems) -> str | None:
    value = (form.get(key) or "").strip()
    if value not in options:
        p.add(key, "err_case_choose", options=", ".join(options))
        return None
    return value


def _text(form, key: str, p: _Problems, *, limit: int) -> str | None:
    value = (form.get(key) or "").strip()
    if len(value) > limit:
        p.add(key, "err_case_too_long", limit=limit)
    return value or None


def _waybill(form, key: str, p: _Problems) -> str | None:
    value, problem = check_waybill(form.get(key, ""))
    if problem:
        p.add(key, problem)
    return value


def _date_field(form, key: str, p: _Problems, *, earliest: date, latest: date) -> date:
    raw = (form.get(key) or "").strip()
    if not raw:
        return latest
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        p.add(key, "err_case_date_format")
        return latest
    if value > latest:
        p.add(key, "err_case_date_future")
    elif value < earliest:
        p.add(key, "err_case_date_before", earliest=earliest)
    return value


# ---------- the hand-off queue, for the devices process (devices/handoff_sync.py) ----------


def queued_handoffs(store: Store) -> list[dict]:
    """Hand-offs not yet at the district, oldest first, with their bodies."""
    return [
        {**dict(r), "body": json.loads(r["body"])}
        for r in store.all("SELECT * FROM handoffs_out WHERE state = 'queued' ORDER BY created_at, uid")
    ]


def handoff_sent(store: Store, uid: str, district_id: str, now: datetime) -> None:
    """The district holds it: the queue's copy of the personal data goes (the case row keeps its own)."""
    with store.immediate() as conn:
        conn.execute(
            "UPDATE handoffs_out SET state = 'sent', sent_at = ?, district_id = ?, body = NULL WHERE uid = ?",
            (utc_iso(now), district_id, uid),
        )


def handoff_refused(store: Store, uid: str, error: str, now: datetime, config: HallConfig) -> None:
    """The district refused a hand-off (no such hall, a malformed case): the case comes back to the
    state it was handed off from, with the refusal in its history, for the clerk to decide again.
    Refused here once, it no longer holds up the other hand-offs in the queue."""
    with store.immediate() as conn:
        row = conn.execute("SELECT * FROM handoffs_out WHERE uid = ? AND state = 'queued'", (uid,)).fetchone()
        if row is None:
            return
        event = conn.execute(
            "SELECT from_state FROM case_events WHERE case_id = ? AND action = 'handoff' ORDER BY id DESC LIMIT 1",
            (row["case_id"],),
        ).fetchone()
        back = event["from_state"] if event and event["from_state"] in OPEN_STATES else "received"
        conn.execute("UPDATE handoffs_out SET state = 'refused', body = NULL WHERE uid = ?", (uid,))
        conn.execute(
            "UPDATE cases SET state = ?, target_hall = NULL, target_window = NULL, remote_state = NULL,"
            " remote_number = NULL, remote_updated_at = NULL, closed_day = NULL, updated_at = ?"
            " WHERE id = ? AND state = 'handed_off'",
            (back, utc_iso(now), row["case_id"]),
        )
        conn.execute(
            "INSERT INTO case_events (case_id, action, from_state, to_state, actor, window, at, day, data)"
            " VALUES (?, 'handoff_refused', 'handed_off', ?, 'district', NULL, ?, ?, ?)",
            (
                row["case_id"],
                back,
                utc_iso(now),
                calendar.service_day(now, config.hall),
                json.dumps({"to_hall": row["to_hall"], "error": error, "handoff": uid}, sort_keys=True),
            ),
        )


def remote_states(store: Store, rows: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Where handed-off cases are at the halls they went to (the district's hand-off status);
    how many changed."""
    changed = 0
    with store.immediate() as conn:
        for row in rows:
            state = row.get("state")
            if state not in REMOTE_STATE_TEXT:
                continue  # a state this hall has no words for is not shown as if it were one
            cur = conn.execute(
                "UPDATE cases SET remote_state = ?, remote_number = COALESCE(?, remote_number), remote_updated_at = ?"
                " WHERE id = (SELECT case_id FROM handoffs_out WHERE uid = ?)"
                " AND (remote_state IS NOT ? OR remote_number IS NOT COALESCE(?, remote_number))",
                (state, row.get("number"), utc_iso(now), row.get("uid"), state, row.get("number")),
            )
            changed += cur.rowcount
    return changed
