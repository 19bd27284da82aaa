"""A whole morning through the JSON API alone, and who may do what."""

from __future__ import annotations

import pytest

from tongban.queue.service import replay
from tongban.queue.store import Store

from .apiclient import make_hall_client


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def test_twenty_tickets_two_lines_two_windows(hall, clock, tmp_path):
    issued = []
    for i in range(20):
        body = {"line": "A"} if i % 2 == 0 else {"matter": "M3"}
        if i % 2 and len([t for t in issued if t["line"] == "B"]) >= 5:
            body = {"matter": "M1"}  # line B's quota is 5 a day
        r = hall.call("POST", "/tickets", hall.kiosk, json=body)
        assert r.status_code == 201, r.get_json()
        issued.append(r.get_json())
        clock.advance(seconds=30)
    numbers = [t["number"] for t in issued]
    assert numbers[:4] == ["A001", "B001", "A002", "B002"]
    assert len(set(numbers)) == 20
    # People ahead counts the line, in the order it will be served.
    assert [t["people_ahead"] for t in issued if t["line"] == "B"] == [0, 1, 2, 3, 4]

    c1, c2 = hall.login("clerk1", window=1), hall.login("clerk2", window=2)
    assert hall.call("POST", "/windows/1/open", c1).status_code == 200
    assert hall.call("POST", "/windows/2/open", c2).status_code == 200
    served = []
    while len(served) < 20:
        for token, window in ((c1, 1), (c2, 2)):
            r = hall.call("POST", f"/windows/{window}/next", token)
            if r.status_code == 409 and r.get_json()["error"] == "nothing_waiting":
                continue
            assert r.status_code == 200, r.get_json()
            ticket = r.get_json()
            assert ticket["state"] == "called" and ticket["window"] == window
            clock.advance(minutes=1)
            assert hall.call("POST", f"/tickets/{ticket['id']}/start", token).get_json()["state"] == "serving"
            clock.advance(minutes=4)
            assert hall.call("POST", f"/tickets/{ticket['id']}/finish", token).get_json()["state"] == "done"
            served.append((window, ticket["number"]))
    # Window 1 serves only A; window 2 serves B first (its primary line) then A.
    assert all(number.startswith("A") for window, number in served if window == 1)
    assert [n for w, n in served if w == 2][:5] == ["B001", "B002", "B003", "B004", "B005"]
    # Oldest first within line A across both windows.
    a_order = [n for _, n in served if n.startswith("A")]
    assert a_order == sorted(a_order)

    store = Store(tmp_path / "api.db")
    try:
        rows = store.all("SELECT id FROM tickets")
        assert len(rows) == 20
        for row in rows:
            r = hall.call("GET", f"/tickets/{row['id']}", hall.login("manager"))
            body = r.get_json()
            events = [{"id": i, **e} for i, e in enumerate(body["events"])]
            assert replay(events)["state"] == body["state"] == "done"
    finally:
        store.close()
    lines = hall.call("GET", "/lines", hall.kiosk).get_json()
    assert {line["prefix"]: line["waiting"] for line in lines} == {"A": 0, "B": 0}
    assert lines[0]["service_min"] == pytest.approx(4.0)


def test_clerk_cannot_act_for_another_window(hall):
    c1, c2 = hall.login("clerk1", window=1), hall.login("clerk2", window=2)
    hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
    hall.call("POST", "/windows/1/open", c1)
    ticket = hall.call("POST", "/windows/1/next", c1).get_json()

    assert hall.call("POST", "/windows/1/next", c2).status_code == 403
    assert hall.call("POST", "/windows/1/pause", c2).status_code == 403
    r = hall.call("POST", f"/tickets/{ticket['id']}/finish", c2)
    assert r.status_code == 403 and r.get_json()["error"] == "wrong_window"
    r = hall.call("POST", f"/tickets/{ticket['id']}/no_show", c2)
    assert r.status_code == 403
    assert hall.call("PUT", "/windows/1/lines", c1, json={"lines": ["A", "B"]}).status_code == 403
    # The right clerk still can, and the ticket was not touched by the refusals.
    assert hall.call("POST", f"/tickets/{ticket['id']}/recall", c1).get_json()["recalls"] == 1


def test_terminals_and_public_are_refused_on_staff_routes(hall):
    assert hall.call("POST", "/windows/1/open", hall.kiosk).status_code == 403
    assert hall.call("PUT", "/windows/1/lines", hall.kiosk, json={"lines": ["A"]}).status_code == 403
    assert hall.call("POST", "/tickets", None, json={"line": "A"}).status_code == 401
    assert hall.call("GET", "/lines").status_code == 401
    assert hall.call("GET", "/lines", "t_not-a-token").get_json()["error"] == "bad_terminal"
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A", "green": True})
    assert r.status_code == 403  # green channel is confirmed by staff
    assert hall.http.get("/healthz").get_json()["status"] == "ok"
    assert hall.call("GET", "/matters").status_code == 200


def test_staff_record_why_a_green_ticket_has_priority(hall):
    manager = hall.login("manager")
    r = hall.call("POST", "/tickets", manager, json={"line": "A", "green": True, "green_reason": "disabled"})
    assert r.status_code == 201 and r.get_json()["green_reason"] == "disabled"
    assert hall.call("GET", f"/tickets/{r.get_json()['id']}", manager).get_json()["green_reason"] == "disabled"
    for body in ({"line": "A", "green": True, "green_reason": "vip"}, {"line": "A", "green_reason": "elderly"}):
        r = hall.call("POST", "/tickets", manager, json=body)
        assert r.status_code == 400 and r.get_json()["field"] == "green_reason"
    assert hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}).get_json()["green_reason"] is None


def test_refusals_name_the_problem(hall, clock):
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": 7})
    assert r.status_code == 400 and r.get_json()["field"] == "line"
    r = hall.call("POST", "/tickets", hall.kiosk, json={"matter": "NOPE"})
    assert r.status_code == 404 and r.get_json()["error"] == "unknown_matter"
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A", "colour": "red"})
    assert r.status_code == 400 and r.get_json()["field"] == "colour"
    for _ in range(5):
        assert hall.call("POST", "/tickets", hall.kiosk, json={"line": "B"}).status_code == 201
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": "B"})
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "quota_reached" and "今日号已取完" in body["message_zh"] and body["message_en"]
    clock.advance(hours=8)  # 17:00, after line A's last issue time 16:30
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
    assert r.status_code == 409 and r.get_json()["error"] == "line_closed"
    clock.advance(hours=4)  # 21:00
    r = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
    assert r.status_code == 409 and r.get_json()["error"] == "hall_closed"
