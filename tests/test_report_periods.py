"""Reports over a week, a month or a chosen range, with 好差评 satisfaction by matter, window and clerk
per day (issue 16, manager tools): the domain's period report with an injected clock, the page, its
trend charts and its CSV."""

from __future__ import annotations

import csv
import io

import pytest

from tongban.queue import ratings, reports
from tongban.queue.accounts import Accounts

from .test_staff_pages import staff, text


def _serve(service, store, clock, window: int, clerk: str, matter: str, level: int | None) -> None:
    t = service.take_ticket(matter=matter).ticket
    clock.advance(minutes=1)
    assert service.call_next(window, clerk=clerk).id == t.id
    service.act(t.id, "start", window=window, actor=clerk)
    clock.advance(minutes=5)
    service.act(t.id, "finish", window=window, actor=clerk)
    if level is not None:
        ratings.rate(store, t.id, level, ["long_wait"] if level < 3 else None, now=clock.now(), window=window)


@pytest.fixture
def three_days(service, store, clock):
    """Thu 26 Nov: two good ratings at window 1; Fri 27: one bad at window 2; Sat 28 closed (no work);
    Mon 30: one good at window 2."""
    accounts = Accounts(store, clock)
    accounts.add("clerk1", "password-1", name="王敏", role="clerk", staff_no="C001")
    accounts.add("clerk2", "password-2", name="李强", role="clerk", staff_no="C002")
    service.window_action(1, "open", clerk="clerk1")
    _serve(service, store, clock, 1, "clerk1", "M1", 5)
    _serve(service, store, clock, 1, "clerk1", "M2", 4)
    clock.advance(days=1)
    service.window_action(2, "open", clerk="clerk2")
    _serve(service, store, clock, 2, "clerk2", "M3", 1)
    _serve(service, store, clock, 2, "clerk2", "M3", None)  # not rated
    clock.advance(days=3)
    _serve(service, store, clock, 2, "clerk2", "M3", 5)
    return reports.period_report(store, service.config, "2026-11-26", "2026-11-30")


def test_a_period_report_sums_its_days_and_keeps_a_row_per_day(three_days):
    report = three_days
    assert report.day == "2026-11-26" and report.last == "2026-11-30" and len(report.days) == 5
    assert report.totals["issued"] == 5 and report.totals["served"] == 5 and report.totals["rated"] == 4
    assert report.totals["satisfaction"] == pytest.approx(3 / 4)
    days = {r["day"]: r for r in report.rows("days")}
    assert list(days) == ["2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30"]
    assert (days["2026-11-26"]["issued"], days["2026-11-26"]["satisfaction"]) == (2, 1.0)
    assert (days["2026-11-27"]["rated"], days["2026-11-27"]["satisfaction"]) == (1, 0.0)
    assert days["2026-11-28"]["issued"] == 0 and days["2026-11-28"]["satisfaction"] is None


def test_satisfaction_is_followed_by_matter_window_and_clerk_per_day(three_days):
    rows = three_days.rows("satisfaction_trend")
    windows = {(r["day"], r["key"]): (r["rated"], r["satisfaction"]) for r in rows if r["dimension_key"] == "window"}
    assert windows == {
        ("2026-11-26", 1): (2, 1.0),
        ("2026-11-27", 2): (1, 0.0),
        ("2026-11-30", 2): (1, 1.0),
    }
    clerks = {(r["day"], r["name"]) for r in rows if r["dimension_key"] == "clerk"}
    assert clerks == {("2026-11-26", "王敏（C001）"), ("2026-11-27", "李强（C002）"), ("2026-11-30", "李强（C002）")}
    matters = {r["key"] for r in rows if r["dimension_key"] == "matter"}
    assert matters == {"M1", "M2", "M3"}
    series = dict(reports.trend_series(three_days, "window"))
    assert series["2号窗口"] == [None, 0.0, None, None, 1.0] and series["1号窗口"] == [1.0, None, None, None, None]
    assert list(series)[0] == "1号窗口"  # the most rated first


