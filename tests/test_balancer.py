"""The balancer (docs/architecture.md §Balancer): proposals within able sets, pinned windows untouched, every
applied change an event with its reason, held proposals for the manager, the devices job."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SHANGHAI, small_hall_doc
from tongban.config import PolicyConfig, parse_hall_config
from tongban.queue import balancer, errors
from tongban.queue.balancer import LineLoad, Seat
from tongban.queue.clock import FakeClock
from tongban.queue.service import HallService
from tongban.queue.store import Store


def load(prefix, waiting=0, head=0.0, rate=0.0, per_call=6.0):
    return LineLoad(prefix, waiting, head, rate, per_call)


def test_a_behind_line_gets_the_least_pressed_able_window():
    lines = [load("A", 12, 25.0, 0.5), load("B", 1, 1.0, 0.1), load("C", 3, 4.0, 0.2)]
    seats = [Seat(1, ("A", "B"), ("A",), "A"), Seat(2, ("B", "A"), ("B",), "B"), Seat(3, ("C", "A"), ("C",), "C")]
    made = balancer.propose(lines, seats, PolicyConfig())
    assert [(p.window, p.to_lines) for p in made][0] == (2, ("B", "A"))
    assert "A" in made[0].reason_en and made[0].reason_zh
    # Both helpers are less pressed than A by more than the margin: both are asked to help.
    assert {p.window for p in made} == {2, 3}


def test_reasons_are_one_language_each_in_whole_sentences_with_rounded_numbers():
    # C has work and no window (its pressure is BEHIND_MIN, a day): nobody is told "1440 minutes".
    lines = [load("A", 12, 25.37, 0.5), load("B", 1, 1.0, 0.1), load("C", 4, 17.6, 0.2)]
    seats = [Seat(1, ("A", "B"), ("A",), "A"), Seat(2, ("B", "C"), ("B",), "B")]
    made = {p.window: p for p in balancer.propose(lines, seats, PolicyConfig())}
    reason = made[2]
    assert reason.reason_zh.startswith("C 线有 4 人等候，最久已等 18 分钟，现在没有窗口办理。")
    assert reason.reason_en.startswith("Line C has 4 waiting, the longest for 18 min, and no window serves it now.")
    for text in (reason.reason_zh, reason.reason_en):
        assert "1440" not in text and "17.6" not in text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in reason.reason_en)
    assert not any(ch.isascii() and ch.isalpha() and ch not in "ABC" for ch in reason.reason_zh)


def test_the_balancer_never_touches_a_pinned_or_closed_window():
    lines = [load("A", 12, 25.0, 0.5), load("B", 0, 0.0, 0.0)]
    seats = [
        Seat(1, ("A",), ("A",), "A"),
        Seat(2, ("A", "B"), ("B",), "B", pinned=True),
        Seat(3, ("A", "B"), ("B",), "B", open=False),
    ]
    assert balancer.propose(lines, seats) == []


def test_a_calm_helped_line_is_let_go_but_never_left_without_a_window():
    lines = [load("A", 0, 0.0, 0.01), load("B", 0, 0.0, 0.05)]
    seats = [Seat(1, ("A", "B"), ("A",), "A"), Seat(2, ("B", "A"), ("B", "A"), "B")]
    made = balancer.propose(lines, seats)
    assert [(p.window, p.from_lines, p.to_lines) for p in made] == [(2, ("B", "A"), ("B",))]
    # The only window serving A keeps it, calm or not; a primary line is never dropped.
    seats = [Seat(2, ("B", "A"), ("B", "A"), "B")]
    assert balancer.propose([load("A", 1, 1.0, 0.05), load("B", 0, 0.0, 0.0)], seats) == []


def test_a_line_with_tickets_and_no_window_is_the_most_behind():
    lines = [load("A", 1, 0.5, 0.0), load("B", 6, 10.0, 0.3)]
    made = balancer.propose([load("A", 1, 0.5, 0.0), load("B", 0, 0.0, 0.0)], [Seat(1, ("A", "B"), ("B",), "B")])
    assert made[0].to_lines == ("B", "A")
    assert balancer.pressure(lines[0], 0.0) > balancer.BEHIND_MIN


@st.composite
def states(draw):
    prefixes = ("A", "B", "C", "D")
    lines = [
        load(p, draw(st.integers(0, 30)), draw(st.floats(0, 90)), draw(st.floats(0, 2)), draw(st.floats(1, 20)))
        for p in prefixes
    ]
    seats = []
    for n in range(1, draw(st.integers(1, 8)) + 1):
        able = tuple(draw(st.lists(st.sampled_from(prefixes), min_size=1, max_size=4, unique=True)))
        extra = draw(st.lists(st.sampled_from(able[1:]), unique=True)) if len(able) > 1 else []
        seats.append(Seat(n, able, (able[0], *extra), able[0], draw(st.booleans()), draw(st.booleans())))
    return lines, seats


@settings(max_examples=200, deadline=None)
@given(states())
def test_proposals_stay_within_able_keep_primaries_and_leave_no_busy_line_alone(state):
    lines, seats = state
    made = balancer.propose(lines, seats)
    by_number = {s.number: s for s in seats}
    assert len({p.window for p in made}) == len(made)  # at most one change per window per run
    after = {s.number: s.serving for s in seats if s.open}
    for p in made:
        seat = by_number[p.window]
        assert seat.open and not seat.pinned
        assert p.from_lines == seat.serving
        assert set(p.to_lines) <= set(seat.able) and p.to_lines[0] == seat.primary
        assert len(set(p.to_lines)) == len(p.to_lines) and p.to_lines != p.from_lines
        assert p.reason_zh and p.reason_en
        after[p.window] = p.to_lines
    for line in lines:
        served_before = any(line.prefix in s.serving for s in seats if s.open)
        if served_before and (line.waiting or line.arrivals_per_min):
            assert any(line.prefix in lines_now for lines_now in after.values())


# ---------- through the service ----------


def chain_doc():
    doc = small_hall_doc()
    doc["windows"] = [
        {"number": 1, "name": "1号窗口", "location": "一楼", "phone": "1", "able": ["A", "B"], "serving": ["A"]},
        {"number": 2, "name": "2号窗口", "location": "一楼", "phone": "2", "able": ["B", "A"], "serving": ["B"]},
    ]
    doc["lines"][1]["daily_quota"] = 50
    return doc


@pytest.fixture
def make(tmp_path):
    stores = []

    def build(auto: bool = True):
        doc = chain_doc()
        doc["policy"] = {"balancer_auto_apply": auto}
        store = Store(tmp_path / f"b{len(stores)}.db")
        stores.append(store)
        clock = FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
        svc = HallService(store, parse_hall_config(doc), clock)
        svc.sync_with_config()
        for n in (1, 2):
            svc.window_action(n, "open", clerk=f"c{n}")
        return svc, clock

    yield build
    for s in stores:
        s.close()


def backlog(svc, clock):
    for _ in range(10):
        svc.take_ticket(line="A")
        clock.advance(minutes=2)


def test_balance_applies_its_proposal_as_an_event_with_the_reason(make):
    svc, clock = make(auto=True)
    backlog(svc, clock)
    made = svc.balance()
    assert [(p["window"], p["to"], p["state"]) for p in made] == [(2, ["B", "A"], "applied")]
    assert svc.window(2).serving == ("B", "A")
    event = svc.store.one("SELECT * FROM events WHERE action = 'window_lines' ORDER BY id DESC")
    import json

    data = json.loads(event["data"])
    assert data["by_balancer"] is True and data["to"] == ["B", "A"] and "Line A is behind" in data["reason"]
    assert data["reason_zh"] and data["proposal"] == made[0]["id"]
    assert svc.proposals("applied")[0]["id"] == made[0]["id"]
    # Run again at once: nothing more to do.
    assert svc.balance() == []


def test_balance_leaves_a_pinned_window_alone(make):
    svc, clock = make(auto=True)
    svc.set_pinned(2, True, actor="manager")
    backlog(svc, clock)
    assert svc.balance() == []
    assert svc.window(2).serving == ("B",)


def test_held_proposals_are_listed_accepted_or_rejected_by_the_manager(make):
    svc, clock = make(auto=False)
    backlog(svc, clock)
    made = svc.balance()
    assert [p["state"] for p in made] == ["pending"]
    assert svc.window(2).serving == ("B",)  # held: nothing changed yet
    again = svc.balance()  # the same advice keeps its id
    assert [p["id"] for p in again] == [made[0]["id"]]
    listed = svc.proposals()
    assert [(p["id"], p["window"], p["from"], p["to"]) for p in listed] == [(made[0]["id"], 2, ["B"], ["B", "A"])]
    accepted = svc.accept_proposal(made[0]["id"], actor="manager")
    assert accepted["state"] == "accepted" and accepted["decided_by"] == "manager"
    assert svc.window(2).serving == ("B", "A")
    with pytest.raises(errors.IllegalTransition):
        svc.accept_proposal(made[0]["id"], actor="manager")
    with pytest.raises(errors.NotFound):
        svc.reject_proposal(9999, actor="manager")


def test_a_rejected_or_stale_proposal_changes_nothing(make):
    svc, clock = make(auto=False)
    backlog(svc, clock)
    first = svc.balance()[0]
    assert svc.reject_proposal(first["id"], actor="manager")["state"] == "rejected"
    assert svc.window(2).serving == ("B",)
    second = svc.balance()[0]
    assert second["id"] != first["id"]
    svc.set_serving(2, ["B"], actor="manager")  # unchanged lines, but ...
    svc.set_pinned(2, True, actor="manager")  # ... the manager pins the window
    with pytest.raises(errors.IllegalTransition):
        svc.accept_proposal(second["id"], actor="manager")
    assert svc.proposals(None)[0]["state"] == "stale" and svc.window(2).serving == ("B",)


def test_the_devices_process_schedules_the_balancer_at_its_interval(tmp_path):
    from tongban.devices.process import DevicesProcess

    doc = chain_doc()
    doc["policy"] = {"balancer_interval_s": 45}
    proc = DevicesProcess(parse_hall_config(doc), str(tmp_path / "d.db"))
    proc.schedule()
    job = proc.scheduler.get_job("balancer")
    assert job is not None and job.trigger.interval.total_seconds() == 45
    store = Store(tmp_path / "d.db")
    HallService(store, parse_hall_config(doc), FakeClock(datetime(2026, 11, 26, 9, tzinfo=SHANGHAI))).sync_with_config()
    store.close()
    assert proc.balance() == []  # windows closed: nothing to move


def test_the_managers_auto_apply_switch_governs_the_scheduled_balancer(make):
    """The hall file says apply; the manager switched it off on the console: the job only proposes."""
    svc, clock = make(auto=True)
    backlog(svc, clock)
    svc.set_auto_apply(False, actor="manager")
    assert [p["state"] for p in svc.balance(actor="balancer")] == ["pending"]
    assert svc.window(2).serving == ("B",)
    svc.set_auto_apply(True, actor="manager")
    assert [p["state"] for p in svc.balance(actor="balancer")] == ["applied"]
