"""What a citizen is told is the same everywhere, and true (docs/architecture.md §Forecast): the kiosk's
screen, the printed slip, the API and the phone status page give one ticket the same people ahead,
minutes and windows at the same moment; and nobody is promised minutes while no open window with a
clerk at it serves the line."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tongban.config import parse_hall_config
from tongban.devices.print_worker import build_slip
from tongban.printers.layout import Pair, ticket_layout
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .apiclient import make_hall_client
from .conftest import SHANGHAI, small_hall_doc
from .test_kiosk import confirm_form, kiosk, number_on, take, text


def hall_doc(**hall) -> dict:
    doc = small_hall_doc()
    doc["hall"].update(hall)
    doc["printers"] = [{"id": "printer-1", "url": "dummy://"}]
    doc["kiosks"] = [{"id": "kiosk-1", "name": "1号取号机", "printer": "printer-1"}]
    return doc


def service_of(hall) -> HallService:
    return HallService(Store(hall.app.config["DATABASE"]), hall.app.config["HALL"], hall.app.config["CLOCK"])


def surfaces(hall, client, ticket_id: int, token: str, kiosk_html: str) -> dict[str, tuple]:
    """(people ahead, minutes low–high or None, windows, "you are next") as each surface tells it."""
    service = service_of(hall)
    ticket = service.ticket(ticket_id)
    told = {}

    ahead = re.search(r'id="k-ahead"[^>]*>[^0-9<]*(\d+)', kiosk_html)
    k_next = re.search(r'id="k-ahead"[^>]*>([^<]*)<', kiosk_html)
    span = re.search(r'id="k-estimate">[^<]*?(\d+)[–-](\d+)', kiosk_html)
    windows = re.search(r'id="k-windows">(.*?)</div>', kiosk_html, re.S)
    told["kiosk"] = (
        int(ahead.group(1)) if ahead else 0,
        (int(span.group(1)), int(span.group(2))) if span else None,
        tuple(
            sorted(
                int(n)
                for line in re.findall(r'class="k-windows-line"><span class="p">([^<]*)<', windows.group(1))
                for n in re.findall(r"\d+", line.split("号")[0])
            )
        )
        if windows and "k-no-window" not in windows.group(1)
        else (),
        bool(k_next) and "下一位就是您" in k_next.group(1),
    )

    slip = build_slip(service, ticket)
    estimate = (slip.estimate_low_min, slip.estimate_high_min) if slip.estimate_low_min is not None else None
    printed = [b.zh for b in ticket_layout(slip) if isinstance(b, Pair)]
    told["slip"] = (
        slip.people_ahead,
        estimate,
        tuple(sorted(slip.windows)),
        any("前面没有人" in line for line in printed),
    )

    body = hall.call("GET", f"/tickets/{ticket_id}", hall.kiosk).get_json()
    est = body["estimate"]
    told["api"] = (
        body["people_ahead"],
        (est["low"], est["high"]) if est else None,
        tuple(sorted(body["windows"])),
        body["next"],
    )

    page = text(client.get(f"/t/{token}"))
    s_ahead = re.search(r'id="s-ahead"[^>]*>([^<]*)<', page)
    s_span = re.search(r'id="s-estimate">[^<]*?(\d+)[–-](\d+)', page)
    s_windows = re.search(r'class="s-windows">(.*?)</p>', page, re.S)
    told["status page"] = (
        int(s_ahead.group(1)) if s_ahead.group(1).isdigit() else 0,
        (int(s_span.group(1)), int(s_span.group(2))) if s_span else None,
        tuple(sorted(int(n) for n in re.findall(r"(\d+)", s_windows.group(1)))) if s_windows else (),
        "下一位就是您" in s_ahead.group(1),
    )

    outlook = service.ticket_outlook(ticket)
    truth = (
        outlook.people_ahead,
        (outlook.estimate.low, outlook.estimate.high) if outlook.estimate else None,
        tuple(sorted(outlook.windows)),
        outlook.is_next,
    )
    service.store.close()
    return {"domain": truth, **told}


def surfaces_of_a_kiosk_ticket(hall, line: str = "A") -> tuple[dict[str, tuple], str, object, str]:
    """Take a ticket at the kiosk as a citizen does, then ask every surface about it: (what each
    surface tells, the kiosk's ticket screen, the kiosk's client, the ticket's status token)."""
    client = kiosk(hall)
    taken = take(client, {**confirm_form(client, f"/kiosk/kiosk-1/lines/{line}"), "line": line})
    check = service_of(hall)
    ticket = next(t for t in check.waiting() if t.number == number_on(taken))
    check.store.close()
    html = text(taken)
    return surfaces(hall, client, ticket.id, ticket.token, html), html, client, ticket.token


@pytest.fixture
def hall(tmp_path, clock):
    return make_hall_client(tmp_path, parse_hall_config(hall_doc(), "one-outlook"), clock)


def test_every_surface_tells_one_ticket_the_same_wait_and_windows(hall):
    service = service_of(hall)
    service.window_action(1, "open", clerk="clerk1")
    service.window_action(2, "open", clerk="clerk2")
    for line in ("A", "B", "A", "B", "A"):
        service.take_ticket(line=line)
        service.clock.advance(seconds=40)
    service.take_ticket(line="B", green=True)  # passes ahead on window 2, which also takes A
    service.call_next(1, clerk="clerk1")  # window 1 busy for a while
    service.store.close()
    told, _html, _client, _token = surfaces_of_a_kiosk_ticket(hall)
    assert told["domain"][1] is not None and told["domain"][0] >= 3 and told["domain"][2] == (1, 2)
    assert all(value == told["domain"] for value in told.values()), told


def test_no_minutes_are_promised_for_a_line_no_staffed_window_serves(hall):
    service = service_of(hall)
    service.window_action(2, "open", clerk="clerk2")  # serves B, then A
    service.set_serving(2, ["B"], actor="manager")
    service.set_pinned(2, True, actor="manager")  # unpinned, it would take A whenever B is empty
    service.window_action(1, "open")  # the manager opened it; nobody is signed in at it
    service.take_ticket(line="A")
    service.store.close()
    client = kiosk(hall)
    confirm = text(client.get("/kiosk/kiosk-1/lines/A", headers={"HX-Request": "true"}))
    # Said before the tap, and the ticket can still be taken.
    assert 'id="k-no-window"' in confirm and "现在没有窗口办理此业务" in confirm and 'id="k-take"' in confirm
    taken = take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"})
    html = text(taken)
    assert number_on(taken) == "A002"
    assert "暂无窗口办理" in html and "分钟" not in html.split('id="k-estimate"')[1].split("</dd>")[0]
    check = service_of(hall)
    ticket = next(t for t in check.waiting() if t.number == "A002")
    slip = build_slip(check, ticket)
    lines = [b.zh for b in ticket_layout(slip) if isinstance(b, Pair)]
    check.store.close()
    assert any("现在没有窗口办理此业务" in line for line in lines) and not any("预计" in line for line in lines)
    told = surfaces(hall, client, ticket.id, ticket.token, html)
    assert all(value == (1, None, (), False) for value in told.values()), told
    assert "现在没有窗口办理此业务" in text(client.get(f"/t/{ticket.token}"))
    # Nor is the window without a clerk shown as ready on the hall display.
    display = hall.app.test_client()
    service = service_of(hall)
    from tongban.queue.accounts import Accounts

    token = Accounts(service.store, service.clock).add_terminal("hall-display", "display", "综合屏")
    service.store.close()
    display.get(f"/enrol?token={token}")
    page = text(display.get("/display/", follow_redirects=True))
    tile = page[page.index('data-window="1"') : page.index('data-window="2"')]
    assert "暂无工作人员" in tile and "等待叫号" not in tile


def test_during_lunch_the_ticket_is_told_when_windows_open_again(tmp_path):
    clock_at_lunch = datetime(2026, 11, 26, 12, 30, tzinfo=SHANGHAI)
    from tongban.queue.clock import FakeClock

    hall = make_hall_client(
        tmp_path, parse_hall_config(hall_doc(issue_during_lunch=True), "lunch"), FakeClock(clock_at_lunch)
    )
    client = kiosk(hall)
    taken = take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"})
    html = text(taken)
    assert "14:00 开始办理" in html and "暂无窗口办理" in html
    body = hall.call("GET", "/tickets/1", hall.kiosk).get_json()
    assert body["estimate"] is None and body["opens_at"] == "14:00"


def test_nobody_ahead_reads_as_next_with_a_band_from_zero_everywhere(hall):
    """Never "0 ahead" beside "0–17 min" as if someone were: the next call of the line is this ticket,
    and the minutes are only until a busy window is free."""
    service = service_of(hall)
    service.window_action(1, "open", clerk="clerk1")
    service.window_action(2, "open", clerk="clerk2")
    service.take_ticket(line="A")
    service.take_ticket(line="B")
    service.call_next(1, clerk="clerk1")  # both windows busy with a citizen for a while
    service.call_next(2, clerk="clerk2")
    service.store.close()
    told, html, client, token = surfaces_of_a_kiosk_ticket(hall)
    ahead, band, _windows, is_next = told["domain"]
    assert ahead == 0 and is_next and band is not None and band[0] == 0 and band[1] > 0
    assert all(value == told["domain"] for value in told.values()), told
    # What the citizen reads: "you are next", never "0 人", beside minutes from 0.
    assert "下一位就是您" in html and "前面还有</span>" not in html.split('id="k-ahead"')[1][:80]
    assert ">0 人<" not in html and f"0–{band[1]} 分钟" in html
    page = text(client.get(f"/t/{token}"))
    assert "下一位就是您" in page and f"0–{band[1]} 分钟" in page


def test_someone_ahead_is_never_called_next(hall):
    service = service_of(hall)
    service.window_action(1, "open", clerk="clerk1")
    first = service.take_ticket(line="A")
    second = service.take_ticket(line="A")
    assert first.outlook.is_next and first.outlook.estimate.low == 0
    assert not second.outlook.is_next and second.outlook.people_ahead == 1
    assert service.ticket_outlook(service.ticket(second.ticket.id)).as_dict()["next"] is False
    service.store.close()