def test_a_day_report_is_a_period_of_one_day(three_days, store, service):
    day = reports.day_report(store, service.config, "2026-11-27")
    assert day.day == day.last == "2026-11-27" and day.days == ["2026-11-27"]
    assert day.totals["issued"] == 2 and len(day.rows("days")) == 1


def test_a_period_is_one_to_max_days(store, service):
    with pytest.raises(ValueError):
        reports.period_report(store, service.config, "2026-11-30", "2026-11-26")
    with pytest.raises(ValueError):
        reports.period_report(store, service.config, "2025-01-01", "2026-01-02")
    assert reports.period_report(store, service.config, "2025-01-01", "2026-01-01").totals["issued"] == 0


def test_the_range_csvs_leave_missing_numbers_empty(three_days):
    for name in reports.COLUMNS:
        assert "—" not in reports.csv_table(three_days, name), name
    rows = list(csv.reader(io.StringIO(reports.csv_table(three_days, "days")[1:])))
    assert rows[0][0] == "日期 / Day" and rows[3][0] == "2026-11-28" and rows[3][-1] == ""
    trend = list(csv.reader(io.StringIO(reports.csv_table(three_days, "satisfaction_trend")[1:])))
    assert ["2026-11-27", "窗口", "2号窗口", "1", "0.0%"] in trend


# ---------- the page ----------


@pytest.fixture
def hall(tmp_path, hall_config, clock):
    from .apiclient import make_hall_client

    return make_hall_client(tmp_path, hall_config, clock)


def _rated_service(hall, matter="M1", level=5):
    t = hall.call("POST", "/tickets", hall.kiosk, json={"matter": matter}).get_json()
    clerk = hall.login("clerk1", window=1)
    hall.call("POST", "/windows/1/open", clerk)
    hall.call("POST", "/windows/1/next", clerk)
    hall.call("POST", f"/tickets/{t['id']}/start", clerk)
    hall.call("POST", f"/tickets/{t['id']}/finish", clerk)
    return t


def test_week_month_and_range_pages_and_their_csv(hall, clock):
    _rated_service(hall)
    manager = staff(hall, "manager")
    week = text(manager.get("/manage/report?period=week&day=2026-11-26"))
    assert "2026-11-23 – 2026-11-29" in week  # Monday to Sunday
    assert 'data-trend="window"' in week and 'data-trend="matter"' in week and 'data-trend="clerk"' in week
    assert 'id="table-days"' in week and 'id="table-satisfaction_trend"' in week
    assert "period=week&amp;day=2026-11-19" in week and "period=week&amp;day=2026-12-03" in week  # ‹ ›
    assert "6.25" not in week

    month = text(manager.get("/manage/report?period=month&day=2026-11-26"))
    assert "2026-11-01 – 2026-11-30" in month and "day=2026-10-31" in month and "day=2026-12-01" in month

    ranged = text(manager.get("/manage/report?period=range&from=2026-11-20&to=2026-11-26"))
    assert "2026-11-20 – 2026-11-26" in ranged and "from=2026-11-13&amp;to=2026-11-19" in ranged

    today = text(manager.get("/manage/report"))  # today: one day, no trend charts
    assert "日报表 2026-11-26" in today and 'data-trend="window"' not in today and 'id="table-days"' not in today

    r = manager.get("/manage/report/days.csv?period=week&day=2026-11-26")
    assert r.status_code == 200 and "tongban-2026-11-23_2026-11-29-days.csv" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True)[1:])))
    assert [row[0] for row in rows[1:]] == [f"2026-11-{d}" for d in range(23, 30)]
    assert rows[1][1:] == ["0", "0", "0", "", "", "", "0", ""]  # Monday: nothing, empty cells


@pytest.mark.parametrize(
    "query",
    [
        "period=year",
        "period=range",
        "period=range&from=2026-11-26",
        "period=range&from=2026-11-26&to=2026-11-01",
        "period=range&from=2024-01-01&to=2026-01-01",
        "period=week&day=2026-02-30",
        "period=month&day=1999-01-01",
    ],
)
def test_bad_periods_are_400_not_500(hall, query):
    manager = staff(hall, "manager")
    assert manager.get(f"/manage/report?{query}").status_code == 400
    assert manager.get(f"/manage/report/days.csv?{query}").status_code == 400
