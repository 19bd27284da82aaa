"""Cases through the staff pages: a signed-in clerk walks a proxy case and
multi-place cases through every state with the forms' CSRF token, including a "needs more materials"
loop from the handling province and a withdrawal; illegal steps are refused; lists, the CSV export
and the public status page carry no full ID number or phone; every view and export is logged."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tongban.queue import cases as domain
from tongban.queue.store import Store
from tongban.web.access import TERMINAL_COOKIE

from .apiclient import PASSWORD, csrf_token, make_hall_client

ID_1 = "33010619900307" + "123"
ID_1 += domain.id_check_digit(ID_1)  # with its ISO 7064 MOD 11-2 check character
ID_2 = "11010519850815" + "002"
ID_2 += domain.id_check_digit(ID_2)
PHONE_1 = "13812345678"
PHONE_2 = "15987654321"
WAYBILL_1 = "EA123456785CN"  # the UPU S10 example: check digit 5
WAYBILL_2 = "1012345678901"  # domestic EMS, 13 digits
ADDRESS = "浙江省杭州市西湖区文三路 100 号 3 幢 201 室"


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    return make_hall_client(tmp_path, hall_config, clock)


def sign_in(hall, username: str, window: int | None = None):
    client = hall.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "username": username, "password": PASSWORD, "window": str(window or "")},
    )
    assert r.status_code == 302
    return client


LINE_WINDOW = {"M1": 1, "M2": 1, "M3": 2}  # window 1 serves line A first, window 2 line B


def served_ticket(hall, matter: str) -> int:
    """A ticket for the matter, called and being served at a window of its line (through the JSON API);
    the ticket served there before is finished first."""
    window = LINE_WINDOW[matter]
    clerk = hall.login(f"clerk{window}", window=window)
    hall.call("POST", f"/windows/{window}/open", clerk)
    current = next(w["current"] for w in hall.call("GET", "/windows", clerk).get_json() if w["number"] == window)
    if current:
        assert hall.call("POST", f"/tickets/{current['id']}/finish", clerk).status_code == 200
    t = hall.call("POST", "/tickets", hall.kiosk, json={"matter": matter}).get_json()
    called = hall.call("POST", f"/windows/{window}/next", clerk).get_json()
    assert called["id"] == t["id"], called
    assert hall.call("POST", f"/tickets/{t['id']}/start", clerk).status_code == 200
    return t["id"]


class Desk:
    """A clerk's browser: reads each form's CSRF token from the page it posts from."""

    def __init__(self, hall, username: str, window: int | None = None):
        self.hall, self.username, self.window = hall, username, window
        self.client = sign_in(hall, username, window)

    def next_day(self, clock, days: int = 1) -> None:
        """Time passes; sessions last a working day, so the clerk signs in again."""
        clock.advance(days=days)
        self.client = sign_in(self.hall, self.username, self.window)

    def open_case(
        self, ticket_id: int, *, materials: dict[int, int], applicant: dict | None = None, expect: int = 303
    ) -> int:
        page = self.client.get(f"/cases/new?ticket={ticket_id}")
        assert page.status_code == 200, page.get_data(as_text=True)[:400]
        form = {
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "ticket": str(ticket_id),
            "applicant_name": "张三",
            "id_number": ID_1,
            "phone": PHONE_1,
            "address": ADDRESS,
            **(applicant or {}),
        }
        for i, copies in materials.items():
            form[f"material_{i}"] = "on"
            form[f"copies_{i}"] = str(copies)
        r = self.client.post("/cases/new", data=form)
        assert r.status_code == expect, r.get_data(as_text=True)[:2000]
        if expect != 303:
            return 0
        return int(re.search(r"/cases/(\d+)", r.headers["Location"]).group(1))

    def step(self, case_id: int, action: str, expect: int = 303, **fields):
        page = self.client.get(f"/cases/{case_id}").get_data(as_text=True)
        r = self.client.post(f"/cases/{case_id}/{action}", data={"csrf_token": csrf_token(page), **fields})
        assert r.status_code == expect, (action, r.status_code, _alerts(r.get_data(as_text=True)))
        return r

    def state(self, store_path, case_id: int) -> str:
        store = Store(store_path, migrate=False)
        try:
            return domain.get(store, case_id).state
        finally:
            store.close()


def _alerts(html: str) -> list[str]:
    return re.findall(r'role="alert">([^<]+)<', html)


def _db(hall) -> str:
    return hall.app.config["DATABASE"]


def _events(hall, case_id: int) -> list[dict]:
    store = Store(_db(hall), migrate=False)
    try:
        return domain.events(store, case_id)
    finally:
        store.close()


def test_proxy_case_every_state_with_a_loop_back_from_the_province(hall, clock):
    ticket = served_ticket(hall, "M3")  # 正常退休提取住房公积金: proxy, 3 working days, 2 materials
    desk = Desk(hall, "clerk2", 2)
    case_id = desk.open_case(ticket, materials={0: 1})  # 退休证 not brought yet
    page = desk.client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "KS-20261126-001" in page and ID_1 in page and PHONE_1 in page and ADDRESS in page
    assert desk.state(_db(hall), case_id) == "received"

    # An illegal step is refused with its reason, and changes nothing.
    r = desk.step(
        case_id,
        "send",
        expect=409,
        province="44",
        handling_dept="广州住房公积金管理中心",
        handling_address="广州市越秀区",
        send_channel="ems",
        waybill_out=WAYBILL_1,
    )
    assert "当前已收件，不能寄出（请先完成形式审查）" in r.get_data(as_text=True)
    assert desk.state(_db(hall), case_id) == "received"

    # Review at the window: identity fine, a material is missing -> needs materials.
    desk.step(
        case_id,
        "check",
        identity_method="card_reader",
        identity_ok="yes",
        review_outcome="incomplete",
        material_0="on",
        copies_0="1",
    )
    assert desk.state(_db(hall), case_id) == "needs_materials"
    desk.next_day(clock)  # Friday: the applicant comes back with it
    desk.step(case_id, "supplement", material_0="on", copies_0="1", material_1="on", copies_1="2")
    assert desk.state(_db(hall), case_id) == "received"
    desk.step(
        case_id,
        "check",
        identity_method="face",
        identity_ok="yes",
        review_outcome="pass",
        material_0="on",
        copies_0="1",
        material_1="on",
        copies_1="2",
    )
    assert desk.state(_db(hall), case_id) == "checked"
    desk.step(
        case_id,
        "send",
        province="44",
        handling_dept="广州住房公积金管理中心",
        handling_address="广州市越秀区东风中路 1 号",
        handling_phone="020-12329",
        handling_contact="李科长",
        send_channel="ems",
        waybill_out="ea 1234 56785 cn",
        sent_on="2026-11-27",
    )
    assert desk.state(_db(hall), case_id) == "sent"

    # The province asks for more: back to needs materials, then received, checked, sent again.
    desk.next_day(clock, 4)
    desk.step(
        case_id,
        "result",
        result="more_materials",
        return_channel="online",
        returned_on="2026-12-01",
        result_note="需补充单位出具的离职证明",
    )
    assert desk.state(_db(hall), case_id) == "needs_materials"
    desk.step(case_id, "supplement", material_0="on", copies_0="1", material_1="on", copies_1="2")
    desk.step(
        case_id,
        "check",
        identity_method="card_reader",
        identity_ok="yes",
        review_outcome="pass",
        material_0="on",
        copies_0="1",
        material_1="on",
        copies_1="2",
    )
    desk.step(case_id, "send", send_channel="ems", waybill_out=WAYBILL_2)  # the place is kept from last time
    desk.next_day(clock, 2)
    desk.step(
        case_id,
        "result",
        result="approved",
        return_channel="mail",
        waybill_back="EA123456785CN",
        returned_on="2026-12-03",
    )
    assert desk.state(_db(hall), case_id) == "result_received"
    desk.step(case_id, "deliver", delivery_channel="window")
    assert desk.state(_db(hall), case_id) == "delivered"

    # Delivered is final: withdrawing now is refused.
    r = desk.step(case_id, "withdraw", expect=409, withdrawn_reason="applicant")
    assert "不能撤回" in r.get_data(as_text=True)

    evts = _events(hall, case_id)
    assert [(e["action"], e["to_state"]) for e in evts] == [
        ("open", "received"),
        ("check", "needs_materials"),
        ("supplement", "received"),
        ("check", "checked"),
        ("send", "sent"),
        ("result", "needs_materials"),
        ("supplement", "received"),
        ("check", "checked"),
        ("send", "sent"),
        ("result", "result_received"),
        ("deliver", "delivered"),
    ]
    assert {e["actor"] for e in evts} == {"clerk2"} and {e["window"] for e in evts} == {2}
    assert domain.replay(evts)["state"] == "delivered"
    # The supplement restarted the time limit: 3 working days from Tuesday 1 December.
    assert evts[6]["data"]["due_day"] == "2026-12-04"
    # Events never hold the applicant's data (they are never purged).
    blob = str([e["data"] for e in evts])
    for secret in (ID_1, PHONE_1, "张三", ADDRESS, "离职证明"):
        assert secret not in blob


def test_multi_place_cases_online_transfer_and_a_withdrawal(hall, clock):
    desk = Desk(hall, "clerk1", 1)
    # 养老保险关系转移接续: multi-place, 15 working days, sent online through the platform.
    first = desk.open_case(served_ticket(hall, "M2"), materials={0: 1})
    desk.step(
        first,
        "check",
        identity_method="card_reader",
        identity_ok="yes",
        review_outcome="pass",
        material_0="on",
        copies_0="1",
    )
    desk.step(
        first,
        "send",
        province="51",
        handling_dept="成都市社会保险事业管理局",
        handling_address="成都市青羊区",
        send_channel="online",
        send_ref="ZY2026112600017",
    )
    desk.step(first, "result", result="refused", return_channel="online", result_note="转出地已有在途业务")
    desk.step(first, "deliver", delivery_channel="mail", delivery_waybill=WAYBILL_1)
    assert desk.state(_db(hall), first) == "delivered"

    # A second one, withdrawn by the applicant after it was sent.
    second = desk.open_case(
        served_ticket(hall, "M2"), materials={0: 1}, applicant={"id_number": ID_2, "phone": PHONE_2}
    )
    desk.step(
        second,
        "check",
        identity_method="manual",
        identity_ok="yes",
        review_outcome="pass",
        material_0="on",
        copies_0="1",
    )
    desk.step(
        second,
        "send",
        province="51",
        handling_dept="成都市社会保险事业管理局",
        handling_address="成都市青羊区",
        send_channel="ems",
        waybill_out=WAYBILL_2,
    )
    r = desk.step(second, "withdraw", expect=422, withdrawn_reason="other")  # "other" needs a reason
    assert "请写明撤回原因" in r.get_data(as_text=True)
    desk.step(second, "withdraw", withdrawn_reason="applicant")
    assert desk.state(_db(hall), second) == "withdrawn"
    assert [e["action"] for e in _events(hall, second)] == ["open", "check", "send", "withdraw"]
    # Once withdrawn, nothing more.
    desk.step(second, "result", expect=409, result="approved", return_channel="online")


def test_a_proxy_case_cannot_be_sent_online_and_bad_inputs_are_named(hall):
    desk = Desk(hall, "clerk2", 2)
    ticket = served_ticket(hall, "M3")
    # Bad ID check digit, bad phone: the form comes back with both fields marked, nothing is saved.
    bad_id = ID_1[:17] + ("0" if ID_1[17] != "0" else "1")
    page = desk.client.get(f"/cases/new?ticket={ticket}").get_data(as_text=True)
    r = desk.client.post(
        "/cases/new",
        data={
            "csrf_token": csrf_token(page),
            "ticket": str(ticket),
            "applicant_name": "李四",
            "id_number": bad_id,
            "phone": "12345678901",
        },
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "身份证号码校验位不正确" in html and "手机号码应为以1开头的11位数字" in html
    store = Store(_db(hall), migrate=False)
    assert store.one("SELECT COUNT(*) FROM cases")[0] == 0
    store.close()
    case_id = desk.open_case(
        ticket, materials={0: 1, 1: 1}, applicant={"id_number": ID_1.lower()[:17] + ID_1[17].lower()}
    )
    desk.step(
        case_id,
        "check",
        identity_method="card_reader",
        identity_ok="yes",
        review_outcome="pass",
        material_0="on",
        copies_0="1",
        material_1="on",
        copies_1="1",
    )
    r = desk.step(
        case_id, "send", expect=422, province="44", handling_dept="x", handling_address="y", send_channel="online"
    )
    assert "代收代办件须寄送纸质材料" in r.get_data(as_text=True)
    r = desk.step(
        case_id,
        "send",
        expect=422,
        province="44",
        handling_dept="x",
        handling_address="y",
        send_channel="ems",
        waybill_out="EA123456784CN",
    )
    assert "运单号校验位不正确" in r.get_data(as_text=True)
    # htmx gets the fragment with the problem shown, as 200 so that htmx swaps it in.
    page = desk.client.get(f"/cases/{case_id}").get_data(as_text=True)
    r = desk.client.post(
        f"/cases/{case_id}/send",
        headers={"HX-Request": "true"},
        data={"csrf_token": csrf_token(page), "send_channel": "ems", "waybill_out": "12"},
    )
    assert r.status_code == 200
    assert 'id="case"' in r.get_data(as_text=True) and "<html" not in r.get_data(as_text=True)
    assert "运单号应为13位" in r.get_data(as_text=True)


def test_forms_need_the_csrf_token(hall):
    desk = Desk(hall, "clerk1", 1)
    ticket = served_ticket(hall, "M3")
    r = desk.client.post(
        "/cases/new", data={"ticket": str(ticket), "applicant_name": "张三", "id_number": ID_1, "phone": PHONE_1}
    )
    assert r.status_code == 400


def test_new_case_refuses_unserved_tickets_on_site_matters_and_a_second_case(hall):
    desk = Desk(hall, "clerk1", 1)
    waiting = hall.call("POST", "/tickets", hall.kiosk, json={"matter": "M3"}).get_json()
    r = desk.client.get(f"/cases/new?ticket={waiting['id']}")
    assert r.status_code == 409 and "尚未办理" in r.get_data(as_text=True)
    clerk = hall.login("clerk1", window=1)
    hall.call("POST", f"/tickets/{waiting['id']}/cancel", clerk)
    on_site = served_ticket(hall, "M1")
    r = desk.client.get(f"/cases/new?ticket={on_site}")
    assert r.status_code == 409 and "无需开立案件" in r.get_data(as_text=True)
    assert desk.client.get("/cases/new?ticket=9999").status_code == 404
    # The console's link for a ticket that already has a case goes to that case.
    ticket = served_ticket(hall, "M3")
    case_id = desk.open_case(ticket, materials={0: 1})
    r = desk.client.get(f"/cases/new?ticket={ticket}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cases/{case_id}")


def test_new_case_without_a_ticket_for_mailed_in_materials(hall):
    desk = Desk(hall, "manager")
    page = desk.client.get("/cases/new?matter=M2")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "养老保险关系转移接续" in html and 'name="material_0"' in html
    r = desk.client.post(
        "/cases/new",
        data={
            "csrf_token": csrf_token(html),
            "matter": "M2",
            "applicant_name": "王五",
            "id_number": ID_2,
            "phone": PHONE_2,
            "material_0": "on",
        },
    )
    assert r.status_code == 303
    # An on-site matter opens no case.
    r = desk.client.post(
        "/cases/new",
        data={
            "csrf_token": csrf_token(html),
            "matter": "M1",
            "applicant_name": "王五",
            "id_number": ID_2,
            "phone": PHONE_2,
        },
    )
    assert r.status_code == 409


def test_staff_only_and_the_status_page_is_public(hall):
    desk = Desk(hall, "clerk1", 1)
    case_id = desk.open_case(served_ticket(hall, "M3"), materials={0: 1})
    anonymous = hall.app.test_client()
    for url in ("/cases", f"/cases/{case_id}", f"/cases/{case_id}/receipt", "/cases/export.csv", "/cases/new"):
        r = anonymous.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"], url
    kiosk = hall.app.test_client()
    kiosk.set_cookie(TERMINAL_COOKIE, hall.kiosk)
    assert kiosk.get(f"/cases/{case_id}").status_code == 403
    assert kiosk.get("/cases").status_code == 403
    store = Store(_db(hall), migrate=False)
    token = domain.get(store, case_id).token
    store.close()
    assert anonymous.get(f"/c/{token}").status_code == 200
    assert anonymous.get("/c/not-a-token").status_code == 404


def _personal_data_absent(text: str) -> None:
    for secret in (ID_1, ID_2, PHONE_1, PHONE_2, ADDRESS):
        assert secret not in text
    # Not even as digits split by formatting.
    digits = re.sub(r"\D", "", text)
    for secret in (ID_1[:17], PHONE_1, PHONE_2):
        assert secret not in digits


def test_list_export_and_status_page_are_masked_and_each_access_is_logged(hall, clock):
    desk = Desk(hall, "clerk1", 1)
    a = desk.open_case(served_ticket(hall, "M3"), materials={0: 1})
    b = desk.open_case(
        served_ticket(hall, "M2"),
        materials={0: 1},
        applicant={"applicant_name": "欧阳娜娜", "id_number": ID_2, "phone": PHONE_2},
    )
    desk.step(
        b,
        "check",
        identity_method="card_reader",
        identity_ok="yes",
        review_outcome="pass",
        material_0="on",
        copies_0="1",
    )
    desk.step(
        b,
        "send",
        province="51",
        handling_dept="成都市社保局",
        handling_address="成都市",
        send_channel="ems",
        waybill_out=WAYBILL_1,
    )
    store = Store(_db(hall), migrate=False)
    views_before = store.one("SELECT COUNT(*) FROM case_access_log")[0]

    listing = desk.client.get("/cases").get_data(as_text=True)
    assert "KS-20261126-001" in listing and "KS-20261126-002" in listing
    assert "138****5678" in listing and "159****4321" in listing and "欧***" in listing
    _personal_data_absent(listing)

    # Search: phone last 4 digits, waybill, case number, date; filters by state, matter, department.
    def numbers(query: str) -> list[str]:
        html = desk.client.get(f"/cases?{query}", headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "<html" not in html
        return re.findall(r'class="cs-num">(KS-\d{8}-\d{3})<', html)

    assert numbers("q=4321") == ["KS-20261126-002"]
    assert numbers("q=5678") == ["KS-20261126-001"]
    assert numbers(f"q={WAYBILL_1.lower()}") == ["KS-20261126-002"]
    assert numbers("q=KS-20261126-001") == ["KS-20261126-001"]
    assert numbers("q=2026-11-26") == ["KS-20261126-002", "KS-20261126-001"]
    assert numbers("q=2026-11-27") == []
    assert numbers("state=sent") == ["KS-20261126-002"]
    assert numbers("matter=M3") == ["KS-20261126-001"]
    assert numbers("department=rsj") == ["KS-20261126-002"]
    assert numbers("from=2026-11-27") == []

    export = desk.client.get("/cases/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    text = export.get_data(as_text=True)
    _personal_data_absent(text)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "案件编号" and len(rows) == 3
    by_number = {r[0]: r for r in rows[1:]}
    assert by_number["KS-20261126-002"][9] == f"{ID_2[:4]}**********{ID_2[-4:]}"
    assert by_number["KS-20261126-002"][10] == "159****4321"
    assert by_number["KS-20261126-002"][13] == WAYBILL_1

    token = domain.get(store, b).token
    status = hall.app.test_client().get(f"/c/{token}").get_data(as_text=True)
    assert "已寄出" in status and "2026-11-26" in status
    _personal_data_absent(status)
    for hidden in ("欧阳", "成都", "养老", WAYBILL_1, "KS-"):
        assert hidden not in status

    # The log: one 'export' row per exported case; views of the lists add nothing (they are masked).
    log = store.all(
        "SELECT case_id, action, actor FROM case_access_log WHERE id > (SELECT MAX(id) - 2 FROM case_access_log)"
    )
    assert {(r["case_id"], r["action"], r["actor"]) for r in log} == {(a, "export", "clerk1"), (b, "export", "clerk1")}
    assert store.one("SELECT COUNT(*) FROM case_access_log")[0] == views_before + 2

    # Each page view and each receipt is one more row, with who.
    manager = Desk(hall, "manager")
    manager.client.get(f"/cases/{a}")
    manager.client.get(f"/cases/{a}/receipt")
    last = store.all("SELECT case_id, action, actor FROM case_access_log ORDER BY id DESC LIMIT 2")
    assert [(r["case_id"], r["action"], r["actor"]) for r in last] == [
        (a, "receipt", "manager"),
        (a, "view", "manager"),
    ]
    # Managers see the log on the case page.
    assert "查阅与导出记录" in manager.client.get(f"/cases/{a}").get_data(as_text=True)
    store.close()


def test_receipt_has_case_number_materials_window_phone_and_a_status_qr(hall):
    desk = Desk(hall, "clerk1", 1)
    case_id = desk.open_case(served_ticket(hall, "M3"), materials={0: 1, 1: 2})
    r = desk.client.get(f"/cases/{case_id}/receipt")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "跨省通办受理回执" in html and "KS-20261126-001" in html and "正常退休提取住房公积金" in html
    assert "退休证" in html and "0571-2" in html  # the phone of window 2, which served it
    assert re.search(r'<svg [^>]*aria-label="[^"]*/c/[^"]*"', html) and '<path fill="#000"' in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline scripts or styles
    store = Store(_db(hall), migrate=False)
    case = domain.get(store, case_id)
    store.close()
    assert f"/c/{case.token}" in html
    # The ID number and phone are masked on the receipt too; the mailing address is shown to be checked.
    assert ID_1 not in html and PHONE_1 not in html and ADDRESS in html
    qr = hall.app.test_client().get(f"/c/{case.token}/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"


def test_pages_have_english(hall):
    desk = Desk(hall, "clerk1", 1)
    case_id = desk.open_case(served_ticket(hall, "M3"), materials={0: 1})
    html = desk.client.get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "Check the materials and the applicant" in html and "Received" in html
    assert "Proxy and multi-place cases" in desk.client.get("/cases?lang=en").get_data(as_text=True)


def test_pieces_for_the_consoles(hall, clock):
    """What the clerk and manager consoles include: the ticket's case link and the flagged cases."""
    from flask import render_template

    from tongban.web.context import get_service

    desk = Desk(hall, "clerk2", 2)
    ticket = served_ticket(hall, "M3")
    with hall.app.test_request_context("/window/2"):
        served = get_service().ticket(ticket)
        html = render_template("_case_ticket_link.html", ticket=served)
        assert f'href="/cases/new?ticket={ticket}"' in html and "开立代收代办件" in html
        assert render_template("_case_ticket_link.html", ticket={"id": 99, "matter": "M1"}).strip() == ""
        assert render_template("_case_ticket_link.html", ticket=None).strip() == ""
        assert render_template("_case_flags.html").strip() == ""
    case_id = desk.open_case(ticket, materials={0: 1, 1: 1})
    clock.advance(days=6)  # Thursday 26 + 3 working days = Tue 1 Dec: overdue on Wed 2
    with hall.app.test_request_context("/window/2"):
        html = render_template("_case_ticket_link.html", ticket={"id": ticket, "matter": "M3"})
        assert f'href="/cases/{case_id}"' in html and "KS-20261126-001" in html
        flags = render_template("_case_flags.html")
        assert "KS-20261126-001" in flags and "已超期 1 天" in flags and f'href="/cases/{case_id}"' in flags
