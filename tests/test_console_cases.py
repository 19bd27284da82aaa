"""The clerk console and the manager's pages lead to case work: a served
proxy ticket offers "open a case", a just-finished one still does, flagged cases show on both
consoles, the day report counts cases, and a returning no-show is put back in line from the console."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tongban.queue.reports import day_report
from tongban.queue.store import Store

from .apiclient import csrf_token, make_hall_client
from .test_cases_pages import Desk, _db, served_ticket, sign_in


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def _console(client, window: int) -> str:
    return client.get(f"/window/{window}").get_data(as_text=True)


def test_a_served_proxy_ticket_offers_a_case_before_and_after_finishing(hall):
    ticket = served_ticket(hall, "M3")  # proxy matter, served at window 2
    clerk = sign_in(hall, "clerk2", 2)
    assert f'href="/cases/new?ticket={ticket}"' in _console(clerk, 2)
    page = _console(clerk, 2)
    clerk.post(f"/window/2/ticket/{ticket}/finish", data={}, headers={"X-CSRFToken": csrf_token(page)})
    after = _console(clerk, 2)
    assert "刚办结：B001" in after and f'href="/cases/new?ticket={ticket}"' in after


def test_an_on_site_matter_offers_no_case(hall):
    served_ticket(hall, "M1")  # on-site matter at window 1
    assert "/cases/new?ticket=" not in _console(sign_in(hall, "clerk1", 1), 1)


def test_an_opened_case_links_from_the_console_and_counts_in_the_day_report(hall, clock):
    ticket = served_ticket(hall, "M3")
    desk = Desk(hall, "clerk2", 2)
    case_id = desk.open_case(ticket, materials={0: 1, 1: 1})
    assert f'href="/cases/{case_id}"' in _console(desk.client, 2)
    store = Store(_db(hall), migrate=False)
    try:
        report = day_report(store, hall.app.config["HALL"], "2026-11-26")
    finally:
        store.close()
    assert report.rows("cases") == [{"opened": 1, "sent": 0, "delivered": 0, "overdue": 0}]
    manager = sign_in(hall, "manager")
    page = manager.get("/manage/report?day=2026-11-26").get_data(as_text=True)
    assert 'data-table="cases"' in page
    rows = list(
        csv.reader(
            io.StringIO(manager.get("/manage/report/cases.csv?day=2026-11-26").get_data(as_text=True).lstrip("\ufeff"))
        )
    )
    assert rows[0][0].startswith("受理") and rows[1] == ["1", "0", "0", "0"]


def test_overdue_cases_show_on_both_consoles_until_handled(hall, clock):
    ticket = served_ticket(hall, "M3")  # 3 working days: due Tuesday 2026-12-01
    desk = Desk(hall, "clerk2", 2)
    case_id = desk.open_case(ticket, materials={0: 1, 1: 1})
    number = re.search(r"KS-\d{8}-\d{3}", desk.client.get(f"/cases/{case_id}").get_data(as_text=True)).group(0)
    desk.next_day(clock, 7)  # the next Thursday: past due
    assert number in _console(desk.client, 2)
    assert number in sign_in(hall, "manager").get("/manage/").get_data(as_text=True)


def test_a_returning_no_show_is_put_back_in_line_from_the_console(hall, clock):
    for _ in range(4):
        hall.call("POST", "/tickets", hall.kiosk, json={"line": "A"})
        clock.advance(minutes=1)
    api_clerk = hall.login("clerk1", window=1)
    hall.call("POST", "/windows/1/open", api_clerk)
    first = hall.call("POST", "/windows/1/next", api_clerk).get_json()
    hall.call("POST", f"/tickets/{first['id']}/no_show", api_clerk, json={"confirm": True})
    clerk = sign_in(hall, "clerk2", 2)  # they come back to another window
    page = _console(clerk, 2)
    r = clerk.post("/window/2/late-return", data={"number": "a001"}, headers={"X-CSRFToken": csrf_token(page)})
    assert r.status_code == 200 and "A001 号已重新排队，前面还有 2 人" in r.get_data(as_text=True)
    r = clerk.post("/window/2/late-return", data={"number": "A001"}, headers={"X-CSRFToken": csrf_token(page)})
    assert r.status_code == 409  # already waiting: not a no-show any more
