"""Working days for time limits (docs/cases.md): the shipped 2026 calendar, due dates across weekends,
public holidays and adjusted working days, and the checks on holiday files and the [cases] table."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests._toml import dumps
from tests.conftest import small_hall_doc
from tongban.config import ConfigError, load_hall_config
from tongban.queue.workdays import WEEKENDS_ONLY, CalendarError, load_calendar

CONFIG = Path(__file__).resolve().parent.parent / "config"
CN_2026 = CONFIG / "holidays-cn-2026.toml"


@pytest.fixture(scope="module")
def cn2026():
    return load_calendar([CN_2026])


def test_shipped_2026_calendar_matches_the_state_council_notice(cn2026):
    # 国务院办公厅关于2026年部分节假日安排的通知: 7 blocks, 33 days off, 6 adjusted working days.
    assert cn2026.years == {2026}
    assert len(cn2026.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(cn2026.workdays) == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    assert all(d.weekday() >= 5 for d in cn2026.workdays)
    assert cn2026.holidays[date(2026, 2, 17)].startswith("春节")  # 正月初一
    assert cn2026.holidays[date(2026, 10, 1)].startswith("国庆节")


@pytest.mark.parametrize(
    "day, working",
    [
        ("2026-11-27", True),  # Friday
        ("2026-11-28", False),  # Saturday
        ("2026-11-29", False),  # Sunday
        ("2026-10-01", False),  # National Day, a Thursday
        ("2026-10-05", False),  # Monday inside the National Day block
        ("2026-10-10", True),  # adjusted working Saturday
        ("2026-09-20", True),  # adjusted working Sunday
        ("2026-01-04", True),  # adjusted working Sunday after New Year
        ("2026-06-19", False),  # Dragon Boat Festival, a Friday
    ],
)
def test_working_days(cn2026, day, working):
    assert cn2026.is_working_day(date.fromisoformat(day)) is working


@pytest.mark.parametrize(
    "start, days, due",
    [
        ("2026-11-26", 3, "2026-12-01"),  # Thu + 3: Fri, (weekend), Mon, Tue
        ("2026-11-27", 3, "2026-12-02"),  # Fri + 3 across a weekend
        ("2026-11-28", 1, "2026-11-30"),  # received on a Saturday morning: Monday is day 1
        ("2026-09-30", 3, "2026-10-10"),  # across National Day, ending on the adjusted working Saturday
        ("2026-09-24", 2, "2026-09-29"),  # Thu + 2: Mid-Autumn Fri-Sun off, Mon, Tue
        ("2026-09-18", 1, "2026-09-20"),  # Fri + 1 is the adjusted working Sunday
        ("2026-04-30", 5, "2026-05-11"),  # Labour Day block, 9 May (Sat) worked: 6, 7, 8, 9, 11
        ("2026-02-13", 1, "2026-02-14"),  # the working Saturday before Spring Festival
        ("2026-02-13", 2, "2026-02-24"),  # then nine days off
        ("2026-11-26", 0, "2026-11-26"),  # 0 days: due the day it is received
    ],
)
def test_due_dates(cn2026, start, days, due):
    assert cn2026.add_working_days(date.fromisoformat(start), days) == date.fromisoformat(due)


def test_weekends_only_outside_the_files_years(cn2026):
    assert not cn2026.covers(date(2027, 1, 4)) and cn2026.covers(date(2026, 12, 31))
    # 2027-01-01 is a Friday; without a 2027 file it counts as a working day.
    assert cn2026.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 1)
    assert WEEKENDS_ONLY.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 5)


def test_working_days_between(cn2026):
    assert cn2026.working_days_between(date(2026, 10, 8), date(2026, 10, 10)) == 2
    assert cn2026.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert cn2026.working_days_between(date(2026, 10, 10), date(2026, 10, 10)) == 0
    assert cn2026.working_days_between(date(2026, 10, 12), date(2026, 10, 10)) == -1


# ---------- bad holiday files ----------


def _write(tmp_path: Path, text: str, name: str = "holidays-x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_holiday_file_reports_every_problem(tmp_path):
    path = _write(
        tmp_path,
        """
