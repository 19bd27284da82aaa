"""The day report: counts, waits and service times (mean, p90), no-shows, transfers and ratings, per
line, matter, window and clerk, from the events log alone; CSV and SVG made from the same rows."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.conftest import small_hall_doc
from tongban.config import parse_hall_config
from tongban.queue import ratings, reports
from tongban.queue.accounts import Accounts
from tongban.web.manage import charts


@pytest.fixture
def hall_config():
    """The small hall with a primary-line credit (the shipped default is 0): in the morning below window
    2, serving B then A, calls its B ticket before an A ticket one minute older."""
    doc = small_hall_doc()
    doc["policy"] = {"primary_line_credit_min": 5}
    return parse_hall_config(doc, "small-hall")


@pytest.fixture
def day(service, store, clock):
    """A morning at a two-window hall, every kind of outcome once."""
    accounts = Accounts(store, clock)
    accounts.add("clerk1", "password-1", name="王敏", role="clerk", staff_no="C001")
    accounts.add("clerk2", "password-2", name="李强", role="clerk", staff_no="C002")
    service.window_action(1, "open", clerk="clerk1")
    service.window_action(2, "open", clerk="clerk2")
    t1 = service.take_ticket(matter="M1").ticket  # 09:00
    clock.advance(minutes=1)
    t2 = service.take_ticket(matter="M2").ticket  # 09:01
    clock.advance(minutes=1)
    t3 = service.take_ticket(matter="M3").ticket  # 09:02, line B
    clock.advance(minutes=1)
    t4 = service.take_ticket(matter="M1").ticket  # 09:03
    clock.advance(minutes=7)  # 09:10
    assert service.call_next(1, clerk="clerk1").id == t1.id
    service.act(t1.id, "start", window=1, actor="clerk1")
    clock.advance(minutes=1)  # 09:11
    assert service.call_next(2, clerk="clerk2").id == t3.id
    service.act(t3.id, "start", window=2, actor="clerk2")
    clock.advance(minutes=5)  # 09:16
    service.act(t1.id, "finish", window=1, actor="clerk1")
    ratings.rate(store, t1.id, 5, now=clock.now(), window=1)
    clock.advance(minutes=1)  # 09:17
    assert service.call_next(1, clerk="clerk1").id == t2.id
    service.act(t2.id, "recall", window=1, actor="clerk1")
    service.act(t2.id, "recall", window=1, actor="clerk1")
    service.act(t2.id, "no_show", window=1, actor="clerk1")
    clock.advance(minutes=1)  # 09:18
    assert service.call_next(1, clerk="clerk1").id == t4.id
    service.act(t4.id, "start", window=1, actor="clerk1")
    service.act(t4.id, "transfer", window=1, actor="clerk1", to_line="B", reason="需公积金窗口办理")
    clock.advance(minutes=2)  # 09:20
    service.act(t3.id, "finish", window=2, actor="clerk2")
    ratings.rate(store, t3.id, 1, ["long_wait"], "排队太久", now=clock.now(), window=2)
    clock.advance(minutes=1)  # 09:21
    assert service.call_next(2, clerk="clerk2").id == t4.id
    service.act(t4.id, "start", window=2, actor="clerk2")
    clock.advance(minutes=4)  # 09:25
    service.act(t4.id, "finish", window=2, actor="clerk2")
    clock.advance(minutes=2)
    ratings.expire_stale(store, 2, clock.now(), timeout_s=60)
    service.take_ticket(matter="M2")  # still waiting at report time
    return reports.day_report(store, service.config, "2026-11-26")


def _by(rows, key):
    return {row[key]: row for row in rows}


def test_totals(day):
    t = day.totals
    assert (t["issued"], t["calls"], t["served"], t["no_shows"], t["transfers"], t["waiting"]) == (5, 5, 3, 1, 1, 1)
    assert t["wait_mean"] == pytest.approx((10 + 16 + 9 + 15) / 4)
    assert t["wait_p90"] == 16
    assert t["service_mean"] == pytest.approx((6 + 9 + 4) / 3)
    assert t["satisfaction"] == 0.5 and t["rated"] == 2 and t["not_rated"] == 1 and t["bad_ratings"] == 1


def test_by_line_counts_each_ticket_in_the_line_that_numbered_it(day):
    lines = _by(day.rows("lines"), "prefix")
    a, b = lines["A"], lines["B"]
    assert (a["issued"], a["served"], a["no_shows"], a["transfers"]) == (4, 2, 1, 1)
    assert a["wait_mean"] == pytest.approx((10 + 16 + 15) / 3) and a["wait_p90"] == 16
    assert a["service_mean"] == pytest.approx(5) and a["service_p90"] == 6
    assert (b["issued"], b["served"], b["wait_mean"], b["service_mean"]) == (1, 1, 9, 9)


def test_by_matter(day):
    matters = _by(day.rows("matters"), "code")
    assert matters["M1"]["issued"] == 2 and matters["M1"]["served"] == 2 and matters["M1"]["name"] == "失业登记"
    assert matters["M2"]["no_shows"] == 1 and matters["M3"]["line"] == "B"
    assert [m["code"] for m in day.rows("matters")][0] == "M1"  # busiest first


def test_by_window_and_by_clerk(day):
    windows = _by(day.rows("windows"), "window")
    assert (
        windows[1]["calls"],
        windows[1]["recalls"],
        windows[1]["served"],
        windows[1]["no_shows"],
        windows[1]["transfers"],
    ) == (3, 2, 1, 1, 1)
    assert (windows[2]["calls"], windows[2]["served"], windows[2]["service_p90"]) == (2, 2, 9)
    assert windows[1]["satisfaction"] == 1.0 and windows[2]["satisfaction"] == 0.0
    clerks = _by(day.rows("clerks"), "staff_no")
    assert clerks["C001"]["clerk"] == "王敏" and clerks["C001"]["served"] == 1
    assert clerks["C002"]["served"] == 2 and clerks["C002"]["rated"] == 1


def test_ratings_share_per_level_and_every_bad_rating_with_its_reason(day):
    levels = _by(day.rows("ratings"), "level")
    assert levels["非常满意"]["count"] == 1 and levels["非常满意"]["share"] == 0.5
    assert levels["非常不满意"]["share"] == 0.5 and levels["满意"]["count"] == 0
    assert levels["未评价"]["count"] == 1
    [bad] = day.rows("bad_ratings")
    assert bad["reasons"] == "等候时间太长" and bad["comment"] == "排队太久" and bad["window"] == 2
    assert bad["clerk"] == "李强（C002）" and bad["matter"] == "正常退休提取住房公积金" and bad["time"] == "09:20"
    [transfer] = day.rows("transfers")
    assert (transfer["from_line"], transfer["to_line"], transfer["reason"]) == ("A", "B", "需公积金窗口办理")


def test_by_hour_uses_the_halls_local_time(day):
    assert day.rows("hours") == [{"hour": "09:00", "issued": 5, "calls": 5, "served": 3}]


def test_a_finished_service_the_pad_never_closed_counts_as_not_rated(service, store, clock):
    service.window_action(1, "open", clerk="clerk1")
    t = service.take_ticket(matter="M1").ticket
    service.call_next(1)
    service.act(t.id, "start", window=1)
    service.act(t.id, "finish", window=1)
    report = reports.day_report(store, service.config, "2026-11-26")
    assert _by(report.rows("ratings"), "level")["未评价"]["count"] == 1 and report.totals["satisfaction"] is None


def test_an_empty_day(service, store):
    report = reports.day_report(store, service.config, "2020-01-01")
    assert report.totals["issued"] == 0 and report.totals["wait_mean"] is None
    assert [r["prefix"] for r in report.rows("lines")] == ["A", "B"]
    assert "<svg" in charts.svg_bars([], [("x", [])], title="empty")


def test_csv_has_the_same_rows_with_both_languages_in_the_header(day):
    text = reports.csv_table(day, "lines")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][0] == "队列 / Line" and rows[0][6] == "平均等候(分) / Mean wait (min)"
    assert rows[1][:6] == ["A", "人社业务", "4", "2", "1", "1"] and rows[1][6] == "13.7"
    bad = list(csv.reader(io.StringIO(reports.csv_table(day, "bad_ratings")[1:])))
    assert bad[1][6] == "等候时间太长"
    for name in reports.COLUMNS:
        assert reports.csv_table(day, name)


def test_svg_charts_are_plain_markup_without_style_attributes(day):
    chart = charts.svg_bars(
        [r["hour"] for r in day.rows("hours")],
        [("取号", [r["issued"] for r in day.rows("hours")])],
        title="按时段 <取号>",
    )
    assert chart.startswith("<svg") and "style=" not in chart and "&lt;取号&gt;" in chart
    share = charts.svg_share([("非常满意", 1, "#2e7d32"), ("非常不满意", 1, "#b71c1c")], title="好差评")
    assert share.count("<rect") >= 4 and "50%" in share


def test_p90_is_nearest_rank():
    assert reports.p90([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == 9
    assert reports.p90([5]) == 5 and reports.p90([]) is None


def test_green_channel_tickets_are_counted_by_why_they_had_priority(service, store, clock):
    """The clerk's reason goes with the ticket (tickets.green_reason) and into the day report and its CSV."""
    from tongban.queue import errors

    service.window_action(1, "open", clerk="clerk1")
    elder = service.take_ticket(line="A", green=True, green_reason="elderly").ticket
    service.take_ticket(line="A", green=True, green_reason="elderly")
    service.take_ticket(line="B", green=True, green_reason="pregnant")
    service.take_ticket(line="A", green=True)  # the API may leave it out
    service.take_ticket(line="A")  # not green: not in the table
    assert elder.green_reason == "elderly"
    assert service.events(elder.id)[0]["data"]["green_reason"] == "elderly"
    for bad in ({"green": True, "green_reason": "vip"}, {"green": False, "green_reason": "elderly"}):
        with pytest.raises(errors.BadGreenReason):
            service.take_ticket(line="A", **bad)
    clock.advance(minutes=4)
    assert service.call_next(1, clerk="clerk1").id == elder.id
    service.act(elder.id, "start", window=1, actor="clerk1")
    service.act(elder.id, "finish", window=1, actor="clerk1")

    report = reports.day_report(store, service.config, "2026-11-26")
    rows = {r["value"]: r for r in report.rows("green")}
    assert [r["reason"] for r in report.rows("green")] == ["老年人", "残疾人", "孕妇", "军人", "其他", "未记录原因"]
    assert (rows["elderly"]["issued"], rows["elderly"]["served"], rows["elderly"]["wait_mean"]) == (2, 1, 4.0)
    assert rows["pregnant"]["issued"] == 1 and rows["disabled"]["issued"] == 0 and rows[None]["issued"] == 1
    assert report.totals["green"] == 4
    table = list(csv.reader(io.StringIO(reports.csv_table(report, "green")[1:])))
    assert table[0][:3] == ["优先原因 / Why priority", "取号 / Issued", "办结 / Served"]
    assert table[1][:3] == ["老年人", "2", "1"] and table[3][:2] == ["孕妇", "1"]


