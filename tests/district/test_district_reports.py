"""What the district sees equals what each hall reports of itself (tongban/district/reports.py).

A hall's day is driven with the real hall code (HallService, ratings, cases, a fake clock), its rows
are copied into the district's tables as the sync bodies would land there (tests/district/hall_rows.py),
and the district's figures are compared with the hall's own ``day_report`` totals, exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import date, datetime, timedelta

import psycopg
import pytest

from tests.conftest import SHANGHAI
from tests.test_cases import ALL_MATERIALS_M3, APPLICANT, CN_2026
from tongban.config import CasesConfig
from tongban.district import reports
from tongban.queue import ratings
from tongban.queue import reports as hall_reports
from tongban.queue.accounts import Accounts
from tongban.queue.cases import FINAL_STATES, RUNNING, CaseService
from tongban.queue.workdays import load_calendar

from .hall_rows import add_hall, copy_hall

DAY = "2026-11-26"


def busy_morning(service, store, clock, *, seed: int, tickets: int = 24) -> None:
    """A morning of two windows with every outcome: finishes rated at every level (bad ones with
    reasons), pads that time out, no-shows, an undone no-show and an undone finish, a transfer, and
    tickets still waiting at the end."""
    rng = random.Random(seed)
    accounts = Accounts(store, clock)
    for n in (1, 2):
        if not store.one("SELECT 1 FROM accounts WHERE username = ?", (f"clerk{n}",)):
            accounts.add(f"clerk{n}", f"password-{n}", name=f"clerk {n}", role="clerk", staff_no=f"C00{n}")
        if service.window(n).state != "open":
            service.window_action(n, "open", clerk=f"clerk{n}")
    b_left = 4  # line B's quota is 5 a day
    for _ in range(tickets):
        matter = "M3" if b_left and rng.random() < 0.2 else rng.choice(("M1", "M2"))
        b_left -= matter == "M3"
        service.take_ticket(matter=matter)
        clock.advance(seconds=rng.randint(20, 200))
    outcomes = ["finish"] * 10 + ["no_show"] * 3 + ["undo_no_show", "undo_finish", "transfer"]
    for step in range(tickets - 3):  # three still waiting at the end
        window = 1 + step % 2
        clerk = f"clerk{window}"
        try:
            t = service.call_next(window, clerk=clerk)
        except Exception:  # noqa: BLE001 - this window's lines are empty; the other window goes on
            continue
        clock.advance(seconds=rng.randint(5, 90))
        outcome = rng.choice(outcomes)
        if outcome in ("no_show", "undo_no_show"):
            service.act(t.id, "no_show", window=window, actor=clerk)
            if outcome == "no_show":
                continue
            service.undo(t.id, window=window, actor=clerk)
        service.act(t.id, "start", window=window, actor=clerk)
        clock.advance(seconds=rng.randint(60, 600))
        if outcome == "transfer" and t.line == "A":
            service.act(t.id, "transfer", window=window, actor=clerk, to_line="B", reason="需公积金窗口办理")
            continue
        service.act(t.id, "finish", window=window, actor=clerk)
        if outcome == "undo_finish":
            service.undo(t.id, window=window, actor=clerk)
            clock.advance(seconds=30)
            service.act(t.id, "finish", window=window, actor=clerk)
        level = rng.choice((5, 5, 4, 3, 2, 1, None))
        if level is None:
            clock.advance(seconds=90)
            ratings.expire_stale(store, window, clock.now(), timeout_s=60)
        else:
            reasons = [rng.choice(list(ratings.REASONS))] if level <= 2 else []
            ratings.rate(store, t.id, level, reasons, None, now=clock.now(), window=window)


@pytest.fixture
def conn(district_url):
    with psycopg.connect(district_url) as c:
        yield c


@pytest.fixture
def case_service(store, hall_config, clock, service):
    cfg = replace(hall_config, cases=CasesConfig(retention_days=30, near_due_days=2, calendar=load_calendar([CN_2026])))
    return CaseService(store, cfg, clock)


def open_case(case_service):
    return case_service.open(
        ticket_id=None, matter="M3", window=2, actor="clerk2", form={**APPLICANT, **ALL_MATERIALS_M3}
    )


def test_a_hall_day_at_the_district_equals_the_halls_own_day_report(service, store, clock, conn, case_service):
    # The day before: tickets that must not count on the 26th.
    clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI))
    busy_morning(service, store, clock, seed=1, tickets=6)
    old_case = open_case(case_service)  # opened on the 25th, M3's limit is 3 working days
    clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))
    busy_morning(service, store, clock, seed=7)
    open_case(case_service)
    withdrawn = open_case(case_service)
    case_service.act(withdrawn.id, "withdraw", actor="clerk2", window=2, form={"withdrawn_reason": "applicant"})

    add_hall(conn, "hall-a")
    add_hall(conn, "hall-empty")
    copy_hall(store, conn, "hall-a")
    # A due day in the past for one running case: the district counts it overdue on the 26th.
    conn.execute("UPDATE cases SET due_day = '2026-11-20' WHERE hall = 'hall-a' AND uid = %s", (f"c{old_case.id}",))

    hall = hall_reports.day_report(store, service.config, DAY).totals
    rows = {r["hall"]: r for r in reports.hall_day_rows(conn, date(2026, 11, 26), now=clock.now())}
    got = rows["hall-a"]
    assert list(got) == [
        "hall",
        "last_sync_at",
        "issued",
        "served",
        "no_show",
        "waiting_now",
        "mean_wait_min",
        "p90_wait_min",
        "ratings",
        "satisfaction",
        "open_cases",
        "overdue_cases",
    ]
    # Something of everything happened, or the comparison proves little.
    assert hall["issued"] == 24 and hall["served"] > 5 and hall["no_shows"] > 0 and 0 < hall["satisfaction"] < 1
    undone = store.one("SELECT COUNT(*) FROM events WHERE action = 'undo'")
    assert undone is not None and undone[0] >= 1
    assert (got["issued"], got["served"], got["no_show"], got["waiting_now"], got["ratings"]) == (
        hall["issued"],
        hall["served"],
        hall["no_shows"],
        hall["waiting"],
        hall["rated"],
    )
    for key, hall_key in (
        ("mean_wait_min", "wait_mean"),
        ("p90_wait_min", "wait_p90"),
        ("satisfaction", "satisfaction"),
    ):
        assert round(got[key], 6) == round(hall[hall_key], 6), key
    open_here = store.one(f"SELECT COUNT(*) FROM cases WHERE state NOT IN {tuple(FINAL_STATES)}")
    assert open_here is not None and got["open_cases"] == open_here[0] == 2
    assert got["overdue_cases"] == 1
    assert rows["hall-empty"] == {
        "hall": "hall-empty",
        "last_sync_at": None,
        "issued": 0,
        "served": 0,
        "no_show": 0,
        "waiting_now": 0,
        "mean_wait_min": None,
        "p90_wait_min": None,
        "ratings": 0,
        "satisfaction": None,
        "open_cases": 0,
        "overdue_cases": 0,
    }

    # The period report over the same day, by hall, from the roll-ups: the same counts and mean, the
    # p90 rounded up to the whole minute, and the bad-rating reasons by name.
    period = reports.Period("day", date(2026, 11, 26), date(2026, 11, 26))
    by_hall = reports.period_report(conn, period, "hall")
    row = next(r for r in by_hall.rows if r["key"] == "hall-a")
    assert (row["tickets"], row["served"], row["no_shows"], row["rated"]) == (
        hall["issued"],
        hall["served"],
        hall["no_shows"],
        hall["rated"],
    )
    assert round(row["wait_mean"], 6) == round(hall["wait_mean"], 6)
    assert row["wait_p90"] == math.ceil(hall["wait_p90"])
    assert round(row["satisfaction"], 6) == round(hall["satisfaction"], 6)
    assert row["bad_ratings"] == hall["bad_ratings"]
    bad = hall_reports.day_report(store, service.config, DAY).rows("bad_ratings")
    for reason in {b["reasons"] for b in bad if b["reasons"]}:
        assert reason in row["reasons"]
    # Every grouping adds up to the same totals.
    for by in reports.BY:
        report = reports.period_report(conn, period, by)
        assert sum(r["tickets"] for r in report.rows) == hall["issued"], by
        assert sum(r["served"] for r in report.rows) == hall["served"], by
        assert sum(r["rated"] for r in report.rows) == hall["rated"], by
        assert report.totals["wait_p90"] == math.ceil(hall["wait_p90"]), by


def test_period_reports_sum_the_days_and_follow_late_changes(service, store, clock, conn):
    """A week of two halls: the week's report is the sum of its days, and a day pushed late (or an
    undo arriving after a report was read) shows in the next report."""
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))  # Monday
    busy_morning(service, store, clock, seed=3, tickets=10)
    clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI))
    busy_morning(service, store, clock, seed=4, tickets=12)
    add_hall(conn, "hall-a")
    add_hall(conn, "hall-b")
    copy_hall(store, conn, "hall-a")
    week = reports.parse_period("week", "2026-11-25", None, None, today=date(2026, 11, 26))
    assert (week.first, week.last) == (date(2026, 11, 23), date(2026, 11, 29))
    first = reports.period_report(conn, week, "hall")
    a = {r["key"]: r for r in first.rows}["hall-a"]
    days = [hall_reports.day_report(store, service.config, d).totals for d in ("2026-11-23", "2026-11-24")]
    assert a["tickets"] == sum(d["issued"] for d in days) == 22
    assert a["served"] == sum(d["served"] for d in days)
    mixed = hall_reports.period_report(store, service.config, "2026-11-23", "2026-11-29").totals
    assert round(a["wait_mean"], 6) == round(mixed["wait_mean"], 6)
    assert a["wait_p90"] == math.ceil(mixed["wait_p90"])

    # Hall B's Monday arrives after the first report: the next one counts it.
    copy_hall(store, conn, "hall-b")
    again = {r["key"]: r for r in reports.period_report(conn, week, "hall").rows}
    assert again["hall-b"]["tickets"] == 22 and again["hall-a"]["tickets"] == 22
    # A finish undone at the hall after the district had counted it: it leaves the count.
    finish = conn.execute(
        "SELECT uid FROM events WHERE hall = 'hall-b' AND action = 'finish' AND NOT undone LIMIT 1"
    ).fetchone()
    assert finish is not None
    conn.execute("UPDATE events SET undone = true WHERE hall = 'hall-b' AND uid = %s", (finish[0],))
    after = {r["key"]: r for r in reports.period_report(conn, week, "hall").rows}
    assert after["hall-b"]["served"] == again["hall-b"]["served"] - 1


def test_departments_come_from_the_catalogue_else_the_cases_else_other(service, store, clock, conn, case_service):
    busy_morning(service, store, clock, seed=5, tickets=8)
    open_case(case_service)  # an M3 case of department gjj
    add_hall(conn, "hall-a")
    copy_hall(store, conn, "hall-a")
    period = reports.Period("day", date(2026, 11, 26), date(2026, 11, 26))
    rows = {r["key"]: r for r in reports.period_report(conn, period, "department").rows}
    m3 = store.one("SELECT COUNT(*) FROM tickets WHERE matter = 'M3' AND service_day = ?", (DAY,))
    assert m3 is not None
    assert set(rows) <= {"gjj", reports.OTHER_DEPARTMENT}
    assert rows.get("gjj", {"tickets": 0})["tickets"] == m3[0]
    assert rows[reports.OTHER_DEPARTMENT]["name"] == "其他" and rows[reports.OTHER_DEPARTMENT]["name_en"] == "Other"

    # With a catalogue (migration 0004's table, made here when that migration is absent) its
    # departments and names win.
    conn.execute("CREATE TABLE IF NOT EXISTS catalogue_versions (id BIGSERIAL PRIMARY KEY, body JSONB NOT NULL)")
    conn.execute(
        "INSERT INTO catalogue_versions (body) VALUES (%s)",
        (
            psycopg.types.json.Jsonb(
                {
                    "departments": [
                        {"code": "rsj", "name_zh": "人社局", "name_en": "HR and Social Security"},
                        {"code": "gjj", "name_zh": "公积金中心", "name_en": "Provident Fund Centre"},
                    ],
                    "matters": [
                        {"code": "M1", "department": "rsj"},
                        {"code": "M2", "department": "rsj"},
                        {"code": "M3", "department": "gjj"},
                    ],
                }
            ),
        ),
    )
    rows = {r["key"]: r for r in reports.period_report(conn, period, "department").rows}
    assert set(rows) <= {"rsj", "gjj"} and rows["rsj"]["name"] == "人社局"
    assert sum(r["tickets"] for r in rows.values()) == 8


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("range", None, "2026-13-01", "2026-12-01"), "from"),
        (("range", None, "2026-12-01", "soon"), "to"),
        (("range", None, "2026-12-02", "2026-12-01"), "to"),
        (("range", None, "2025-01-01", "2026-12-01"), "to"),
        (("fortnight", None, None, None), "period"),
        (("day", "yesterday", None, None), "day"),
    ],
)
def test_bad_periods_are_refused_naming_the_field(args, field):
    with pytest.raises(reports.ReportError) as info:
        reports.parse_period(*args, today=date(2026, 11, 26))
    assert info.value.field == field and info.value.message_zh and info.value.message_en


def test_month_and_day_periods():
    today = date(2026, 11, 26)
    assert reports.parse_period("month", "2026-02-10", None, None, today=today) == reports.Period(
        "month", date(2026, 2, 1), date(2026, 2, 28)
    )
    assert reports.parse_period(None, None, None, None, today=today) == reports.Period("day", today, today)
    assert reports.parse_period(None, None, "2026-11-01", "2026-11-26", today=today).kind == "range"


def test_live_shows_waiting_longest_wait_open_windows_sync_age_and_alerts(service, store, clock, conn):
    service.window_action(1, "open", clerk="clerk1")
    service.take_ticket(matter="M1")
    clock.advance(minutes=4)
    service.take_ticket(matter="M2")
    clock.advance(minutes=6)
    add_hall(conn, "hall-a", name="城东大厅", last_sync_at=clock.now() - timedelta(minutes=2))
    add_hall(conn, "hall-quiet")
    copy_hall(store, conn, "hall-a")
    conn.execute(
        "INSERT INTO alerts (hall, uid, device, kind, message_zh, message_en, at) VALUES"
        " ('hall-a', 'a1', 'printer-1', 'paper_out', '打印机缺纸', 'Printer out of paper', %s)",
        (clock.now(),),
    )
    rows = {r["hall"]: r for r in reports.live(conn, now=clock.now())}
    a = rows["hall-a"]
    assert (a["waiting"], a["open_windows"], a["open_alerts"], a["name"]) == (2, 1, 1, "城东大厅")
    assert a["longest_wait_min"] == pytest.approx(10) and a["sync_age_min"] == pytest.approx(2)
    quiet = rows["hall-quiet"]
    assert (quiet["waiting"], quiet["longest_wait_min"], quiet["sync_age_min"]) == (0, None, None)


def test_cases_across_the_district_are_masked_and_filtered(service, store, clock, conn, case_service):
    kept = open_case(case_service)
    gone = open_case(case_service)
    case_service.act(gone.id, "withdraw", actor="clerk2", window=2, form={"withdrawn_reason": "applicant"})
    add_hall(conn, "hall-a")
    copy_hall(store, conn, "hall-a")
    # A hall that (wrongly) sent a full name and a whole phone number: the district still masks them.
    conn.execute(
        "INSERT INTO cases (hall, uid, number, mode, matter, state, opened_day, due_day, applicant_masked, phone_last4)"
        " VALUES ('hall-a', 'raw', 'KS-X', 'proxy', 'M3', 'sent', '2026-11-01', '2026-11-05',"
        " '欧阳娜娜', '13812345678')"
    )
    found = reports.cases(conn, today=date(2026, 11, 26))
    assert {c["number"] for c in found["cases"]} == {kept.number, gone.number, "KS-X"}
    raw = next(c for c in found["cases"] if c["number"] == "KS-X")
    assert (raw["applicant"], raw["phone"], raw["overdue"]) == ("欧***", "****5678", True)
    flat = repr(found)
    assert APPLICANT["applicant_name"] not in flat and APPLICANT["id_number"] not in flat
    assert APPLICANT["phone"] not in flat and "13812345678" not in flat
    assert [c["number"] for c in reports.cases(conn, today=date(2026, 11, 26), overdue=True)["cases"]] == ["KS-X"]
    assert {c["number"] for c in reports.cases(conn, today=date(2026, 11, 26), state="open")["cases"]} == {
        kept.number,
        "KS-X",
    }
    assert [c["number"] for c in reports.cases(conn, today=date(2026, 11, 26), state="withdrawn")["cases"]] == [
        gone.number
    ]
    assert found["counts"]["hall-a"]["overdue"] == 1 and set(RUNNING) >= {"sent"}
    with pytest.raises(reports.ReportError) as info:
        reports.cases(conn, today=date(2026, 11, 26), state="lost")
    assert info.value.field == "state"


def test_the_generated_year_agrees_with_itself(conn):
    """bench/district_data.py's data (timed by bench/bench_district_reports.py): a day's rows per hall
    and the period report from the roll-ups count the same tickets, finishes and ratings."""
    from bench.district_data import generate_year

    made = generate_year(conn, halls=2, days=3, tickets_per_day=40, seed=0.5)
    assert made["tickets"] == 2 * 3 * 40 and made["events"] > made["tickets"] * 4
    last = made["last_day"]
    direct = {r["hall"]: r for r in reports.hall_day_rows(conn, last, now=datetime.now(SHANGHAI))}
    rolled = {r["key"]: r for r in reports.period_report(conn, reports.Period("day", last, last), "hall").rows}
    assert set(direct) == set(rolled) == {"hall-01", "hall-02"}
    for hall, d in direct.items():
        r = rolled[hall]
        assert (r["tickets"], r["served"], r["no_shows"], r["rated"]) == (
            d["issued"],
            d["served"],
            d["no_show"],
            d["ratings"],
        )
        assert round(r["wait_mean"], 6) == round(d["mean_wait_min"], 6)
        assert r["wait_p90"] == math.ceil(d["p90_wait_min"])


def test_whole_months_read_from_the_month_tier_equal_their_days(conn):
    """A range of a part of one month and the whole of the next: read with the month tier and again
    with it forgotten (every day from the day tier), the report is the same."""
    from bench.district_data import generate_year

    made = generate_year(conn, halls=2, days=45, tickets_per_day=15, seed=0.25, last_day=date(2026, 10, 31))
    period = reports.Period("range", made["first_day"], made["last_day"])
    assert reports._span(conn, period)["mfirst"] == date(2026, 10, 1)  # October from the month tier
    with_months = {by: reports.period_report(conn, period, by) for by in reports.BY}
    conn.execute("DELETE FROM report_months")
    assert reports._span(conn, period)["mfirst"] == period.first  # nothing built: all days

    def rounded(row):  # sums of the same waits in another order differ in the last bits
        return {**row, "wait_mean": round(row["wait_mean"], 9) if row["wait_mean"] is not None else None}

    for by, report in with_months.items():
        again = reports.period_report(conn, period, by)
        assert [rounded(r) for r in again.rows] == [rounded(r) for r in report.rows], by
        assert rounded(again.totals) == rounded(report.totals), by
    assert with_months["hall"].totals["tickets"] == 2 * 45 * 15
