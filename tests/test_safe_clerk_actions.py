"""Safe clerk actions: a slow citizen must not lose their place (docs/architecture.md §Ticket lifecycle).

A no-show needs a second press while the citizen may still be on the way; no-show, finish and
transfer can be undone for UNDO_S, exactly; recall past the limit, call during a break and a suspend
say why. All on the injected clock.
"""

from __future__ import annotations

import pytest

from tongban.queue import errors
from tongban.queue.service import NO_SHOW_CONFIRM_S, UNDO_S, HallService, replay

MAX_RECALLS = 2  # the small hall's hall.max_recalls


def open_window(service: HallService, number: int = 1, clerk: str = "clerk1") -> None:
    service.window_action(number, "open", clerk=clerk, actor=clerk)


def called(service: HallService, window: int = 1, clerk: str = "clerk1"):
    service.take_ticket(line="A")
    return service.call_next(window, clerk=clerk)


def row(service: HallService, ticket_id: int) -> dict:
    found = service.store.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    assert found is not None
    return dict(found)


def assert_replays(service: HallService, ticket_id: int) -> None:
    now = row(service, ticket_id)
    rebuilt = replay(service.events(ticket_id))
    assert rebuilt == {k: now[k] for k in ("state", "line", "window", "recalls")}


# ---------- the no-show's second press ----------


def test_an_early_no_show_is_refused_until_confirmed_and_changes_nothing(service, clock):
    open_window(service)
    ticket = called(service)
    clock.advance(seconds=45)
    before = row(service, ticket.id)
    with pytest.raises(errors.NoShowUnconfirmed) as refused:
        service.act(ticket.id, "no_show", window=1, actor="clerk1", confirmed=False)
    assert refused.value.code == "no_show_unconfirmed"
    assert "45 秒" in refused.value.message_zh and "再按一次" in refused.value.message_zh
    assert refused.value.details == {"called_s": 45, "recalls": 0, "max_recalls": MAX_RECALLS}
    assert row(service, ticket.id) == before
    assert [e["action"] for e in service.events(ticket.id)] == ["issue", "call"]
    # The second press says it is meant.
    done = service.act(ticket.id, "no_show", window=1, actor="clerk1", confirmed=True)
    assert done.state == "no_show"


@pytest.mark.parametrize(
    ("seconds", "recalls", "needs_confirm"),
    [
        (NO_SHOW_CONFIRM_S - 1, MAX_RECALLS, True),  # recalled out, but called a moment ago
        (NO_SHOW_CONFIRM_S + 1, MAX_RECALLS - 1, True),  # long ago, but a recall is left
        (NO_SHOW_CONFIRM_S, MAX_RECALLS, False),  # two minutes and every recall used: one press
    ],
)
def test_one_press_only_after_two_minutes_and_every_recall(service, clock, seconds, recalls, needs_confirm):
    open_window(service)
    ticket = called(service)
    for _ in range(recalls):
        service.act(ticket.id, "recall", window=1, actor="clerk1")
    clock.advance(seconds=seconds)
    assert service.no_show_needs_confirm(service.ticket(ticket.id), clock.now()) is needs_confirm
    if needs_confirm:
        with pytest.raises(errors.NoShowUnconfirmed):
            service.act(ticket.id, "no_show", window=1, actor="clerk1", confirmed=False)
    else:
        assert service.act(ticket.id, "no_show", window=1, actor="clerk1", confirmed=False).state == "no_show"


# ---------- recall past the limit ----------


def test_recall_past_the_limit_is_refused_with_the_limit(service):
    open_window(service)
    ticket = called(service)
    for _ in range(MAX_RECALLS):
        service.act(ticket.id, "recall", window=1)
    with pytest.raises(errors.RecallLimit) as refused:
        service.act(ticket.id, "recall", window=1)
    assert "达到上限 2 次，不能再重呼" in refused.value.message_zh
    assert "the limit of 2" in refused.value.message_en
    assert refused.value.details == {"recalls": 2, "max_recalls": 2}
    assert service.ticket(ticket.id).recalls == MAX_RECALLS


# ---------- undo ----------


def test_undo_a_no_show_puts_the_ticket_back_exactly(service, clock):
    open_window(service)
    ticket = called(service)
    service.act(ticket.id, "recall", window=1, actor="clerk1")
    before = row(service, ticket.id)
    clock.advance(seconds=150)
    service.act(ticket.id, "no_show", window=1, actor="clerk1")
    undoable = service.last_undoable(1, "clerk1")
    assert undoable is not None and (undoable.ticket_id, undoable.action) == (ticket.id, "no_show")
    clock.advance(seconds=UNDO_S - 1)
    back = service.undo(ticket.id, window=1, actor="clerk1")
    assert back.state == "called" and back.window == 1 and back.recalls == 1
    assert row(service, ticket.id) == before
    last = service.events(ticket.id)[-1]
    assert (last["action"], last["from_state"], last["to_state"], last["actor"]) == (
        "undo",
        "no_show",
        "called",
        "clerk1",
    )
    assert last["data"]["undone"] == "no_show"
    assert_replays(service, ticket.id)
    # Undone once: nothing left to undo.
    assert service.last_undoable(1, "clerk1") is None
    with pytest.raises(errors.UndoStale):
        service.undo(ticket.id, window=1, actor="clerk1")


