"""Wait estimates (docs/architecture.md §Forecast): who is ahead of a ticket and how long until it is called.

The estimate printed on a ticket is a *forecast* made with the real dispatch policy: the windows that
are open (each free now, or when its current citizen is expected to leave) call the waiting tickets
one by one exactly as ``policy.choose_next`` would (its own lines first, then, when they are empty,
the other lines it is able to serve), each call taking the line's smoothed minutes per call, until
the ticket itself is called. So

* **people ahead** is the number of tickets the policy calls before this one *at windows that could
  have called it instead* (green-channel and transferred tickets, tickets of other lines a shared
  window takes first, the primary-line credit of each window: all counted as they will really
  happen; a window that takes other lines only when its own are empty counts only then), and
* the **estimate** is the forecast time of its call: in effect people ahead × minutes per call ÷ the
  windows serving the line, but with the windows' real line sets and current work.

A band goes around it, wider the more calls lie ahead (service times are skewed: lognormal, CV ~0.8)
and the more expected arrivals may pass it. Its width is *measured*: each ticket keeps the forecast
it was given and that forecast's standard deviation (``ticket_estimates``), and the band spans the
10th to 90th percentile of how far the recently called tickets' real waits fell from their
forecasts, in those standard deviations (``measured_spread``), so about 80% of real waits fall inside
it whatever the hall. The error is measured in the simulator too (``tongban simulate``: estimate
MAE, share underestimated, band coverage).

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
# z for a two-sided ~80% band, until enough calls have measured it (``measured_spread``).
BAND_Z = 1.28
# The band's spread is measured on the most recently called tickets, once there are this many.
SPREAD_CALLS = 200
SPREAD_MIN_CALLS = 30
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
    sd: float = 0.0  # the forecast's model standard deviation (minutes), the band's unit


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
    """Minutes until a window that called a ticket ``elapsed_min`` ago is expected to be free.

    Not the mean remaining time of such a call (that is longer: a call that has run long tends to run
    longer still): the forecast plays each window's calls one after another, and what it needs is
    the order and spacing of the windows' next departures, which across many windows come evenly at
    their joint rate. Spacing the first departures by what is left of a mean call does that (the
    simulator measured the mean remaining time to make every forecast ~2 minutes too long)."""
    return max(per_call_min - elapsed_min, RESIDUAL_FLOOR * per_call_min)


def forecast_sd(mid: float, calls: int, per_call_min: float, windows: int, extra_var: float = 0.0) -> float:
    """The model's standard deviation of a forecast wait: the time to ``calls`` departures from
    ``windows`` servers varies by about CV × per-call × sqrt(calls) / windows; ``extra_var``
    (minutes², before dividing by the windows²) adds what is uncertain in who comes (expected
    arrivals that pass the ticket)."""
    windows = max(windows, 1)
    # The calls ahead, and the rest of the call under way at the window that will be free first
    # (none when the ticket is called right now).
    calls = max(calls, 0) + (mid > 0)
    return math.sqrt(((CALL_CV * per_call_min) ** 2 * calls + extra_var) / windows**2)


def band(
    mid: float,
    calls: int,
    per_call_min: float,
    windows: int,
    extra_var: float = 0.0,
    spread: tuple[float, float] = (-BAND_Z, BAND_Z),
) -> Estimate:
    """The estimate and its band: ``spread`` standard deviations (``forecast_sd``) either side."""
    return band_from(mid, forecast_sd(mid, calls, per_call_min, windows, extra_var), spread)


def band_from(mid: float, sd: float, spread: tuple[float, float] = (-BAND_Z, BAND_Z)) -> Estimate:
    low = max(0.0, mid + spread[0] * sd)
    high = mid + spread[1] * sd
    return Estimate(minutes=max(0, round(mid)), low=max(0, math.floor(low)), high=max(0, math.ceil(high)))


def measured_spread(errors: Sequence[float]) -> tuple[float, float]:
    """The band's edges in forecast standard deviations, from recent calls: each error is (real wait −
    forecast) ÷ that forecast's sd. The 10th and 90th percentiles, so ~80% of waits fall inside; the
    estimate itself always inside the band. Too few calls yet: the model's ±``BAND_Z``."""
    if len(errors) < SPREAD_MIN_CALLS:
        return (-BAND_Z, BAND_Z)
    ordered = sorted(errors)

    def at(q: float) -> float:
        pos = (len(ordered) - 1) * q
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return (min(at(0.1), 0.0), max(at(0.9), 0.0))


