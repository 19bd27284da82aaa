"""The public pages on a phone-sized chromium (docs/kiosk.md): /info and a ticket's live status page."""

from __future__ import annotations

import json
import urllib.request

import pytest

from .conftest import PASSWORD, make_live_hall, screenshot


@pytest.fixture(scope="module")
def public_hall(tmp_path_factory):
    hall = make_live_hall(tmp_path_factory.mktemp("public-hall"))
    yield hall
    hall.stop()


def api(hall, method: str, path: str, token: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{hall.url}/api/v1{path}",
        method=method,
        data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.load(r)


def login(hall, username: str, window: int) -> str:
    request = urllib.request.Request(
        f"{hall.url}/api/v1/login",
        method="POST",
        data=json.dumps({"username": username, "password": PASSWORD, "window": window}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)["token"]


def test_info_lists_matters_with_guides_and_every_window_on_a_phone(public_hall, new_page):
    page = new_page(390, 844)
    page.goto(f"{public_hall.url}/info")
    assert page.locator("details.i-matter").count() == 58
    assert page.locator("#i-hall-windows tbody tr").count() == 10
    assert page.locator("[data-district-window]").count() == 4
    page.fill("#i-q", "sydj")  # pinyin initials, filtered in place
    page.wait_for_selector("#i-count:has-text('找到')")
    page.click("#m-RSJ-006 summary")
    guide = page.inner_text("#m-RSJ-006")
    assert "居民身份证原件" in guide and "当场办结" in guide and "人社业务" in guide
    page.evaluate("document.querySelector('#matters').scrollIntoView()")
    screenshot(page, "kiosk-info-phone", docs=True)


def test_ticket_status_page_follows_the_ticket_live(public_hall, new_page):
    ticket = api(public_hall, "POST", "/tickets", public_hall.tokens["kiosk-1"], {"line": "B"})
    page = new_page(390, 844)
    page.goto(f"{public_hall.url}/t/{ticket['status_token']}")
    assert page.inner_text("#s-number") == ticket["number"]
    assert page.url.endswith(f"/t/{ticket['status_token']}")  # the token, not the ticket id
    clerk = login(public_hall, "clerk4", 4)
    api(public_hall, "POST", "/windows/4/open", clerk)
    api(public_hall, "POST", "/windows/4/next", clerk)
    # Pushed by the stream, no reload (had the stream not been open yet, its first event is the state).
    page.wait_for_selector("#s-card[data-state=called]")
    assert "请到 4 号窗口办理" in page.inner_text("#s-box")
    screenshot(page, "kiosk-status-phone", docs=True)
    assert page.goto(f"{public_hall.url}/t/not-a-real-token").status == 404


def test_one_tap_allows_the_status_page_to_vibrate_and_chime_at_three_left_and_when_called(public_hall, new_page):
    """Sound and vibration need a tap first (browsers allow neither before one); then the page alerts
    once when 3 people are left and again when the number is called. Asserted through the state the
    page's script keeps on #s-alerts, not through a speaker."""
    kiosk = public_hall.tokens["kiosk-1"]
    ahead = [api(public_hall, "POST", "/tickets", kiosk, {"line": "E"}) for _ in range(5)]
    ticket = api(public_hall, "POST", "/tickets", kiosk, {"line": "E"})
    page = new_page(390, 844)
    page.goto(f"{public_hall.url}/t/{ticket['status_token']}")
    button = page.locator("#s-alerts")
    assert button.get_attribute("data-alerts") == "off" and "开启叫号提醒" in button.inner_text()
    assert page.get_attribute("#s-box", "data-ahead") == "5"
    button.click()
    assert button.get_attribute("data-alerts") == "on" and "提醒已开启" in button.inner_text()
    assert button.get_attribute("data-last") == "ready" and button.get_attribute("data-count") == "1"
    assert page.evaluate("typeof (window.AudioContext || window.webkitAudioContext)") == "function"

    clerk = login(public_hall, "clerk9", 9)
    api(public_hall, "POST", "/windows/9/open", clerk)

    def pass_one():
        called = api(public_hall, "POST", "/windows/9/next", clerk)
        api(public_hall, "POST", f"/tickets/{called['id']}/no_show", clerk, {"confirm": True})
        return called

    assert pass_one()["id"] == ahead[0]["id"]  # 4 left: no alert yet
    page.wait_for_selector("#s-box[data-ahead='4']")
    assert button.get_attribute("data-count") == "1"
    pass_one()  # 3 left
    page.wait_for_selector("#s-alerts[data-last=three-left]")
    pass_one()  # 2 left: said once, not again
    page.wait_for_selector("#s-box[data-ahead='2']")
    assert button.get_attribute("data-count") == "2"
    pass_one()
    pass_one()
    assert api(public_hall, "POST", "/windows/9/next", clerk)["id"] == ticket["id"]
    page.wait_for_selector("#s-alerts[data-last=called]")
    assert button.get_attribute("data-count") == "3"
    assert "请到 9 号窗口办理" in page.inner_text("#s-box")