def test_undo_a_finish_brings_the_citizen_back_to_the_counter(service, clock):
    open_window(service)
    ticket = called(service)
    service.act(ticket.id, "start", window=1, actor="clerk1")
    before = row(service, ticket.id)
    clock.advance(minutes=5)
    service.act(ticket.id, "finish", window=1, actor="clerk1")
    clock.advance(seconds=10)
    assert service.undo(ticket.id, window=1, actor="clerk1").state == "serving"
    assert row(service, ticket.id) == before  # finished_at cleared, started_at kept
    assert_replays(service, ticket.id)


def test_undo_a_transfer_restores_line_window_and_place_in_line(service, clock):
    open_window(service)
    first, second, third = (service.take_ticket(line="A").ticket for _ in range(3))
    # A waiting ticket moved to line B and back: it keeps its place, ahead of the later ones.
    before = row(service, second.id)
    service.act(second.id, "transfer", window=1, actor="clerk1", to_line="B")
    assert service.undo(second.id, window=1, actor="clerk1").line == "A"
    assert row(service, second.id) == before
    assert [t.id for t in service.waiting()] == [first.id, second.id, third.id]
    assert service.people_ahead(service.ticket(second.id)) == 1
    # The citizen at the counter: back to serving at this window, in the old line.
    at_counter = service.call_next(1, clerk="clerk1")
    service.act(at_counter.id, "start", window=1, actor="clerk1")
    before = row(service, at_counter.id)
    service.act(at_counter.id, "transfer", window=1, actor="clerk1", to_line="B")
    back = service.undo(at_counter.id, window=1, actor="clerk1")
    assert (back.state, back.line, back.window, back.transferred) == ("serving", "A", 1, False)
    assert row(service, at_counter.id) == before
    assert_replays(service, at_counter.id)
    assert_replays(service, second.id)


def test_undo_is_refused_after_thirty_seconds(service, clock):
    open_window(service)
    ticket = called(service)
    service.act(ticket.id, "no_show", window=1, actor="clerk1")
    clock.advance(seconds=UNDO_S + 1)
    assert service.last_undoable(1, "clerk1") is None
    with pytest.raises(errors.UndoExpired) as refused:
        service.undo(ticket.id, window=1, actor="clerk1")
    assert refused.value.code == "undo_expired" and "30 秒" in refused.value.message_zh
    assert service.ticket(ticket.id).state == "no_show"


def test_undo_is_refused_once_something_else_happened(service, clock):
    open_window(service)
    # The no-show came back and was put in line again: that stands.
    ticket = called(service)
    service.act(ticket.id, "no_show", window=1, actor="clerk1")
    service.act(ticket.id, "late_return", window=1, actor="clerk1")
    with pytest.raises(errors.UndoStale) as refused:
        service.undo(ticket.id, window=1, actor="clerk1")
    assert refused.value.code == "undo_stale"
    # The window called the next citizen: the no-show cannot be put back over them.
    service.call_next(1, clerk="clerk1")
    current = service.current_ticket(1)
    assert current is not None
    service.act(current.id, "no_show", window=1, actor="clerk1")
    nxt = called(service)
    with pytest.raises(errors.WindowBusy):
        service.undo(current.id, window=1, actor="clerk1")
    assert service.ticket(current.id).state == "no_show" and service.ticket(nxt.id).state == "called"


def test_only_the_clerk_who_did_it_undoes_it_and_a_manager_may(service, clock):
    open_window(service)
    open_window(service, 2, "clerk2")
    ticket = called(service)
    service.act(ticket.id, "no_show", window=1, actor="clerk1")
    assert service.last_undoable(2, "clerk2") is None
    with pytest.raises(errors.UndoStale):
        service.undo(ticket.id, window=2, actor="clerk2")
    assert service.undo(ticket.id, window=None, actor="manager").state == "called"


def test_undo_refuses_other_actions(service):
    open_window(service)
    ticket = called(service)
    with pytest.raises(errors.UndoStale):
        service.undo(ticket.id, window=1, actor="clerk1")  # a call is not undone: that is a no-show
    with pytest.raises(errors.UnknownTicket):
        service.undo(999, window=1, actor="clerk1")


# ---------- suspend and break reasons ----------


def test_suspend_keeps_its_reason_for_the_list(service):
    open_window(service)
    ticket = called(service)
    service.act(ticket.id, "start", window=1)
    service.act(ticket.id, "suspend", window=1, reason="unwell")
    assert service.suspend_reasons([ticket.id]) == {ticket.id: "unwell"}
    assert service.suspend_reasons([]) == {}


def test_a_break_has_a_reason_and_call_next_names_it(service, clock):
    open_window(service)
    service.take_ticket(line="A")
    assert service.on_break(1) is None
    service.window_action(1, "pause", actor="clerk1", reason="meeting")
    pause = service.on_break(1)
    assert pause is not None and pause.reason == "meeting" and pause.since == clock.now()
    clock.advance(minutes=7)
    with pytest.raises(errors.WindowNotOpen) as refused:
        service.call_next(1, clerk="clerk1")
    assert refused.value.code == "window_not_open"
    assert "休息中（会议或培训，09:00 起）" in refused.value.message_zh
    assert refused.value.details == {"state": "paused", "reason": "meeting"}
    # A keypad's pause has no reason: the refusal says so.
    service.window_action(1, "resume", actor="clerk1")
    service.window_action(1, "pause", actor="keypad")
    with pytest.raises(errors.WindowNotOpen, match="no reason given"):
        service.call_next(1)
    with pytest.raises(errors.IllegalTransition):
        service.window_action(1, "resume", reason="lunch")