def forecast(
    target: policy.WaitingTicket,
    waiting: Sequence[policy.WaitingTicket],
    windows: Sequence[WindowPlan],
    now: datetime,
    config: PolicyConfig,
    per_call: Mapping[str, float],
    choose: Callable = policy.choose_next,
    green_per_min: Mapping[str, float] | None = None,
    group: Callable[[policy.WaitingTicket], object] | None = None,
    arrivals_per_min: Mapping[str, float] | None = None,
    horizon_min: Mapping[str, float] | None = None,
    spread: tuple[float, float] = (-BAND_Z, BAND_Z),
) -> Forecast | None:
    """Run the policy forward until ``target`` is called. None when no window in the plan may call
    from its line (``policy.reach``: the lines it serves, or is able to serve when those are empty).

    ``waiting`` may or may not contain ``target`` (a newcomer not yet issued). Within one line the
    policy's order does not depend on the window (credits belong to the ticket; the primary-line credit
    is the same for the whole line), so each window only chooses among the heads of its lines.
    Appointment credits are taken as they stand now. ``choose`` is the chooser ``call_next`` uses;
    one that keeps a window to some tickets of a line (the simulator's bind-at-issue baselines) passes
    ``group`` (the number of the window a ticket is bound to): each line is then split into one queue
    per window, and a window chooses only among its own.

    Future arrivals matter when they can be called before the target: green-channel citizens who
    come within the green credit, and anyone who comes to a line a window serves while the target's
    line is one it takes only when its own are empty. ``green_per_min`` (recent green arrivals per
    minute, per line) and ``arrivals_per_min`` (all recent arrivals, green included) add them as
    expected: evenly spaced, the first half a gap from now, the others until ``horizon_min`` (per
    line: when it stops issuing), the green ones at least within the green credit. They take window
    time and can pass the target, but are not counted as people ahead (nobody is there yet).
    """
    line = target.line
    reach = [policy.reach(w.view, config) for w in windows]
    if not any(line in lines for lines in reach):
        return None
    queues: dict[object, list] = {}
    keys: dict[object, list] = {}  # a line's queues (one, unless ``group`` splits it)

    def key_of(t: policy.WaitingTicket) -> object:
        if group is None:
            return t.line
        key = (t.line, group(t))
        if key not in queues:
            keys.setdefault(t.line, []).append(key)
        return key

    seq = 0
    for t in waiting:
        if t.id != target.id:
            queues.setdefault(key_of(t), []).append((policy.line_order_key(t, now, config), seq, t))
            seq += 1
    queues.setdefault(key_of(target), []).append((policy.line_order_key(target, now, config), seq, target))
    for tickets in queues.values():
        heapq.heapify(tickets)
    if group is None:
        keys = {k: [k] for k in queues}
    # Expected arrivals that could still be called before the target: one stream per line and kind,
    # (next arrival, line, green, gap, until), each drawn from only when the forecast gets there.
    coming: list[tuple[float, str, bool, float, float]] = []

    def expect(prefix: str, rate: float, green: bool, until: float) -> None:
        if rate > 0 and 0.5 / rate < until:
            coming.append((0.5 / rate, prefix, green, 1.0 / rate, until))

    horizon_min = horizon_min or {}
    for prefix, rate in (green_per_min or {}).items():
        until = horizon_min.get(prefix, 0.0)
        if config.green_credit_min > 0:
            until = max(until, config.green_credit_min)
        expect(prefix, rate, True, until)
    for prefix, rate in (arrivals_per_min or {}).items():
        expect(prefix, rate - (green_per_min or {}).get(prefix, 0.0), False, horizon_min.get(prefix, 0.0))
    heapq.heapify(coming)
    heap = [(w.free_in_min, w.view.number, i) for i, w in enumerate(windows)]
    heapq.heapify(heap)
    ahead = 0
    phantom = -1
    serving_target = sum(1 for lines in reach if line in lines)
    helpers: set[int] = set()  # windows that made calls the target waited for
    var = 0.0  # of those calls' minutes, beyond their count (expected arrivals might not come)
    ghosts = 0
    while heap:
        t_min, number, i = heapq.heappop(heap)
        while coming and coming[0][0] <= t_min:
            offset, prefix, green, gap, until = coming[0]
            if offset + gap < until:
                heapq.heapreplace(coming, (offset + gap, prefix, green, gap, until))
            else:
                heapq.heappop(coming)
            ghost = policy.WaitingTicket(phantom, prefix, now + timedelta(minutes=offset), green)
            key = key_of(ghost)
            if group is None:
                keys.setdefault(prefix, [prefix])
            heapq.heappush(queues.setdefault(key, []), (policy.line_order_key(ghost, now, config), seq, ghost))
            phantom -= 1
            seq += 1
        view = windows[i].view
        lines = reach[i]
        if group is None:
            heads = [queues[k][0][2] for p in lines for k in keys.get(p, ()) if queues[k]]
        else:
            heads = [queues[(p, number)][0][2] for p in lines if queues.get((p, number))]
        # Could it call the target now: its line is one the window serves, or one it is able to serve
        # while its own lines are empty.
        could = line in view.serving or (
            line in lines and not any(queues[k] for p in view.serving for k in keys.get(p, ()))
        )
        if not heads:
            # Nothing for this window now; it waits for the next expected arrival in its lines (none
            # is bound to a window yet).
            later = min((c[0] for c in coming if c[1] in lines), default=None) if group is None else None
            if later is not None:
                heapq.heappush(heap, (later, number, i))
            continue
        at = now + timedelta(minutes=t_min)
        chosen = choose(view, heads, at, config)
        if chosen is None:
            continue
        if chosen.id == target.id:
            per = per_call.get(line, DEFAULT_SERVICE_MIN)
            helpers.add(number)
            own = sum(1 for w in windows if line in w.view.serving)
            sd = forecast_sd(t_min, ahead + ghosts, per, max(len(helpers), own), var)
            return Forecast(ahead, t_min, ahead, serving_target, band_from(t_min, sd, spread), sd)
        heapq.heappop(queues[key_of(chosen)])
        if group is not None:
            could = group(chosen) == group(target)  # a window calls only its own group
        minutes = per_call.get(chosen.line, DEFAULT_SERVICE_MIN)
        if could:
            helpers.add(number)
            if chosen.id >= 0:
                ahead += 1
            else:
                ghosts += 1
                var += minutes**2  # an expected arrival may not come: its count is uncertain too
        heapq.heappush(heap, (t_min + minutes, number, i))
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
