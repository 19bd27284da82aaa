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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from ..checking import Checker, describe


class CalendarError(Exception):
    """A holiday file that cannot be used; ``problems`` lists every reason as ``where: what (expected)``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class WorkCalendar:
    holidays: dict[date, str] = field(default_factory=dict)  # day off -> "春节 / Spring Festival"
    workdays: dict[date, str] = field(default_factory=dict)  # adjusted working weekend day -> name
    years: frozenset[int] = frozenset()  # years the files describe
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


_DATE = "a date such as 2026-10-01, without quotes"


def _date(c: Checker, table: dict, path: str, key: str) -> date | None:
    # TOML local dates arrive as datetime.date; a datetime is a date too, so refuse it explicitly.
    return c.get(
        table,
        path,
        key,
        date,
        expect=_DATE,
        check=lambda v: f"is {describe(v)} (expected {_DATE})" if isinstance(v, datetime) else None,
    )


def parse_calendar(doc: dict, source: str) -> tuple[int | None, dict[date, str], dict[date, str], list[str]]:
    """Check one parsed holiday file; returns (year, holidays, workdays, problems)."""
    c = Checker()
    c.unknown(doc, "", ("year", "source", "note", "holidays", "workdays"))
    year = c.get(
        doc,
        "",
        "year",
        int,
        expect="the calendar year, e.g. 2026",
        check=lambda v: None if 2000 <= v <= 2100 else f"is {v} (expected the calendar year, e.g. 2026)",
    )
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    for where, block in c.entries(doc, "", "holidays"):
        c.unknown(block, where, ("name_zh", "name_en", "from", "to"))
        name = f"{c.text(block, where, 'name_zh')} / {c.text(block, where, 'name_en')}"
        start = _date(c, block, where, "from")
        end = _date(c, block, where, "to")
        if start is None or end is None:
            continue
        if end < start:
            c.problem(f"{where}.to", f"{end} is before from {start} (expected to on or after from)")
            continue
        day = start
        while day <= end:
            if year is not None and day.year != year:
                c.problem(where, f"{day} is not in {year} (expected every day in the file's year)")
                break
            if day in holidays:
                c.problem(where, f"{day} is already a holiday ({holidays[day]})")
            holidays[day] = name
            day += timedelta(days=1)
    for where, entry in c.entries(doc, "", "workdays"):
        c.unknown(entry, where, ("date", "name_zh", "name_en"))
        name = f"{c.text(entry, where, 'name_zh')} / {c.text(entry, where, 'name_en')}"
        worked = _date(c, entry, where, "date")
        if worked is None:
            continue
        day = worked  # `day` is a date above; `worked` may be None
        if year is not None and day.year != year:
            c.problem(f"{where}.date", f"{day} is not in {year} (expected a day in the file's year)")
        if day.weekday() < 5:
            c.problem(f"{where}.date", f"{day} is a weekday (expected a Saturday or Sunday that is worked)")
        if day in holidays:
            c.problem(f"{where}.date", f"{day} is also a holiday ({holidays[day]}) (expected one or the other)")
        if day in workdays:
            c.problem(f"{where}.date", f"{day} is listed twice")
        workdays[day] = name
    return year, holidays, workdays, [f"{source}: {problem}" for problem in c.problems]


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
