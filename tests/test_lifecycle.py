"""The ticket lifecycle and numbering as a clerk and a citizen see them (docs/architecture.md §Ticket lifecycle,
§Numbering, §Dispatch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import SHANGHAI, small_hall_doc
from tongban.config import parse_hall_config
from tongban.queue import errors
from tongban.queue.clock import FakeClock
from tongban.queue.service import HallService, replay
from tongban.queue.store import Store


def at(day: int, hh: int, mm: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=SHANGHAI)


@pytest.fixture
def make(tmp_path):
    """A service over a hall built from a modified small-hall document."""
    stores = []

    def build(doc: dict | None = None, when: datetime | None = None) -> tuple[HallService, FakeClock]:
        store = Store(tmp_path / f"hall-{len(stores)}.db")
        stores.append(store)
        clock = FakeClock(when or at(26, 9))
        svc = HallService(store, parse_hall_config(doc or small_hall_doc()), clock)
        svc.sync_with_config()
        return svc, clock

    yield build
    for store in stores:
        store.close()


def all_day_doc() -> dict:
    doc = small_hall_doc()
    doc["hall"]["hours"] = {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    del doc["lines"][0]["last_issue"]
    return doc


def numbers(svc: HallService, line: str, n: int) -> list[str]:
    return [svc.take_ticket(line=line).ticket.number for _ in range(n)]


def snapshot(svc: HallService) -> tuple:
    tickets = tuple(tuple(dict(r).items()) for r in svc.store.all("SELECT * FROM tickets ORDER BY id"))
    windows = tuple(tuple(dict(r).items()) for r in svc.store.all("SELECT * FROM windows ORDER BY number"))
    events = svc.store.one("SELECT COUNT(*) FROM events")[0]
    return tickets, windows, events


def serve_all(svc: HallService, window: int) -> list[str]:
    """Call, start and finish at one window until nobody is waiting; the numbers in call order."""
    called = []
    while True:
        try:
            t = svc.call_next(window)
        except errors.NothingWaiting:
            return called
        called.append(t.number)
        svc.act(t.id, "start", window=window)
        svc.act(t.id, "finish", window=window)


# ---------- numbering ----------


def test_numbers_run_per_line(service):
    assert numbers(service, "A", 3) == ["A001", "A002", "A003"]
    assert numbers(service, "B", 2) == ["B001", "B002"]
    assert numbers(service, "A", 1) == ["A004"]


def test_issue_by_matter_uses_its_line(service):
    t = service.take_ticket(matter="M3").ticket
    assert (t.number, t.line, t.matter) == ("B001", "B", "M3")
    with pytest.raises(errors.UnknownMatter):
        service.take_ticket(matter="M9")
    with pytest.raises(errors.UnknownLine):
        service.take_ticket(line="A", matter="M3")
    with pytest.raises(errors.UnknownLine):
        service.take_ticket(line="Z")
    # Refusals do not use up numbers.
    assert service.take_ticket(matter="M1").ticket.number == "A001"


def test_number_width_from_config(make):
    doc = small_hall_doc()
    doc["lines"][0]["number_width"] = 4
    doc["lines"][1]["number_width"] = 2
    svc, _ = make(doc)
    assert numbers(svc, "A", 2) == ["A0001", "A0002"]
    assert numbers(svc, "B", 1) == ["B01"]


def test_people_ahead_on_the_ticket(service, make):
    for number in (1, 2):  # the people ahead are counted at the windows that will call them
        service.window_action(number, "open", clerk=f"clerk{number}")
    assert [service.take_ticket(line="A").people_ahead for _ in range(3)] == [0, 1, 2]
    # Window 1 serves A, window 2 B then A. With no primary-line credit (the default) window 2 takes
    # the oldest: A002, issued in the same second as B001 with a lower number, so B001 has one ahead.
    assert service.take_ticket(line="B").people_ahead == 1
    # With a primary-line credit window 2 takes its own line's B001 first: nobody ahead.
    doc = small_hall_doc()
    doc["policy"] = {"primary_line_credit_min": 5}
    svc, _ = make(doc)
    for number in (1, 2):
        svc.window_action(number, "open", clerk=f"clerk{number}")
    assert [svc.take_ticket(line="A").people_ahead for _ in range(3)] == [0, 1, 2]
    assert svc.take_ticket(line="B").people_ahead == 0


def test_numbering_restarts_at_the_halls_local_midnight(make):
    # 23:59 in Shanghai is 15:59 UTC; 00:01 is 16:01 UTC, still the 26th in UTC.
    # (Periods end exclusive, so a hall open "00:00-23:59" takes its last ticket at 23:58:59.)
    svc, clock = make(all_day_doc(), datetime(2026, 11, 26, 15, 58, 59, tzinfo=UTC))
    late = [svc.take_ticket(line="A").ticket for _ in range(3)]
    assert [t.number for t in late] == ["A001", "A002", "A003"]
    assert {t.service_day for t in late} == {"2026-11-26"}
    clock.set(datetime(2026, 11, 26, 16, 1, tzinfo=UTC))
    early = svc.take_ticket(line="A").ticket
    assert (early.number, early.service_day) == ("A001", "2026-11-27")
    assert svc.take_ticket(line="A").ticket.number == "A002"
    # Yesterday's tickets are not called today: the window gets today's A001.
    svc.window_action(1, "open", clerk="c1")
    assert svc.call_next(1).id == early.id
    assert [t.number for t in svc.waiting()] == ["A002"]
    assert [t.number for t in svc.waiting("2026-11-26")] == ["A001", "A002", "A003"]


def test_local_midnight_in_another_time_zone(make):
    # A hall in Urumqi time (UTC+6): 23:59 local is 17:59 UTC, and the day turns at 18:00 UTC.
    doc = all_day_doc()
    doc["hall"]["timezone"] = "Asia/Urumqi"
    svc, clock = make(doc, datetime(2026, 11, 26, 17, 58, 59, tzinfo=UTC))
    assert svc.take_ticket(line="B").ticket.number == "B001"
    clock.set(datetime(2026, 11, 26, 18, 1, tzinfo=UTC))
    t = svc.take_ticket(line="B").ticket
    assert (t.number, t.service_day) == ("B001", "2026-11-27")


def test_quota_refuses_the_sixth_and_resets_next_day(service, clock):
    assert numbers(service, "B", 5) == ["B001", "B002", "B003", "B004", "B005"]
    with pytest.raises(errors.QuotaReached) as info:
        service.take_ticket(line="B")
    assert info.value.details["quota"] == 5
    assert "今日号已取完" in info.value.message_zh
    # Line A has its own quota, untouched.
    assert service.take_ticket(line="A").ticket.number == "A001"
    assert service.store.one("SELECT COUNT(*) FROM tickets WHERE prefix = 'B'")[0] == 5
    clock.set(at(27, 9))  # Friday
    assert numbers(service, "B", 1) == ["B001"]


def test_cancelled_tickets_still_count_against_the_quota(service):
    tickets = [service.take_ticket(line="B").ticket for _ in range(5)]
    service.act(tickets[0].id, "cancel")
    with pytest.raises(errors.QuotaReached):
        service.take_ticket(line="B")


def test_last_issue_time_closes_the_line(service, clock):
    clock.set(at(26, 16, 29))
    assert service.take_ticket(line="A").ticket.number == "A001"
    clock.set(at(26, 16, 30))
    with pytest.raises(errors.LineClosed) as info:
        service.take_ticket(line="A")
    assert info.value.details["reason"] == "past_last_issue"
    assert "16:30" in info.value.message_zh
    # Line B has no last-issue time: it still issues until the hall closes.
    assert service.take_ticket(line="B").ticket.number == "B001"


@pytest.mark.parametrize(
    "when, reason, reopens",
    [
        (at(26, 8, 0), "not_yet_open", "08:30"),
        (at(26, 3, 0), "not_yet_open", "08:30"),
        (at(26, 12, 0), "lunch_break", "14:00"),
        (at(26, 13, 59), "lunch_break", "14:00"),
        (at(26, 17, 30), "closed_for_day", None),
        (at(26, 22, 0), "closed_for_day", None),
        (at(28, 10, 0), "closed_today", None),  # Saturday: the small hall has no Saturday hours
        (at(29, 10, 0), "closed_today", None),  # Sunday
    ],
)
def test_hall_closed_with_its_reason(service, clock, when, reason, reopens):
    clock.set(when)
    with pytest.raises(errors.HallClosed) as info:
        service.take_ticket(line="B")
    assert info.value.details == {"reason": reason, "reopens_at": reopens}
    assert service.store.one("SELECT COUNT(*) FROM tickets")[0] == 0


@pytest.mark.parametrize("when", [at(26, 8, 30), at(26, 11, 59), at(26, 14, 0), at(26, 17, 29)])
def test_hall_open_at_the_edges_of_its_hours(service, clock, when):
    clock.set(when)
    assert service.take_ticket(line="B").ticket.number == "B001"


def test_lunch_issuing_when_the_hall_allows_it(make):
    doc = small_hall_doc()
    doc["hall"]["issue_during_lunch"] = True
    svc, _ = make(doc, at(26, 12, 30))
    assert svc.take_ticket(line="A").ticket.number == "A001"


# ---------- transitions ----------


def test_full_lifecycle_writes_one_event_per_transition(service, clock):
    t = service.take_ticket(line="A").ticket
    service.window_action(1, "open", clerk="c1")
    assert service.call_next(1, clerk="c1").id == t.id
    service.act(t.id, "recall", window=1)
    service.act(t.id, "start", window=1)
    service.act(t.id, "suspend", window=1)
    service.act(t.id, "resume", window=1)
    clock.advance(minutes=6)
    done = service.act(t.id, "finish", window=1)
    assert done.state == "done" and done.window == 1 and done.finished_at == clock.now()
    steps = [(e["action"], e["from_state"], e["to_state"]) for e in service.events(t.id)]
    assert steps == [
        ("issue", None, "waiting"),
        ("call", "waiting", "called"),
        ("recall", "called", "called"),
        ("start", "called", "serving"),
        ("suspend", "serving", "suspended"),
        ("resume", "suspended", "serving"),
        ("finish", "serving", "done"),
    ]
    # The finished service feeds the line's smoothed service time (the estimate on the next ticket).
    assert service.store.one("SELECT service_min FROM lines WHERE prefix = 'A'")[0] == pytest.approx(6.0)


def _waiting(svc, w):
    return svc.take_ticket(line="A").ticket


def _called(svc, w):
    t = svc.take_ticket(line="A").ticket
    svc.call_next(w)
    return svc.ticket(t.id)


def _serving(svc, w):
    t = _called(svc, w)
    return svc.act(t.id, "start", window=w)


def _suspended(svc, w):
    t = _serving(svc, w)
    return svc.act(t.id, "suspend", window=w)


def _done(svc, w):
    t = _serving(svc, w)
    return svc.act(t.id, "finish", window=w)


def _no_show(svc, w):
    t = _called(svc, w)
    return svc.act(t.id, "no_show", window=w)


def _cancelled(svc, w):
    t = _waiting(svc, w)
    return svc.act(t.id, "cancel")


STATES = {
    "waiting": _waiting,
    "called": _called,
    "serving": _serving,
    "suspended": _suspended,
    "done": _done,
    "no_show": _no_show,
    "cancelled": _cancelled,
}
LEGAL = {
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
ILLEGAL = [(state, action) for state in STATES for action in LEGAL if state not in LEGAL[action]]


@pytest.mark.parametrize("state, action", ILLEGAL, ids=[f"{a}-from-{s}" for s, a in ILLEGAL])
def test_illegal_transition_is_refused_and_changes_nothing(service, state, action):
    service.window_action(1, "open", clerk="c1")
    ticket = STATES[state](service, 1)
    assert ticket.state == state
    before = snapshot(service)
    with pytest.raises(errors.IllegalTransition) as info:
        service.act(ticket.id, action, window=1, to_line="B")
    assert info.value.details.get("state") == state
    assert ticket.number in info.value.message_en
    assert snapshot(service) == before


def test_unknown_action_is_refused(service):
    t = service.take_ticket(line="A").ticket
    for action in ("call", "fly", "expire_now"):
        with pytest.raises(errors.IllegalTransition):
            service.act(t.id, action)
    with pytest.raises(errors.UnknownTicket):
        service.act(9999, "cancel")


def test_window_transitions(service):
    with pytest.raises(errors.IllegalTransition):
        service.window_action(1, "pause")
    with pytest.raises(errors.IllegalTransition):
        service.window_action(1, "resume")
    with pytest.raises(errors.IllegalTransition):
        service.window_action(1, "close")
    assert service.window_action(1, "open", clerk="c1").state == "open"
    with pytest.raises(errors.IllegalTransition):
        service.window_action(1, "open", clerk="c2")
    assert service.window(1).clerk == "c1"
    assert service.window_action(1, "pause").state == "paused"
    assert service.window_action(1, "resume").state == "open"
    closed = service.window_action(1, "close")
    assert (closed.state, closed.clerk) == ("closed", None)
    with pytest.raises(errors.UnknownWindow):
        service.window_action(7, "open")
    with pytest.raises(errors.IllegalTransition):
        service.window_action(1, "explode")


def test_window_busy_when_calling_with_an_open_ticket(service):
    first, second = (service.take_ticket(line="A").ticket for _ in range(2))
    service.window_action(1, "open", clerk="c1")
    assert service.call_next(1).id == first.id
    with pytest.raises(errors.WindowBusy) as info:
        service.call_next(1)
    assert info.value.details["ticket"] == "A001"
    service.act(first.id, "start", window=1)
    with pytest.raises(errors.WindowBusy):
        service.call_next(1)
    # A window with a ticket open can neither pause nor close.
    with pytest.raises(errors.WindowBusy):
        service.window_action(1, "pause")
    with pytest.raises(errors.WindowBusy):
        service.window_action(1, "close")
    assert service.ticket(second.id).state == "waiting"
    # Suspending frees the window for the next citizen, but the suspended one cannot resume over them.
    service.act(first.id, "suspend", window=1)
    assert service.call_next(1).id == second.id
    with pytest.raises(errors.WindowBusy):
        service.act(first.id, "resume", window=1)
    service.act(second.id, "no_show", window=1)
    assert service.act(first.id, "resume", window=1).state == "serving"


def test_window_not_open(service):
    service.take_ticket(line="A")
    with pytest.raises(errors.WindowNotOpen) as info:
        service.call_next(1)
    assert info.value.details["state"] == "closed"
    service.window_action(1, "open", clerk="c1")
    service.window_action(1, "pause")
    with pytest.raises(errors.WindowNotOpen) as info:
        service.call_next(1)
    assert info.value.details["state"] == "paused"
    with pytest.raises(errors.UnknownWindow):
        service.call_next(9)


def test_nothing_waiting_in_the_windows_lines(service):
    service.window_action(1, "open", clerk="c1")
    with pytest.raises(errors.NothingWaiting):
        service.call_next(1)
    # Window 1 serves only A and is pinned to it: a B ticket waiting does not help it (unpinned, it
    # would take it: tests/test_policy.py).
    service.set_pinned(1, True)
    b = service.take_ticket(line="B").ticket
    with pytest.raises(errors.NothingWaiting):
        service.call_next(1)
    service.window_action(2, "open", clerk="c2")
    assert service.call_next(2).id == b.id


def test_recall_limit(service):
    service.take_ticket(line="A")
    service.window_action(1, "open", clerk="c1")
    t = service.call_next(1)
    assert service.act(t.id, "recall", window=1).recalls == 1
    assert service.act(t.id, "recall", window=1).recalls == 2
    with pytest.raises(errors.RecallLimit) as info:
        service.act(t.id, "recall", window=1)
    assert info.value.details["recalls"] == 2
    assert service.ticket(t.id).recalls == 2
    # No-show is still possible, which is what the clerk is told to do.
    assert service.act(t.id, "no_show", window=1).state == "no_show"


def test_wrong_window(service):
    a = service.take_ticket(line="A").ticket
    w = service.take_ticket(line="A").ticket
    service.window_action(1, "open", clerk="c1")
    service.window_action(2, "open", clerk="c2")
    assert service.call_next(1).id == a.id
    before = snapshot(service)
    for action in ("recall", "start", "no_show", "transfer"):
        with pytest.raises(errors.WrongWindow):
            service.act(a.id, action, window=2, to_line="B")
    assert snapshot(service) == before
    # A waiting ticket is not at any window: a window cannot start or finish it...
    with pytest.raises(errors.IllegalTransition):
        service.act(w.id, "start", window=2)
    # ...but a no-show who comes back may be put back in line by whichever window they reach.
    service.act(a.id, "no_show", window=1)
    assert service.act(a.id, "late_return", window=2).state == "waiting"
    # The manager (no window) may act on any ticket.
    assert service.act(w.id, "cancel").state == "cancelled"


def test_set_serving_only_within_able(make):
    doc = small_hall_doc()
    doc["windows"][0]["able"] = ["A"]
    svc, _ = make(doc)
    with pytest.raises(errors.LineNotAble) as info:
        svc.set_serving(1, ["A", "B"])
    assert info.value.details["lines"] == ["B"]
    with pytest.raises(errors.LineNotAble):
        svc.set_serving(1, [])
    with pytest.raises(errors.LineNotAble):
        svc.set_serving(2, ["A", "A"])
    assert svc.window(1).serving == ("A",)
    assert svc.set_serving(2, ["A"]).serving == ("A",)
    # The change is what the window calls from: its own line first, the older B ticket only after.
    svc.take_ticket(line="B")
    a = svc.take_ticket(line="A").ticket
    svc.window_action(2, "open", clerk="c2")
    assert svc.call_next(2).id == a.id


def test_pinned_window_refuses_the_balancer_not_the_manager(service):
    service.set_pinned(2, True)
    with pytest.raises(errors.IllegalTransition):
        service.set_serving(2, ["A"], by_balancer=True)
    assert service.window(2).serving == ("B", "A")
    assert service.set_serving(2, ["A"]).serving == ("A",)


# ---------- who is called next ----------


def test_transfer_keeps_issue_time_and_goes_before_later_tickets(service, clock):
    a = service.take_ticket(line="A").ticket  # 09:00
    clock.set(at(26, 9, 20))
    b1 = service.take_ticket(line="B").ticket
    clock.set(at(26, 9, 25))
    b2 = service.take_ticket(line="B").ticket
    clock.set(at(26, 10, 25))
    service.window_action(1, "open", clerk="c1")
    assert service.call_next(1).id == a.id
    service.act(a.id, "start", window=1)
    clock.set(at(26, 10, 30))
    moved = service.act(a.id, "transfer", window=1, to_line="B", reason="公积金业务")
    assert (moved.state, moved.line, moved.window, moved.transferred) == ("waiting", "B", None, True)
    assert moved.issued_at == a.issued_at and moved.queued_at == a.issued_at
    assert (moved.number, moved.prefix) == ("A001", "A")  # keeps its number
    assert service.people_ahead(moved) == 0
    # Window 2 serves B first: the transferred ticket, older than every B ticket, is called first.
    service.window_action(2, "open", clerk="c2")
    assert serve_all(service, 2) == ["A001", "B001", "B002"]
    assert b1.number == "B001" and b2.number == "B002"
    [ev] = [e for e in service.events(a.id) if e["action"] == "transfer"]
    assert (ev["from_state"], ev["to_state"], ev["window"]) == ("serving", "waiting", 1)
    # What it moved, and the ticket's columns from before (what an undo would put back).
    assert {k: v for k, v in ev["data"].items() if k not in ("before", "by_window")} == {
        "from_line": "A",
        "to_line": "B",
        "reason": "公积金业务",
    }
    assert ev["data"]["before"]["line"] == "A"


def test_transfer_to_the_same_line_while_waiting_is_refused(service):
    t = service.take_ticket(line="A").ticket
    with pytest.raises(errors.IllegalTransition):
        service.act(t.id, "transfer", to_line="A")
    with pytest.raises(errors.UnknownLine):
        service.act(t.id, "transfer", to_line="Q")
    with pytest.raises(errors.UnknownLine):
        service.act(t.id, "transfer")
    assert service.act(t.id, "transfer", to_line="B").line == "B"


def test_late_return_goes_two_places_behind_its_slot(service, clock):
    tickets = []
    for i in range(6):
        clock.set(at(26, 9, i))
        tickets.append(service.take_ticket(line="A").ticket)
    service.window_action(1, "open", clerk="c1")
    clock.set(at(26, 9, 10))
    first = service.call_next(1)
    assert first.number == "A001"
    service.act(first.id, "recall", window=1)
    back = service.act(first.id, "no_show", window=1)
    assert back.state == "no_show"
    clock.set(at(26, 9, 12))
    back = service.act(first.id, "late_return", window=1)
    assert (back.state, back.window, back.recalls) == ("waiting", None, 0)
    assert back.issued_at == first.issued_at
    assert service.people_ahead(back) == 2
    assert serve_all(service, 1) == ["A002", "A003", "A001", "A004", "A005", "A006"]


def test_green_ticket_late_return_is_still_two_places_behind(service, clock):
    # A green-channel ticket misses its call. Its credit put it at the head of the line; coming back
    # late, it goes two places behind that slot, not straight back to the head.
    for i in range(2):
        clock.set(at(26, 9, i))
        service.take_ticket(line="A")  # A001, A002
    clock.set(at(26, 9, 2))
    green = service.take_ticket(line="A", green=True).ticket  # A003
    for i in range(3, 7):
        clock.set(at(26, 9, i))
        service.take_ticket(line="A")  # A004..A007
    service.window_action(1, "open", clerk="c1")
    clock.set(at(26, 9, 10))
    assert service.call_next(1).id == green.id
    service.act(green.id, "no_show", window=1)
    clock.set(at(26, 9, 12))
    back = service.act(green.id, "late_return", window=1)
    assert back.green
    assert service.people_ahead(back) == 2
    assert serve_all(service, 1) == ["A001", "A002", "A003", "A004", "A005", "A006", "A007"]


def test_late_return_counts_places_in_call_order(service, clock):
    # A001 misses its call; meanwhile a green ticket came. The green one is ahead of A001's slot, so
    # A001 comes back two places behind the slot after it: behind A002 (green), A003, A004.
    a1 = service.take_ticket(line="A").ticket  # 09:00
    service.window_action(1, "open", clerk="c1")
    service.call_next(1)
    service.act(a1.id, "no_show", window=1)
    clock.set(at(26, 9, 5))
    service.take_ticket(line="A", green=True)  # A002
    for i in range(6, 10):
        clock.set(at(26, 9, i))
        service.take_ticket(line="A")  # A003..A006
    clock.set(at(26, 9, 12))
    back = service.act(a1.id, "late_return", window=1)
    assert service.people_ahead(back) == 3
    assert serve_all(service, 1) == ["A002", "A003", "A004", "A001", "A005", "A006"]


def test_late_return_to_an_empty_line(service, clock):
    a1 = service.take_ticket(line="A").ticket
    service.window_action(1, "open", clerk="c1")
    service.call_next(1)
    service.act(a1.id, "no_show", window=1)
    clock.advance(minutes=3)
    back = service.act(a1.id, "late_return", window=1)
    assert back.queued_at == clock.now() and service.people_ahead(back) == 0
    assert service.call_next(1).id == a1.id


def test_late_return_with_fewer_waiting_than_places_goes_last(service, clock):
    a1 = service.take_ticket(line="A").ticket
    clock.advance(minutes=1)
    service.take_ticket(line="A")
    service.window_action(1, "open", clerk="c1")
    service.call_next(1)
    service.act(a1.id, "no_show", window=1)
    clock.advance(minutes=1)
    back = service.act(a1.id, "late_return", window=1)
    assert back.queued_at == clock.now()
    assert serve_all(service, 1) == ["A002", "A001"]


def test_late_return_of_a_ticket_issued_in_the_same_instant_as_others(service, clock):
    # A kiosk burst: several tickets issued within one clock tick. Two places behind is still two.
    first = service.take_ticket(line="A").ticket
    clock.advance(seconds=30)
    for _ in range(5):
        service.take_ticket(line="A")
    service.window_action(1, "open", clerk="c1")
    clock.advance(minutes=1)
    assert service.call_next(1).id == first.id
    service.act(first.id, "no_show", window=1)
    back = service.act(first.id, "late_return", window=1)
    # Tickets of one instant cannot be told apart: it goes behind the whole burst, never ahead of
    # the two it must let pass.
    assert service.people_ahead(back) >= 2
    order = serve_all(service, 1)
    assert order[:2] == ["A002", "A003"] and sorted(order) == ["A001", "A002", "A003", "A004", "A005", "A006"]


def test_late_return_refused_for_yesterdays_ticket(make):
    svc, clock = make(all_day_doc(), at(26, 20))
    t = svc.take_ticket(line="A").ticket
    svc.window_action(1, "open", clerk="c1")
    svc.call_next(1)
    svc.act(t.id, "no_show", window=1)
    clock.set(at(27, 8))
    with pytest.raises(errors.IllegalTransition):
        svc.act(t.id, "late_return", window=1)
    assert svc.ticket(t.id).state == "no_show"


def test_oldest_first_across_the_windows_lines(service, clock):
    # Window 2 serves B (primary) and A. Tickets more than the primary credit (5 min) apart: oldest first.
    a1 = service.take_ticket(line="A").ticket  # 09:00
    clock.set(at(26, 9, 10))
    service.take_ticket(line="B")  # 09:10
    clock.set(at(26, 9, 20))
    service.take_ticket(line="A")  # 09:20
    clock.set(at(26, 9, 30))
    service.take_ticket(line="B")  # 09:30
    clock.set(at(26, 10, 0))
    service.window_action(2, "open", clerk="c2")
    assert serve_all(service, 2) == ["A001", "B001", "A002", "B002"]
    assert a1.number == "A001"


def test_primary_line_credit_is_bounded(make):
    # Window 2's primary line is B (5 min credit): a B ticket 3 minutes younger goes first,
    # one 8 minutes younger does not.
    doc = small_hall_doc()
    doc["policy"] = {"primary_line_credit_min": 5}  # the shipped default is 0
    service, clock = make(doc)
    service.take_ticket(line="A")  # A001 09:00
    clock.set(at(26, 9, 3))
    service.take_ticket(line="B")  # B001 09:03
    clock.set(at(26, 9, 30))
    service.take_ticket(line="A")  # A002 09:30
    clock.set(at(26, 9, 38))
    service.take_ticket(line="B")  # B002 09:38
    clock.set(at(26, 10, 0))
    service.window_action(2, "open", clerk="c2")
    assert serve_all(service, 2) == ["B001", "A001", "A002", "B002"]


def test_green_channel_credit_is_bounded(make):
    doc = small_hall_doc()
    doc["policy"] = {"green_credit_min": 30}  # the shipped default is 15
    service, clock = make(doc)
    service.take_ticket(line="A")  # A001 09:00
    clock.set(at(26, 9, 20))
    green = service.take_ticket(line="A", green=True).ticket  # A002 09:20, 30 min credit
    assert green.green and service.people_ahead(green) == 0
    clock.set(at(26, 9, 40))
    service.take_ticket(line="A", green=True)  # A003 09:40: 40 min younger than A001
    clock.set(at(26, 9, 45))
    service.window_action(1, "open", clerk="c1")
    # A002 (25 + 30) > A001 (45) > A003 (5 + 30): the credit lifts a green ticket over 30 minutes of
    # waiting, never further, so A001 is not passed by a green ticket that came 40 minutes later.
    assert serve_all(service, 1) == ["A002", "A001", "A003"]


# ---------- the day ----------


def test_roll_over_expires_yesterdays_open_tickets_and_is_idempotent(service, clock):
    w = [service.take_ticket(line="A").ticket for _ in range(4)]
    b = [service.take_ticket(line="B").ticket for _ in range(3)]
    service.window_action(1, "open", clerk="c1")
    service.window_action(2, "open", clerk="c2")
    done = service.call_next(1)
    service.act(done.id, "start", window=1)
    service.act(done.id, "finish", window=1)
    suspended = service.call_next(1)
    service.act(suspended.id, "start", window=1)
    service.act(suspended.id, "suspend", window=1)
    serving = service.call_next(1)
    service.act(serving.id, "start", window=1)
    called = service.call_next(2)
    cancelled = b[2]
    service.act(cancelled.id, "cancel")
    service.set_serving(2, ["A"])  # the balancer or manager moved window 2
    service.set_pinned(1, True)
    service.set_serving(1, ["A", "B"])
    assert called.id in (w[3].id, b[0].id)  # window 2 (B, A) took the oldest of its lines
    clock.set(at(27, 7, 0))
    result = service.roll_over()
    open_ids = {w[3].id, b[0].id, b[1].id, suspended.id, serving.id}  # called is one of them
    assert result == {"expired": len(open_ids), "closed_windows": 2, "request_keys_forgotten": 0}
    states = {r["id"]: r["state"] for r in service.store.all("SELECT id, state FROM tickets")}
    assert {i for i, s in states.items() if s == "expired"} == open_ids
    assert states[done.id] == "done" and states[cancelled.id] == "cancelled"
    assert [(x.state, x.clerk) for x in service.windows()] == [("closed", None), ("closed", None)]
    # Unpinned windows go back to their opening lines; a pinned one keeps what the manager set.
    assert service.window(2).serving == ("B", "A")
    assert service.window(1).serving == ("A", "B")
    for tid in open_ids:
        row = service.ticket(tid)
        assert replay(service.events(tid))["state"] == "expired" == row.state
    # A second run (a restart of the devices process, a catch-up after a power cut) changes nothing.
    before = snapshot(service)
    assert service.roll_over() == result
    assert snapshot(service) == before
    # The new day starts at A001 and the windows open afresh.
    clock.set(at(27, 9, 0))
    assert service.take_ticket(line="A").ticket.number == "A001"
    assert service.roll_over() == result


def test_roll_over_on_a_quiet_day_does_nothing_to_today(service, clock):
    t = service.take_ticket(line="A").ticket
    assert service.roll_over() == {"expired": 0, "closed_windows": 0, "request_keys_forgotten": 0}
    assert service.ticket(t.id).state == "waiting"


# ---------- history ----------


def _row_view(svc: HallService, tid: int) -> dict:
    t = svc.ticket(tid)
    return {"state": t.state, "line": t.line, "window": t.window, "recalls": t.recalls}


def test_replay_matches_the_row_at_every_step(service, clock):
    t = service.take_ticket(line="A").ticket
    service.take_ticket(line="A")
    service.window_action(1, "open", clerk="c1")
    service.window_action(2, "open", clerk="c2")
    steps = [
        lambda: service.call_next(1),
        lambda: service.act(t.id, "recall", window=1),
        lambda: service.act(t.id, "no_show", window=1),
        lambda: service.act(t.id, "late_return", window=1),
        lambda: service.act(t.id, "transfer", to_line="B"),
        lambda: service.call_next(2),
        lambda: service.act(t.id, "recall", window=2),
        lambda: service.act(t.id, "start", window=2),
        lambda: service.act(t.id, "suspend", window=2),
        lambda: service.act(t.id, "resume", window=2),
        lambda: service.act(t.id, "transfer", window=2, to_line="A"),
        lambda: service.act(t.id, "cancel"),
    ]
    for step in steps:
        clock.advance(minutes=1)
        step()
        assert replay(service.events(t.id)) == _row_view(service, t.id)
    assert service.ticket(t.id).state == "cancelled"


def test_replay_notices_a_missing_event(service):
    t = service.take_ticket(line="A").ticket
    service.window_action(1, "open", clerk="c1")
    service.call_next(1)
    service.act(t.id, "start", window=1)
    service.act(t.id, "finish", window=1)
    events = service.events(t.id)
    del events[2]  # drop "start"
    with pytest.raises(ValueError):
        replay(events)


def test_nothing_is_deleted(service, clock):
    t = service.take_ticket(line="A").ticket
    service.act(t.id, "cancel")
    clock.set(at(27, 9))
    service.roll_over()
    assert service.ticket(t.id).state == "cancelled"
    assert [e["action"] for e in service.events(t.id)] == ["issue", "cancel"]


def test_the_clock_is_the_halls_not_the_machines(make):
    # The fake clock says 01:30 UTC = 09:30 Shanghai on Thursday: open, whatever the test machine's zone.
    svc, _ = make(None, datetime(2026, 11, 26, 1, 30, tzinfo=UTC))
    t = svc.take_ticket(line="A").ticket
    assert t.service_day == "2026-11-26"
    assert t.issued_at == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
    assert t.issued_at.utcoffset() == timedelta(0)
