"""Ticket and window action names have one source: the domain's TRANSITIONS and WINDOW_TRANSITIONS.

The API's accepted actions, the OpenAPI document's enums and the consoles' buttons are derived from
those tables; these tests fail when any of them names an action the tables do not have, leaves out
one they have, or offers a button in a state the tables do not allow it from.
"""

from __future__ import annotations

import re

import pytest

from tongban.config import parse_hall_config
from tongban.queue.service import TICKET_ACTIONS, TRANSITIONS, WINDOW_TRANSITIONS
from tongban.web.api.openapi import openapi_document
from tongban.web.window.routes import CONSOLE_ACTIONS

from .apiclient import PASSWORD, csrf_token, make_hall_client
from .conftest import small_hall_doc

# Not per-ticket actions anyone names in a URL: call_next picks the ticket, the roll-over expires.
NOT_NAMED = {"call", "expire"}
STAFF_TICKET_ACTIONS = set(TRANSITIONS) - NOT_NAMED
EVERY_NAME = sorted(set(TRANSITIONS) | set(WINDOW_TRANSITIONS) | {"fly"})


def allowed_from(state: str) -> set[str]:
    return {action for action, (states, _target) in TRANSITIONS.items() if state in states}


def window_allowed_from(state: str) -> set[str]:
    return {action for action, (states, _target) in WINDOW_TRANSITIONS.items() if state in states}


@pytest.fixture
def hall(tmp_path, clock):
    return make_hall_client(tmp_path, parse_hall_config(small_hall_doc(), "small-hall"), clock)


class Staff:
    """A signed-in browser session posting as htmx does."""

    def __init__(self, hall, username: str, window: int | None = None):
        self.client = hall.app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        form = {"csrf_token": csrf_token(page), "username": username, "password": PASSWORD}
        assert self.client.post("/login", data={**form, "window": str(window or "")}).status_code == 302
        home = self.client.get(f"/window/{window}" if window else "/manage/").get_data(as_text=True)
        self.csrf = re.search(r'X-CSRFToken": "([^"]+)"', home).group(1)

    def get(self, url: str) -> str:
        r = self.client.get(url)
        assert r.status_code == 200, (url, r.status_code)
        return r.get_data(as_text=True)

    def post(self, url: str, data=None):
        return self.client.post(url, data=data or {}, headers={"X-CSRFToken": self.csrf, "HX-Request": "true"})


def _between(page: str, start: str, end: str) -> str:
    i = page.index(start)
    return page[i : page.index(end, i)]


def _ticket_buttons(page: str) -> set[str]:
    """The actions the console's current ticket offers (disabled buttons left out)."""
    section = _between(page, 'class="actions"', 'class="guide"')
    found = set(re.findall(r'hx-post="/window/\d+/ticket/\d+/(\w+)"', section))
    if "data-open-transfer" in section:  # the transfer dialog posts to /window/<n>/transfer
        found.add("transfer")
    return found


def _window_buttons(page: str) -> set[str]:
    return set(re.findall(r'hx-post="/window/\d+/state/(\w+)"', _between(page, 'id="win-state"', "</div>")))


# ---------- the domain's own derived names ----------


def test_ticket_actions_are_the_transitions_staff_name():
    assert set(TICKET_ACTIONS) == STAFF_TICKET_ACTIONS
    # The console has a button for every one but these: a no-show is put back by number on its own
    # form, and cancelling is the API's (a citizen who leaves).
    assert set(TICKET_ACTIONS) - set(CONSOLE_ACTIONS) == {"cancel", "late_return"}
    assert set(CONSOLE_ACTIONS) <= set(TICKET_ACTIONS)


# ---------- the OpenAPI document ----------


def test_openapi_enums_are_the_transition_tables():
    enums = {
        path: param["schema"]["enum"]
        for path, methods in openapi_document()["paths"].items()
        for operation in methods.values()
        for param in operation.get("parameters", ())
        if param["name"] == "action"
    }
    assert enums == {
        "/api/v1/tickets/{ticket_id}/{action}": sorted(STAFF_TICKET_ACTIONS),
        "/api/v1/windows/{number}/{action}": sorted(WINDOW_TRANSITIONS),
    }


# ---------- the API's routes ----------


