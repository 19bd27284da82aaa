"""Random days in the hall against an independent model.

Hypothesis drives kiosks, clerks, the manager and the clock in any order. The model below knows the
rules (docs/architecture.md §Ticket lifecycle, §Numbering) and the small hall's config, not the
service's code: what state each ticket must be in, which number the next ticket gets, and which
refusals an action may get. After every step the database must agree with the model, and each
ticket's events must replay to its row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.conftest import SHANGHAI, small_hall_doc
from tongban.config import PolicyConfig, parse_hall_config
from tongban.queue import errors
from tongban.queue.clock import FakeClock
from tongban.queue.service import UNDO_S, UNDOABLE, HallService, replay
from tongban.queue.store import Store, parse_iso

# ----- what the model knows about the hall (the small hall, plus a third window able to serve B only)

LINES = ("A", "B")
QUOTA = {"A": 50, "B": 5}
LAST_ISSUE = {"A": time(16, 30)}
MATTER_LINE = {"M1": "A", "M2": "A", "M3": "B"}
OPEN_PERIODS = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))  # Monday to Friday
MAX_RECALLS = 2
# the small hall has no [policy] table: the shipped defaults
CREDIT_GREEN, CREDIT_TRANSFER, CREDIT_PRIMARY = (
    PolicyConfig().green_credit_min,
    PolicyConfig().transfer_credit_min,
    PolicyConfig().primary_line_credit_min,
)
WINDOWS = {1: (("A", "B"), ("A",)), 2: (("A", "B"), ("B", "A")), 3: (("B",), ("B",))}  # able, serving

# action: states it is allowed from (docs/architecture.md §Ticket lifecycle)
ALLOWED = {
    "recall": {"called"},
    "start": {"called"},
    "finish": {"serving"},
    "no_show": {"called"},
    "suspend": {"serving"},
    "resume": {"suspended"},
    "transfer": {"waiting", "called", "serving"},
    "cancel": {"waiting"},
    "late_return": {"no_show"},
}
OPEN_STATES = {"waiting", "called", "serving", "suspended"}
# what a clerk's console offers for a ticket at the window, by state (the test draws from these mostly)
CONSOLE = {
    "called": ["start", "start", "recall", "recall", "no_show", "transfer"],
    "serving": ["finish", "finish", "suspend", "transfer"],
    "suspended": ["resume"],
    "no_show": ["late_return"],
}
WINDOW_ALLOWED = {"open": {"closed"}, "pause": {"open"}, "resume": {"paused"}, "close": {"open", "paused"}}


def hall_doc() -> dict:
    doc = small_hall_doc()
    doc["windows"].append(
        {"number": 3, "name": "3号窗口", "location": "一楼", "phone": "0571-3", "able": ["B"], "serving": ["B"]}
    )
    return doc


@dataclass
class T:
    id: int
    number: str
    prefix: str
    day: str
    state: str
    line: str
    window: int | None = None
    recalls: int = 0
    green: bool = False
    transferred: bool = False
    # The last undoable action while it is the ticket's last event: (when, (state, line, window,
    # recalls, transferred) before it, the ticket's window then, the acting clerk's window).
    undo: tuple | None = None


@dataclass
class W:
    state: str
    serving: tuple[str, ...]
    able: tuple[str, ...]
    pinned: bool = False
    touched: str | None = None  # the service day the window was last opened, closed or re-lined


class HallMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.store = Store(":memory:")
        self.clock = FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))  # Thursday
        self.svc = HallService(self.store, parse_hall_config(hall_doc(), "machine"), self.clock)
        self.svc.sync_with_config()
        self.tickets: dict[int, T] = {}
        self.next_seq: dict[tuple[str, str], int] = {}
        self.windows = {n: W("closed", serving, able, touched=self.today()) for n, (able, serving) in WINDOWS.items()}
        self.rolled: set[str] = set()

    @initialize(
        start=st.sampled_from(
            [time(9, 0), time(9, 0), time(8, 25), time(11, 50), time(13, 55), time(16, 20), time(17, 20)]
        ),
        opened=st.sets(st.sampled_from([1, 2, 3]), min_size=1),
        morning=st.lists(st.tuples(st.sampled_from(["A", "B"]), st.booleans()), max_size=8),
    )
    def morning(self, start, opened, morning):
        """The day starts at some hour (Thursday); some windows open and a few citizens take tickets."""
        self.clock.set(datetime.combine(self.local().date(), start, SHANGHAI))
        for number in sorted(opened):
            self.window_action(number, "open")
        for line, green in morning:
            self._issue(line, None, green)

    def teardown(self):
        self.store.close()

    # ----- the model's view of time

    def local(self) -> datetime:
        return self.clock.now().astimezone(SHANGHAI)

    def today(self) -> str:
        return self.local().date().isoformat()

    def hall_open(self) -> bool:
        moment = self.local()
        return moment.weekday() < 5 and any(a <= moment.time() < b for a, b in OPEN_PERIODS)

    def active_at(self, window: int) -> list[T]:
        return [t for t in self.tickets.values() if t.window == window and t.state in ("called", "serving")]

    # ----- checking one attempted action

    def attempt(self, expected: set[type], do, what: str = ""):
        """Run an action; it must succeed iff the model expects no refusal, else raise one it expects.

        A refusal must leave the database exactly as it was."""
        before = self.snapshot()
        try:
            result = do()
        except errors.QueueError as exc:
            event(f"{what}: {type(exc).__name__}")
            assert expected, f"refused with {type(exc).__name__} ({exc}) but the model allows it"
            assert isinstance(exc, tuple(expected)), (
                f"refused with {type(exc).__name__}, expected one of {sorted(e.__name__ for e in expected)}"
            )
            assert self.snapshot() == before, "a refused action changed the database"
            return None
        assert not expected, f"accepted, but the model expected {sorted(e.__name__ for e in expected)}"
        event(f"{what}: ok")
        return result

    def snapshot(self):
        return (
            self.store.all("SELECT * FROM tickets ORDER BY id"),
            self.store.all("SELECT * FROM windows"),
            self.store.one("SELECT COUNT(*) FROM events")[0],
        )

    # ----- rules: the clock

    @rule(minutes=st.one_of(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5), st.integers(6, 240)))
    def advance(self, minutes):
        self.clock.advance(minutes=minutes)

    @rule(minutes=st.integers(0, 150))
    def next_morning(self, minutes):
        tomorrow = self.local().date() + timedelta(days=1)
        self.clock.set(datetime.combine(tomorrow, time(7, 30), SHANGHAI) + timedelta(minutes=minutes))

    # ----- rules: kiosks

    @rule(line=st.sampled_from(["A", "A", "B", "Z"]), green=st.booleans())
    def issue_line(self, line, green):
        self._issue(line, None, green)

    @rule(matter=st.sampled_from(sorted(MATTER_LINE)))
    def issue_matter(self, matter):
        self._issue(None, matter, False)

    def _issue(self, line, matter, green):
        prefix = MATTER_LINE[matter] if matter else line
        expected: set[type] = set()
        if prefix not in LINES:
            expected.add(errors.UnknownLine)
        else:
            key = (prefix, self.today())
            if not self.hall_open():
                expected.add(errors.HallClosed)
            if prefix in LAST_ISSUE and self.local().time() >= LAST_ISSUE[prefix]:
                expected.add(errors.LineClosed)
            if self.next_seq.get(key, 1) > QUOTA[prefix]:
                expected.add(errors.QuotaReached)
        issued = self.attempt(expected, lambda: self.svc.take_ticket(line=line, matter=matter, green=green), "issue")
        if issued is None:
            return
        seq = self.next_seq.get(key, 1)
        self.next_seq[key] = seq + 1
        t = issued.ticket
        assert (t.number, t.state, t.line, t.service_day) == (f"{prefix}{seq:03d}", "waiting", prefix, self.today())
        assert t.id not in self.tickets
        self.tickets[t.id] = T(t.id, t.number, prefix, self.today(), "waiting", prefix, green=green)

    # ----- rules: windows

    @rule(
        number=st.sampled_from([1, 2, 3]),
        action=st.sampled_from(["open", "open", "open", "pause", "resume", "resume", "close"]),
    )
    def window_action(self, number, action):
        w = self.windows[number]
        expected: set[type] = set()
        if w.state not in WINDOW_ALLOWED[action]:
            expected.add(errors.IllegalTransition)
        if action in ("pause", "close") and self.active_at(number):
            expected.add(errors.WindowBusy)
        if (
            self.attempt(
                expected, lambda: self.svc.window_action(number, action, clerk=f"c{number}"), f"window {action}"
            )
            is None
        ):
            return
        w.state = {"open": "open", "pause": "paused", "resume": "open", "close": "closed"}[action]
        w.touched = self.today()

    @rule(
        number=st.sampled_from([1, 2, 3]),
        lines=st.sampled_from([["A"], ["B"], ["A", "B"], ["B", "A"], ["A"], ["B", "A"], [], ["A", "A"]]),
    )
    def set_serving(self, number, lines):
        w = self.windows[number]
        expected: set[type] = set()
        if not lines or len(set(lines)) != len(lines) or not set(lines) <= set(w.able):
            expected.add(errors.LineNotAble)
        if self.attempt(expected, lambda: self.svc.set_serving(number, lines), "serving") is not None:
            w.serving = tuple(lines)
            w.touched = self.today()

    @rule(number=st.sampled_from([1, 2, 3]), pinned=st.booleans())
    def pin(self, number, pinned):
        self.svc.set_pinned(number, pinned)
        self.windows[number].pinned = pinned

    @rule(number=st.sampled_from([1, 2, 3]))
    def call_next(self, number):
        self._call_next(number)

    @rule(number=st.sampled_from([1, 2, 3]))
    def call_next_again(self, number):
        self._call_next(number)

    @rule(number=st.sampled_from([1, 2, 3]))
    def call_next_once_more(self, number):
        self._call_next(number)

    def _call_next(self, number):
        w = self.windows[number]
        today, now = self.today(), self.clock.now()
        waiting = [t for t in self.tickets.values() if t.state == "waiting" and t.day == today]
        # Its own lines first; when they are empty, the lines it is able to serve, unless pinned
        # (docs/architecture.md §Dispatch).
        eligible = [t for t in waiting if t.line in w.serving]
        if not eligible and not w.pinned:
            eligible = [t for t in waiting if t.line in w.able]
        expected: set[type] = set()
        if w.state != "open":
            expected.add(errors.WindowNotOpen)
        if self.active_at(number):
            expected.add(errors.WindowBusy)
        if not eligible:
            expected.add(errors.NothingWaiting)
        queued = {
            t.id: parse_iso(self.store.one("SELECT queued_at FROM tickets WHERE id = ?", (t.id,))[0]) for t in eligible
        }
        called = self.attempt(expected, lambda: self.svc.call_next(number), "call")
        if called is None:
            return
        assert called.id in queued, f"called {called.number}, not waiting in window {number}'s lines today"

        def priority(t: T) -> float:
            return (
                (now - queued[t.id]).total_seconds() / 60
                + CREDIT_GREEN * t.green
                + CREDIT_TRANSFER * t.transferred
                + CREDIT_PRIMARY * (t.line == w.serving[0])
            )

        best = max(priority(t) for t in eligible)
        assert priority(self.tickets[called.id]) >= best - 1e-6, (
            f"called {called.number} with priority {priority(self.tickets[called.id])}, best was {best}"
        )
        t = self.tickets[called.id]
        t.state, t.window, t.recalls, t.undo = "called", number, 0, None

    # ----- rules: tickets

    @precondition(lambda self: self.tickets)
    @rule(
        data=st.data(),
        action=st.sampled_from(sorted(ALLOWED)),
        as_window=st.sampled_from([None, 1, 2, 3]),
        to_line=st.sampled_from(["A", "B"]),
    )
    def act(self, data, action, as_window, to_line):
        """Anyone does anything to any ticket: mostly refusals, which must be the right ones."""
        t = self.tickets[data.draw(st.sampled_from(sorted(self.tickets)), label="ticket")]
        self._act(t, action, as_window, to_line)

    @rule(
        number=st.sampled_from([1, 2, 3]),
        data=st.data(),
        to_line=st.sampled_from(["A", "B"]),
        as_manager=st.integers(0, 9),
    )
    def clerk(self, number, data, to_line, as_manager):
        """The clerk at a window acts on the ticket in front of them, or on one they suspended or marked
        no-show; mostly what the console offers for its state, sometimes any button."""
        self._clerk(number, data, to_line, as_manager)

    @rule(
        number=st.sampled_from([1, 2, 3]),
        data=st.data(),
        to_line=st.sampled_from(["A", "B"]),
        as_manager=st.integers(0, 9),
    )
    def clerk_again(self, number, data, to_line, as_manager):
        self._clerk(number, data, to_line, as_manager)

    @rule(
        number=st.sampled_from([1, 2, 3]),
        data=st.data(),
        to_line=st.sampled_from(["A", "B"]),
        as_manager=st.integers(0, 9),
    )
    def clerk_once_more(self, number, data, to_line, as_manager):
        self._clerk(number, data, to_line, as_manager)

    @rule(
        number=st.sampled_from([1, 2, 3]), data=st.data(), steps=st.integers(1, 6), to_line=st.sampled_from(["A", "B"])
    )
    def busy_clerk(self, number, data, steps, to_line):
        """A clerk working through the line: call the next one if the window is free, then a few buttons."""
        self._ready(number)
        for _ in range(steps):
            self._clerk(number, data, to_line, 1)

    @rule(number=st.sampled_from([1, 2, 3]), finish_first=st.booleans())
    def interrupting_clerk(self, number, finish_first):
        """Suspend the one being served (a missing document), serve the next, then take the first back."""
        self._ready(number)
        for t in [t for t in self.active_at(number) if t.state == "called"]:
            self._act(t, "start", number, "A")
        serving = [t for t in self.active_at(number) if t.state == "serving"]
        if not serving:
            return
        first = serving[0]
        self._act(first, "suspend", number, "A")
        self._call_next(number)
        if finish_first:
            for t in [t for t in self.active_at(number) if t.state == "called"]:
                self._act(t, "no_show", number, "A")
        self._act(first, "resume", number, "A")

    @rule(number=st.sampled_from([1, 2, 3]), times=st.integers(1, 4))
    def impatient_clerk(self, number, times):
        """Recalling the one who does not come, again and again (the recall limit)."""
        for t in [t for t in self.active_at(number) if t.state == "called"]:
            for _ in range(times):
                self._act(t, "recall", number, "A")

    def _ready(self, number):
        """The clerk sits down: opens (or resumes) the window and calls someone if the window is free."""
        action = {"closed": "open", "paused": "resume"}.get(self.windows[number].state)
        if action:
            self.window_action(number, action)
        if not self.active_at(number):
            self._call_next(number)

    def _clerk(self, number, data, to_line, as_manager):
        mine = sorted(
            (t for t in self.tickets.values() if t.window == number and t.state in CONSOLE),
            key=lambda t: (t.state not in ("called", "serving"), t.id),
        )
        if not mine:
            return
        t = data.draw(st.sampled_from(mine), label="ticket")
        action = data.draw(st.sampled_from(CONSOLE[t.state] + [None, None]), label="action")
        if action is None:
            action = data.draw(st.sampled_from(sorted(ALLOWED)), label="any action")
        self._act(t, action, None if as_manager == 0 else number, to_line)

    def _act(self, t: T, action: str, as_window: int | None, to_line: str) -> None:
        expected: set[type] = set()
        able = WINDOWS[as_window][0] if as_window is not None else LINES
        # A clerk cancels, transfers and puts back only tickets of their window's able lines, and
        # moves a waiting ticket only into them; refused before the state is looked at.
        if action in ("cancel", "transfer", "late_return") and (
            t.line not in able or (action == "transfer" and to_line not in able and t.window != as_window)
        ):
            expected.add(errors.WrongLine)
        elif t.state not in ALLOWED[action]:
            expected.add(errors.IllegalTransition)
        else:
            # A returning no-show may be put back in line by whichever window they reach.
            if as_window is not None and t.window not in (None, as_window) and action != "late_return":
                expected.add(errors.WrongWindow)
            if as_window is not None and t.window is None and action not in ("transfer", "cancel"):
                expected.add(errors.WrongWindow)
            if action == "recall" and t.recalls >= MAX_RECALLS:
                expected.add(errors.RecallLimit)
            if action == "resume" and [o for o in self.active_at(t.window) if o.id != t.id]:
                expected.add(errors.WindowBusy)
            if action == "resume" and self.windows[t.window].state != "open":
                expected.add(errors.WindowNotOpen)
            if action == "transfer" and to_line == t.line:
                expected.add(errors.IllegalTransition)
            if action == "late_return" and t.day != self.today():
                expected.add(errors.IllegalTransition)
        before = self.store.one("SELECT * FROM tickets WHERE id = ?", (t.id,))
        row = self.attempt(expected, lambda: self.svc.act(t.id, action, window=as_window, to_line=to_line), action)
        if row is None:
            assert tuple(self.store.one("SELECT * FROM tickets WHERE id = ?", (t.id,))) == tuple(before)
            return
        was = (t.state, t.line, t.window, t.recalls, t.transferred)
        t.undo = (self.clock.now(), was, t.window, as_window) if action in UNDOABLE else None
        if action == "recall":
            t.recalls += 1
        elif action == "start":
            t.state = "serving"
        elif action == "finish":
            t.state = "done"
        elif action == "no_show":
            t.state = "no_show"
        elif action == "suspend":
            t.state = "suspended"
        elif action == "resume":
            t.state = "serving"
        elif action == "transfer":
            t.state, t.line, t.window, t.recalls, t.transferred = "waiting", to_line, None, 0, True
            assert row.issued_at == parse_iso(before["issued_at"]) and row.queued_at == parse_iso(before["queued_at"])
        elif action == "cancel":
            t.state, t.window = "cancelled", None
        elif action == "late_return":
            t.state, t.window, t.recalls = "waiting", None, 0

    @precondition(lambda self: self.tickets)
    @rule(data=st.data(), as_window=st.sampled_from([None, 1, 2, 3]), mostly_undoable=st.booleans())
    def undo(self, data, as_window, mostly_undoable):
        """Undo a no-show, finish or transfer: within 30 s, by whoever did it, if nothing happened since
        and the window it goes back to is open and free (docs/architecture.md §Ticket lifecycle)."""
        undoable = sorted(t.id for t in self.tickets.values() if t.undo)
        pool = undoable if undoable and mostly_undoable else sorted(self.tickets)
        t = self.tickets[data.draw(st.sampled_from(pool), label="ticket")]
        expected: set[type] = set()
        if t.undo is None:
            expected.add(errors.UndoStale)
        else:
            at, was, event_window, by_window = t.undo
            if as_window is not None and as_window not in (event_window, by_window):
                expected.add(errors.UndoStale)
            if (self.clock.now() - at).total_seconds() > UNDO_S:
                expected.add(errors.UndoExpired)
            if was[0] in ("called", "serving"):
                if self.windows[was[2]].state != "open":
                    expected.add(errors.WindowNotOpen)
                elif [o for o in self.active_at(was[2]) if o.id != t.id]:
                    expected.add(errors.WindowBusy)
        if self.attempt(expected, lambda: self.svc.undo(t.id, window=as_window), "undo") is None:
            return
        t.state, t.line, t.window, t.recalls, t.transferred = t.undo[1]
        t.undo = None

    # ----- rules: the day

    @rule()
    def roll_over(self):
        today = self.today()
        result = self.svc.roll_over()
        if today in self.rolled:
            return
        self.rolled.add(today)
        expired = [t for t in self.tickets.values() if t.day < today and t.state in OPEN_STATES]
        for t in expired:
            t.state, t.undo = "expired", None
        # Windows already at work today are left alone; only those left from an earlier day reset.
        stale = {n: w for n, w in self.windows.items() if w.touched is None or w.touched < today}
        closed = [n for n, w in stale.items() if w.state != "closed"]
        for n, w in stale.items():
            if w.state != "closed":
                w.state = "closed"
                w.touched = today
            if not w.pinned:
                w.serving = WINDOWS[n][1]
        assert result == {"expired": len(expired), "closed_windows": len(closed), "request_keys_forgotten": 0}

    # ----- invariants

    @invariant()
    def no_ticket_lost(self):
        assert self.store.one("SELECT COUNT(*) FROM tickets")[0] == len(self.tickets)

    @invariant()
    def tickets_match_the_model(self):
        for row in self.store.all("SELECT id, state, line, window, recalls, number FROM tickets"):
            t = self.tickets[row["id"]]
            assert (row["state"], row["line"], row["window"], row["recalls"], row["number"]) == (
                t.state,
                t.line,
                t.window,
                t.recalls,
                t.number,
            ), f"ticket {t.number}"

    @invariant()
    def numbers_unique_and_gap_free(self):
        groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for row in self.store.all("SELECT prefix, service_day, seq, number FROM tickets ORDER BY seq"):
            groups.setdefault((row["prefix"], row["service_day"]), []).append((row["seq"], row["number"]))
        for (prefix, _), rows in groups.items():
            assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))
            assert [number for _, number in rows] == [f"{prefix}{i:03d}" for i in range(1, len(rows) + 1)]

    @invariant()
    def events_replay_to_the_row(self):
        events: dict[int, list[dict]] = {}
        for e in self.store.all("SELECT * FROM events WHERE ticket_id IS NOT NULL ORDER BY id"):
            events.setdefault(e["ticket_id"], []).append({**dict(e), "data": json.loads(e["data"])})
        for row in self.store.all("SELECT id, state, line, window, recalls FROM tickets"):
            assert replay(events[row["id"]]) == {k: row[k] for k in ("state", "line", "window", "recalls")}

    @invariant()
    def one_open_ticket_per_window(self):
        rows = self.store.all(
            "SELECT window, COUNT(*) FROM tickets WHERE state IN ('called', 'serving')"
            " GROUP BY window HAVING COUNT(*) > 1"
        )
        assert not rows, [tuple(r) for r in rows]

    @invariant()
    def windows_match_the_model(self):
        for w in self.svc.windows():
            m = self.windows[w.number]
            assert (w.state, w.serving, w.pinned) == (m.state, m.serving, m.pinned), f"window {w.number}"


HallMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestHall = HallMachine.TestCase
