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