def test_the_api_accepts_exactly_the_transition_names(hall):
    manager = hall.login("manager")
    # An unknown ticket or window: an accepted name gets as far as the service (unknown_ticket,
    # unknown_window, or a missing field), a refused one is not_found before anything is looked up.
    for name in EVERY_NAME:
        ticket = hall.call("POST", f"/tickets/999999/{name}", manager, json={}).get_json()
        assert (ticket["error"] != "not_found") == (name in STAFF_TICKET_ACTIONS), (name, ticket)
        window = hall.call("POST", f"/windows/999/{name}", manager, json={}).get_json()
        assert (window["error"] != "not_found") == (name in WINDOW_TRANSITIONS), (name, window)


# ---------- the consoles ----------


def test_the_console_routes_accept_exactly_their_transition_names(hall):
    clerk = Staff(hall, "clerk1", window=1)
    manager = Staff(hall, "manager")
    # An accepted name answers with a toast (done, or refused by the service); another is a 404 page.
    for name in EVERY_NAME:
        for who, url, accepted in (
            (clerk, f"/window/1/ticket/999999/{name}", name in CONSOLE_ACTIONS),
            (clerk, f"/window/1/state/{name}", name in WINDOW_TRANSITIONS),
            (manager, f"/manage/windows/999/state/{name}", name in WINDOW_TRANSITIONS),
        ):
            answer = who.post(url)
            assert ('class="toast' in answer.get_data(as_text=True)) == accepted, (url, answer.status_code)


def test_console_buttons_are_what_transitions_allow(hall):
    clerk = Staff(hall, "clerk1", window=1)
    manager = Staff(hall, "manager")
    seen_ticket, seen_window = set(), set()

    def check_matrix() -> None:
        """The manager's matrix: each window's buttons are what its state allows."""
        matrix = manager.get("/manage/")
        states = {w["number"]: w["state"] for w in hall.call("GET", "/windows", hall.login("manager")).get_json()}
        offered: dict[int, set[str]] = {n: set() for n in states}
        for number, action in re.findall(r'hx-post="/manage/windows/(\d+)/state/(\w+)"', matrix):
            offered[int(number)].add(action)
        assert offered == {n: window_allowed_from(state) for n, state in states.items()}

    def check(ticket_state: str | None, window_state: str) -> str:
        page = clerk.get("/window/1")
        expected = window_allowed_from(window_state)
        assert _window_buttons(page) == expected, window_state
        seen_window.update(expected)
        if ticket_state is not None:
            # At the recall limit recall is still offered: the service's refusal says the limit.
            expected = allowed_from(ticket_state) & set(CONSOLE_ACTIONS)
            assert _ticket_buttons(page) == expected, (ticket_state, _ticket_buttons(page))
            seen_ticket.update(expected)
        return page

    check(None, "closed")
    check_matrix()
    clerk.post("/window/1/state/open")
    first = hall.call("POST", "/tickets", hall.kiosk, json={"matter": "M1"}).get_json()
    second = hall.call("POST", "/tickets", hall.kiosk, json={"matter": "M1"}).get_json()
    check(None, "open")
    clerk.post("/window/1/next")
    check("called", "open")
    for _ in range(hall.app.config["HALL"].hall.max_recalls):
        clerk.post(f"/window/1/ticket/{first['id']}/recall")
    check("called", "open")
    clerk.post(f"/window/1/ticket/{first['id']}/start")
    check("serving", "open")
    clerk.post(f"/window/1/ticket/{first['id']}/suspend", {"reason": "materials"})
    clerk.post("/window/1/next")
    clerk.post(f"/window/1/ticket/{second['id']}/start")
    clerk.post(f"/window/1/ticket/{second['id']}/finish")
    page = check(None, "open")
    suspended = set(re.findall(r'hx-post="/window/1/ticket/\d+/(\w+)"', _between(page, 'id="suspended"', "</section>")))
    assert suspended == allowed_from("suspended") & set(CONSOLE_ACTIONS)
    seen_ticket.update(suspended)
    clerk.post("/window/1/state/pause", {"reason": "rest"})
    check(None, "paused")
    # Every console action and every window action was offered somewhere along the way.
    assert seen_ticket == set(CONSOLE_ACTIONS) and seen_window == set(WINDOW_TRANSITIONS)

    manager.post("/manage/windows/2/state/open")
    check_matrix()
