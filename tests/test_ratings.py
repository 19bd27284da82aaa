"""好差评: one rating per service event, in the events log, from the window's own pad only."""

from __future__ import annotations

import pytest

from tongban.queue import errors, ratings
from tongban.queue.accounts import Accounts
from tongban.queue.service import replay
from tongban.queue.store import Store
from tongban.web.api.openapi import openapi_document

from .apiclient import make_hall_client
from .test_openapi import _validator


def _served(service, clock, window=1, clerk="clerk1"):
    service.window_action(window, "open", clerk=clerk)
    ticket = service.take_ticket(matter="M1").ticket
    service.call_next(window, clerk=clerk)
    service.act(ticket.id, "start", window=window, actor=clerk)
    clock.advance(minutes=6)
    return service.act(ticket.id, "finish", window=window, actor=clerk)


def test_a_rating_is_one_event_with_ticket_window_clerk_and_matter(service, store, clock):
    ticket = _served(service, clock)
    result = ratings.rate(
        store,
        ticket.id,
        1,
        ["long_wait", "attitude"],
        "  等了  很久 ",
        now=clock.now(),
        actor="terminal:pad-1",
        window=1,
    )
    assert result["level"] == 1 and result["comment"] == "等了 很久"
    events = [e for e in service.events(ticket.id) if e["action"] == "rate"]
    assert len(events) == 1
    data = events[0]["data"]
    assert data == {
        "level": 1,
        "level_zh": "非常不满意",
        "reasons": ["long_wait", "attitude"],
        "comment": "等了 很久",
        "rated": True,
        "window": 1,
        "clerk": "clerk1",
        "matter": "M1",
        "line": "A",
        "number": ticket.number,
    }
    assert events[0]["window"] == 1 and events[0]["actor"] == "terminal:pad-1"
    assert service.ticket(ticket.id).rated
    # The log still replays: rating does not move the ticket out of "done".
    assert replay(service.events(ticket.id))["state"] == "done"


def test_a_second_rating_for_the_same_service_is_refused(service, store, clock):
    ticket = _served(service, clock)
    ratings.rate(store, ticket.id, 5, now=clock.now())
    with pytest.raises(errors.AlreadyRated):
        ratings.rate(store, ticket.id, 4, now=clock.now())
    with pytest.raises(errors.AlreadyRated):
        ratings.expire_rating(store, ticket.id, now=clock.now())
    assert [e["data"]["level"] for e in service.events(ticket.id) if e["action"] == "rate"] == [5]


def test_only_finished_services_can_be_rated_and_only_from_their_window(service, store, clock):
    service.window_action(1, "open", clerk="clerk1")
    ticket = service.take_ticket(matter="M1").ticket
    with pytest.raises(errors.IllegalTransition):
        ratings.rate(store, ticket.id, 5, now=clock.now())
    service.call_next(1, clerk="clerk1")
    service.act(ticket.id, "start", window=1)
    service.act(ticket.id, "finish", window=1)
    with pytest.raises(errors.WrongWindow):
        ratings.rate(store, ticket.id, 5, now=clock.now(), window=2)
    with pytest.raises(errors.UnknownTicket):
        ratings.rate(store, 999, 5, now=clock.now())


@pytest.mark.parametrize(
    "level, reasons, comment, field",
    [
        (0, [], None, "level"),
        (6, [], None, "level"),
        (True, [], None, "level"),
        ("5", [], None, "level"),
        (1, ["rude"], None, "reasons"),
        (5, ["long_wait"], None, "reasons"),
        (2, [], "x" * 201, "comment"),
        (2, [], 12, "comment"),
    ],
)
def test_what_a_pad_cannot_send(level, reasons, comment, field):
    with pytest.raises(ratings.InvalidRating) as caught:
        ratings.check(level, reasons, comment)
    assert caught.value.field == field


def test_the_pad_asks_until_its_timeout_then_records_not_rated(service, store, clock):
    ticket = _served(service, clock)
    pending = ratings.pending(store, 1, clock.now(), timeout_s=60)
    assert pending and pending.ticket_id == ticket.id and pending.number == ticket.number
    assert ratings.expire_stale(store, 1, clock.now(), timeout_s=60) == []  # still inside the timeout
    clock.advance(seconds=61)
    assert ratings.pending(store, 1, clock.now(), timeout_s=60) is None
    assert ratings.expire_stale(store, 1, clock.now(), timeout_s=60) == [ticket.id]
    rating = ratings.rating_of(store, ticket.id)
    assert rating["rated"] is False and rating["level"] is None and rating["level_zh"] == "未评价"
    assert ratings.expire_stale(store, 1, clock.now(), timeout_s=60) == []
    with pytest.raises(errors.AlreadyRated):
        ratings.rate(store, ticket.id, 5, now=clock.now())


def test_api_rating_from_the_windows_pad_only(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    store = Store(tmp_path / "api.db")
    accounts = Accounts(store, clock)
    pad1 = accounts.add_terminal("pad-1", "pad", "1号评价器", window=1)
    pad2 = accounts.add_terminal("pad-2", "pad", "2号评价器", window=2)
    store.close()
    clerk = hall.login("clerk1", window=1)
    manager = hall.login("manager")
    hall.call("POST", "/windows/1/open", clerk)
    ticket = hall.call("POST", "/tickets", hall.kiosk, json={"matter": "M1"}).get_json()
    hall.call("POST", "/windows/1/next", clerk)
    hall.call("POST", f"/tickets/{ticket['id']}/start", clerk)
    hall.call("POST", f"/tickets/{ticket['id']}/finish", clerk)

    assert hall.call("POST", f"/tickets/{ticket['id']}/rate", clerk, json={"level": 5}).status_code == 403
    assert hall.call("POST", f"/tickets/{ticket['id']}/rate", manager, json={"level": 5}).status_code == 403
    assert hall.call("POST", f"/tickets/{ticket['id']}/rate", hall.kiosk, json={"level": 5}).status_code == 403
    assert hall.call("POST", f"/tickets/{ticket['id']}/rate", pad2, json={"level": 5}).status_code == 403
    bad = hall.call("POST", f"/tickets/{ticket['id']}/rate", pad1, json={"level": 9})
    assert bad.status_code == 400 and bad.get_json()["field"] == "level"
    ok = hall.call(
        "POST", f"/tickets/{ticket['id']}/rate", pad1, json={"level": 2, "reasons": ["slow"], "comment": "材料退回两次"}
    )
    assert ok.status_code == 201 and ok.get_json()["window"] == 1 and ok.get_json()["clerk"] == "clerk1"
    again = hall.call("POST", f"/tickets/{ticket['id']}/rate", pad1, json={"level": 5})
    assert again.status_code == 409 and again.get_json()["error"] == "already_rated"
    doc = openapi_document()
    for response in (ok, again, bad):
        _validator(doc, "/api/v1/tickets/{ticket_id}/rate", "post", response.status_code).validate(response.get_json())
