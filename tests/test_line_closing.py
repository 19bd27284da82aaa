"""A manager closes a line to new tickets with a reason, and opens it again (issue 16, manager tools):
the domain call and its events, the manager console, the API, the kiosk's refusal screen and the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tongban.cli import main
from tongban.queue import errors
from tongban.queue.service import LINE_REASON_MAX
from tongban.queue.store import Store

from .apiclient import make_hall_client
from .test_staff_pages import staff, text

REASON = "系统升级，约 30 分钟 / System upgrade, about 30 minutes"


def _line_events(store) -> list[dict]:
    return [
        {**dict(r), "data": json.loads(r["data"])}
        for r in store.all("SELECT * FROM events WHERE action IN ('line_close', 'line_open') ORDER BY id")
    ]


# ---------- the domain ----------


def test_closing_a_line_refuses_its_tickets_and_records_who_when_why(service, store, clock):
    service.take_ticket(line="A")
    state = service.close_line("A", f"  {REASON} ", actor="manager")
    assert state.closed and state.reason == REASON and state.closed_by == "manager"
    assert state.closed_at == clock.now()
    with pytest.raises(errors.LineClosed) as refused:
        service.take_ticket(line="A")
    assert refused.value.details == {"reason": "closed_by_manager", "detail": REASON}
    with pytest.raises(errors.LineClosed):
        service.check_issuable("A")
    service.take_ticket(line="B")  # other lines go on
    assert [s.closed for s in service.line_states()] == [True, False]
    (event,) = _line_events(store)
    assert (event["action"], event["actor"], event["from_state"], event["to_state"]) == (
        "line_close",
        "manager",
        "open",
        "closed",
    )
    assert event["data"] == {"line": "A", "reason": REASON} and event["ticket_id"] is None

    clock.advance(minutes=30)
    state = service.open_line("A", actor="manager2")
    assert not state.closed and state.reason is None and state.closed_at is None
    service.take_ticket(line="A")
    opened = _line_events(store)[-1]
    assert opened["action"] == "line_open" and opened["actor"] == "manager2"
    assert opened["data"] == {"line": "A", "closed_reason": REASON}
    assert opened["at"] > event["at"]


def test_the_tickets_already_taken_are_still_called(service):
    waiting = service.take_ticket(line="A").ticket
    service.close_line("A", "午间检修", actor="manager")
    service.window_action(1, "open", clerk="clerk1")
    assert service.call_next(1, clerk="clerk1").id == waiting.id


def test_repeats_change_nothing_and_a_new_reason_rewords(service, store, clock):
    service.open_line("A", actor="m")  # open already: no event
    service.close_line("A", "检修", actor="m")
    service.close_line("A", "检修", actor="m")  # the same: no event
    clock.advance(minutes=5)
    state = service.close_line("A", "检修延长", actor="m2")
    assert state.reason == "检修延长" and state.closed_by == "m2" and state.closed_at == clock.now()
    assert [(e["action"], e["from_state"]) for e in _line_events(store)] == [
        ("line_close", "open"),
        ("line_close", "closed"),
    ]


@pytest.mark.parametrize("reason", ["", "   ", "x" * (LINE_REASON_MAX + 1)])
def test_a_reason_is_required_and_short(service, store, reason):
    with pytest.raises(errors.ReasonRequired) as refused:
        service.close_line("A", reason, actor="m")
    assert refused.value.code == "invalid_input" and refused.value.details["field"] == "reason"
    assert refused.value.message_zh and refused.value.message_en
    assert not service.line_states()[0].closed and not _line_events(store)


def test_an_unknown_line_is_named(service):
    with pytest.raises(errors.UnknownLine):
        service.close_line("Z", "x")
    with pytest.raises(errors.UnknownLine):
        service.open_line("Z")


# ---------- pages and API ----------


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def _kiosk(hall):
    client = hall.app.test_client()
    assert client.get(f"/enrol?token={hall.kiosk}").status_code == 302
    return client


def test_the_manager_closes_and_opens_a_line_from_the_console_and_the_kiosk_says_why(hall):
    manager = staff(hall, "manager")
    page = text(manager.get("/manage/"))
    assert 'data-line-state="A" data-closed="no"' in page and 'sse-swap="lines"' in page
    r = manager.post("/manage/lines/A/close", {"reason": REASON})
    assert r.status_code == 200 and "A 队列已暂停取号" in text(r) and 'data-closed="yes"' in text(r)
    assert "经理 于 09:00 暂停" in text(r)
    assert 'data-line-state="A" data-closed="yes"' in text(manager.get("/manage/"))

    kiosk = _kiosk(hall)
    screen = text(kiosk.get("/kiosk/kiosk-1/lines/A"))
    assert 'id="k-closed-reason"' in screen
    assert "系统升级，约 30 分钟" in screen and "System upgrade, about 30 minutes" in screen
    assert "原因" in screen and "Reason" in screen
    refused = hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
    assert refused.status_code == 409 and refused.get_json()["detail"] == REASON

    r = manager.post("/manage/lines/A/open")
    assert r.status_code == 200 and "A 队列已恢复取号" in text(r)
    assert hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"}).status_code == 201


def test_the_console_refuses_an_empty_reason_and_an_unknown_line_and_clerks(hall):
    manager = staff(hall, "manager")
    r = manager.post("/manage/lines/A/close", {"reason": " "})
    assert r.status_code == 400 and "原因" in text(r)
    assert manager.post("/manage/lines/A/close").status_code == 400
    assert manager.post("/manage/lines/Q/close", {"reason": "x"}).status_code == 404
    assert manager.post("/manage/lines/Q/open").status_code == 404
    clerk = staff(hall, "clerk1", window=1)
    assert clerk.post("/manage/lines/A/close", {"reason": "x"}).status_code == 403


def test_the_api_closes_and_opens_for_managers_only(hall):
    manager = hall.login("manager")
    r = hall.call("POST", "/lines/B/close", manager, json={"reason": "停电"})
    assert r.status_code == 200 and r.get_json()["closed"] and r.get_json()["reason"] == "停电"
    line_b = hall.call("GET", "/lines", hall.kiosk).get_json()[1]
    assert line_b["closed"] and line_b["closed_reason"] == "停电"
    assert hall.call("POST", "/lines/B/close", manager, json={"reason": 3}).status_code == 400
    assert hall.call("POST", "/lines/B/close", manager, json={"reason": "x", "why": 1}).status_code == 400
    assert hall.call("POST", "/lines/B/open", hall.kiosk).status_code == 403
    assert hall.call("POST", "/lines/B/open", hall.login("clerk1", window=1)).status_code == 403
    assert hall.call("POST", "/lines/B/open", manager).get_json()["closed"] is False


# ---------- the command line ----------


def test_the_cli_closes_lists_and_opens_a_line(tmp_path):
    db = str(tmp_path / "hall.db")
    hall_file = "config/street-hall.toml"
    runner = CliRunner()
    prefix = _first_prefix(hall_file)
    closed = runner.invoke(main, ["line", "close", prefix, "--reason", "系统维护", "--config", hall_file, "--db", db])
    assert closed.exit_code == 0, closed.output
    assert "closed" in closed.output and "系统维护" in closed.output and "operator (cli)" in closed.output
    listed = runner.invoke(main, ["line", "list", "--config", hall_file, "--db", db])
    assert listed.exit_code == 0 and f"{prefix:<4} closed" in listed.output
    opened = runner.invoke(main, ["line", "open", prefix, "--config", hall_file, "--db", db, "--by", "王经理"])
    assert opened.exit_code == 0 and f"{prefix:<4} open" in opened.output
    store = Store(db)
    try:
        assert [r["actor"] for r in store.all("SELECT actor FROM events ORDER BY id")] == ["operator (cli)", "王经理"]
    finally:
        store.close()
    empty = runner.invoke(main, ["line", "close", prefix, "--reason", " ", "--config", hall_file, "--db", db])
    assert empty.exit_code == 1 and "Say why" in empty.output
    unknown = runner.invoke(main, ["line", "open", "ZZ", "--config", hall_file, "--db", db])
    assert unknown.exit_code == 1 and "ZZ" in unknown.output
    for args in (["line", "--help"], ["line", "close", "--help"], ["line", "open", "--help"]):
        assert runner.invoke(main, args).exit_code == 0


def _first_prefix(hall_file: str) -> str:
    from tongban.config import load_hall_config

    return load_hall_config(hall_file).lines[0].prefix