year = 2026
colour = "red"
[[holidays]]
name_zh = "国庆节"
name_en = "National Day"
from = 2026-10-07
to = 2026-10-01
[[holidays]]
name_zh = "元旦"
from = "2026-01-01"
to = 2027-01-01
[[workdays]]
date = 2026-10-12
name_zh = "调休"
name_en = "Working Monday?"
[[workdays]]
date = 2025-12-27
name_zh = "调休"
name_en = "Last year"
""",
    )
    with pytest.raises(CalendarError) as info:
        load_calendar([path])
    problems = "\n".join(info.value.problems)
    for expected in (
        "colour: unknown key",
        "holidays[0].to: 2026-10-01 is before from 2026-10-07",
        "holidays[1].name_en: is missing",
        "holidays[1].from: is a string ('2026-01-01') (expected a date",
        "workdays[0].date: 2026-10-12 is a weekday",
        "workdays[1].date: 2025-12-27 is not in 2026",
    ):
        assert expected in problems, problems


def test_two_files_for_one_year_are_refused(tmp_path):
    a = _write(tmp_path, "year = 2026\n", "holidays-a.toml")
    b = _write(tmp_path, "year = 2026\n", "holidays-b.toml")
    with pytest.raises(CalendarError, match="year 2026 is already described by holidays-a.toml"):
        load_calendar([a, b])


def test_a_day_both_holiday_and_workday_is_refused(tmp_path):
    path = _write(
        tmp_path,
        """year = 2026
[[holidays]]
name_zh = "x"
name_en = "x"
from = 2026-10-03
to = 2026-10-04
[[workdays]]
date = 2026-10-03
name_zh = "y"
name_en = "y"
""",
    )
    with pytest.raises(CalendarError, match="2026-10-03 is also a holiday"):
        load_calendar([path])


# ---------- the [cases] table of a hall file ----------


def _hall_file(tmp_path: Path, cases: dict | None, *, with_calendar: bool = True) -> Path:
    doc = small_hall_doc()
    if cases is not None:
        doc["cases"] = cases
    if with_calendar:
        (tmp_path / "holidays-cn-2026.toml").write_bytes(CN_2026.read_bytes())
    path = tmp_path / "hall.toml"
    path.write_text(dumps(doc), encoding="utf-8")
    return path


def test_cases_defaults_use_the_calendars_beside_the_hall_file(tmp_path):
    cfg = load_hall_config(_hall_file(tmp_path, None))
    assert cfg.cases.retention_days == 365 and cfg.cases.near_due_days == 2
    assert [Path(p).name for p in cfg.cases.holidays] == ["holidays-cn-2026.toml"]
    assert not cfg.cases.calendar.is_working_day(date(2026, 10, 1))


def test_demo_hall_uses_the_shipped_calendar():
    cfg = load_hall_config(CONFIG / "demo-hall.toml")
    assert cfg.cases.calendar.is_working_day(date(2026, 10, 10))
    assert 2026 in cfg.cases.calendar.years


def test_cases_table_is_read(tmp_path):
    cfg = load_hall_config(_hall_file(tmp_path, {"retention_days": 30, "near_due_days": 0, "holidays": []}))
    assert (cfg.cases.retention_days, cfg.cases.near_due_days, cfg.cases.holidays) == (30, 0, ())
    assert cfg.cases.calendar.is_working_day(date(2026, 10, 1))  # weekends only


def test_bad_cases_table_names_each_field(tmp_path):
    path = _hall_file(tmp_path, {"retention_days": 0, "near_due_days": "two", "holidays": ["nope.toml"], "retain": 5})
    with pytest.raises(ConfigError) as info:
        load_hall_config(path)
    problems = info.value.problems
    assert "cases.retention_days: is 0 (expected 1 to 3650 days)" in problems
    assert "cases.near_due_days: is a string ('two') (expected a whole number)" in problems
    assert any(p.startswith("cases.holidays[0]: 'nope.toml': no such file") for p in problems)
    assert any(p.startswith("cases.retain: unknown key") for p in problems)


def test_a_broken_calendar_is_a_hall_config_problem(tmp_path):
    (tmp_path / "holidays-broken.toml").write_text("year = 'soon'\n", encoding="utf-8")
    path = _hall_file(tmp_path, {"holidays": ["holidays-broken.toml"]})
    with pytest.raises(ConfigError) as info:
        load_hall_config(path)
    assert info.value.problems == [
        "cases.holidays: holidays-broken.toml: year: is a string ('soon') (expected the calendar year, e.g. 2026)"
    ]


def test_every_day_of_2026_is_classified_once(cn2026):
    day = date(2026, 1, 1)
    working = 0
    while day.year == 2026:
        working += cn2026.is_working_day(day)
        day += timedelta(days=1)
    # 261 weekdays in 2026, minus 19 holidays on weekdays (2+6+1+3+1+1+5), plus 6 worked weekend days.
    assert working == 261 - 19 + 6 == 248
