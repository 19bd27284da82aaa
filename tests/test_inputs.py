"""Bad input gets a 400 that names the field, or a 404, never a 500 (tongban/web/params.py): each value a
drill found answering 500, through the route that crashed on it. tests/fault/test_fuzz_pages.py walks
every route with many more such values."""

from __future__ import annotations

from datetime import date

import pytest

from tongban.web import params

from .apiclient import PASSWORD, make_hall_client
from .roles import every_role

UNICODE_DIGITS = ("²", "٣", "１", "𝟙")
HUGE = "9" * 25


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    hall = make_hall_client(tmp_path, hall_config, clock)
    hall.roles = every_role(hall, tmp_path / "api.db", clock)
    return hall


def body(r) -> str:
    return r.get_data(as_text=True)


# ---------- the readers ----------


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "", " ", "-1", "1.0", "1e3", "0x10", "+1", "1_000", HUGE, "12\x00"])
def test_only_ascii_digits_in_range_are_a_number(text):
    with pytest.raises(params.BadValue) as exc:
        params.whole(text, "n", 1, 10**18)
    assert exc.value.field == "n" and exc.value.code == 400
    assert exc.value.message_zh.startswith("n 不正确") and exc.value.message_en.startswith("n: expected a whole number")


def test_a_number_is_ascii_digits_or_a_json_integer_within_its_range():
    assert params.whole(" 42 ", "n") == 42 and params.whole(7, "n") == 7
    assert params.whole("-3", "n", -5, 5) == -3
    for value in (True, 1.0, None, [1], 0, 10**18, 2**63):
        with pytest.raises(params.BadValue):
            params.whole(value, "n", 1, 10**18 - 1)


