"""Who is called next (DESIGN §4): a pure function, no clock and no I/O.

Base order is oldest first across the lines the window serves. Credits are minutes added to a
ticket's age: green channel, a due appointment, a transferred ticket, the window's primary line.

Bound (no one waits forever): a ticket's priority is ``age + credits`` with ``0 <= credits <= C``
where ``C = max_credit(config)``, the sum of all credits. A ticket T can be passed over only by a
ticket whose ``age + credits`` exceeds T's age, i.e. one queued less than ``C`` minutes after T. So T
is passed at most by the tickets that joined its window's lines within ``C`` minutes after it: a
finite number, however long the hall runs. Tickets queued more than ``C`` minutes after T never go
before it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from ..config import PolicyConfig


@dataclass(frozen=True)
class WaitingTicket:
    id: int
    line: str
    queued_at: datetime
    green: bool = False
    appointment_at: datetime | None = None
    transferred: bool = False


@dataclass(frozen=True)
class WindowView:
    number: int
    serving: tuple[str, ...]   # primary line first

    @property
    def primary(self) -> str | None:
        return self.serving[0] if self.serving else None


def max_credit(config: PolicyConfig) -> float:
    return (config.green_credit_min + config.appointment_credit_min + config.transfer_credit_min
            + config.primary_line_credit_min)


def credit_minutes(ticket: WaitingTicket, window: WindowView | None, now: datetime, config: PolicyConfig) -> float:
    credit = 0.0
    if ticket.green:
        credit += config.green_credit_min
    if ticket.appointment_at is not None and ticket.appointment_at <= now:
        credit += config.appointment_credit_min
    if ticket.transferred:
        credit += config.transfer_credit_min
    if window is not None and ticket.line == window.primary:
        credit += config.primary_line_credit_min
    return credit


def priority(ticket: WaitingTicket, window: WindowView | None, now: datetime, config: PolicyConfig) -> float:
    age_min = (now - ticket.queued_at).total_seconds() / 60.0
    return age_min + credit_minutes(ticket, window, now, config)


def order_key(ticket: WaitingTicket, window: WindowView | None, now: datetime, config: PolicyConfig):
    # Higher priority first; among equals the earlier queued, then the lower id, so the order is total.
    return (-priority(ticket, window, now, config), ticket.queued_at, ticket.id)


def choose_next(window: WindowView, waiting: Iterable[WaitingTicket], now: datetime,
                config: PolicyConfig) -> WaitingTicket | None:
    eligible = [t for t in waiting if t.line in window.serving]
    if not eligible:
        return None
    return min(eligible, key=lambda t: order_key(t, window, now, config))


def ordered(waiting: Sequence[WaitingTicket], now: datetime, config: PolicyConfig,
            window: WindowView | None = None) -> list[WaitingTicket]:
    """The waiting tickets in the order the policy would call them (for people-ahead counts)."""
    return sorted(waiting, key=lambda t: order_key(t, window, now, config))
