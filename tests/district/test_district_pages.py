"""The district staff's pages (tongban/district/pages.py): sign-in and lockout, every page behind it,
the live table that refreshes itself, reports with their CSV, and the masked case list."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import psycopg
import pytest

from tests.conftest import SHANGHAI
from tongban.district import accounts
from tongban.district.app import POOL_KEY, create_district_app
from tongban.queue.clock import FakeClock

from .hall_rows import add_hall, copy_hall
from .test_district_reports import busy_morning, case_service, open_case  # noqa: F401 - a fixture too

PAGES = ("/district/", "/district/live", "/district/reports", "/district/reports.csv", "/district/cases")
PASSWORD = "district-pass-1"


@pytest.fixture
def dclock():
    return FakeClock(datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI))


@pytest.fixture
def district(district_url, dclock):
    app = create_district_app(district_url, clock=dclock, pool_size=4)
    with psycopg.connect(district_url) as conn:
        accounts.add(conn, "supervisor", PASSWORD, name="区监管员", clock=dclock)
    yield app
    app.extensions[POOL_KEY].close()


@pytest.fixture
def db(district_url):
    with psycopg.connect(district_url, autocommit=True) as conn:
        yield conn


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def sign_in(client, username="supervisor", password=PASSWORD, next_path=None):
    page = client.get("/district/login")
    url = "/district/login" + (f"?next={next_path}" if next_path else "")
    return client.post(
        url, data={"csrf_token": csrf_of(page.get_data(as_text=True)), "username": username, "password": password}
    )


@pytest.fixture
def staff(district):
    client = district.test_client()
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def hall_day(service, store, clock, db, case_service):  # noqa: F811 - the fixture imported above
    busy_morning(service, store, clock, seed=11, tickets=12)
    open_case(case_service)
    add_hall(db, "hall-a", name="城东大厅", last_sync_at=datetime(2026, 11, 26, 10, 58, tzinfo=SHANGHAI))
    copy_hall(store, db, "hall-a")
    return store


# ---------- sign-in ----------


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_signed_in_district_account(district, path):
    answer = district.test_client().get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/district/login?next=")


def test_htmx_refresh_without_a_session_is_sent_to_the_sign_in_page(district):
    answer = district.test_client().get("/district/live", headers={"HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["HX-Redirect"].startswith("/district/login")


def test_sign_in_goes_back_to_the_page_asked_for_and_sign_out_ends_the_session(district, db):
    client = district.test_client()
    answer = sign_in(client, next_path="/district/cases")
    assert answer.status_code == 302 and answer.headers["Location"] == "/district/cases"
    assert client.get("/district/cases").status_code == 200
    assert db.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    page = client.get("/district/").get_data(as_text=True)
    assert "区监管员" in page
    assert client.post("/district/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert db.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    assert client.get("/district/").status_code == 302


def test_a_next_address_elsewhere_is_ignored(district):
    answer = sign_in(district.test_client(), next_path="https://evil.example/")
    assert answer.headers["Location"] == "/district/"


def test_a_form_without_its_csrf_token_is_refused(district, staff):
    answer = district.test_client().post("/district/login", data={"username": "supervisor", "password": PASSWORD})
    assert answer.status_code == 400 and "页面已过期" in answer.get_data(as_text=True)
    assert staff.post("/district/logout").status_code == 400
    assert staff.get("/district/").status_code == 200  # still signed in


def test_wrong_passwords_lock_the_name_for_15_minutes(district, dclock):
    client = district.test_client()
    answer = sign_in(client, password="wrong-password")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 401 and "用户名或密码错误" in page and "Wrong username or password" in page
    for _ in range(4):
        sign_in(client, password="wrong-password")
    locked = sign_in(client)  # the right password, but the name is locked
    assert locked.status_code == 401
    assert sign_in(client, username="nobody").get_data(as_text=True).count("用户名或密码错误") == 1  # told alike
    dclock.advance(minutes=15, seconds=1)
    assert sign_in(client).status_code == 302


def test_an_expired_session_signs_out(district, staff, dclock):
    dclock.advance(hours=13)
    assert staff.get("/district/").status_code == 302


# ---------- live ----------


def test_live_page_shows_every_hall_and_refreshes_itself(district, staff, hall_day, db, clock):
    # The hall's clock and the district's are the same morning.
    page = staff.get("/district/").get_data(as_text=True)
    assert 'hx-get="/district/live"' in page and 'hx-trigger="every 5s"' in page
    assert '<script src="/district/static/vendor/htmx.min.js"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "nothing from another host: halls run offline"
    waiting = db.execute("SELECT count(*) FROM tickets WHERE hall = 'hall-a' AND state = 'waiting'").fetchone()
    assert waiting is not None and waiting[0] > 0
    row = re.search(r'<tr data-hall="hall-a">(.*?)</tr>', page, re.S)
    assert row and "城东大厅" in row.group(1)
    assert f'data-col="waiting">{waiting[0]}<' in row.group(1)
    assert 'data-col="sync_age">2<' in row.group(1)

    # A ticket issued since: the next refresh shows it, with no page load.
    db.execute(
        "INSERT INTO tickets (hall, uid, local_id, service_day, prefix, number, line, state, issued_at)"
        " VALUES ('hall-a', 'late', 999, '2026-11-26', 'A', 'A999', 'A', 'waiting', %s)",
        (datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI),),
    )
    db.execute(
        "INSERT INTO alerts (hall, uid, device, kind, message_zh, message_en, at)"
        " VALUES ('hall-a', 'al1', 'printer-1', 'paper_out', '打印机缺纸', 'Printer out of paper', %s)",
        (datetime(2026, 11, 26, 10, 30, tzinfo=SHANGHAI),),
    )
    part = staff.get("/district/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<div id="district-live"' in part and "<html" not in part
    assert f'data-col="waiting">{waiting[0] + 1}<' in part
    assert 'data-col="longest">180<' in part  # the 08:00 ticket, at 11:00
    assert "打印机缺纸" in part and "Printer out of paper" in part
    assert staff.get("/district/static/vendor/htmx.min.js").status_code == 200  # served here, vendored


# ---------- reports ----------


def test_reports_page_by_every_grouping(staff, hall_day):
    for by in ("hall", "department", "matter", "window"):
        answer = staff.get(f"/district/reports?period=range&from=2026-11-26&to=2026-11-26&by={by}")
        page = answer.get_data(as_text=True)
        assert answer.status_code == 200, by
        assert 'data-table="report"' in page and 'data-key="total"' in page, by
    page = staff.get("/district/reports?from=2026-11-26&to=2026-11-26&by=hall").get_data(as_text=True)
    issued = hall_day.one("SELECT COUNT(*) FROM tickets WHERE service_day = '2026-11-26'")[0]
    row = re.search(r'<tr data-key="hall-a">(.*?)</tr>', page, re.S)
    assert row and f'data-col="tickets">{issued}<' in row.group(1) and "城东大厅" in row.group(1)
    assert "满意率" in page and "Satisfaction" in page


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("from=2026-02-30&to=2026-03-01", "from", "2026-02-30"),
        ("from=2026-03-01&to=x", "to", "YYYY-MM-DD"),
        ("from=2026-03-02&to=2026-03-01", "to", "早于"),
        ("from=2024-01-01&to=2026-03-01", "to", "366"),
        ("from=2026-03-01&to=2026-03-01&by=clerk", "by", "clerk"),
        ("period=decade", "period", "decade"),
        ("period=day&day=%00", "day", "YYYY-MM-DD"),
    ],
)
def test_bad_report_forms_get_a_clear_message_naming_the_field(staff, query, field, words):
    answer = staff.get(f"/district/reports?{query}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert f'data-field="{field}"' in page and words in page
    csv_answer = staff.get(f"/district/reports?{query}&format=csv")
    assert csv_answer.status_code == 400 and field in csv_answer.get_data(as_text=True)


def test_report_csv_has_a_header_and_neutralises_formulas(staff, hall_day, db):
    # A hall whose id a spreadsheet would run as a formula.
    add_hall(db, "=HYPERLINK(1)")
    db.execute(
        "INSERT INTO tickets (hall, uid, local_id, service_day, prefix, number, line, state, issued_at)"
        " VALUES ('=HYPERLINK(1)', 'x1', 1, '2026-11-26', 'A', 'A001', 'A', 'waiting', %s)",
        (datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI),),
    )
    answer = staff.get("/district/reports.csv?from=2026-11-26&to=2026-11-26&by=hall")
    assert answer.status_code == 302
    answer = staff.get(answer.headers["Location"])
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    body = answer.get_data(as_text=True)
    assert body.startswith("\ufeff") and "\r\n" in body
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[0][0] == "名称 / Name" and "满意率 / Satisfaction" in rows[0]
    names = [r[0] for r in rows[1:]]
    assert "'=HYPERLINK(1)" in names and "=HYPERLINK(1)" not in names
    assert names[-1] == "合计"
    total = rows[-1]
    issued = hall_day.one("SELECT COUNT(*) FROM tickets WHERE service_day = '2026-11-26'")[0]
    assert int(total[2]) == issued + 1


# ---------- cases ----------


def test_case_list_is_masked_and_filtered(staff, hall_day, db):
    from tests.test_cases import APPLICANT

    db.execute(
        "INSERT INTO cases (hall, uid, number, mode, matter, matter_zh, state, opened_day, due_day,"
        " applicant_masked, phone_last4) VALUES ('hall-a', 'late', 'KS-LATE', 'proxy', 'M3', '公积金提取', 'sent',"
        " '2026-11-01', '2026-11-05', '欧阳娜娜', '13812345678')"
    )
    page = staff.get("/district/cases").get_data(as_text=True)
    assert "KS-LATE" in page and "欧***" in page and "****5678" in page
    for secret in (APPLICANT["applicant_name"], APPLICANT["id_number"], APPLICANT["phone"], "欧阳娜娜", "13812345678"):
        assert secret not in page
    overdue = staff.get("/district/cases?overdue=1").get_data(as_text=True)
    assert re.findall(r'data-case="([^"]+)"', overdue) == ["KS-LATE"]
    sent = staff.get("/district/cases?state=received").get_data(as_text=True)
    assert "KS-LATE" not in sent and re.findall(r'data-case="([^"]+)"', sent)
    due = staff.get("/district/cases?due_by=2026-11-10").get_data(as_text=True)
    assert re.findall(r'data-case="([^"]+)"', due) == ["KS-LATE"]
    bad_day = staff.get("/district/cases?due_by=someday")
    assert bad_day.status_code == 400 and 'data-field="due_by"' in bad_day.get_data(as_text=True)
    bad = staff.get("/district/cases?state=lost")
    assert bad.status_code == 400 and 'data-field="state"' in bad.get_data(as_text=True)


def test_no_input_gives_a_server_error(staff):
    for path in (
        "/district/reports?from=%ff&to=%ff",
        "/district/reports?by=%00",
        "/district/cases?state=%00&hall=" + "x" * 5000,
        "/district/reports?period=month&day=9999-12-31",
        "/district/reports?period=week&day=0001-01-01",
    ):
        assert staff.get(path).status_code < 500, path
