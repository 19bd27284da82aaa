"""A clerk at the cross-province window opens a proxy case in chromium, checks it, prints the receipt.

Screenshots (test-artifacts/cases-*.png) are for a person to look at: the case page, the receipt and
the list should look like software a hall would use.
"""

from __future__ import annotations

import json
import urllib.request

from tongban.queue import cases as domain

from .axe import violations
from .conftest import PASSWORD, login, screenshot

ID = "11010519491231002X"  # the GB 11643 example number
PHONE = "13812345678"


def _api(hall, method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{hall.url}/api/v1{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def _served_ticket(hall, matter: str, window: int) -> int:
    clerk = _api(hall, "POST", "/login", body={"username": f"clerk{window}", "password": PASSWORD, "window": window})[
        "token"
    ]
    ticket = _api(hall, "POST", "/tickets", hall.tokens["kiosk-1"], {"matter": matter})
    try:
        _api(hall, "POST", f"/windows/{window}/open", clerk)
    except urllib.error.HTTPError:
        pass
    _api(hall, "POST", f"/windows/{window}/next", clerk)
    _api(hall, "POST", f"/tickets/{ticket['id']}/start", clerk)
    return ticket["id"]


def test_clerk_opens_checks_and_prints_a_proxy_case(live_hall, new_page):
    ticket = _served_ticket(live_hall, "SFJ-001", 10)  # 学历公证, proxy, at the cross-province window
    page = new_page(1600, 1000)
    login(page, live_hall.url, "clerk10", window=10)
    page.goto(f"{live_hall.url}/cases/new?ticket={ticket}")
    page.fill("input[name=applicant_name]", "张三")
    page.fill("input[name=id_number]", ID)
    page.fill("input[name=phone]", "138 1234 5678")
    page.fill("input[name=address]", "浙江省杭州市西湖区文三路 100 号 3 幢 201 室")
    for i in range(3):
        page.check(f"input[name=material_{i}]")
    page.fill("input[name=copies_1]", "2")
    page.select_option("select[name=province]", "44")
    page.fill("input[name=handling_dept]", "广州市公证处")
    page.fill("input[name=handling_address]", "广州市越秀区东风中路 437 号")
    page.fill("input[name=handling_phone]", "020-83555555")
    page.fill("input[name=handling_contact]", "陈主任")
    screenshot(page, "cases-new")
    found = {"new case": violations(page)}
    page.click("#case-new button[type=submit]")
    page.wait_for_url("**/cases/*?opened=1")
    assert page.locator(".cs-notice").is_visible()

    # The review, through htmx (the fragment replaces #case in place).
    page.check("input[name=identity_ok][value=yes]")
    page.check("input[name=review_outcome][value=pass]")
    page.click("form.cs-step-form button[type=submit]")
    page.wait_for_selector(".cs-chip.st-checked")
    page.fill("input[name=waybill_out]", "EA123456785CN")
    screenshot(page, "cases-case", docs=True)
    found["case"] = violations(page)
    page.click("form.cs-step-form button[type=submit]")
    page.wait_for_selector(".cs-chip.st-sent")
    assert page.locator(".cs-steps li.now .name").inner_text() == "已寄出"
    assert ID in page.content()

    case_url = page.url
    page.goto(case_url.split("?")[0] + "/receipt")
    page.set_viewport_size({"width": 900, "height": 1300})
    assert page.locator(".receipt svg").count() == 1
    assert ID not in page.content() and "1101**********002X" in page.content()
    screenshot(page, "cases-receipt", docs=True)
    found["receipt"] = violations(page)
    page.emulate_media(media="print")
    assert not page.locator(".r-screen-hint").is_visible()
    # One A4 page: 297 mm less the 10 mm top and bottom margins, at 96 px per inch; the content
    # box is 186 mm wide (210 mm less 12 mm each side).
    page.set_viewport_size({"width": round(186 / 25.4 * 96), "height": 1200})
    height = page.evaluate("document.querySelector('.receipt').getBoundingClientRect().height")
    assert height <= 277 / 25.4 * 96, f"the receipt is {height:.0f} px high: more than one A4 page"
    page.emulate_media(media="screen")

    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(f"{live_hall.url}/cases")
    assert "138****5678" in page.content() and PHONE not in page.content()
    screenshot(page, "cases-list")
    found["case list"] = violations(page)

    store = live_hall.store()
    try:
        case = domain.search(store, domain.Filters())[0][0]
    finally:
        store.close()
    phone = new_page(390, 844)
    phone.goto(f"{live_hall.url}/c/{case.token}")
    assert "已寄出" in phone.content() and ID not in phone.content()
    screenshot(phone, "cases-status")
    found["status page"] = violations(phone)
    assert {where: v for where, v in found.items() if v} == {}  # axe: no serious or critical violation
