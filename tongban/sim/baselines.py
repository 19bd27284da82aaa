"""The policies the simulator compares, all run through the same ``HallService``.

* ``static_fifo``: each window serves only its primary line, first come first served.
* ``bind_at_issue``: each ticket is bound when printed to the open window, able to serve its line,
  with the fewest tickets issued to it today (how FQM assigns); a window calls only its own tickets.
* ``jsq_at_issue``: bound when printed to the able open window with the fewest tickets waiting for it
  or at it (join the shortest queue).
* ``oldest_eligible``: each window calls the oldest ticket among every line it is able to serve; no
  credits, no balancer.
* ``tongban``: the real policy with the hall's credits, windows opening on their primary line, an
  idle window taking the lines it is able to serve, and the balancer at its interval.
* ``pooled``: every window serves every line, first come first served (the reference no hall can beat).

The baselines replace only the choice function (a ``chooser`` given to ``HallService``) or the lines
windows serve (the simulated hall file); issuing, calling, starting and finishing are the service's.
Binding baselines see all the lines their windows are able to serve, so a bound ticket can always
be called by its window (the strongest form of the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import PolicyConfig
from ..queue import policy

POLICIES = ("static_fifo", "bind_at_issue", "jsq_at_issue", "oldest_eligible", "tongban", "pooled")


@dataclass(frozen=True)
class Setup:
    name: str
    serving: str  # opening | primary | able | all  (see scenarios.hall_config)
    credits: bool  # the hall's credits, or none at all (plain oldest first)
    balancer: bool
    binding: str | None = None  # fewest_issued | shortest_queue


SETUPS = {
    "static_fifo": Setup("static_fifo", "primary", False, False),
    "bind_at_issue": Setup("bind_at_issue", "able", False, False, "fewest_issued"),
    "jsq_at_issue": Setup("jsq_at_issue", "able", False, False, "shortest_queue"),
    "oldest_eligible": Setup("oldest_eligible", "able", False, False),
    "tongban": Setup("tongban", "opening", True, True),
    "pooled": Setup("pooled", "all", False, False),
}


def policy_config(setup: Setup, hall_policy: PolicyConfig) -> PolicyConfig:
    """Tongban runs the hall's policy; a baseline has no credits and keeps each window to the lines
    it serves (for ``static_fifo`` its primary line only)."""
    if setup.credits:
        return hall_policy
    return replace(
        hall_policy,
        green_credit_min=0.0,
        appointment_credit_min=0.0,
        transfer_credit_min=0.0,
        primary_line_credit_min=0.0,
        idle_windows_take_able_lines=False,
    )


class Binding:
    """Tickets bound to windows when they are printed; the chooser lets a window call only its own."""

    def __init__(self, rule: str):
        self.rule = rule
        self.window_of: dict[int, int] = {}
        self.issued: dict[int, int] = {}  # tickets bound to each window today
        self.queued: dict[int, int] = {}  # bound and not yet called, plus the one at the window

    def bind(self, ticket_id: int, candidates: list[int]) -> int:
        if self.rule == "fewest_issued":
            window = min(candidates, key=lambda w: (self.issued.get(w, 0), w))
        else:
            window = min(candidates, key=lambda w: (self.queued.get(w, 0), w))
        self.window_of[ticket_id] = window
        self.issued[window] = self.issued.get(window, 0) + 1
        self.queued[window] = self.queued.get(window, 0) + 1
        return window

    def left_window(self, ticket_id: int) -> None:
        """The ticket's service at its window is over (done or no-show)."""
        window = self.window_of.get(ticket_id)
        if window is not None:
            self.queued[window] -= 1

    def chooser(self, window, waiting, now, config):
        mine = [t for t in waiting if self.window_of.get(t.id) == window.number]
        return policy.choose_next(window, mine, now, config)

    def group(self, ticket) -> int | None:
        """The window a ticket is bound to: the forecast keeps each window's tickets in their own queue."""
        return self.window_of.get(ticket.id)
