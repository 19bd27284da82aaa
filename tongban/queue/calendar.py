"""The hall's clock face: service days and opening hours in the hall's own time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..config import WEEKDAYS, Hall, Line


def local(now: datetime, hall: Hall) -> datetime:
    return now.astimezone(hall.tz)


def service_day(now: datetime, hall: Hall) -> str:
    """The day rolls over at the hall's local midnight, not the machine's (docs/architecture.md §Numbering)."""
    return local(now, hall).date().isoformat()


@dataclass(frozen=True)
class Opening:
    open: bool
    reason: str | None = None  # closed_today, not_yet_open, lunch_break, closed_for_day
    reopens_at: str | None = None  # "14:00" when a lunch break ends, or the next day's start


def opening(now: datetime, hall: Hall) -> Opening:
    moment = local(now, hall)
    periods = hall.hours.get(WEEKDAYS[moment.weekday()], ())
    clock = moment.time()
    if not periods:
        return Opening(False, "closed_today")
    if clock < periods[0].start:
        return Opening(False, "not_yet_open", f"{periods[0].start:%H:%M}")
    for i, period in enumerate(periods):
        if period.start <= clock < period.end:
            return Opening(True)
        if i + 1 < len(periods) and period.end <= clock < periods[i + 1].start:
            return Opening(False, "lunch_break", f"{periods[i + 1].start:%H:%M}")
    return Opening(False, "closed_for_day")


def past_last_issue(now: datetime, hall: Hall, line: Line) -> bool:
    return line.last_issue is not None and local(now, hall).time() >= line.last_issue


def day_start(day: str) -> date:
    return date.fromisoformat(day)
