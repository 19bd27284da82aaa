"""Wait estimates (docs/architecture.md §Forecast): who is ahead of a ticket and how long until it is called.

The estimate printed on a ticket is a *forecast* made with the real dispatch policy: the windows that
are open (each free now, or when its current citizen is expected to leave) call the waiting tickets
one by one exactly as ``policy.choose_next`` would, each call taking the line's smoothed minutes per
call, until the ticket itself is called. So

* **people ahead** is the number of tickets the policy calls before this one *at windows that could
  have called it* (green-channel and transferred tickets, tickets of other lines a shared window
  takes first, the primary-line credit of each window: all counted as they will really happen), and
* the **estimate** is the forecast time of its call: in effect people ahead × minutes per call ÷ the
  windows serving the line, but with the windows' real line sets and current work.

A band goes around it, wider the more calls lie ahead (service times are skewed: lognormal, CV ~0.8).
Its error is measured in the simulator (``tongban simulate``: estimate MAE and share underestimated).

Minutes per call are the window's minutes from calling a ticket to being free again (walk-up, service,
or the recalls before a no-show), smoothed per line and persisted in ``lines.cycle_min``; the plain
service time (start to finish) is smoothed in ``lines.service_min``.

Pure functions: no clock, no I/O. The service gathers the state and calls them.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import PolicyConfig
from . import policy

DEFAULT_SERVICE_MIN = 8.0
# Minutes a window spends on a call besides the service itself (walk-up, recalls, no-shows) when
# nothing has been measured yet.
DEFAULT_OVERHEAD_MIN = 0.7
# Weight of the newest sample in the smoothed means. Service times are noisy (CV ~0.8): with 0.05
# the smoothed mean has a standard error of ~13% of the mean and follows a change within ~40 calls.
SMOOTHING = 0.05
# Assumed coefficient of variation of one call's duration, for the band.
CALL_CV = 0.8
# z for a two-sided ~80% band.
BAND_Z = 1.28
# A window busy longer than expected is still expected to take this share of a mean call.
RESIDUAL_FLOOR = 0.25

# The old band, kept for estimates made from a count alone (``estimate_wait``).
LOW_FACTOR = 0.6
HIGH_FACTOR = 1.5


@dataclass(frozen=True)
class Estimate:
    minutes: int
    low: int
    high: int

    def as_dict(self) -> dict:
        return {"minutes": self.minutes, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class WindowPlan:
    """A window as the forecast sees it: the lines it serves and when it can next call."""

    view: policy.WindowView
    free_in_min: float = 0.0


@dataclass(frozen=True)
class Forecast:
    people_ahead: int
    wait_min: float  # unrounded forecast
    calls_ahead: int  # calls at the target's windows before it (= people_ahead)
    windows: int  # windows that serve the target's line in the plan
    estimate: Estimate


def smooth(previous: float | None, count: int, sample_min: float) -> float:
    """Exponentially smoothed mean; the first samples are averaged plainly (1/n)."""
    if previous is None or count == 0:
        return sample_min
    weight = max(SMOOTHING, 1.0 / (count + 1))
    return previous + weight * (sample_min - previous)


def minutes_per_call(cycle_min: float | None, service_min: float | None) -> float:
    if cycle_min:
        return cycle_min
    if service_min:
        return service_min + DEFAULT_OVERHEAD_MIN
    return DEFAULT_SERVICE_MIN + DEFAULT_OVERHEAD_MIN


def busy_for(elapsed_min: float, per_call_min: float) -> float:
    """Minutes until a window that called a ticket ``elapsed_min`` ago is expected to be free."""
    return max(per_call_min - elapsed_min, RESIDUAL_FLOOR * per_call_min)


def band(mid: float, calls: int, per_call_min: float, windows: int) -> Estimate:
    """An ~80% band: the time to ``calls`` departures from ``windows`` servers has a standard deviation
    of about CV × per-call × sqrt(calls) / windows."""
    windows = max(windows, 1)
    sd = CALL_CV * per_call_min * math.sqrt(max(calls, 0) + 1) / windows
    low = max(0.0, mid - BAND_Z * sd)
    high = mid + BAND_Z * sd
    return Estimate(minutes=max(0, round(mid)), low=max(0, math.floor(low)), high=max(0, math.ceil(high)))


def forecast(
    target: policy.WaitingTicket,
    waiting: Sequence[policy.WaitingTicket],
    windows: Sequence[WindowPlan],
    now: datetime,
    config: PolicyConfig,
    per_call: Mapping[str, float],
    choose: Callable = policy.choose_next,
    green_per_min: Mapping[str, float] | None = None,
) -> Forecast | None:
    """Run the policy forward until ``target`` is called. None when no window in the plan serves its line.

    ``waiting`` may or may not contain ``target`` (a newcomer not yet issued). Within one line the
    policy's order does not depend on the window (credits belong to the ticket; the primary-line credit
    is the same for the whole line), so each window only chooses among the heads of its lines.
    Appointment credits are taken as they stand now.

    Future arrivals matter only when their credit lets them pass the target: green-channel citizens
    who come within the green credit. ``green_per_min`` (recent green arrivals per minute, per line)
    adds them as expected: evenly spaced, the first half a gap from now. They take window time and
    can pass the target, but are not counted as people ahead (nobody is there yet).
    """
    line = target.line
    if not any(line in w.view.serving for w in windows):
        return None
    queues: dict[str, list] = {}
    seq = 0
    for t in waiting:
        if t.id != target.id:
            queues.setdefault(t.line, []).append((policy.line_order_key(t, now, config), seq, t))
            seq += 1
    queues.setdefault(line, []).append((policy.line_order_key(target, now, config), seq, target))
    for tickets in queues.values():
        heapq.heapify(tickets)
    # Expected green arrivals that could still pass the target (beyond the green credit none can).
    coming: list[tuple[float, str]] = []
    if green_per_min and config.green_credit_min > 0:
        horizon = config.green_credit_min
        for prefix, rate in green_per_min.items():
            if rate <= 0:
                continue
            k = 0
            while (k + 0.5) / rate < horizon:
                coming.append(((k + 0.5) / rate, prefix))
                k += 1
        coming.sort()
    next_coming = 0
    heap = [(w.free_in_min, w.view.number, i) for i, w in enumerate(windows)]
    heapq.heapify(heap)
    ahead = 0
    phantom = -1
    serving_target = sum(1 for w in windows if line in w.view.serving)
    while heap:
        t_min, number, i = heapq.heappop(heap)
        while next_coming < len(coming) and coming[next_coming][0] <= t_min:
            offset, prefix = coming[next_coming]
            ghost = policy.WaitingTicket(phantom, prefix, now + timedelta(minutes=offset), True)
            heapq.heappush(queues.setdefault(prefix, []), (policy.line_order_key(ghost, now, config), seq, ghost))
            phantom -= 1
            seq += 1
            next_coming += 1
        view = windows[i].view
        heads = [queues[p][0][2] for p in view.serving if queues.get(p)]
        if not heads:
            # Nothing for this window now; it waits for the next expected arrival in its lines.
            later = next((c[0] for c in coming[next_coming:] if c[1] in view.serving), None)
            if later is not None:
                heapq.heappush(heap, (later, number, i))
            continue
        at = now + timedelta(minutes=t_min)
        chosen = choose(view, heads, at, config)
        if chosen is None:
            continue
        if chosen.id == target.id:
            per = per_call.get(line, DEFAULT_SERVICE_MIN)
            return Forecast(ahead, t_min, ahead, serving_target, band(t_min, ahead, per, serving_target))
        heapq.heappop(queues[chosen.line])
        if line in view.serving and chosen.id >= 0:
            ahead += 1
        heapq.heappush(heap, (t_min + per_call.get(chosen.line, DEFAULT_SERVICE_MIN), number, i))
    return None


def estimate_wait(people_ahead: int, service_min: float | None, effective_windows: float) -> Estimate:
    """An estimate from a count alone: people ahead × minutes per call ÷ effective windows."""
    per_service = service_min if service_min else DEFAULT_SERVICE_MIN
    if effective_windows <= 0:
        # Nobody serves the line right now: say what one window would take rather than "infinite".
        effective_windows = 1.0
    mid = people_ahead * per_service / effective_windows
    return Estimate(minutes=round(mid), low=math.floor(mid * LOW_FACTOR), high=math.ceil(mid * HIGH_FACTOR))


def effective_windows(line: str, windows_serving: list[tuple[str, ...]]) -> float:
    """A window that serves k lines gives each of them 1/k of its time."""
    return sum(1.0 / len(serving) for serving in windows_serving if line in serving and serving)
