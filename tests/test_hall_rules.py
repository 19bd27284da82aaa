"""Hall rules that came out of review: what a clerk or a returning citizen would trip over."""

from __future__ import annotations

from datetime import datetime

import pytest

from tongban.config import ConfigError, parse_hall_config
from tongban.queue import errors
from tongban.queue.service import HallService

from .apiclient import make_hall_client
from .conftest import SHANGHAI, small_hall_doc


def _served(service, window=1):
    service.take_ticket(line="A")
    if service.window(window).state == "closed":
        service.window_action(window, "open", clerk=f"clerk{window}")
    ticket = service.call_next(window)
    return service.act(ticket.id, "start", window=window)


def test_a_returning_no_show_can_be_put_back_by_any_window(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    c1, c2 = hall.login("clerk1", window=1), hall.login("clerk2", window=2)
    hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
    hall.call("POST", "/windows/1/open", c1)
    ticket = hall.call("POST", "/windows/1/next", c1).get_json()
    early = hall.call("POST", f"/tickets/{ticket['id']}/no_show", c1)
    assert early.status_code == 409 and early.get_json()["error"] == "no_show_unconfirmed"  # the API's second press:
    assert hall.call("POST", f"/tickets/{ticket['id']}/no_show", c1, json={"confirm": True}).status_code == 200
    r = hall.call("POST", f"/tickets/{ticket['id']}/late_return", c2)
    assert r.status_code == 200 and r.get_json()["state"] == "waiting"
    # Everything else about another window's ticket stays refused.
    hall.call("POST", "/windows/1/next", c1)
    assert hall.call("POST", f"/tickets/{ticket['id']}/start", c2).status_code == 403


def test_a_suspended_ticket_cannot_resume_at_a_closed_window(service):
    ticket = _served(service)
    service.act(ticket.id, "suspend", window=1)
    service.window_action(1, "close")
    with pytest.raises(errors.WindowNotOpen):
        service.act(ticket.id, "resume", window=1)
    service.window_action(1, "open", clerk="clerk1")
    assert service.act(ticket.id, "resume", window=1).state == "serving"


@pytest.mark.parametrize("state", ["called", "serving"])
def test_transfer_into_its_own_line_is_refused(service, state):
    ticket = _served(service) if state == "serving" else None
    if ticket is None:
        service.take_ticket(line="A")
        service.window_action(1, "open", clerk="clerk1")
        ticket = service.call_next(1)
    with pytest.raises(errors.IllegalTransition):
        service.act(ticket.id, "transfer", window=1, to_line="A")
    assert service.ticket(ticket.id).transferred is False


def test_roll_over_started_mid_morning_leaves_todays_windows_alone(store, hall_config, clock):
    service = HallService(store, hall_config, clock)
    service.sync_with_config()
    clock.set(datetime(2026, 11, 25, 16, 0, tzinfo=SHANGHAI))  # yesterday
    service.window_action(2, "open", clerk="clerk2")  # left open overnight
    service.set_serving(2, ["A"])
    clock.set(datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI))  # devices start late after a power cut
    ticket = _served(service, window=1)  # window 1 is already at work today
    service.set_serving(1, ["A", "B"])
    result = service.roll_over()
    assert result["closed_windows"] == 1
    assert service.window(1).state == "open" and service.window(1).serving == ("A", "B")
    assert service.ticket(ticket.id).state == "serving"
    assert service.window(2).state == "closed" and service.window(2).serving == ("B", "A")


def test_a_period_may_run_to_midnight(clock):
    doc = small_hall_doc()
    doc["hall"]["hours"]["thu"] = ["00:00-24:00"]
    config = parse_hall_config(doc)
    assert str(config.hall.hours["thu"][0]) == "00:00-24:00"
    doc["hall"]["hours"]["thu"] = ["08:00-24:30"]
    with pytest.raises(ConfigError) as err:
        parse_hall_config(doc)
    assert err.value.problems[0].startswith("hall.hours.thu[0]:")


def test_a_hall_open_to_midnight_issues_at_one_minute_to(store, clock):
    doc = small_hall_doc()
    doc["hall"]["hours"]["thu"] = ["00:00-24:00"]
    del doc["lines"][0]["last_issue"]
    service = HallService(store, parse_hall_config(doc), clock)
    service.sync_with_config()
    clock.set(datetime(2026, 11, 26, 23, 59, 30, tzinfo=SHANGHAI))
    assert service.take_ticket(line="A").ticket.number == "A001"


def test_duplicate_codes_say_what_was_expected():
    doc = small_hall_doc()
    doc["matters"][1]["code"] = "M1"
    with pytest.raises(ConfigError) as err:
        parse_hall_config(doc)
    assert any(p.startswith("matters[1].code: duplicate matter code 'M1' (expected") for p in err.value.problems)
