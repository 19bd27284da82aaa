"""Who is called next (docs/architecture.md §Dispatch): a pure function, no clock and no I/O.

Base order is oldest first across the lines the window serves. Credits are minutes added to a
ticket's age: green channel, a due appointment, a transferred ticket, the window's primary line.
When the window's own lines are empty it takes, in the same order, the lines it is *able* to serve
(no window idles beside a line it could take), unless it is pinned or the hall turned
``policy.idle_windows_take_able_lines`` off. The bound below holds within each of the two steps.

Bound (no one waits forever): a ticket's priority is ``age + credits`` with ``0 <= credits <= C``
where ``C = max_credit(config)``, the sum of all credits. A ticket T can be passed over only by a
ticket whose ``age + credits`` exceeds T's age, i.e. one queued less than ``C`` minutes after T. So T
is passed at most by the tickets that joined its window's lines within ``C`` minutes after it: a
finite number, however long the hall runs. Tickets queued more than ``C`` minutes after T never go
before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

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
    serving: tuple[str, ...]  # primary line first
    able: tuple[str, ...] = ()  # every line it is able to serve (taken only when its own are empty)
    pinned: bool = False  # the manager pinned it: it keeps to the lines it serves

    @property
    def primary(self) -> str | None:
        return self.serving[0] if self.serving else None


def max_credit(config: PolicyConfig) -> float:
    return (
        config.green_credit_min
        + config.appointment_credit_min
        + config.transfer_credit_min
        + config.primary_line_credit_min
    )


def reach(window: WindowView, config: PolicyConfig) -> tuple[str, ...]:
    """Every line ``window`` may call from: the lines it serves, then (when they are empty) the other
    lines it is able to serve, unless it is pinned or the hall keeps idle windows to their lines."""
    if window.pinned or not config.idle_windows_take_able_lines:
        return window.serving
    return window.serving + tuple(p for p in window.able if p not in window.serving)


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


def line_order_key(ticket: WaitingTicket, now: datetime, config: PolicyConfig):
    """Sorts the same as ``order_key(ticket, None, now, config)``: for ordering many tickets at once.

    Minutes relative to ``now``, as ``choose_next`` counts them: measured from the epoch (about 3e7
    minutes) a credit smaller than the float's step there was lost, and tickets queued in the same
    second then sorted by id instead of by credit."""
    return (
        (ticket.queued_at - now).total_seconds() / 60.0 - credit_minutes(ticket, None, now, config),
        ticket.queued_at,
        ticket.id,
    )


def choose_next(
    window: WindowView, waiting: Iterable[WaitingTicket], now: datetime, config: PolicyConfig
) -> WaitingTicket | None:
    """The ticket ``window`` calls next: the smallest ``order_key`` among the tickets in its lines;
    when there are none, among the tickets of the other lines it may reach (``reach``).

    Written out for speed (it runs on every call and many times in every forecast); a property test
    checks it against ``min(order_key)``."""
    if not isinstance(waiting, (list, tuple)):
        waiting = list(waiting)
    best = _oldest(window, window.serving, waiting, now, config)
    if best is None and window.able:
        others = reach(window, config)[len(window.serving) :]
        if others:
            best = _oldest(window, others, waiting, now, config)
    return best


def _oldest(
    window: WindowView, serving: tuple[str, ...], waiting: Sequence[WaitingTicket], now: datetime, config: PolicyConfig
) -> WaitingTicket | None:
    primary = window.primary
    green, due, moved, own = (
        config.green_credit_min,
        config.appointment_credit_min,
        config.transfer_credit_min,
        config.primary_line_credit_min,
    )
    best = None
    best_key = None
    for t in waiting:
        if t.line not in serving:
            continue
        credit = (
            (green if t.green else 0.0)
            + (moved if t.transferred else 0.0)
            + (due if t.appointment_at is not None and t.appointment_at <= now else 0.0)
            + (own if t.line == primary else 0.0)
        )
        key = ((t.queued_at - now).total_seconds() / 60.0 - credit, t.queued_at, t.id)
        if best_key is None or key < best_key:
            best, best_key = t, key
    return best


def ordered(
    waiting: Sequence[WaitingTicket], now: datetime, config: PolicyConfig, window: WindowView | None = None
) -> list[WaitingTicket]:
    """The waiting tickets in the order the policy would call them (for people-ahead counts)."""
    return sorted(waiting, key=lambda t: order_key(t, window, now, config))