@pytest.mark.parametrize("peak", [0, 1, 3, 5, 6, 7, 11, 25, 26, 99, 100, 101, 1234])
def test_count_axes_tick_whole_numbers_only(peak):
    ticks = charts.axis_ticks(peak, counts=True)
    assert ticks[0] == 0 and ticks[-1] >= peak and 2 <= len(ticks) <= 6
    assert all(t == int(t) for t in ticks)
    steps = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1  # evenly spaced


def test_a_count_chart_of_25_tickets_has_no_fractional_tick():
    chart = charts.svg_bars(["09"], [("取号", [25])], title="t", counts=True)
    labels = re.findall(r'text-anchor="end" font-size="11" fill="#666">([^<]+)<', chart)
    assert labels == ["0", "5", "10", "15", "20", "25"]
    assert "6.25" not in charts.svg_bars(["09"], [("取号", [25])], title="t", counts=True)


def test_csv_leaves_missing_numbers_empty_not_dashed(service, store):
    service.take_ticket(line="A")  # issued, never called: no wait, no service, no rating
    report = reports.day_report(store, service.config, "2026-11-26")
    for name in reports.COLUMNS:
        text = reports.csv_table(report, name)
        assert "—" not in text, name
    rows = list(csv.reader(io.StringIO(reports.csv_table(report, "lines")[1:])))
    assert rows[1][6:] == ["", "", "", ""]  # A: mean/p90 wait and service unknown


def test_an_undone_no_show_or_finish_is_not_counted(service, store, clock):
    service.window_action(1, "open", clerk="clerk1")
    t = service.take_ticket(matter="M1").ticket
    service.call_next(1, clerk="clerk1")
    service.act(t.id, "no_show", window=1, actor="clerk1")
    service.undo(t.id, window=1, actor="clerk1")  # the citizen was on the way after all
    service.act(t.id, "start", window=1, actor="clerk1")
    clock.advance(minutes=3)
    service.act(t.id, "finish", window=1, actor="clerk1")
    service.undo(t.id, window=1, actor="clerk1")  # one more paper to look at
    clock.advance(minutes=2)
    service.act(t.id, "finish", window=1, actor="clerk1")
    totals = reports.day_report(store, service.config, "2026-11-26").totals
    assert (totals["calls"], totals["served"], totals["no_shows"]) == (1, 1, 0)
    assert totals["service_mean"] == 5
