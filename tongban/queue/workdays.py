"""Working days for legal time limits: weekends, public holidays, and adjusted working days (调休).

A matter's time limit (``time_limit_days``) counts *working days* of the State Council's calendar,
not the hall's opening hours: a hall open on Saturday mornings does not make Saturday a working day
for the handling department, and an adjusted working Saturday (调休上班) is one even if the hall is
closed. The calendar comes from ``config/holidays-*.toml`` files, one per year, published each
November by the State Council General Office (国务院办公厅关于 YYYY 年部分节假日安排的通知).

File format (TOML, dates as TOML local dates)::

    year = 2026
    source = "国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04)"

    [[holidays]]                 # days off, weekend days inside the block included
    name_zh = "国庆节"
    name_en = "National Day"
    from = 2026-10-01
    to = 2026-10-07

    [[workdays]]                 # adjusted working days: a Saturday or Sunday that is worked
    date = 2026-10-10
    name_zh = "国庆节调休上班"
    name_en = "Working Saturday (National Day)"

A year without a file is counted with weekends only, and ``covers()`` says so, so a screen can warn
that a due date beyond the known calendar may move.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable


class CalendarError(Exception):
    """A holiday file that cannot be used; ``problems`` lists every reason as ``where: what (expected)``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class WorkCalendar:
    holidays: dict[date, str] = field(default_factory=dict)    # day off -> "春节 / Spring Festival"
    workdays: dict[date, str] = field(default_factory=dict)    # adjusted working weekend day -> name
    years: frozenset[int] = frozenset()                        # years the files describe
    sources: tuple[str, ...] = ()

    def __hash__(self) -> int:  # frozen dataclasses hash their fields; dicts are not hashable
        return hash((self.years, self.sources))

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def covers(self, day: date) -> bool:
        """Whether ``day``'s year is described by a holiday file (otherwise: weekends only)."""
        return day.year in self.years

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself is not counted).

        With 0 days the answer is ``start``: a matter settled on the spot is due the day it is received.
        """
        if days < 0:
            raise ValueError("days must be 0 or more")
        current = start
        left = days
        while left:
            current += timedelta(days=1)
            if self.is_working_day(current):
                left -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when ``end`` is before ``start``."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def name(self, day: date) -> str | None:
        return self.holidays.get(day) or self.workdays.get(day)


WEEKENDS_ONLY = WorkCalendar()


def _date(value: Any, where: str, problems: list[str]) -> date | None:
    # TOML local dates arrive as datetime.date; a datetime is a date too, so refuse it explicitly.
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    problems.append(f"{where}: is {value!r} (expected a date such as 2026-10-01, without quotes)")
    return None


def _text(table: dict, key: str, where: str, problems: list[str]) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: is {'missing' if value is None else repr(value)} (expected some text)")
        return ""
    return value


def parse_calendar(doc: dict, source: str) -> tuple[int | None, dict[date, str], dict[date, str], list[str]]:
    """Check one parsed holiday file; returns (year, holidays, workdays, problems)."""
    problems: list[str] = []
    for key in doc:
        if key not in ("year", "source", "note", "holidays", "workdays"):
            problems.append(f"{source}: {key}: unknown key (expected year, source, note, holidays, workdays)")
    year = doc.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        problems.append(f"{source}: year: is {year!r} (expected the calendar year, e.g. 2026)")
        year = None
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    blocks = doc.get("holidays", [])
    if not isinstance(blocks, list):
        problems.append(f"{source}: holidays: is not an array (expected [[holidays]] tables)")
        blocks = []
    for i, block in enumerate(blocks):
        where = f"{source}: holidays[{i}]"
        if not isinstance(block, dict):
            problems.append(f"{where}: is not a table (expected [[holidays]] with name_zh, name_en, from, to)")
            continue
        for key in block:
            if key not in ("name_zh", "name_en", "from", "to"):
                problems.append(f"{where}.{key}: unknown key (expected name_zh, name_en, from, to)")
        name = f"{_text(block, 'name_zh', where, problems)} / {_text(block, 'name_en', where, problems)}"
        start = _date(block.get("from"), f"{where}.from", problems)
        end = _date(block.get("to"), f"{where}.to", problems)
        if start is None or end is None:
            continue
        if end < start:
            problems.append(f"{where}.to: {end} is before from {start} (expected to on or after from)")
            continue
        day = start
        while day <= end:
            if year is not None and day.year != year:
                problems.append(f"{where}: {day} is not in {year} (expected every day in the file's year)")
                break
            if day in holidays:
                problems.append(f"{where}: {day} is already a holiday ({holidays[day]})")
            holidays[day] = name
            day += timedelta(days=1)
    singles = doc.get("workdays", [])
    if not isinstance(singles, list):
        problems.append(f"{source}: workdays: is not an array (expected [[workdays]] tables)")
        singles = []
    for i, entry in enumerate(singles):
        where = f"{source}: workdays[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: is not a table (expected [[workdays]] with date, name_zh, name_en)")
            continue
        for key in entry:
            if key not in ("date", "name_zh", "name_en"):
                problems.append(f"{where}.{key}: unknown key (expected date, name_zh, name_en)")
        name = f"{_text(entry, 'name_zh', where, problems)} / {_text(entry, 'name_en', where, problems)}"
        day = _date(entry.get("date"), f"{where}.date", problems)
        if day is None:
            continue
        if year is not None and day.year != year:
            problems.append(f"{where}.date: {day} is not in {year} (expected a day in the file's year)")
        if day.weekday() < 5:
            problems.append(f"{where}.date: {day} is a weekday (expected a Saturday or Sunday that is worked)")
        if day in holidays:
            problems.append(f"{where}.date: {day} is also a holiday ({holidays[day]}) (expected one or the other)")
        if day in workdays:
            problems.append(f"{where}.date: {day} is listed twice")
        workdays[day] = name
    return year, holidays, workdays, problems


def load_calendar(paths: Iterable[str | Path]) -> WorkCalendar:
    """Merge holiday files (one per year); raise CalendarError listing every problem."""
    problems: list[str] = []
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    years: dict[int, str] = {}
    sources = []
    for path in paths:
        path = Path(path)
        name = path.name
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            problems.append(f"{name}: cannot read {path} ({exc.strerror})")
            continue
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{name}: not a valid UTF-8 TOML file ({exc})")
            continue
        year, days_off, days_on, found = parse_calendar(doc, name)
        problems.extend(found)
        if year is not None:
            if year in years:
                problems.append(f"{name}: year {year} is already described by {years[year]}")
            years[year] = name
        holidays.update(days_off)
        workdays.update(days_on)
        sources.append(str(doc.get("source", name)))
    if problems:
        raise CalendarError(problems)
    return WorkCalendar(holidays, workdays, frozenset(years), tuple(sources))
