"""Asking for help from a kiosk (docs/kiosk.md#asking-for-help): the domain rules in queue/helpdesk.py,
and what the kiosk, the manager and the clerks see through the Flask test client."""

from __future__ import annotations

import re

import pytest

from tongban.config import ConfigError, parse_hall_config
from tongban.queue import helpdesk, printing
from tongban.queue.store import Store
from tongban.web.access import TERMINAL_COOKIE

from .apiclient import PASSWORD, csrf_token, make_hall_client
from .conftest import small_hall_doc

KIOSK_NAME = "一楼大厅取号机 1 / Ground floor kiosk 1"
KIOSK_PLACE = "一楼大厅入口 / Ground floor entrance"


def _doc() -> dict:
    doc = small_hall_doc()
    doc["kiosks"] = [{"id": "kiosk-1", "name": KIOSK_NAME, "location": KIOSK_PLACE}]
    doc["windows"][1]["help_desk"] = True  # window 2 answers help requests, window 1 does not
    return doc


@pytest.fixture
def hall_config():
    return parse_hall_config(_doc(), "small-hall-with-help-desk")


# ---------- the domain ----------


def test_one_open_request_per_kiosk_however_often_it_is_pressed(store, hall_config, clock):
    kiosk = hall_config.kiosks[0]
    first = helpdesk.ask_for_help(store, kiosk, clock.now())
    clock.advance(seconds=20)
    again = helpdesk.ask_for_help(store, kiosk, clock.now())
    assert first.state == again.state == "asked" and again.alert_id == first.alert_id
    (alert,) = printing.open_alerts(store)
    assert alert["kind"] == "help" and alert["device"] == "kiosk:kiosk-1"
    # The alert names the kiosk and where it stands, in both languages.
    assert alert["message_zh"] == "一楼大厅取号机 1（一楼大厅入口）有群众请求工作人员帮助"
    assert alert["message_en"] == "Ground floor kiosk 1 (Ground floor entrance): a citizen asks for staff help"


def test_once_acknowledged_the_kiosk_says_help_is_coming_and_a_new_press_is_a_new_alert(store, hall_config, clock):
    kiosk = hall_config.kiosks[0]
    assert helpdesk.help_state(store, "kiosk-1", clock.now()).state == "none"
    asked = helpdesk.ask_for_help(store, kiosk, clock.now())
    assert helpdesk.help_state(store, "kiosk-1", clock.now()).state == "asked"
    assert asked.alert_id is not None
    printing.ack_alert(store, asked.alert_id, "manager", clock.now())
    assert helpdesk.help_state(store, "kiosk-1", clock.now()).state == "coming"
    assert printing.open_alerts(store) == []
    clock.advance(seconds=helpdesk.COMING_S + 1)
    assert helpdesk.help_state(store, "kiosk-1", clock.now()).state == "none"
    again = helpdesk.ask_for_help(store, kiosk, clock.now())
    assert again.alert_id != asked.alert_id and len(printing.open_alerts(store)) == 1


def test_two_kiosks_raise_two_alerts(store, hall_config, clock):
    doc = _doc()
    doc["kiosks"].append({"id": "kiosk-2", "name": "二楼取号机 2 / First floor kiosk 2"})
    config = parse_hall_config(doc, "two-kiosks")
    for kiosk in config.kiosks:
        helpdesk.ask_for_help(store, kiosk, clock.now())
    messages = sorted(a["message_en"] for a in printing.open_alerts(store))
    assert messages == [
        "First floor kiosk 2: a citizen asks for staff help",
        "Ground floor kiosk 1 (Ground floor entrance): a citizen asks for staff help",
    ]


def test_a_console_without_help_requests_neither_sees_nor_acknowledges_them(store, hall_config, clock):
    asked = helpdesk.ask_for_help(store, hall_config.kiosks[0], clock.now())
    assert asked.alert_id is not None
    assert printing.open_alerts(store, help_requests=False) == []
    printing.ack_alert(store, asked.alert_id, "clerk1", clock.now(), help_requests=False)
    assert helpdesk.help_state(store, "kiosk-1", clock.now()).state == "asked"


def test_help_desk_must_be_true_or_false():
    doc = _doc()
    doc["windows"][0]["help_desk"] = "yes"
    with pytest.raises(ConfigError) as exc:
        parse_hall_config(doc, "bad")
    assert "windows[0].help_desk" in str(exc.value)
    assert parse_hall_config(_doc(), "ok").window(1).help_desk is False


