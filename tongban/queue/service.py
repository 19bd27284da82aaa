"""The hall's service API: every ticket and window action, one transaction each.

Routes, the devices process, keypads and the simulator all call this; none of them writes tickets,
windows or events by itself (docs/architecture.md §Ticket lifecycle, §Numbering, §Storage).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from ..config import HallConfig
from ..texts import Msg, text
from . import balancer, calendar, errors, policy, printing
from .clock import Clock
from .estimates import (
    SPREAD_CALLS,
    Estimate,
    Forecast,
    WindowPlan,
    busy_for,
    forecast,
    measured_spread,
    minutes_per_call,
    smooth,
)
from .masking import mask_personal
from .ratelimit import check_kiosk_rate
from .store import Store, parse_iso, utc_iso

ACTIVE_AT_WINDOW = ("called", "serving")
AUTO_APPLY_KEY = "balancer_auto_apply"
OPEN_STATES = ("waiting", "called", "serving", "suspended")

# action: (states it is allowed from, state it leads to). Recall stays "called"; transfer and late
# return put the ticket back to "waiting" in a line.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "call": (frozenset({"waiting"}), "called"),
    "recall": (frozenset({"called"}), "called"),
    "start": (frozenset({"called"}), "serving"),
    "finish": (frozenset({"serving"}), "done"),
    "no_show": (frozenset({"called"}), "no_show"),
    "suspend": (frozenset({"serving"}), "suspended"),
    "resume": (frozenset({"suspended"}), "serving"),
    "transfer": (frozenset({"waiting", "called", "serving"}), "waiting"),
    "cancel": (frozenset({"waiting"}), "cancelled"),
    "late_return": (frozenset({"no_show"}), "waiting"),
    "expire": (frozenset({"waiting", "called", "serving", "suspended"}), "expired"),
}

WINDOW_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "open": (frozenset({"closed"}), "open"),
    "pause": (frozenset({"open"}), "paused"),
    "resume": (frozenset({"paused"}), "open"),
    "close": (frozenset({"open", "paused"}), "closed"),
}
# The actions staff take on one ticket by name (the API's /tickets/<id>/<action>, the console's
# buttons): every transition but "call", which call_next takes on whichever ticket the policy picks,
# and "expire", which only the nightly roll-over takes. The API, its OpenAPI document and the consoles
# derive their action names from these tables (tests/test_action_names.py).
TICKET_ACTIONS = tuple(a for a in TRANSITIONS if a not in ("call", "expire"))
# What a clerk may do only within the lines their window is able to serve (HallService.act).
LINE_BOUND_ACTIONS = ("cancel", "transfer", "late_return")

# Safe clerk actions (docs/architecture.md §Ticket lifecycle). A no-show needs a second press while the
# citizen was called less than NO_SHOW_CONFIRM_S ago or has been recalled fewer than hall.max_recalls
# times. No-show, finish and transfer can be undone for UNDO_S by the one who did them: their event
# keeps the ticket's columns from before (UNDO_COLUMNS), and undo writes them back.
NO_SHOW_CONFIRM_S = 120
UNDO_S = 30
UNDOABLE = ("no_show", "finish", "transfer")
UNDO_COLUMNS = ("state", "line", "window", "clerk", "called_at", "started_at", "finished_at", "recalls", "transferred")
# Why a ticket is suspended and why a window takes a break: the console offers these (texts
# suspend_reason_<code>, break_reason_<code>); the API may send a suspend reason in its own words.
SUSPEND_REASONS = ("materials", "verification", "unwell", "other")
BREAK_REASONS = ("lunch", "rest", "meeting", "other")


def ticket_actions(state: str) -> tuple[str, ...]:
    """The TICKET_ACTIONS a ticket in this state allows, in TRANSITIONS order."""
    return tuple(a for a in TICKET_ACTIONS if state in TRANSITIONS[a][0])


def window_actions(state: str) -> tuple[str, ...]:
    """The window actions a window in this state allows, in WINDOW_TRANSITIONS order."""
    return tuple(a for a, (allowed, _target) in WINDOW_TRANSITIONS.items() if state in allowed)


@dataclass(frozen=True)
class Ticket:
    id: int
    token: str
    number: str
    prefix: str
    seq: int
    line: str
    matter: str | None
    state: str
    service_day: str
    green: bool
    transferred: bool
    issued_at: datetime
    queued_at: datetime
    appointment_at: datetime | None
    window: int | None
    clerk: str | None
    recalls: int
    called_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    kiosk: str | None
    rated: bool
    green_reason: str | None = None  # why a green-channel ticket had priority (GREEN_REASONS)
    # The citizen's ID number as a keyed hash and masked (queue/identity.py), when it was read or
    # booked; never the number itself. Neither is part of as_dict: public pages never show them.
    id_hash: str | None = None
    id_masked: str | None = None

    @classmethod
    def from_row(cls, row) -> Ticket:
        d = dict(row)
        for key in ("issued_at", "queued_at", "appointment_at", "called_at", "started_at", "finished_at"):
            d[key] = parse_iso(d[key]) if d[key] else None
        for key in ("green", "transferred", "rated"):
            d[key] = bool(d[key])
        d.pop("uid", None)  # the district's key for the row (docs/architecture.md §District sync), not the hall's
        return cls(**d)

    def as_waiting(self) -> policy.WaitingTicket:
        return policy.WaitingTicket(
            self.id, self.line, self.queued_at, self.green, self.appointment_at, self.transferred
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["id_hash"], d["id_masked"]
        for key, value in d.items():
            if isinstance(value, datetime):
                d[key] = utc_iso(value)
        return d


#: The longest reason a manager may give for closing a line (it is shown on the kiosk's screen).
LINE_REASON_MAX = 200


@dataclass(frozen=True)
class LineState:
    """A line as the manager closed or opened it (``HallService.line_states``)."""

    prefix: str
    name_zh: str
    name_en: str
    closed: bool
    reason: str | None
    closed_by: str | None
    closed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["closed_at"] = utc_iso(self.closed_at) if self.closed_at else None
        return d


@dataclass(frozen=True)
class WindowState:
    number: int
    state: str
    able: tuple[str, ...]
    serving: tuple[str, ...]
    pinned: bool
    clerk: str | None

    @classmethod
    def from_row(cls, row) -> WindowState:
        return cls(
            row["number"],
            row["state"],
            _prefixes(row["able"]),
            _prefixes(row["serving"]),
            bool(row["pinned"]),
            row["clerk"],
        )

    def view(self) -> policy.WindowView:
        return policy.WindowView(self.number, self.serving, self.able, self.pinned)


@dataclass(frozen=True)
class Outlook:
    """What a citizen is told about a waiting ticket, the same on every surface (one forecast).

    ``estimate`` is None when no open, staffed window serves or can serve the line now: then nobody
    is promised minutes; ``opens_at`` ('HH:MM') says when the hall opens again if it is closed now.
    ``windows`` are the windows the forecast expects to call it.

    ``is_next``: nobody is ahead and a window will call it; the next call of its line is this ticket.
    Then the band starts at 0 (a window may free up any moment), so no surface pairs "0 ahead" with
    minutes that seem to wait for someone (docs/architecture.md §Forecast)."""

    people_ahead: int
    estimate: Estimate | None
    windows: tuple[int, ...]
    opens_at: str | None = None
    is_next: bool = False

    @classmethod
    def of(
        cls, people_ahead: int, estimate: Estimate | None, windows: tuple[int, ...], opens_at: str | None = None
    ) -> Outlook:
        """The one rule tying people ahead and minutes together: nobody ahead, with a window to call it,
        is "next", and its band starts at 0."""
        if people_ahead == 0 and estimate is not None:
            return cls(0, Estimate(estimate.minutes, 0, max(estimate.high, estimate.minutes)), windows, opens_at, True)
        return cls(people_ahead, estimate, windows, opens_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "next": self.is_next,
            "people_ahead": self.people_ahead,
            "estimate": self.estimate.as_dict() if self.estimate else None,
            "windows": list(self.windows),
            "opens_at": self.opens_at,
        }


# Why a green-channel ticket has priority, as the clerk who checked it records it (texts: green_reason_*).
GREEN_REASONS = ("elderly", "disabled", "pregnant", "serviceman", "other")

# Reasons a clerk picks from for a transfer (texts/staff.toml); recorded by key so the citizen reads it in
# their language.
TRANSFER_REASONS = (
    "transfer_reason_other_dept",
    "transfer_reason_wrong_line",
    "transfer_reason_special",
    "transfer_reason_other",
)


@dataclass(frozen=True)
class ForecastInputs:
    """The hall as a forecast reads it at one moment (HallService._forecast_inputs)."""

    per_call: dict[str, float]
    plans: list[WindowPlan]
    arrivals_per_min: dict[str, float]
    green_per_min: dict[str, float]
    horizon_min: dict[str, float]
    spread: tuple[float, float]


@dataclass(frozen=True)
class TransferNote:
    """Where a transferred ticket went and why, as the citizen is told it (the ticket's last transfer)."""

    to_line: str
    reason_zh: str
    reason_en: str

    def as_dict(self) -> dict[str, str]:
        return {"to_line": self.to_line, "reason_zh": self.reason_zh, "reason_en": self.reason_en}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> TransferNote:
        # The clerk's own note stays with the staff: a public page must not repeat what a clerk typed
        # about a citizen. The citizen is told the reason from the list, and where to go.
        key, to_window = data.get("reason_key"), data.get("to_window")
        if key in TRANSFER_REASONS or to_window is not None:
            parts: dict[str, list[str]] = {"zh": [], "en": []}
            for lang, said in parts.items():
                if to_window is not None:
                    said.append(text("transfer_to_window", lang, number=to_window))
                if key in TRANSFER_REASONS:
                    said.append(text(key, lang))
            zh, en = "：".join(parts["zh"]), ": ".join(parts["en"])
        else:  # a reason given as words (the API), or none: masked as any free text shown in public
            zh = en = mask_personal(data.get("reason") or "")
        return cls(data["to_line"], zh, en)


@dataclass(frozen=True)
class Issued:
    ticket: Ticket
    outlook: Outlook
    print_job: int | None = None  # the slip's job on the kiosk's printer, if it has one
    repeated: bool = False  # a repeat of an earlier request with the same key: the same ticket again

    @property
    def people_ahead(self) -> int:
        return self.outlook.people_ahead

    @property
    def estimate(self) -> Estimate | None:
        return self.outlook.estimate


@dataclass(frozen=True)
class Break:
    """A window on a break: why (a BREAK_REASONS code, or None from a keypad) and since when."""

    reason: str | None
    since: datetime


@dataclass(frozen=True)
class Undoable:
    """The last action at a window that may still be undone, and until when."""

    ticket_id: int
    number: str
    action: str
    until: datetime


@lru_cache(maxsize=1024)
def _prefixes(text: str) -> tuple[str, ...]:
    """A window's JSON list of lines; the same few strings are read on every call, so parse each once."""
    return tuple(json.loads(text))


@lru_cache(maxsize=8192)
def _instant(text: str) -> datetime:
    """A stored timestamp; a waiting ticket's queued_at is read at every call and forecast."""
    return parse_iso(text)


# The balancer's arrival rate: tickets issued in the last half hour (at least 10 minutes' worth).
ARRIVAL_WINDOW_MIN = 30.0
ARRIVAL_MIN_SPAN_MIN = 10.0

# A ticket id no real ticket has: the newcomer in a line's forecast (last among equals).
NEWCOMER_ID = 1 << 62


class HallService:
    def __init__(self, store: Store, config: HallConfig, clock: Clock, *, chooser=None, ticket_group=None):
        """``chooser`` replaces ``policy.choose_next`` in ``call_next`` and in the forecast; only the
        simulator's baselines (bind-at-issue, join-shortest-queue) pass one, with ``ticket_group`` (the
        window a ticket is bound to) so the forecast keeps each window's tickets apart. Production
        always runs the real policy."""
        self.store = store
        self.config = config
        self.clock = clock
        self.hall = config.hall
        self.chooser = chooser or policy.choose_next
        self.ticket_group = ticket_group
        self._spread: tuple[datetime, tuple[float, float]] | None = None  # (worked out at, band spread)

    # ---------- set-up ----------

    def sync_with_config(self) -> None:
        """Bring windows and lines in the database in line with the hall file, keeping live state."""
        now = self.clock.now()
        with self.store.immediate() as conn:
            for line in self.config.lines:
                conn.execute("INSERT OR IGNORE INTO lines (prefix) VALUES (?)", (line.prefix,))
            for window in self.config.windows:
                row = conn.execute("SELECT * FROM windows WHERE number = ?", (window.number,)).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO windows (number, state, able, serving, updated_at) VALUES (?,?,?,?,?)",
                        (window.number, "closed", json.dumps(window.able), json.dumps(window.serving), utc_iso(now)),
                    )
                    continue
                serving = [p for p in json.loads(row["serving"]) if p in window.able] or list(window.serving)
                conn.execute(
                    "UPDATE windows SET able = ?, serving = ? WHERE number = ?",
                    (json.dumps(window.able), json.dumps(serving), window.number),
                )

    # ---------- reading ----------

    def ticket(self, ticket_id: int) -> Ticket:
        row = self.store.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            raise errors.UnknownTicket("err_no_ticket_id", {"ticket_id": ticket_id})
        return Ticket.from_row(row)

    def ticket_by_token(self, token: str) -> Ticket:
        row = self.store.one("SELECT * FROM tickets WHERE token = ?", (token,))
        if row is None:
            raise errors.UnknownTicket("err_no_such_ticket")
        return Ticket.from_row(row)

    def window(self, number: int) -> WindowState:
        row = self.store.one("SELECT * FROM windows WHERE number = ?", (number,))
        if row is None:
            raise errors.UnknownWindow("err_no_window", {"number": number})
        return WindowState.from_row(row)

    def windows(self) -> list[WindowState]:
        return [WindowState.from_row(r) for r in self.store.all("SELECT * FROM windows ORDER BY number")]

    def waiting(self, day: str | None = None) -> list[Ticket]:
        day = day or calendar.service_day(self.clock.now(), self.hall)
        rows = self.store.all("SELECT * FROM tickets WHERE state = 'waiting' AND service_day = ? ORDER BY id", (day,))
        return [Ticket.from_row(r) for r in rows]

    def current_ticket(self, window: int) -> Ticket | None:
        row = self.store.one(
            "SELECT * FROM tickets WHERE window = ? AND state IN ('called', 'serving') ORDER BY called_at DESC LIMIT 1",
            (window,),
        )
        return Ticket.from_row(row) if row else None

    def tickets_at_window(self, window: int, states: tuple[str, ...] = ("suspended",)) -> list[Ticket]:
        marks = ",".join("?" * len(states))
        rows = self.store.all(
            f"SELECT * FROM tickets WHERE window = ? AND state IN ({marks}) ORDER BY id", (window, *states)
        )
        return [Ticket.from_row(r) for r in rows]

    def events(self, ticket_id: int) -> list[dict]:
        rows = self.store.all("SELECT * FROM events WHERE ticket_id = ? ORDER BY id", (ticket_id,))
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    def transfer_note(self, ticket: Ticket) -> TransferNote | None:
        """Where and why the ticket was last transferred; None for a ticket never transferred."""
        if not ticket.transferred:
            return None
        row = self.store.one(
            "SELECT data FROM events WHERE ticket_id = ? AND action = 'transfer' ORDER BY id DESC LIMIT 1", (ticket.id,)
        )
        return TransferNote.from_event(json.loads(row["data"])) if row else None

    def people_ahead(self, ticket: Ticket) -> int:
        """How many tickets the policy will call before this one at the windows that could call it:
        its own line in the policy's order, and other lines' tickets a shared window takes first."""
        return self.ticket_outlook(ticket).people_ahead

    def ticket_outlook(self, ticket: Ticket) -> Outlook:
        """What every surface tells about a ticket now: the kiosk, the slip, the API, /t/<token>, the
        consoles (docs/architecture.md §Forecast). Only a waiting ticket has one to tell."""
        if ticket.state != "waiting":
            return Outlook(0, None, ())
        now = self.clock.now()
        return self._outlook(ticket.as_waiting(), self._waiting_views(ticket.service_day), now)

    def qr_text(self, ticket: Ticket) -> str:
        """What a ticket's QR code holds, on the slip and on the kiosk's screen alike: a link to its
        status page when phones can reach the hall, else the ticket itself, readable by any camera."""
        hall = self.hall
        if hall.public_url:
            return f"{hall.public_url.rstrip('/')}/t/{ticket.token}"
        line = self.config.line(ticket.line)
        issued = calendar.local(ticket.issued_at, hall)
        rows = (
            ("k_qr_number", ticket.number),
            ("k_qr_line", f"{line.prefix} {line.name_zh} / {line.name_en}"),
            ("k_qr_ticket_id", ticket.id),
            ("k_qr_issued", f"{issued:%Y-%m-%d %H:%M}"),
        )
        return "\n".join([hall.name_zh, *(f"{text(key, 'zh')} {text(key, 'en')}: {value}" for key, value in rows)])

    def newcomer_outlook(self, prefix: str, *, green: bool = False) -> Outlook:
        """The outlook of someone who takes a ticket in ``prefix`` now (the kiosk before the tap, the
        lines summary)."""
        now = self.clock.now()
        newcomer = policy.WaitingTicket(NEWCOMER_ID, prefix, now, green)
        return self._outlook(newcomer, self._waiting_views(calendar.service_day(now, self.hall)), now)

    def _waiting_views(self, day: str) -> list[policy.WaitingTicket]:
        rows = self.store.all(
            "SELECT id, line, queued_at, green, appointment_at, transferred FROM tickets"
            " WHERE state = 'waiting' AND service_day = ?",
            (day,),
        )
        return [
            policy.WaitingTicket(r[0], r[1], _instant(r[2]), bool(r[3]), _instant(r[4]) if r[4] else None, bool(r[5]))
            for r in rows
        ]

    def per_call_minutes(self) -> dict[str, float]:
        """Smoothed window minutes per call, per line (persisted: survives restarts)."""
        rows = {r["prefix"]: r for r in self.store.all("SELECT prefix, service_min, cycle_min FROM lines")}
        return {
            line.prefix: minutes_per_call(rows[line.prefix]["cycle_min"], rows[line.prefix]["service_min"])
            if line.prefix in rows
            else minutes_per_call(None, None)
            for line in self.config.lines
        }

    def _plans(self, now: datetime, per_call: dict[str, float]) -> list[WindowPlan]:
        """The windows that will call tickets: open and with a clerk signed in (a window the manager
        opened with nobody at it calls no one), each with the minutes until it can call next."""
        busy = {
            r[0]: (r[1], parse_iso(r[2]))
            for r in self.store.all(
                "SELECT window, line, called_at FROM tickets"
                " WHERE state IN ('called', 'serving') AND window IS NOT NULL"
            )
        }
        plans = []
        for row in self.store.all(
            "SELECT number, serving, able, pinned FROM windows WHERE state = 'open' AND clerk IS NOT NULL"
            " ORDER BY number"
        ):
            free = 0.0
            if row[0] in busy:
                line, called_at = busy[row[0]]
                free = busy_for((now - called_at).total_seconds() / 60.0, per_call.get(line, 0.0))
            view = policy.WindowView(row[0], _prefixes(row[1]), _prefixes(row[2]), bool(row[3]))
            plans.append(WindowPlan(view, free))
        return plans

    def _arrivals_per_min(self, now: datetime) -> tuple[dict[str, float], dict[str, float]]:
        """Tickets issued per minute in the last half hour per line, all and green-channel (for the
        forecast)."""
        day = calendar.service_day(now, self.hall)
        since = utc_iso(now - timedelta(minutes=ARRIVAL_WINDOW_MIN))
        first_row = self.store.one(
            "SELECT MIN(issued_at) FROM tickets WHERE service_day = ? AND issued_at >= ?", (day, since)
        )
        assert first_row is not None  # an aggregate without GROUP BY returns exactly one row
        first = first_row[0]
        if first is None:
            return {}, {}
        span = max(ARRIVAL_MIN_SPAN_MIN, (now - _instant(first)).total_seconds() / 60)
        rows = self.store.all(
            "SELECT line, COUNT(*), SUM(green) FROM tickets WHERE service_day = ? AND issued_at >= ? GROUP BY line",
            (day, since),
        )
        return {r[0]: r[1] / span for r in rows}, {r[0]: r[2] / span for r in rows if r[2]}

    def _issuing_for(self, now: datetime) -> dict[str, float]:
        """Minutes each line keeps issuing tickets from now: to the end of the open period, or the
        line's last issue time if that comes first (0 when it issues none now)."""
        if not calendar.opening(now, self.hall).open:
            return {}
        moment = calendar.local(now, self.hall)
        clock = moment.time()
        period = next(
            p for p in self.hall.hours.get(calendar.WEEKDAYS[moment.weekday()], ()) if p.start <= clock < p.end
        )
        out = {}
        for line in self.config.lines:
            stop = period.end if line.last_issue is None else min(period.end, line.last_issue)
            minutes = (datetime.combine(moment.date(), stop, moment.tzinfo) - moment).total_seconds() / 60
            if minutes > 0:
                out[line.prefix] = minutes
        return out

    def _band_spread(self) -> tuple[float, float]:
        """The band's edges in forecast standard deviations, measured on the most recently called
        tickets: how far their real waits fell from what they were told (``estimates.measured_spread``).
        Worked out again once a minute at most: it moves only as tickets are called."""
        now = self.clock.now()
        if self._spread is not None and timedelta(0) <= now - self._spread[0] < timedelta(minutes=1):
            return self._spread[1]
        rows = self.store.all(
            "SELECT ((julianday(t.called_at) - julianday(t.issued_at)) * 1440 - e.minutes) / e.sd"
            " FROM tickets t JOIN ticket_estimates e ON e.ticket_id = t.id"
            " WHERE t.called_at IS NOT NULL AND e.sd > 0 ORDER BY t.called_at DESC LIMIT ?",
            (SPREAD_CALLS,),
        )
        spread = measured_spread([r[0] for r in rows])
        self._spread = (now, spread)
        return spread

    def _outlook(self, target: policy.WaitingTicket, waiting: list[policy.WaitingTicket], now: datetime) -> Outlook:
        outlook, _ = self._outlook_and_forecast(target, waiting, now)
        return outlook

    def _forecast_inputs(self, now: datetime) -> ForecastInputs:
        """What every forecast at ``now`` reads from the hall besides the waiting list: read once
        for a screen that forecasts several lines (lines_summary)."""
        per_call = self.per_call_minutes()
        arrivals, green = self._arrivals_per_min(now)
        return ForecastInputs(
            per_call, self._plans(now, per_call), arrivals, green, self._issuing_for(now), self._band_spread()
        )

    def _outlook_and_forecast(
        self,
        target: policy.WaitingTicket,
        waiting: list[policy.WaitingTicket],
        now: datetime,
        inputs: ForecastInputs | None = None,
    ) -> tuple[Outlook, Forecast | None]:
        """The outlook, and the forecast behind its estimate (None when nobody is promised minutes)."""
        inputs = inputs or self._forecast_inputs(now)
        cfg = self.config.policy
        plans = inputs.plans
        result = forecast(
            target,
            waiting,
            plans,
            now,
            cfg,
            inputs.per_call,
            self.chooser,
            green_per_min=inputs.green_per_min,
            group=self.ticket_group,
            arrivals_per_min=inputs.arrivals_per_min,
            horizon_min=inputs.horizon_min,
            spread=inputs.spread,
        )
        if result is not None:
            # The windows that may call it: those serving its line, and those able to take it when
            # their own lines are empty (policy.reach).
            numbers = tuple(p.view.number for p in plans if target.line in policy.reach(p.view, cfg))
            return Outlook.of(result.people_ahead, result.estimate, numbers), result
        # No open, staffed window serves or can take the line: no minutes are promised. The place in
        # line is still true, and so is when the hall opens again if it is closed now.
        key = policy.line_order_key(target, now, cfg)
        ahead = sum(
            1
            for t in waiting
            if t.line == target.line and t.id != target.id and policy.line_order_key(t, now, cfg) < key
        )
        status = calendar.opening(now, self.hall)
        return Outlook(ahead, None, (), None if status.open else status.reopens_at), None

    def lines_summary(self, prefixes: Iterable[str] | None = None) -> list[dict]:
        """Each line (or those of ``prefixes``) as the kiosk, the API and the screens list it. The
        waiting list and the per-call times are read once for all lines: the kiosk asks this for
        every confirm screen, and re-reading them per line made that screen grow with the queue."""
        now = self.clock.now()
        wanted = set(prefixes) if prefixes is not None else None
        waiting = self._waiting_views(calendar.service_day(now, self.hall))
        inputs = self._forecast_inputs(now)
        states = {
            r["prefix"]: r for r in self.store.all("SELECT prefix, closed, closed_reason, service_min FROM lines")
        }
        out = []
        for line in self.config.lines:
            if wanted is not None and line.prefix not in wanted:
                continue
            in_line = [t for t in waiting if t.line == line.prefix]
            longest = max(((now - t.queued_at).total_seconds() / 60 for t in in_line), default=0.0)
            row = states.get(line.prefix)
            # What a citizen taking a ticket now would be told (the same outlook as on the ticket).
            newcomer = policy.WaitingTicket(NEWCOMER_ID, line.prefix, now, False)
            outlook, _ = self._outlook_and_forecast(newcomer, waiting, now, inputs)
            out.append(
                {
                    "prefix": line.prefix,
                    "name_zh": line.name_zh,
                    "name_en": line.name_en,
                    "waiting": len(in_line),
                    "longest_wait_min": round(longest, 1),
                    "estimate": outlook.estimate.as_dict() if outlook.estimate else None,
                    "windows": list(outlook.windows),
                    "opens_at": outlook.opens_at,
                    "closed": bool(row and row["closed"]),
                    "closed_reason": row["closed_reason"] if row and row["closed"] else None,
                    "service_min": row["service_min"] if row else None,
                }
            )
        return out

    # ---------- issuing ----------

    def take_ticket(
        self,
        *,
        line: str | None = None,
        matter: str | None = None,
        green: bool = False,
        appointment_at: datetime | None = None,
        kiosk: str | None = None,
        actor: str | None = None,
        window: int | None = None,
        request_key: str | None = None,
        green_reason: str | None = None,
        id_hash: str | None = None,
        id_masked: str | None = None,
    ) -> Issued:
        """Take a ticket: one user action, one transaction (docs/architecture.md §Numbering).

        ``window`` is the window of the clerk issuing (None for a kiosk or a manager): a clerk's green
        ticket must be for a line that window is able to serve. ``green_reason`` (one of GREEN_REASONS,
        green tickets only) is why it has priority, kept with the ticket for the day report.
        ``id_hash`` and ``id_masked`` (queue/identity.py) are the citizen's ID number as the hall keeps
        it, for a ticket taken for a booking or with an ID card; never the number itself.

        In one BEGIN IMMEDIATE: the repeat-safe key, the opening, quota and rate checks, the number,
        the ticket, its event, the print job for the kiosk's printer, and the key's record. A crash
        either keeps all of it or none; the same ``request_key`` from the same kiosk (or staff
        account) answers with the same ticket and print job, whether the first answer was lost or
        the box lost power in between.
        """
        now = self.clock.now()
        day = calendar.service_day(now, self.hall)
        requester = kiosk or actor or "public"
        if green_reason is not None and (not green or green_reason not in GREEN_REASONS):
            raise errors.BadGreenReason("err_bad_green_reason", field="green_reason")
        wanted: list[Any] = [line, matter, green, utc_iso(appointment_at) if appointment_at else None]
        asked = json.dumps(wanted + [green_reason] if green_reason else wanted)
        # What the ticket will be told, forecast before the write (the new ticket is last among equals,
        # as it will be); the forecast is kept with the ticket to measure the band against its real wait.
        told = None
        try:
            prefix, _ = self._resolve_line(line, matter)
        except errors.QueueError:
            prefix = None  # refused inside the transaction, as any other request
        if prefix is not None:
            newcomer = policy.WaitingTicket(NEWCOMER_ID, prefix, now, green, appointment_at)
            told = self._outlook_and_forecast(newcomer, self._waiting_views(day), now)
        with self.store.immediate() as conn:
            earlier = None
            if request_key is not None:
                earlier = conn.execute(
                    "SELECT ticket_id, print_job, fingerprint FROM take_requests WHERE requester = ? AND key = ?",
                    (requester, request_key),
                ).fetchone()
                if earlier is not None and earlier["fingerprint"] != asked:
                    raise errors.RequestKeyReused("err_request_key_reused")
            if earlier is not None:
                ticket_id, job_id = earlier["ticket_id"], earlier["print_job"]
            else:
                ticket_id = self._insert_ticket(
                    conn, now, day, line, matter, green, appointment_at, kiosk, actor, window, green_reason
                )
                if id_hash is not None or id_masked is not None:
                    conn.execute(
                        "UPDATE tickets SET id_hash = ?, id_masked = ? WHERE id = ?", (id_hash, id_masked, ticket_id)
                    )
                if told is not None and told[1] is not None:
                    conn.execute(
                        "INSERT INTO ticket_estimates (ticket_id, minutes, sd) VALUES (?, ?, ?)",
                        (ticket_id, told[1].wait_min, told[1].sd),
                    )
                printer = self.config.kiosk_printer(kiosk)
                job_id = printing.enqueue(self.store, ticket_id, printer, now) if printer else None
                if request_key is not None:
                    conn.execute(
                        "INSERT INTO take_requests (requester, key, fingerprint, ticket_id, print_job, created_at)"
                        " VALUES (?,?,?,?,?,?)",
                        (requester, request_key, asked, ticket_id, job_id, utc_iso(now)),
                    )
        ticket = self.ticket(ticket_id)
        outlook = told[0] if told is not None and earlier is None else self.ticket_outlook(ticket)
        return Issued(ticket, outlook, print_job=job_id, repeated=earlier is not None)

    def _insert_ticket(
        self,
        conn,
        now: datetime,
        day: str,
        line: str | None,
        matter: str | None,
        green: bool,
        appointment_at: datetime | None,
        kiosk: str | None,
        actor: str | None,
        window: int | None = None,
        green_reason: str | None = None,
    ) -> int:
        """The checks and the ticket with its issue event, inside take_ticket's transaction."""
        prefix, matter_code = self._resolve_line(line, matter)
        if green and window is not None:
            able = self._window_row(conn, window).able
            if prefix not in able:
                raise errors.WrongLine(
                    "err_green_wrong_line",
                    {"window": window, "line": prefix, "lines_zh": "、".join(able), "lines_en": ", ".join(able)},
                    line=prefix,
                )
        self._check_open(now, prefix)
        line_cfg = self.config.line(prefix)
        check_kiosk_rate(conn, kiosk, now, self.config.operations.kiosk_max_per_minute)
        seq = self._next_seq(conn, prefix, day)
        number = f"{prefix}{seq:0{line_cfg.number_width}d}"
        cur = conn.execute(
            "INSERT INTO tickets (token, service_day, prefix, seq, number, line, matter, state, green,"
            " appointment_at, issued_at, queued_at, kiosk, green_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                secrets.token_urlsafe(12),
                day,
                prefix,
                seq,
                number,
                prefix,
                matter_code,
                "waiting",
                int(green),
                utc_iso(appointment_at) if appointment_at else None,
                utc_iso(now),
                utc_iso(now),
                kiosk,
                green_reason,
            ),
        )
        ticket_id = cur.lastrowid
        assert ticket_id is not None  # an INSERT's rowid
        self.store.add_event(
            action="issue",
            at=now,
            ticket_id=ticket_id,
            to_state="waiting",
            actor=actor,
            data={
                "line": prefix,
                "number": number,
                "matter": matter_code,
                "green": green,
                "kiosk": kiosk,
                **({"green_reason": green_reason} if green_reason else {}),
            },
        )
        return ticket_id

    def check_issuable(self, prefix: str) -> None:
        """Raise what ``take_ticket`` would refuse for this line now, without issuing (kiosks explain a
        closed line before anyone taps). ``take_ticket`` checks again inside its own transaction."""
        now = self.clock.now()
        self._check_open(now, prefix)
        self._next_seq(self.store.conn, prefix, calendar.service_day(now, self.hall))

    def _next_seq(self, conn, prefix: str, day: str) -> int:
        """The line's next number today, or the refusal: closed by the manager, or the quota reached."""
        line_cfg = self.config.line(prefix)
        row = conn.execute("SELECT closed, closed_reason FROM lines WHERE prefix = ?", (prefix,)).fetchone()
        if row and row["closed"]:
            raise errors.LineClosed(
                "err_line_closed_by_manager",
                {"name_zh": line_cfg.name_zh, "name_en": line_cfg.name_en},
                reason="closed_by_manager",
                detail=row["closed_reason"],
            )
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM tickets WHERE prefix = ? AND service_day = ?", (prefix, day)
        ).fetchone()[0]
        if line_cfg.daily_quota is not None and seq > line_cfg.daily_quota:
            raise errors.QuotaReached(
                "err_quota_reached",
                {"name_zh": line_cfg.name_zh, "name_en": line_cfg.name_en, "quota": line_cfg.daily_quota},
                quota=line_cfg.daily_quota,
            )
        return seq

    def _resolve_line(self, line: str | None, matter: str | None) -> tuple[str, str | None]:
        if matter is not None:
            try:
                self.config.matter(matter)
                owner = self.config.line_of_matter(matter)
            except KeyError:
                raise errors.UnknownMatter("err_no_matter", {"matter": matter}, field="matter") from None
            if line is not None and line != owner.prefix:
                raise errors.UnknownLine("err_matter_not_in_line", {"matter": matter, "line": line}, field="line")
            return owner.prefix, matter
        if line is None:
            raise errors.UnknownLine("err_choose_line", field="line")
        try:
            self.config.line(line)
        except KeyError:
            raise errors.UnknownLine("err_no_line", {"line": line}, field="line") from None
        return line, None

    def _check_open(self, now: datetime, prefix: str) -> None:
        status = calendar.opening(now, self.hall)
        lunch_ok = status.reason == "lunch_break" and self.hall.issue_during_lunch
        if not status.open and not lunch_ok:
            key, values = f"err_hall_{status.reason}", {}
            if status.reopens_at:
                key, values = "err_hall_reopens", {"closed": Msg(key), "reopens_at": status.reopens_at}
            raise errors.HallClosed(key, values, reason=status.reason, reopens_at=status.reopens_at)
        line_cfg = self.config.line(prefix)
        if calendar.past_last_issue(now, self.hall, line_cfg):
            raise errors.LineClosed(
                "err_line_past_last_issue",
                {"name_zh": line_cfg.name_zh, "name_en": line_cfg.name_en, "last_issue": line_cfg.last_issue},
                reason="past_last_issue",
            )

    # ---------- windows ----------

    def window_action(
        self,
        number: int,
        action: str,
        *,
        clerk: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> WindowState:
        """Open, pause (take a break, with a BREAK_REASONS code or none), resume or close a window."""
        if action not in WINDOW_TRANSITIONS:
            raise errors.IllegalTransition("err_unknown_window_action", {"action": action})
        if reason is not None and (action != "pause" or reason not in BREAK_REASONS):
            raise errors.IllegalTransition("err_unknown_break_reason", {"reason": reason}, field="reason")
        allowed, target = WINDOW_TRANSITIONS[action]
        now = self.clock.now()
        with self.store.immediate() as conn:
            window = self._window_row(conn, number)
            if window.state not in allowed:
                raise errors.IllegalTransition(
                    "err_window_cannot",
                    {
                        "number": number,
                        "state": window.state,
                        "state_name": Msg(f"window_state_{window.state}"),
                        "action": action,
                        "action_name": Msg(f"q_window_action_{action}"),
                    },
                    state=window.state,
                )
            if action in ("pause", "close"):
                busy = conn.execute(
                    "SELECT number FROM tickets WHERE window = ? AND state IN ('called','serving')", (number,)
                ).fetchone()
                if busy:
                    raise errors.WindowBusy(
                        "err_window_busy",
                        {"ticket": busy["number"]},
                        ticket=busy["number"],
                    )
            new_clerk = clerk if action == "open" else (None if action == "close" else window.clerk)
            conn.execute(
                "UPDATE windows SET state = ?, clerk = ?, updated_at = ? WHERE number = ?",
                (target, new_clerk, utc_iso(now), number),
            )
            self.store.add_event(
                action=f"window_{action}",
                at=now,
                window=number,
                from_state=window.state,
                to_state=target,
                actor=actor or clerk,
                data={"clerk": new_clerk, **({"reason": reason} if reason else {})},
            )
        return self.window(number)

    def on_break(self, number: int) -> Break | None:
        """Why and since when window ``number`` is on a break, if it is (its last pause event)."""
        if self.window(number).state != "paused":
            return None
        row = self.store.one(
            "SELECT at, data FROM events WHERE window = ? AND action = 'window_pause' ORDER BY id DESC LIMIT 1",
            (number,),
        )
        if row is None:
            return Break(None, self.clock.now())
        return Break(json.loads(row["data"]).get("reason"), parse_iso(row["at"]))

    def set_serving(
        self,
        number: int,
        lines: list[str],
        *,
        actor: str | None = None,
        reason: str = "manager",
        by_balancer: bool = False,
        detail: dict | None = None,
    ) -> WindowState:
        now = self.clock.now()
        with self.store.immediate() as conn:
            window = self._window_row(conn, number)
            if not lines:
                raise errors.LineNotAble("err_window_needs_a_line", field="lines")
            unable = [p for p in lines if p not in window.able]
            if unable:
                raise errors.LineNotAble(
                    "err_window_unable",
                    {"number": number, "lines_zh": "、".join(unable), "lines_en": ", ".join(unable)},
                    field="lines",
                    lines=unable,
                )
            if len(set(lines)) != len(lines):
                raise errors.LineNotAble("err_line_twice", field="lines")
            if by_balancer and window.pinned:
                raise errors.IllegalTransition("err_window_pinned", {"number": number}, field="lines")
            conn.execute(
                "UPDATE windows SET serving = ?, updated_at = ? WHERE number = ?",
                (json.dumps(list(lines)), utc_iso(now), number),
            )
            self.store.add_event(
                action="window_lines",
                at=now,
                window=number,
                actor=actor,
                data={
                    **(detail or {}),
                    "from": list(window.serving),
                    "to": list(lines),
                    "reason": reason,
                    "by_balancer": by_balancer,
                },
            )
        return self.window(number)

    def set_pinned(self, number: int, pinned: bool, *, actor: str | None = None) -> WindowState:
        now = self.clock.now()
        with self.store.immediate() as conn:
            self._window_row(conn, number)
            conn.execute("UPDATE windows SET pinned = ? WHERE number = ?", (int(pinned), number))
            self.store.add_event(action="window_pin", at=now, window=number, actor=actor, data={"pinned": pinned})
        return self.window(number)

    def _window_row(self, conn, number: int) -> WindowState:
        row = conn.execute("SELECT * FROM windows WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise errors.UnknownWindow("err_no_window", {"number": number})
        return WindowState.from_row(row)

    # ---------- lines (closed by the manager) ----------

    def line_states(self) -> list[LineState]:
        """Every line of the hall file, open or closed by the manager, with why, by whom and since when."""
        rows = {r["prefix"]: r for r in self.store.all("SELECT prefix, closed, closed_reason FROM lines")}
        out = []
        for line in self.config.lines:
            row = rows.get(line.prefix)
            closed = bool(row and row["closed"])
            by = at = reason = None
            if row is not None and closed:
                reason = row["closed_reason"]
                # The close that is in force is the line's latest one: scanning back from the newest
                # event finds it soon, since a line is closed for hours, not years.
                event = self.store.one(
                    "SELECT actor, at FROM events WHERE action = 'line_close' AND ticket_id IS NULL"
                    " AND json_extract(data, '$.line') = ? ORDER BY id DESC LIMIT 1",
                    (line.prefix,),
                )
                if event:
                    by, at = event["actor"], parse_iso(event["at"])
            out.append(LineState(line.prefix, line.name_zh, line.name_en, closed, reason, by, at))
        return out

    def line_state(self, prefix: str) -> LineState:
        self._line_cfg(prefix)
        return next(s for s in self.line_states() if s.prefix == prefix)

    def close_line(self, prefix: str, reason: str, *, actor: str | None = None) -> LineState:
        """Stop issuing tickets for a line (docs/architecture.md §Numbering): kiosks and the API refuse
        it with ``line_closed`` and show the reason. Tickets already taken are still called and served.
        One transaction: the flag and the reason on ``lines``, and a ``line_close`` event saying who,
        when and why. Closing a closed line again with another reason rewords it (a new event)."""
        line_cfg = self._line_cfg(prefix)
        reason = " ".join((reason or "").split())
        if not reason:
            raise errors.ReasonRequired(
                "err_line_reason_required", {"name_zh": line_cfg.name_zh, "name_en": line_cfg.name_en}, field="reason"
            )
        if len(reason) > LINE_REASON_MAX:
            raise errors.ReasonRequired("err_line_reason_too_long", {"max": LINE_REASON_MAX}, field="reason")
        now = self.clock.now()
        with self.store.immediate() as conn:
            row = conn.execute("SELECT closed, closed_reason FROM lines WHERE prefix = ?", (prefix,)).fetchone()
            was_closed = bool(row and row["closed"])
            if not (was_closed and row["closed_reason"] == reason):
                conn.execute(
                    "INSERT INTO lines (prefix, closed, closed_reason) VALUES (?, 1, ?)"
                    " ON CONFLICT(prefix) DO UPDATE SET closed = 1, closed_reason = excluded.closed_reason",
                    (prefix, reason),
                )
                self.store.add_event(
                    action="line_close",
                    at=now,
                    from_state="closed" if was_closed else "open",
                    to_state="closed",
                    actor=actor,
                    data={"line": prefix, "reason": reason},
                )
        return self.line_state(prefix)

    def open_line(self, prefix: str, *, actor: str | None = None) -> LineState:
        """Issue tickets for a closed line again; a ``line_open`` event records who and when (and the
        reason it was closed for). Opening an open line changes nothing."""
        self._line_cfg(prefix)
        now = self.clock.now()
        with self.store.immediate() as conn:
            row = conn.execute("SELECT closed, closed_reason FROM lines WHERE prefix = ?", (prefix,)).fetchone()
            if row and row["closed"]:
                conn.execute("UPDATE lines SET closed = 0, closed_reason = NULL WHERE prefix = ?", (prefix,))
                self.store.add_event(
                    action="line_open",
                    at=now,
                    from_state="closed",
                    to_state="open",
                    actor=actor,
                    data={"line": prefix, "closed_reason": row["closed_reason"]},
                )
        return self.line_state(prefix)

    def _line_cfg(self, prefix: str):
        try:
            return self.config.line(prefix)
        except KeyError:
            raise errors.UnknownLine("err_no_line", {"line": prefix}, field="line") from None

    # ---------- the balancer (docs/architecture.md §Balancer) ----------

    def balancer_state(self) -> tuple[list[balancer.LineLoad], list[balancer.Seat]]:
        """What the balancer looks at: each line's waiting count, head wait, arrival rate and minutes per
        call, and each window's able and serving lines, pin and state."""
        now = self.clock.now()
        day = calendar.service_day(now, self.hall)
        heads = {
            r[0]: (r[1], parse_iso(r[2]))
            for r in self.store.all(
                "SELECT line, COUNT(*), MIN(queued_at) FROM tickets WHERE state = 'waiting' AND service_day = ?"
                " GROUP BY line",
                (day,),
            )
        }
        per_call = self.per_call_minutes()
        since = now - timedelta(minutes=ARRIVAL_WINDOW_MIN)
        recent = {
            r[0]: (r[1], parse_iso(r[2]))
            for r in self.store.all(
                "SELECT line, COUNT(*), MIN(issued_at) FROM tickets WHERE service_day = ? AND issued_at >= ?"
                " GROUP BY line",
                (day, utc_iso(since)),
            )
        }
        first_row = self.store.one("SELECT MIN(issued_at) FROM tickets WHERE service_day = ?", (day,))
        assert first_row is not None  # an aggregate without GROUP BY returns exactly one row
        first = first_row[0]
        # Early in the day the half hour is not full yet: divide by the time tickets have been issued.
        span = ARRIVAL_WINDOW_MIN
        if first is not None:
            span = min(span, max(ARRIVAL_MIN_SPAN_MIN, (now - parse_iso(first)).total_seconds() / 60))
        lines = []
        for line in self.config.lines:
            waiting, oldest = heads.get(line.prefix, (0, now))
            count = recent.get(line.prefix, (0, None))[0]
            lines.append(
                balancer.LineLoad(
                    line.prefix,
                    waiting,
                    max(0.0, (now - oldest).total_seconds() / 60),
                    count / span,
                    per_call[line.prefix],
                )
            )
        seats = []
        for w in self.windows():
            try:
                primary = self.config.window(w.number).primary
            except KeyError:
                primary = w.serving[0]
            seats.append(balancer.Seat(w.number, w.able, w.serving, primary, w.pinned, w.state == "open"))
        return lines, seats

    def auto_apply(self) -> bool:
        """The manager's auto-apply switch; until it is touched, the hall file's policy.balancer_auto_apply."""
        value = self.store.setting(AUTO_APPLY_KEY)
        return self.config.policy.balancer_auto_apply if value is None else value == "1"

    def set_auto_apply(self, value: bool, *, actor: str) -> None:
        with self.store.immediate() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (AUTO_APPLY_KEY, "1" if value else "0"),
            )
            self.store.add_event(
                action="balancer_auto_apply", at=self.clock.now(), actor=actor, data={"auto_apply": value}
            )

    def balance(self, *, actor: str = "balancer", auto_apply: bool | None = None) -> list[dict]:
        """Run the balancer once: apply its proposals, or hold them for the manager (the manager's
        auto-apply switch). Returns the proposals made, with what became of each."""
        auto = self.auto_apply() if auto_apply is None else auto_apply
        if self.store.one("SELECT 1 FROM windows WHERE state = 'open' AND pinned = 0 LIMIT 1") is None:
            return []  # nothing the balancer may move (before opening, lunch, night)
        lines, seats = self.balancer_state()
        made = balancer.propose(lines, seats, self.config.policy)
        now = self.clock.now()
        out = []
        with self.store.immediate() as conn:
            pending = {r["id"]: r for r in conn.execute("SELECT * FROM balancer_proposals WHERE state = 'pending'")}
            keep = set()
            held = []
            for p in made:
                same = next(
                    (
                        pid
                        for pid, r in pending.items()
                        if r["window"] == p.window
                        and json.loads(r["from_lines"]) == list(p.from_lines)
                        and json.loads(r["to_lines"]) == list(p.to_lines)
                    ),
                    None,
                )
                if same is not None and not auto:
                    keep.add(same)
                    held.append((same, p))
                    continue
                cur = conn.execute(
                    "INSERT INTO balancer_proposals (created_at, window, from_lines, to_lines, reason_zh, reason_en,"
                    " data, state) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        utc_iso(now),
                        p.window,
                        json.dumps(list(p.from_lines)),
                        json.dumps(list(p.to_lines)),
                        p.reason_zh,
                        p.reason_en,
                        json.dumps(p.data, ensure_ascii=False),
                        "pending",
                    ),
                )
                held.append((cur.lastrowid, p))
            # Advice is only good while it stands: what this run no longer proposes is superseded.
            for pid in pending:
                if pid not in keep:
                    conn.execute(
                        "UPDATE balancer_proposals SET state = 'superseded', decided_at = ? WHERE id = ?",
                        (utc_iso(now), pid),
                    )
        for pid, p in held:
            state = "pending"
            if auto:
                state = self._apply_proposal(
                    pid,
                    p.window,
                    list(p.from_lines),
                    list(p.to_lines),
                    p.reason_zh,
                    p.reason_en,
                    actor=actor,
                    by_balancer=True,
                    final="applied",
                )
            out.append(
                {
                    "id": pid,
                    "window": p.window,
                    "from": list(p.from_lines),
                    "to": list(p.to_lines),
                    "reason_zh": p.reason_zh,
                    "reason_en": p.reason_en,
                    "state": state,
                }
            )
        return out

    def _apply_proposal(
        self,
        pid: int,
        number: int,
        from_lines: list[str],
        to_lines: list[str],
        reason_zh: str,
        reason_en: str,
        *,
        actor: str,
        by_balancer: bool,
        final: str,
    ) -> str:
        now = self.clock.now()
        window = self.window(number)
        state = final
        if list(window.serving) != from_lines or window.pinned:
            state = "stale"  # the manager changed or pinned the window since
        else:
            try:
                self.set_serving(
                    number,
                    to_lines,
                    actor=actor,
                    reason=reason_en,
                    by_balancer=by_balancer,
                    detail={"reason_zh": reason_zh, "proposal": pid},
                )
            except errors.QueueError:
                state = "stale"
        with self.store.immediate() as conn:
            conn.execute(
                "UPDATE balancer_proposals SET state = ?, decided_at = ?, decided_by = ? WHERE id = ?",
                (state, utc_iso(now), actor, pid),
            )
        return state

    def proposals(self, state: str | None = "pending") -> list[dict]:
        """Balancer proposals, newest first; ``state=None`` for all of them (the manager console)."""
        sql = "SELECT * FROM balancer_proposals"
        rows = (
            self.store.all(sql + " WHERE state = ? ORDER BY id DESC", (state,))
            if state
            else self.store.all(sql + " ORDER BY id DESC")
        )
        return [
            {
                "id": r["id"],
                "created_at": r["created_at"],
                "window": r["window"],
                "from": json.loads(r["from_lines"]),
                "to": json.loads(r["to_lines"]),
                "reason_zh": r["reason_zh"],
                "reason_en": r["reason_en"],
                "data": json.loads(r["data"]),
                "state": r["state"],
                "decided_at": r["decided_at"],
                "decided_by": r["decided_by"],
            }
            for r in rows
        ]

    def _pending_proposal(self, proposal_id: int):
        row = self.store.one("SELECT * FROM balancer_proposals WHERE id = ?", (proposal_id,))
        if row is None:
            raise errors.NotFound("err_no_proposal", {"proposal_id": proposal_id})
        if row["state"] != "pending":
            raise errors.IllegalTransition(
                "err_proposal_decided",
                {"proposal_id": proposal_id, "state": Msg(f"proposal_state_{row['state']}")},
                state=row["state"],
            )
        return row

    def accept_proposal(self, proposal_id: int, actor: str) -> dict:
        """The manager accepts a held proposal: applied as the manager's change, if it still fits."""
        row = self._pending_proposal(proposal_id)
        state = self._apply_proposal(
            proposal_id,
            row["window"],
            json.loads(row["from_lines"]),
            json.loads(row["to_lines"]),
            row["reason_zh"],
            row["reason_en"],
            actor=actor,
            by_balancer=False,
            final="accepted",
        )
        if state == "stale":
            raise errors.IllegalTransition(
                "err_proposal_stale",
                {"window": row["window"]},
                state="stale",
            )
        return next(p for p in self.proposals(None) if p["id"] == proposal_id)

    def reject_proposal(self, proposal_id: int, actor: str) -> dict:
        self._pending_proposal(proposal_id)
        with self.store.immediate() as conn:
            conn.execute(
                "UPDATE balancer_proposals SET state = 'rejected', decided_at = ?, decided_by = ?"
                " WHERE id = ? AND state = 'pending'",
                (utc_iso(self.clock.now()), actor, proposal_id),
            )
        return next(p for p in self.proposals(None) if p["id"] == proposal_id)

    # ---------- tickets ----------

    def call_next(self, number: int, *, clerk: str | None = None) -> Ticket:
        now = self.clock.now()
        day = calendar.service_day(now, self.hall)
        with self.store.immediate() as conn:
            window = self._window_row(conn, number)
            if window.state == "paused":
                # Say why nothing is called: the clerk pressed call during their own break.
                pause = self.on_break(number)
                assert pause is not None
                raise errors.WindowNotOpen(
                    "err_window_on_break",
                    {
                        "number": number,
                        "reason_name": Msg(f"break_reason_{pause.reason or 'none'}"),
                        "since": f"{calendar.local(pause.since, self.hall):%H:%M}",
                    },
                    state=window.state,
                    reason=pause.reason,
                )
            if window.state != "open":
                raise errors.WindowNotOpen(
                    "err_window_not_open",
                    {"number": number, "state": window.state, "state_name": Msg(f"window_state_{window.state}")},
                    state=window.state,
                )
            busy = conn.execute(
                "SELECT number FROM tickets WHERE window = ? AND state IN ('called','serving')", (number,)
            ).fetchone()
            if busy:
                raise errors.WindowBusy(
                    "err_window_busy",
                    {"ticket": busy["number"]},
                    ticket=busy["number"],
                )
            # Its own lines, and the lines it may take when those are empty (the policy chooses).
            lines = policy.reach(window.view(), self.config.policy)
            marks = ",".join("?" * len(lines))
            rows = conn.execute(
                f"SELECT id, line, queued_at, green, appointment_at, transferred FROM tickets"
                f" WHERE state = 'waiting' AND service_day = ? AND line IN ({marks})",
                (day, *lines),
            ).fetchall()
            waiting = [
                policy.WaitingTicket(
                    r[0], r[1], _instant(r[2]), bool(r[3]), _instant(r[4]) if r[4] else None, bool(r[5])
                )
                for r in rows
            ]
            choice = self.chooser(window.view(), waiting, now, self.config.policy)
            if choice is None:
                raise errors.NothingWaiting("err_nothing_waiting")
            conn.execute(
                "UPDATE tickets SET state = 'called', window = ?, clerk = ?, called_at = ?, recalls = 0 WHERE id = ?",
                (number, clerk, utc_iso(now), choice.id),
            )
            self.store.add_event(
                action="call",
                at=now,
                ticket_id=choice.id,
                window=number,
                from_state="waiting",
                to_state="called",
                actor=clerk,
                data={"line": choice.line},
            )
        return self.ticket(choice.id)

    def act(
        self,
        ticket_id: int,
        action: str,
        *,
        window: int | None = None,
        actor: str | None = None,
        to_line: str | None = None,
        reason: str | None = None,
        reason_key: str | None = None,
        note: str | None = None,
        to_window: int | None = None,
        confirmed: bool = True,
    ) -> Ticket:
        """Apply one lifecycle action by ``actor``. ``window`` set means "as the clerk at this window":
        the ticket must be that window's, and cancel, transfer and late return stay within the lines the
        window is able to serve. ``window=None`` is a manager (or the system), limited by neither.

        A transfer may also record why by key (``reason_key``, one of TRANSFER_REASONS), the clerk's
        ``note`` and the window it was sent to (``to_window``), so the citizen is told in their language.

        ``confirmed=False`` is a person's first press of no-show: refused (``no_show_unconfirmed``)
        while ``no_show_needs_confirm`` says the citizen may still be on the way."""
        if action not in TRANSITIONS or action == "call":
            raise errors.IllegalTransition("err_unknown_action", {"action": action})
        allowed, target = TRANSITIONS[action]
        now = self.clock.now()
        with self.store.immediate() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise errors.UnknownTicket("err_no_ticket_id", {"ticket_id": ticket_id})
            ticket = Ticket.from_row(row)
            # Before the state: a clerk learns nothing about tickets of lines beyond their window.
            if window is not None and action in LINE_BOUND_ACTIONS:
                self._check_window_lines(conn, window, ticket, to_line if action == "transfer" else None)
            if ticket.state not in allowed:
                raise errors.IllegalTransition(
                    "err_ticket_cannot",
                    {
                        "number": ticket.number,
                        "state": ticket.state,
                        "state_name": Msg(f"q_state_{ticket.state}"),
                        "action": action.replace("_", " "),
                        "action_name": Msg(f"q_action_{action}"),
                    },
                    state=ticket.state,
                )
            # A no-show who comes back goes to whichever window is free, so any clerk may put them back in line.
            if window is not None and ticket.window not in (None, window) and action != "late_return":
                raise errors.WrongWindow("err_ticket_other_window", {"number": ticket.number, "window": ticket.window})
            if window is not None and ticket.window is None and action not in ("transfer", "cancel"):
                raise errors.WrongWindow("err_ticket_not_here", {"number": ticket.number})
            if action == "no_show" and not confirmed and self.no_show_needs_confirm(ticket, now):
                called_s = int((now - ticket.called_at).total_seconds()) if ticket.called_at else 0
                raise errors.NoShowUnconfirmed(
                    "err_no_show_confirm",
                    {
                        "number": ticket.number,
                        "ago": Msg("ago_seconds", {"n": called_s})
                        if called_s < NO_SHOW_CONFIRM_S
                        else Msg("ago_minutes", {"n": called_s // 60}),
                        "recalls": ticket.recalls,
                        "max": self.hall.max_recalls,
                    },
                    called_s=called_s,
                    recalls=ticket.recalls,
                    max_recalls=self.hall.max_recalls,
                )
            updates, data = self._apply(conn, ticket, action, now, to_line=to_line, reason=reason)
            if action in UNDOABLE:
                data["before"] = {column: row[column] for column in UNDO_COLUMNS}
                if window is not None:
                    data["by_window"] = window  # a waiting ticket's transfer names no window of its own
            if action == "transfer":
                extra = {"reason_key": reason_key if reason_key in TRANSFER_REASONS else None, "note": note}
                data.update({k: v for k, v in {**extra, "to_window": to_window}.items() if v})
            updates["state"] = target
            sets = ", ".join(f"{k} = ?" for k in updates)
            conn.execute(f"UPDATE tickets SET {sets} WHERE id = ?", (*updates.values(), ticket_id))
            self.store.add_event(
                action=action,
                at=now,
                ticket_id=ticket_id,
                window=ticket.window,
                from_state=ticket.state,
                to_state=target,
                actor=actor,
                data=data,
            )
        return self.ticket(ticket_id)

    def no_show_needs_confirm(self, ticket: Ticket, now: datetime) -> bool:
        """A no-show needs a second press while the citizen was called less than NO_SHOW_CONFIRM_S ago
        or has been recalled fewer than hall.max_recalls times: a slow walker may be on the way."""
        if ticket.state != "called":
            return False
        recent = ticket.called_at is not None and (now - ticket.called_at).total_seconds() < NO_SHOW_CONFIRM_S
        return recent or ticket.recalls < self.hall.max_recalls

    def last_undoable(self, window: int, actor: str | None) -> Undoable | None:
        """The no-show, finish or transfer ``actor`` did at ``window`` that may still be undone: the
        last such event of theirs, if it is still its ticket's last event and younger than UNDO_S."""
        now = self.clock.now()
        marks = ",".join("?" * len(UNDOABLE))
        row = self.store.one(
            f"SELECT e.id, e.ticket_id, e.action, e.at, t.number FROM events e JOIN tickets t ON t.id = e.ticket_id"
            f" WHERE e.actor IS ? AND e.action IN ({marks}) AND e.at >= ?"
            f" AND (e.window = ? OR json_extract(e.data, '$.by_window') = ?)"
            f" ORDER BY e.id DESC LIMIT 1",
            (actor, *UNDOABLE, utc_iso(now - timedelta(seconds=UNDO_S)), window, window),
        )
        if row is None:
            return None
        last = self.store.one("SELECT MAX(id) FROM events WHERE ticket_id = ?", (row["ticket_id"],))
        if last is None or last[0] != row["id"]:
            return None
        until = parse_iso(row["at"]) + timedelta(seconds=UNDO_S)
        return Undoable(row["ticket_id"], row["number"], row["action"], until)

    def undo(self, ticket_id: int, *, window: int | None = None, actor: str | None = None) -> Ticket:
        """Take back a no-show, finish or transfer within UNDO_S: the ticket gets its state, line,
        window, times and recalls from before it (so its place in line too: queued_at never changed),
        and an ``undo`` event records it. Refused after UNDO_S (``undo_expired``), when anything else
        happened to the ticket since or the action was someone else's (``undo_stale``), and when its
        window has moved on (a ticket called there, the window no longer open)."""
        now = self.clock.now()
        with self.store.immediate() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            if row is None:
                raise errors.UnknownTicket("err_no_ticket_id", {"ticket_id": ticket_id})
            ticket = Ticket.from_row(row)
            last = conn.execute(
                "SELECT * FROM events WHERE ticket_id = ? ORDER BY id DESC LIMIT 1", (ticket_id,)
            ).fetchone()
            data = json.loads(last["data"]) if last else {}
            names: dict[str, object] = {"number": ticket.number}
            if last is None or last["action"] not in UNDOABLE or "before" not in data:
                raise errors.UndoStale("err_undo_stale", names)
            # A clerk takes back only their own action; a manager (window None) anyone's.
            if window is not None and (last["actor"] != actor or window not in (last["window"], data.get("by_window"))):
                raise errors.UndoStale("err_undo_stale", names)
            names["action_name"] = Msg(f"q_action_{last['action']}")
            if (now - parse_iso(last["at"])).total_seconds() > UNDO_S:
                raise errors.UndoExpired("err_undo_expired", {**names, "seconds": UNDO_S}, seconds=UNDO_S)
            before = data["before"]
            if before["state"] in ACTIVE_AT_WINDOW:
                self._check_window_free(conn, before["window"], ticket_id)
            if last["action"] == "finish":
                case = conn.execute(
                    "SELECT 1 FROM cases WHERE ticket_id = ? AND opened_at >= ?", (ticket_id, last["at"])
                ).fetchone()
                if case:
                    raise errors.UndoStale("err_undo_stale", names)
            sets = ", ".join(f"{column} = ?" for column in UNDO_COLUMNS)
            conn.execute(f"UPDATE tickets SET {sets} WHERE id = ?", (*(before[c] for c in UNDO_COLUMNS), ticket_id))
            self.store.add_event(
                action="undo",
                at=now,
                ticket_id=ticket_id,
                window=before["window"],
                from_state=ticket.state,
                to_state=before["state"],
                actor=actor,
                data={
                    "undone": last["action"],
                    "undone_event": last["id"],
                    "line": before["line"],
                    "window": before["window"],
                    "recalls": before["recalls"],
                },
            )
        return self.ticket(ticket_id)

    def _check_window_free(self, conn, number: int, ticket_id: int) -> None:
        """A ticket put back to called or serving needs its window open and free of anyone else."""
        state = conn.execute("SELECT state FROM windows WHERE number = ?", (number,)).fetchone()["state"]
        if state != "open":
            raise errors.WindowNotOpen(
                "err_window_not_open",
                {"number": number, "state": state, "state_name": Msg(f"window_state_{state}")},
                state=state,
            )
        busy = conn.execute(
            "SELECT number FROM tickets WHERE window = ? AND state IN ('called','serving') AND id != ?",
            (number, ticket_id),
        ).fetchone()
        if busy:
            raise errors.WindowBusy("err_undo_window_busy", {"ticket": busy["number"]}, ticket=busy["number"])

    def suspend_reasons(self, ticket_ids: Iterable[int]) -> dict[int, str]:
        """Each suspended ticket's reason: what its last suspend event recorded (a SUSPEND_REASONS
        code from the console, or the API's own words)."""
        ids = list(ticket_ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.store.all(
            f"SELECT ticket_id, data FROM events WHERE action = 'suspend' AND ticket_id IN ({marks}) ORDER BY id",
            ids,
        )
        return {r["ticket_id"]: json.loads(r["data"]).get("reason") or "" for r in rows}

    def _check_window_lines(self, conn, window: int, ticket: Ticket, to_line: str | None) -> None:
        """A clerk cancels, transfers and puts back in line only tickets of the lines their window is
        able to serve (docs/architecture.md §Ticket lifecycle). A transfer goes into one of those
        lines too, except for the citizen standing at the clerk's own window (called or serving
        there): sending them on to another department's line is what a transfer is for."""
        able = self._window_row(conn, window).able
        names = {"window": window, "lines_zh": "、".join(able), "lines_en": ", ".join(able)}
        if ticket.line not in able:
            raise errors.WrongLine(
                "err_wrong_line", {"number": ticket.number, "line": ticket.line, **names}, line=ticket.line
            )
        known = to_line is not None and any(line.prefix == to_line for line in self.config.lines)
        if known and to_line not in able and ticket.window != window:
            raise errors.WrongLine("err_wrong_line_to", {"line": to_line, **names}, line=to_line, field="to_line")

    def _apply(
        self, conn, ticket: Ticket, action: str, now: datetime, *, to_line: str | None, reason: str | None
    ) -> tuple[dict, dict]:
        """What each action changes besides the state, and what its event records."""
        data: dict[str, Any] = {"reason": reason} if reason else {}
        if action == "recall":
            if ticket.recalls >= self.hall.max_recalls:
                raise errors.RecallLimit(
                    "err_recall_limit",
                    {"number": ticket.number, "recalls": ticket.recalls, "max": self.hall.max_recalls},
                    recalls=ticket.recalls,
                    max_recalls=self.hall.max_recalls,
                )
            return {"recalls": ticket.recalls + 1}, {**data, "recalls": ticket.recalls + 1}
        if action == "start":
            return {"started_at": utc_iso(now)}, data
        if action == "finish":
            self._record_service_time(conn, ticket, now)
            self._record_call_time(conn, ticket, now)
            return {"finished_at": utc_iso(now)}, data
        if action == "no_show":
            self._record_call_time(conn, ticket, now)
            return {}, data
        if action == "resume":
            state = conn.execute("SELECT state FROM windows WHERE number = ?", (ticket.window,)).fetchone()["state"]
            if state != "open":
                raise errors.WindowNotOpen(
                    "err_window_not_open",
                    {"number": ticket.window, "state": state, "state_name": Msg(f"window_state_{state}")},
                    state=state,
                )
            busy = conn.execute(
                "SELECT number FROM tickets WHERE window = ? AND state IN ('called','serving')", (ticket.window,)
            ).fetchone()
            if busy:
                raise errors.WindowBusy(
                    "err_window_serving",
                    {"ticket": busy["number"]},
                    ticket=busy["number"],
                )
            return {}, data
        if action == "transfer":
            if to_line is None:
                raise errors.UnknownLine("err_choose_transfer_line", field="to_line")
            try:
                self.config.line(to_line)
            except KeyError:
                raise errors.UnknownLine("err_no_line", {"line": to_line}, field="to_line") from None
            # Not a transfer, and it would give the ticket a transfer credit for nothing.
            if to_line == ticket.line:
                raise errors.IllegalTransition("err_already_in_line", {"number": ticket.number, "line": to_line})
            # It keeps its original issue time (docs/architecture.md §Ticket lifecycle): queued_at is not touched.
            return (
                {
                    "line": to_line,
                    "transferred": 1,
                    "window": None,
                    "clerk": None,
                    "called_at": None,
                    "started_at": None,
                    "recalls": 0,
                },
                {**data, "from_line": ticket.line, "to_line": to_line},
            )
        if action == "late_return":
            if ticket.service_day != calendar.service_day(now, self.hall):
                raise errors.IllegalTransition("err_not_today", {"number": ticket.number})
            queued_at = self._late_return_slot(conn, ticket, now)
            return (
                {"queued_at": utc_iso(queued_at), "window": None, "clerk": None, "called_at": None, "recalls": 0},
                {**data, "queued_at": utc_iso(queued_at)},
            )
        if action in ("cancel", "expire"):
            return {"window": None} if action == "cancel" else {}, data
        return {}, data

    def _late_return_slot(self, conn, ticket: Ticket, now: datetime) -> datetime:
        """Back into its line a few places behind where its original slot is now (过号重排).

        Places are counted in the order the policy calls the line, credits included (a green ticket's
        slot is near the head), and the new queued_at gives the ticket a priority between the two
        tickets it now stands between. Priorities all grow at the same rate, so the place holds.
        Tickets queued in the very same instant cannot be told apart except by id: the ticket then
        goes behind that whole group.
        """
        rows = conn.execute(
            "SELECT * FROM tickets WHERE state = 'waiting' AND line = ? AND service_day = ?",
            (ticket.line, ticket.service_day),
        ).fetchall()
        cfg = self.config.policy
        me = ticket.as_waiting()
        others = policy.ordered([Ticket.from_row(r).as_waiting() for r in rows], now, cfg)
        prio = [policy.priority(t, None, now, cfg) for t in others]
        my_key = policy.order_key(me, None, now, cfg)
        slot = sum(1 for t in others if policy.order_key(t, None, now, cfg) < my_key)
        place = slot + self.hall.late_return_behind
        if place == slot:
            return ticket.queued_at
        if not others:
            return now
        credit = policy.credit_minutes(me, None, now, cfg)
        ahead = prio[place - 1] if place <= len(others) else prio[-1]
        behind = next((p for p in prio[place:] if p < ahead), None)
        if behind is None:
            # Last in line: now, unless its credits would lift it over the last one from there.
            if credit < prio[-1]:
                return now
            target = prio[-1] - 1 / 60
        else:
            target = (ahead + behind) / 2
        return now - timedelta(minutes=target - credit)

    def _record_service_time(self, conn, ticket: Ticket, now: datetime) -> None:
        if ticket.started_at is not None:
            self._smooth_line_minutes(conn, ticket.line, "service", (now - ticket.started_at).total_seconds() / 60)

    def _record_call_time(self, conn, ticket: Ticket, now: datetime) -> None:
        """The window's minutes from the call to being free again (walk-up and service, or the recalls
        before a no-show): what each call costs a window, for the wait forecast."""
        if ticket.called_at is not None:
            self._smooth_line_minutes(conn, ticket.line, "cycle", (now - ticket.called_at).total_seconds() / 60)

    @staticmethod
    def _smooth_line_minutes(conn, line: str, measure: str, minutes: float) -> None:
        """Fold one sample into the line's smoothed ``<measure>_min`` (persisted: it survives restarts)."""
        mean, count = f"{measure}_min", f"{measure}_n"
        row = conn.execute(f"SELECT {mean}, {count} FROM lines WHERE prefix = ?", (line,)).fetchone()
        previous, n = (row[mean], row[count]) if row else (None, 0)
        conn.execute(
            f"INSERT INTO lines (prefix, {mean}, {count}) VALUES (?, ?, ?) ON CONFLICT(prefix) DO"
            f" UPDATE SET {mean} = excluded.{mean}, {count} = excluded.{count}",
            (line, smooth(previous, n, minutes), n + 1),
        )

    # ---------- the day ----------

    def roll_over(self) -> dict:
        """Close the books on past service days; safe to run any number of times (docs/architecture.md §Processes)."""
        now = self.clock.now()
        today = calendar.service_day(now, self.hall)
        with self.store.immediate() as conn:
            done = conn.execute("SELECT result FROM job_runs WHERE job = 'rollover' AND day = ?", (today,)).fetchone()
            if done:
                return json.loads(done["result"])
            stale = conn.execute(
                "SELECT * FROM tickets WHERE service_day < ? AND state IN ('waiting','called','serving','suspended')",
                (today,),
            ).fetchall()
            for row in stale:
                conn.execute("UPDATE tickets SET state = 'expired' WHERE id = ?", (row["id"],))
                self.store.add_event(
                    action="expire",
                    at=now,
                    ticket_id=row["id"],
                    window=row["window"],
                    from_state=row["state"],
                    to_state="expired",
                    actor="system",
                )
            # Only windows left over from an earlier day: if the devices process starts mid-morning
            # (after a power cut), the clerks already at work today keep their windows.
            day_began = utc_iso(datetime.combine(calendar.day_start(today), time(0), tzinfo=self.hall.tz))
            for window in self.config.windows:
                conn.execute(
                    "UPDATE windows SET serving = ? WHERE number = ? AND pinned = 0"
                    " AND (updated_at IS NULL OR updated_at < ?)",
                    (json.dumps(window.serving), window.number, day_began),
                )
            windows = conn.execute(
                "SELECT * FROM windows WHERE state != 'closed' AND (updated_at IS NULL OR updated_at < ?)", (day_began,)
            ).fetchall()
            for row in windows:
                conn.execute(
                    "UPDATE windows SET state = 'closed', clerk = NULL, updated_at = ? WHERE number = ?",
                    (utc_iso(now), row["number"]),
                )
                self.store.add_event(
                    action="window_close",
                    at=now,
                    window=row["number"],
                    from_state=row["state"],
                    to_state="closed",
                    actor="system",
                    data={"reason": "rollover"},
                )
            # A request key only matters while its kiosk may still retry: yesterday's are done with.
            forgotten = conn.execute(
                "DELETE FROM take_requests WHERE created_at < ?", (utc_iso(now - timedelta(days=1)),)
            ).rowcount
            result = {"expired": len(stale), "closed_windows": len(windows), "request_keys_forgotten": forgotten}
            conn.execute(
                "INSERT INTO job_runs (job, day, ran_at, result) VALUES ('rollover', ?, ?, ?)",
                (today, utc_iso(now), json.dumps(result)),
            )
        return result


def replay(events: list[dict]) -> dict[str, Any]:
    """Rebuild a ticket's state from its events alone: nothing is ever deleted
    (docs/architecture.md §Ticket lifecycle)."""
    state: dict[str, Any] = {"state": None, "line": None, "window": None, "recalls": 0}
    for event in events:
        if event["from_state"] != state["state"] and event["action"] != "issue":
            raise ValueError(f"event {event['id']} starts from {event['from_state']}, ticket was {state['state']}")
        data = event["data"]
        action = event["action"]
        if action == "issue":
            state["line"] = data["line"]
        elif action == "call":
            state["window"] = event["window"]
            state["recalls"] = 0
        elif action == "recall":
            state["recalls"] = data["recalls"]
        elif action == "transfer":
            state.update(line=data["to_line"], window=None, recalls=0)
        elif action in ("late_return", "cancel"):
            state.update(window=None, recalls=0)
        elif action == "undo":
            state.update(line=data["line"], window=data["window"], recalls=data["recalls"])
        state["state"] = event["to_state"]
    return state
