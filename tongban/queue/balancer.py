"""The balancer (docs/architecture.md §Balancer): which lines each open window serves, within what it is able to serve.

The dispatch policy already takes the oldest ticket (with credits) among the lines a window serves;
what it cannot do is reach a line the window does not serve. The balancer widens a window to a line
that has fallen behind, and narrows it back to its primary work when that line has caught up:

* **Pressure** of a line: how long its oldest ticket has waited, or how long a newcomer would wait
  (waiting × minutes per call ÷ windows serving it, plus the backlog its arrivals add over the next
  ``HORIZON_MIN`` when they come faster than it is served), whichever is larger. A line that has
  tickets or arrivals but no open window serving it is always behind.
* **Add**: an open, unpinned window able to serve a line L that it does not serve gets L when L's
  pressure is at least ``MIN_PRESSURE_MIN`` and exceeds the pressure of the window's own lines by
  ``ADD_MARGIN_MIN``. The least pressed window goes first; pressures are re-worked after each change.
* **Drop**: a window drops a line other than its primary when the line has caught up: its pressure
  without this window stays under ``DROP_BELOW_MIN`` and its arrivals would keep the remaining
  windows under ``DROP_MAX_LOAD``. A line with tickets or arrivals is never left with no window.
* Pinned and closed windows are never touched; a window's primary line is never dropped; each
  window gets at most one change per run.

A pure function of the state it is given (no clock, no I/O); the service gathers the state, stores
the proposals and applies them (``HallService.balance``), and the devices process runs it every
``policy.balancer_interval_s`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import PolicyConfig
from ..texts import both

MIN_PRESSURE_MIN = 2.0  # below this nobody waits long enough to be worth moving a window
ADD_MARGIN_MIN = 2.0  # a line must be this much further behind than the window's own lines
DROP_BELOW_MIN = 0.5  # a helped line is let go when it would stay (nearly) empty without the help
DROP_MAX_LOAD = 0.35  # ... and its arrivals would load the remaining windows no more than this
HORIZON_MIN = 15.0  # how far ahead a line's growing backlog is counted
BEHIND_MIN = 24 * 60.0  # the pressure of a line with work and no window: always the most behind


@dataclass(frozen=True)
class LineLoad:
    prefix: str
    waiting: int
    head_wait_min: float  # how long its oldest waiting ticket has waited
    arrivals_per_min: float  # recent arrival rate
    per_call_min: float  # smoothed window minutes per call


@dataclass(frozen=True)
class Seat:
    """A window as the balancer sees it."""

    number: int
    able: tuple[str, ...]
    serving: tuple[str, ...]
    primary: str
    pinned: bool = False
    open: bool = True


@dataclass(frozen=True)
class Proposal:
    window: int
    from_lines: tuple[str, ...]
    to_lines: tuple[str, ...]
    reason_zh: str
    reason_en: str
    data: dict = field(default_factory=dict, compare=False)

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(p for p in self.to_lines if p not in self.from_lines)

    @property
    def dropped(self) -> tuple[str, ...]:
        return tuple(p for p in self.from_lines if p not in self.to_lines)


def capacity(prefix: str, serving: dict[int, tuple[str, ...]]) -> float:
    """Windows' worth of service a line gets: a window serving k lines gives each 1/k."""
    return sum(1.0 / len(lines) for lines in serving.values() if prefix in lines)


def pressure(line: LineLoad, cap: float) -> float:
    """Minutes: the longer of the head's wait and a newcomer's expected wait (see the module doc)."""
    has_work = line.waiting > 0 or line.arrivals_per_min > 0
    if cap <= 0:
        return BEHIND_MIN + line.head_wait_min if has_work else 0.0
    drain = cap / line.per_call_min
    growth = max(0.0, line.arrivals_per_min - drain) * HORIZON_MIN
    newcomer = (line.waiting + growth) * line.per_call_min / cap
    return max(line.head_wait_min, newcomer)


def load(line: LineLoad, cap: float) -> float:
    if cap <= 0:
        return math.inf if line.arrivals_per_min > 0 else 0.0
    return line.arrivals_per_min * line.per_call_min / cap