@pytest.mark.parametrize(
    "text", ["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "20261126", "2026-11-26T00:00", "２０２６-11-26"]
)
def test_a_day_is_a_real_date_within_the_years_reports_cover(text):
    with pytest.raises(params.BadValue) as exc:
        params.day(text, "day")
    assert "YYYY-MM-DD" in exc.value.message_en and "2000-01-01" in exc.value.message_zh
    assert params.day("2026-11-26", "day") == date(2026, 11, 26)


def test_a_list_holds_only_items_of_its_kind():
    assert params.items(["a", "b"], "reasons", str) == ["a", "b"]
    for value in ([["x"]], [{"a": 1}], [1], "abc", {"a": 1}, ["x"] * 101, [True]):
        with pytest.raises(params.BadValue):
            params.items(value, "reasons", str)


# ---------- the routes the drills crashed ----------


def test_unicode_digits_are_refused_with_a_400_naming_the_field(hall):
    roles = hall.roles
    login_form = {"username": "manager", "password": PASSWORD}
    for digit in UNICODE_DIGITS:
        cases = [
            ("window", roles["anonymous"].open("/login", "POST", form={**login_form, "window": digit})),
            ("idle", roles["kiosk"].open(f"/kiosk/kiosk-1?idle={digit}")),
            ("page", roles["kiosk"].open(f"/kiosk/kiosk-1/departments?page={digit}")),
            ("page", roles["clerk"].open(f"/cases?page={digit}")),
            ("ticket", roles["clerk"].open(f"/cases/new?ticket={digit}")),
            ("day", roles["manager"].open(f"/manage/report?day=2026-11-2{digit}")),
        ]
        for field, r in cases:
            assert r.status_code == 400, (field, digit, r.status_code)
            assert f"{field} 不正确" in body(r) and f"{field}: expected" in body(r), (field, digit)
        # The consoles and the pad answer in their own words, still a 400.
        r = roles["clerk"].open("/window/1/transfer", "POST", form={"ticket": digit, "target": "line:B"})
        assert r.status_code == 400 and "没有可转移的号" in body(r)
        r = roles["pad"].open("/window/1/pad/rate", "POST", form={"ticket": "1", "level": digit})
        assert r.status_code == 400 and "请选择评价等级" in body(r)


def test_a_unicode_digit_in_a_case_form_is_a_problem_of_that_field(hall):
    token = hall.login("manager")
    ticket = hall.call("POST", "/tickets", hall.kiosk, json={"matter": "M3"}).get_json()["id"]
    hall.call("POST", "/windows/2/open", token)
    assert hall.call("POST", "/windows/2/next", token).get_json()["id"] == ticket
    assert hall.call("POST", f"/tickets/{ticket}/start", token).status_code == 200
    form = {"ticket": str(ticket), "applicant_name": "张三", "material_0": "on", "copies_0": "²"}
    r = hall.roles["manager"].open("/cases/new", "POST", form=form)
    assert r.status_code == 422 and "的份数应为1到99" in body(r)


def test_ids_beyond_sqlite_integers_are_a_404(hall):
    roles = hall.roles
    for role, method, path in [
        ("kiosk", "GET", f"/kiosk/kiosk-1/tickets/{'9' * 30}"),
        ("kiosk", "GET", f"/kiosk/kiosk-1/tickets/1/print/{HUGE}"),
        ("clerk", "GET", f"/cases/{HUGE}"),
        ("clerk", "POST", f"/window/1/alerts/{HUGE}/ack"),
        ("clerk", "POST", f"/window/1/ticket/{HUGE}/start"),
        ("manager", "POST", f"/manage/windows/{HUGE}/lines/A"),
        ("manager", "POST", f"/manage/proposals/{HUGE}/accept"),
        ("manager", "GET", f"/display/window/{HUGE}"),
        ("manager", "GET", "/display/window/٣"),  # \\d would match it; our ids are ASCII only
    ]:
        r = roles[role].open(path, method)
        assert r.status_code == 404, (path, r.status_code)


def test_report_days_whose_neighbours_are_no_dates_are_a_400(hall):
    manager = hall.roles["manager"]
    for day in ("9999-12-31", "0001-01-01"):
        for path in ("/manage/report", "/manage/report/lines.csv"):
            r = manager.open(f"{path}?day={day}")
            assert r.status_code == 400 and "day: expected a date" in body(r), (path, day)
    assert manager.open("/manage/report?day=2099-12-31").status_code == 200


# ---------- the API answers JSON, whatever goes wrong ----------


def _is_json(r) -> bool:
    return r.headers["Content-Type"].startswith("application/json") and isinstance(r.get_json(), dict)


def test_deeply_nested_json_is_a_json_400(hall):
    deep = "[" * 100_000 + "]" * 100_000
    for token, path in [(None, "/login"), (hall.kiosk, "/tickets")]:
        r = hall.call("POST", path, token, data=deep, content_type="application/json")
        assert r.status_code == 400 and _is_json(r) and r.get_json()["error"] == "json_too_deep"  # before parsing


@pytest.mark.parametrize("reasons", [[["x"]], [{"a": 1}], [1], "unclear", [None]])
def test_rating_reasons_that_are_not_codes_are_a_json_400(hall, reasons):
    r = hall.call("POST", "/tickets/1/rate", hall.roles["pad"].bearer, json={"level": 1, "reasons": reasons})
    assert r.status_code == 400 and _is_json(r) and r.get_json()["field"] == "reasons"


def test_json_numbers_and_times_out_of_range_are_a_json_400(hall):
    token = hall.login("manager")
    r = hall.http.post("/api/v1/login", json={"username": "manager", "password": PASSWORD, "window": 10**30})
    assert r.status_code == 400 and r.get_json()["field"] == "window"
    for when in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-11-26T10:00:00", "２０２６"):
        r = hall.call("POST", "/tickets", token, json={"line": "A", "appointment_at": when})
        assert r.status_code == 400 and r.get_json()["field"] == "appointment_at", when


def test_werkzeug_errors_under_the_api_are_json(hall):
    for method, path, status in [
        ("GET", "/api/v1/nothing/here", 404),
        ("GET", f"/api/v1/tickets/{HUGE}", 404),
        ("GET", "/api/v1/tickets/²", 404),
        ("GET", "/api/v1", 404),
        ("DELETE", "/api/v1/matters", 405),
        ("GET", "/api/v1/login", 405),
    ]:
        r = hall.http.open(path, method=method, headers={"Authorization": f"Bearer {hall.kiosk}"})
        assert r.status_code == status and _is_json(r), (method, path, r.status_code)
    assert "POST" in hall.http.get("/api/v1/login").headers["Allow"]


def test_a_body_over_the_size_limit_is_a_json_413(hall):
    hall.app.config["MAX_CONTENT_LENGTH"] = 1000
    r = hall.call("POST", "/tickets", hall.kiosk, data="x" * 5000, content_type="application/json")
    assert r.status_code == 413 and _is_json(r) and r.get_json()["error"] == "body_too_large"


def test_a_crash_under_the_api_is_a_json_500_and_a_page_keeps_its_html(tmp_path, hall_config, clock):
    from tongban.web.app import create_app

    app = create_app({"HALL": hall_config, "DATABASE": str(tmp_path / "crash.db"), "CLOCK": clock})

    @app.get("/api/v1/crash")
    def crash_api():
        raise RuntimeError("a bug")

    @app.get("/crash")
    def crash_page():
        raise RuntimeError("a bug")

    http = app.test_client()
    r = http.get("/api/v1/crash")
    assert r.status_code == 500 and _is_json(r) and r.get_json()["error"] == "server_error"
    assert r.get_json()["message_zh"] and r.get_json()["message_en"]
    r = http.get("/crash")
    assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