# ---------- through the pages ----------


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in(hall, username: str, window: int | None = None):
    client = hall.app.test_client()
    page = text(client.get("/login"))
    form = {"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")}
    assert client.post("/login", data=form).status_code == 302
    return client


def htmx_post(client, home: str, url: str):
    token = re.search(r'X-CSRFToken": "([^"]+)"', text(client.get(home))).group(1)
    return client.post(url, headers={"X-CSRFToken": token, "HX-Request": "true"})


def test_the_kiosk_button_alerts_the_manager_and_the_help_desk_only(hall, clock):
    kiosk = hall.app.test_client()
    kiosk.set_cookie(TERMINAL_COOKIE, hall.kiosk)
    home = text(kiosk.get("/kiosk/kiosk-1"))
    assert 'id="k-help-button"' in home and "请工作人员帮助" in home
    # Every screen has it, in elder mode too.
    assert 'id="k-help-button"' in text(kiosk.get("/kiosk/kiosk-1/departments?elder=1"))

    answer = text(htmx_post(kiosk, "/kiosk/kiosk-1", "/kiosk/kiosk-1/help"))
    assert 'id="k-help-status"' in answer and "已通知工作人员" in answer and "k-help-button" not in answer
    htmx_post(kiosk, "/kiosk/kiosk-1", "/kiosk/kiosk-1/help")  # pressed again: still one alert
    # Every screen now says so, until someone comes.
    assert "已通知工作人员" in text(kiosk.get("/kiosk/kiosk-1/departments"))

    manager = signed_in(hall, "manager")
    page = text(manager.get("/manage/"))
    assert page.count('data-kind="help"') == 1
    assert "一楼大厅取号机 1（一楼大厅入口）有群众请求工作人员帮助" in page
    help_desk = signed_in(hall, "clerk2", window=2)
    assert "一楼大厅取号机 1（一楼大厅入口）" in text(help_desk.get("/window/2"))
    other = signed_in(hall, "clerk1", window=1)
    page = text(other.get("/window/1"))
    assert "有群众请求工作人员帮助" not in page

    alert_id = re.search(r'data-alert="(\d+)" data-kind="help"', text(help_desk.get("/window/2"))).group(1)
    # Window 1 is no help desk: its acknowledgement changes nothing.
    htmx_post(other, "/window/1", f"/window/1/alerts/{alert_id}/ack")
    assert "已通知工作人员" in text(kiosk.get("/kiosk/kiosk-1/help"))
    assert "告警已确认" in text(htmx_post(help_desk, "/window/2", f"/window/2/alerts/{alert_id}/ack"))
    assert "工作人员正在赶来" in text(kiosk.get("/kiosk/kiosk-1/help"))
    assert 'data-kind="help"' not in text(manager.get("/manage/"))
    clock.advance(seconds=helpdesk.COMING_S + 1)
    assert 'id="k-help-button"' in text(kiosk.get("/kiosk/kiosk-1/help"))


def test_a_kiosk_not_in_the_hall_file_is_named_by_its_id(tmp_path, clock):
    hall = make_hall_client(tmp_path, parse_hall_config(small_hall_doc(), "no-kiosks"), clock)
    kiosk = hall.app.test_client()
    kiosk.set_cookie(TERMINAL_COOKIE, hall.kiosk)
    assert htmx_post(kiosk, "/kiosk/kiosk-1", "/kiosk/kiosk-1/help").status_code == 200
    store = Store(tmp_path / "api.db")
    try:
        (alert,) = printing.open_alerts(store)
    finally:
        store.close()
    assert alert["message_zh"] == "kiosk-1 有群众请求工作人员帮助"


def test_a_post_without_htmx_goes_back_home(hall, clock):
    kiosk = hall.app.test_client()
    kiosk.set_cookie(TERMINAL_COOKIE, hall.kiosk)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(kiosk.get("/kiosk/kiosk-1?elder=1"))).group(1)
    r = kiosk.post("/kiosk/kiosk-1/help?elder=1", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/kiosk/kiosk-1?elder=1")
    assert "已通知工作人员" in text(kiosk.get(r.headers["Location"]))