def propose(lines: Sequence[LineLoad], seats: Sequence[Seat], config: PolicyConfig | None = None) -> list[Proposal]:
    """Changes to the lines open windows serve, to shorten the longest waits (see the module doc)."""
    by_prefix = {line.prefix: line for line in lines}
    serving = {s.number: tuple(p for p in s.serving if p in by_prefix) or s.serving for s in seats if s.open}
    movable = {s.number: s for s in seats if s.open and not s.pinned}
    changed: set[int] = set()
    before = dict(serving)

    memo: dict[str, float] = {}
    caps: dict[str, float] = {}

    def cap(prefix: str) -> float:
        if prefix not in caps:
            caps[prefix] = capacity(prefix, serving)
        return caps[prefix]

    def press(prefix: str, lines_now: dict[int, tuple[str, ...]] | None = None) -> float:
        if lines_now is not None:
            return pressure(by_prefix[prefix], capacity(prefix, lines_now))
        if prefix not in memo:
            memo[prefix] = pressure(by_prefix[prefix], cap(prefix))
        return memo[prefix]

    def own(number: int) -> float:
        return max((press(p) for p in serving[number] if p in by_prefix), default=0.0)

    reasons: dict[int, list[tuple[str, str, dict]]] = {}

    # Drops first: lines that have caught up free their helpers for where they are needed now.
    for number, seat in sorted(movable.items()):
        for prefix in serving[number]:
            if prefix == seat.primary or prefix not in by_prefix or number in changed:
                continue
            without = {**serving, number: tuple(p for p in serving[number] if p != prefix)}
            line = by_prefix[prefix]
            cap_without = capacity(prefix, without)
            has_work = line.waiting > 0 or line.arrivals_per_min > 0
            if has_work and cap_without <= 0:
                continue
            if press(prefix, without) < DROP_BELOW_MIN and load(line, cap_without) <= DROP_MAX_LOAD:
                serving = without
                memo.clear()
                caps.clear()
                changed.add(number)
                reasons.setdefault(number, []).append(
                    (
                        *both("q_balancer_drop", line=prefix, waiting=line.waiting, head_wait=line.head_wait_min),
                        {"dropped": prefix, "waiting": line.waiting, "head_wait_min": round(line.head_wait_min, 1)},
                    )
                )

    # Adds: the line most behind first, helped by the least pressed window able to serve it.
    while True:
        best = None
        for prefix in by_prefix:
            p_line = press(prefix)
            if p_line < MIN_PRESSURE_MIN:
                continue
            for number, seat in movable.items():
                if number in changed or prefix in serving[number] or prefix not in seat.able:
                    continue
                p_own = own(number)
                if p_line < p_own + ADD_MARGIN_MIN:
                    continue
                key = (-p_line, p_own, number)
                if best is None or key < best[0]:
                    best = (key, prefix, number, p_line, p_own)
        if best is None:
            break
        _, prefix, number, p_line, p_own = best
        line = by_prefix[prefix]
        serving = {**serving, number: serving[number] + (prefix,)}
        memo.clear()
        caps.clear()
        changed.add(number)
        reasons.setdefault(number, []).append(
            (
                *both(
                    # A line nobody serves has the pressure BEHIND_MIN (a day): say so, not "1440 min".
                    "q_balancer_add_unserved" if p_line >= BEHIND_MIN else "q_balancer_add",
                    line=prefix,
                    waiting=line.waiting,
                    head_wait=line.head_wait_min,
                    pressure=p_line,
                    own=p_own,
                ),
                {
                    "added": prefix,
                    "waiting": line.waiting,
                    "head_wait_min": round(line.head_wait_min, 1),
                    "pressure_min": round(p_line, 1),
                    "own_pressure_min": round(p_own, 1),
                },
            )
        )

    out = []
    for number in sorted(changed):
        if serving[number] == before[number]:
            continue
        parts = reasons[number]
        out.append(
            Proposal(
                number,
                before[number],
                serving[number],
                "".join(p[0] for p in parts),  # each reason is a whole sentence
                " ".join(p[1] for p in parts),
                {"changes": [p[2] for p in parts]},
            )
        )
    return out
