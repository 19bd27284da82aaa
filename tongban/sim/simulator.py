"""The hall simulator: SimPy drives the real ``HallService`` through a fake clock.

One simulated day = one in-memory store, one ``HallService`` (the production class: take_ticket, call_next,
act, window actions, the balancer's ``balance``), a ``FakeClock`` set to SimPy's time before every
call, and these processes:

* **arrivals**: each citizen of the day (drawn from the seed up front) takes a ticket at their minute
  at the kiosk they walked up to (the hall's per-kiosk rate limit applies); the ticket's people-ahead
  and estimate are what the service returns. A refused citizen tries again (another kiosk, or the
  same one when the screen says) and gives up after ``scenario.kiosk_tries`` refusals: counted.
* **windows**: each window opens at the start of each period it is present for, and calls next
  whenever it is free. A called citizen walks up and is served (start, finish), or does not come
  (recall after a minute, no-show a minute later). An idle window sleeps until a ticket arrives in a
  line it may call from (``policy.reach``). At the end of a period a window keeps calling while such
  lines have tickets (延时服务: everyone who got a ticket is served), then pauses for lunch or closes.
* **balancer** (``tongban`` only): ``HallService.balance()`` every ``policy.balancer_interval_s``.

Waits, estimates and states are read back from the store at the end of the day.
"""

from __future__ import annotations

import math
import statistics
import time as _time
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import simpy

from ..queue import appointments, errors
from ..queue.clock import FakeClock
from ..queue.ratelimit import KioskRateLimited
from ..queue.service import HallService
from ..queue.store import Store, parse_iso
from .baselines import POLICIES, SETUPS, Binding, Setup, policy_config
from .scenarios import Day, Scenario, draw_day, hall_config, hhmm, matter_code, minutes_to_hhmm

KIOSK_WALK_MIN = 0.25  # a citizen refused at one kiosk walks to the next


@dataclass
class DayResult:
    scenario: str
    policy: str
    seed: int
    tickets: int
    served: int
    no_shows: int
    unserved: int
    refused: int  # citizens who left without a ticket (every kiosk they tried refused them)
    mean_wait_min: float
    p50_wait_min: float
    p90_wait_min: float
    p95_wait_min: float
    max_wait_min: float
    share_over_30: float
    share_over_60: float
    green_mean_wait_min: float
    other_mean_wait_min: float
    non_green_p90_wait_min: float
    non_green_share_over_30: float
    jain: float
    utilisation: float
    last_served_min: float
    estimate_mae_min: float
    share_underestimated: float
    share_in_band: float
    line_mean_wait_min: dict = field(default_factory=dict)
    refused_share: float = 0.0  # of the citizens who came
    kiosk_refusals: int = 0  # refused presses, the retried ones included
    balancer_changes: int = 0
    primary_share: float = 0.0
    seconds: float = 0.0
    # Appointments (zero when the scenario books nobody): how many booked, checked in, came too late to
    # check in (they took an ordinary ticket), never came (no-shows at the slot's end + late minutes);
    # the mean wait of the checked-in from their slot (call − the later of slot start and check-in,
    # at least 0) and of the walk-ins (never booked) from their arrival (issue to call).
    appt_booked: int = 0
    appt_checked_in: int = 0
    appt_too_late: int = 0
    appt_no_show: int = 0
    appt_mean_wait_min: float = 0.0
    walkin_mean_wait_min: float = 0.0


class DaySim:
    def __init__(self, day: Day, setup: Setup, *, store_path: str = ":memory:", prior_bias: float = 1.0):
        """``prior_bias``: the per-line times the store starts the day with ("yesterday's") are this
        many times the drawn ones (1.33: the hall believes service takes a third longer than today's)."""
        self.day = day
        self.scenario = scenario = day.scenario
        self.setup = setup
        self.config = hall_config(scenario, serving=setup.serving, policy=policy_config(setup, scenario.policy))
        self.midnight = scenario.midnight()
        self.env = simpy.Environment(initial_time=0.0)
        self.clock = FakeClock(self.midnight)
        self.store = Store(store_path)
        self.binding = Binding(setup.binding) if setup.binding else None
        self.service = HallService(
            self.store,
            self.config,
            self.clock,
            chooser=self.binding.chooser if self.binding else None,
            ticket_group=self.binding.group if self.binding else None,
        )
        self.service.sync_with_config()
        with self.store.immediate() as conn:
            for prefix, (service, n, cycle, m) in day.history.items():
                conn.execute(
                    "UPDATE lines SET service_min = ?, service_n = ?, cycle_min = ?, cycle_n = ? WHERE prefix = ?",
                    (service * prior_bias, n, cycle * prior_bias, m, prefix),
                )
        self.checked_in_at: dict[int, float] = {}  # ticket: minute its booking was checked in
        self.too_late: set[int] = set()  # citizens whose check-in had closed: they walked in instead
        self._book()
        self.serving = {w.number: w.serving for w in self.config.windows}
        self.able = {w.number: w.able for w in self.config.windows}
        # Windows are not pinned in the simulation: whether idle windows take their able lines is the policy's.
        self.take_able = self.config.policy.idle_windows_take_able_lines
        self.primary = {w.number: w.serving[0] for w in self.config.windows}
        self.present: set[int] = set()
        self.idle: dict[int, simpy.Event] = {}
        self.citizen_of: dict[int, int] = {}
        self.estimates: dict[int, tuple[int, int, int]] = {}
        self.refused = 0
        self.kiosk_refusals = 0
        self.busy_min: dict[int, float] = {w.number: 0.0 for w in self.config.windows}
        self.open_min: dict[int, float] = {w.number: 0.0 for w in self.config.windows}
        self.calls = 0
        self.primary_calls = 0
        self.balancer_changes = 0
        self.windows_done = 0
        self.done = False

    def _book(self) -> None:
        """The day's bookings, loaded as a hall loads its platform's file (queue/appointments.py)."""
        rows = [
            {
                "reference": c.reference,
                "matter": matter_code(c.line),
                "slot_start": (self.midnight + timedelta(minutes=c.slot_start_min)).isoformat(),
                "slot_end": (self.midnight + timedelta(minutes=c.slot_start_min + self.scenario.slot_min)).isoformat(),
            }
            for c in self.day.citizens
            if c.slot_start_min is not None
        ]
        if rows:
            appointments.import_rows(self.store, self.config, rows, source="file", now=self.clock.now())

    # ---------- the clock ----------

    def sync(self) -> None:
        self.clock.set(self.midnight + timedelta(minutes=self.env.now))

    # ---------- processes ----------

    def arrivals(self):
        env = self.env
        # Booked citizens come around their slot, not in the order they were drawn; the absent never come.
        for citizen in sorted(self.day.citizens, key=lambda c: (c.arrive_min, c.index)):
            if citizen.absent:
                continue
            if citizen.arrive_min > env.now:
                yield env.timeout(citizen.arrive_min - env.now)
            retry = self.take_ticket(citizen, citizen.kiosk, 1)
            if retry is not None:
                env.process(self.retry(citizen, *retry))

    def retry(self, citizen, delay: float, kiosk: int, tries: int):
        while True:
            yield self.env.timeout(delay)
            again = self.take_ticket(citizen, kiosk, tries)
            if again is None:
                return
            delay, kiosk, tries = again

    def take_ticket(self, citizen, kiosk: int, tries: int) -> tuple[float, int, int] | None:
        """One press at a kiosk. Refused by the kiosk's rate limit: (minutes until the next try, its
        kiosk, tries so far), or None when the citizen gives up. With another kiosk in the hall they
        walk over to it (a quarter of a minute); with one, they wait the seconds its screen shows."""
        self.sync()
        try:
            issued = self.press(citizen, kiosk)
        except appointments.CheckinTooEarly:
            # The screen says from when: they sit down and come back then.
            return citizen.slot_start_min - self.scenario.early_checkin_min - self.env.now, kiosk, tries
        except errors.QueueError as exc:
            if not isinstance(exc, KioskRateLimited):
                self.refused += 1
                return None
            self.kiosk_refusals += 1
            if tries >= self.scenario.kiosk_tries:
                self.refused += 1
                return None
            kiosks = max(1, self.scenario.kiosks)
            if kiosks > 1:
                return KIOSK_WALK_MIN, kiosk % kiosks + 1, tries + 1
            return exc.details.get("retry_after_s", 60) / 60.0, kiosk, tries + 1
        tid = issued.ticket.id
        self.citizen_of[tid] = citizen.index
        est = issued.estimate
        if self.binding:
            candidates = [
                w.number for w in self.config.windows if citizen.line in w.able and w.number in self.present
            ] or [w.number for w in self.config.windows if citizen.line in w.able]
            self.wake_one([self.binding.bind(tid, candidates)])
            # Bound now: what its slip would say once the window is printed on it, forecast with the
            # baseline's own chooser (each window calls only the tickets bound to it).
            est = self.service.ticket_outlook(issued.ticket).estimate
        else:
            self.wake_line(citizen.line)
        if est is not None:  # None: no window served the line then, and nobody was promised minutes
            self.estimates[tid] = (est.minutes, est.low, est.high)
        return None

    def press(self, citizen, kiosk: int):
        """Check in for the booking (the kiosk's 预约签到), or take an ordinary ticket: a walk-in, or a
        booked citizen whose check-in had closed when they came."""
        if citizen.slot_start_min is not None and citizen.index not in self.too_late:
            try:
                _, issued = appointments.check_in(self.service, citizen.reference, kiosk=f"kiosk-{kiosk}")
            except appointments.CheckinTooLate:
                self.too_late.add(citizen.index)
            else:
                self.checked_in_at[issued.ticket.id] = self.env.now
                return issued
        return self.service.take_ticket(line=citizen.line, green=citizen.green, kiosk=f"kiosk-{kiosk}")

    def reaches(self, number: int, line: str) -> bool:
        return line in self.serving[number] or (self.take_able and line in self.able[number])

    def wake_line(self, line: str) -> None:
        # One ticket needs one window: an idle one that serves the line (the one whose primary line it
        # is first, else the lowest number), else an idle one able to take it (its own lines are empty).
        idle = [n for n in self.idle if self.reaches(n, line)]
        if idle:
            self.wake_one([min(idle, key=lambda n: (line not in self.serving[n], self.primary[n] != line, n))])

    def wake_one(self, numbers) -> None:
        for n in numbers:
            ev = self.idle.pop(n, None)
            if ev is not None and not ev.triggered:
                ev.succeed()
                return

    def presence(self, number: int) -> list[tuple[float, float, bool]]:
        """(start, end, is the end of a period) for each stretch the window is staffed."""
        out: list[tuple[float, float, bool]] = []
        for a, b in self.scenario.hours:
            start, end = hhmm(a), hhmm(b)
            cuts = [(start, end)]
            for ab in self.scenario.absences:
                if ab.window != number:
                    continue
                x, y = hhmm(ab.start), hhmm(ab.end)
                nxt = []
                for s, e in cuts:
                    if y <= s or x >= e:
                        nxt.append((s, e))
                        continue
                    if x > s:
                        nxt.append((s, x))
                    if y < e:
                        nxt.append((y, e))
                cuts = nxt
            out.extend((s, e, e == end) for s, e in cuts)
        return out

    def window(self, number: int):
        env, svc = self.env, self.service
        clerk = f"clerk{number}"
        stretches = self.presence(number)
        for i, (start, end, period_end) in enumerate(stretches):
            if start > env.now:
                yield env.timeout(start - env.now)
            self.sync()
            state = svc.window(number).state
            svc.window_action(number, "open" if state == "closed" else "resume", clerk=clerk)
            self.present.add(number)
            began = env.now
            while True:
                if env.now >= end and not period_end:
                    break  # an absence begins: leave after the current citizen
                self.sync()
                try:
                    ticket = svc.call_next(number, clerk=clerk)
                except errors.NothingWaiting:
                    if env.now >= end:
                        break
                    ev = env.event()
                    self.idle[number] = ev
                    yield ev | env.timeout(end - env.now)
                    self.idle.pop(number, None)
                    continue
                called = env.now
                self.calls += 1
                self.primary_calls += ticket.line == self.primary[number]
                citizen = self.day.citizens[self.citizen_of[ticket.id]]
                if citizen.no_show:
                    yield env.timeout(self.scenario.recall_after_min)
                    self.sync()
                    svc.act(ticket.id, "recall", window=number, actor=clerk)
                    yield env.timeout(self.scenario.no_show_after_min)
                    self.sync()
                    svc.act(ticket.id, "no_show", window=number, actor=clerk)
                else:
                    yield env.timeout(citizen.walk_min)
                    self.sync()
                    svc.act(ticket.id, "start", window=number, actor=clerk)
                    yield env.timeout(citizen.service_min)
                    self.sync()
                    svc.act(ticket.id, "finish", window=number, actor=clerk)
                if self.binding:
                    self.binding.left_window(ticket.id)
                self.busy_min[number] += env.now - called
            self.open_min[number] += env.now - began
            self.present.discard(number)
            self.sync()
            last = i == len(stretches) - 1
            svc.window_action(number, "close" if last else "pause", clerk=clerk)
        self.windows_done += 1
        if self.windows_done == len(self.config.windows):
            self.done = True

    def balancer(self):
        env = self.env
        interval = self.config.policy.balancer_interval_s / 60.0
        first = hhmm(self.scenario.hours[0][0])
        yield env.timeout(max(0.0, first - env.now) + interval)
        while not self.done:
            self.sync()
            for p in self.service.balance(actor="balancer"):
                if p["state"] == "applied":
                    self.balancer_changes += 1
                    self.serving[p["window"]] = tuple(p["to"])
                    if p["window"] in self.idle and any(
                        self.line_has_work(line) for line in p["to"] if line not in p["from"]
                    ):
                        self.wake_one([p["window"]])
            yield env.timeout(interval)

    def line_has_work(self, line: str) -> bool:
        return True  # waking costs one call_next; the window goes back to sleep if nothing is there

    # ---------- a day ----------

    def run(self) -> DayResult:
        started = _time.process_time()
        env = self.env
        env.process(self.arrivals())
        for w in self.config.windows:
            env.process(self.window(w.number))
        if self.setup.balancer:
            env.process(self.balancer())
        env.run()
        self.sync()
        appointments.mark_missed(self.store, self.config, self.clock.now() + timedelta(days=1))
        result = self.measure()
        result.seconds = _time.process_time() - started
        self.store.close()
        return result

    def measure(self) -> DayResult:
        s = self.scenario
        rows = self.store.all("SELECT id, line, green, issued_at, called_at, finished_at, state FROM tickets")
        opening = hhmm(s.hours[0][0])
        green_w: list[float]
        other_w: list[float]
        waits, green_w, other_w, errs, under, in_band = [], [], [], [], 0, 0
        per_line: dict[str, list[float]] = {ln.prefix: [] for ln in s.lines}
        last_served = 0.0
        no_shows = unserved = 0
        appt_w: list[float] = []
        walkin_w: list[float] = []
        for r in rows:
            state = r["state"]
            if state == "no_show":
                no_shows += 1
                continue
            if state != "done":
                unserved += 1
                continue
            issued, called = parse_iso(r["issued_at"]), parse_iso(r["called_at"])
            finished = (parse_iso(r["finished_at"]) - self.midnight).total_seconds() / 60
            last_served = max(last_served, finished)
            if (issued - self.midnight).total_seconds() / 60 < opening + s.warmup_min:
                continue
            w = (called - issued).total_seconds() / 60
            citizen = self.day.citizens[self.citizen_of[r["id"]]]
            if r["id"] in self.checked_in_at:
                assert citizen.slot_start_min is not None  # checked in: it was booked
                due = max(citizen.slot_start_min, self.checked_in_at[r["id"]])
                appt_w.append(max(0.0, (called - self.midnight).total_seconds() / 60 - due))
            elif citizen.slot_start_min is None:
                walkin_w.append(w)
            waits.append(w)
            per_line[r["line"]].append(w)
            (green_w if r["green"] else other_w).append(w)
            if r["id"] not in self.estimates:
                continue
            est, low, high = self.estimates[r["id"]]
            errs.append(abs(w - est))
            under += w > est
            in_band += low <= w <= high
        n = len(waits)
        waits.sort()
        other_w.sort()
        came = len(rows) + self.refused
        line_means = {k: statistics.fmean(v) for k, v in per_line.items() if v}
        total_open = sum(self.open_min.values())
        return DayResult(
            scenario=s.name,
            policy=self.setup.name,
            seed=self.day.seed,
            tickets=len(rows),
            served=n,
            no_shows=no_shows,
            unserved=unserved,
            refused=self.refused,
            mean_wait_min=_mean(waits),
            p50_wait_min=quantile(waits, 0.5),
            p90_wait_min=quantile(waits, 0.9),
            p95_wait_min=quantile(waits, 0.95),
            max_wait_min=waits[-1] if waits else 0.0,
            share_over_30=sum(w > 30 for w in waits) / n if n else 0.0,
            share_over_60=sum(w > 60 for w in waits) / n if n else 0.0,
            green_mean_wait_min=_mean(green_w),
            other_mean_wait_min=_mean(other_w),
            non_green_p90_wait_min=quantile(other_w, 0.9),
            non_green_share_over_30=sum(w > 30 for w in other_w) / len(other_w) if other_w else 0.0,
            jain=jain(list(line_means.values())),
            utilisation=sum(self.busy_min.values()) / total_open if total_open else 0.0,
            last_served_min=last_served,
            estimate_mae_min=_mean(errs),
            share_underestimated=under / len(errs) if errs else 0.0,
            share_in_band=in_band / len(errs) if errs else 0.0,
            line_mean_wait_min={k: round(v, 2) for k, v in line_means.items()},
            refused_share=self.refused / came if came else 0.0,
            kiosk_refusals=self.kiosk_refusals,
            balancer_changes=self.balancer_changes,
            primary_share=self.primary_calls / self.calls if self.calls else 0.0,
            appt_booked=sum(c.slot_start_min is not None for c in self.day.citizens),
            appt_checked_in=len(self.checked_in_at),
            appt_too_late=len(self.too_late),
            appt_no_show=(self.store.one("SELECT COUNT(*) FROM appointments WHERE state = 'no_show'") or [0])[0],
            appt_mean_wait_min=_mean(appt_w),
            walkin_mean_wait_min=_mean(walkin_w),
        )


def _mean(xs) -> float:
    return statistics.fmean(xs) if xs else 0.0


def quantile(sorted_xs: list[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    if not sorted_xs:
        return 0.0
    pos = (len(sorted_xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def jain(xs: list[float]) -> float:
    """Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one takes everything."""
    if not xs:
        return 1.0
    sq = sum(x * x for x in xs)
    return 1.0 if sq == 0 else sum(xs) ** 2 / (len(xs) * sq)


def simulate_day(
    scenario: Scenario, policy_name: str, seed: int, day: Day | None = None, prior_bias: float = 1.0
) -> DayResult:
    day = day or draw_day(scenario, seed)
    return DaySim(day, SETUPS[policy_name], prior_bias=prior_bias).run()


# ---------- many days ----------

METRICS = (
    "mean_wait_min",
    "p50_wait_min",
    "p90_wait_min",
    "p95_wait_min",
    "max_wait_min",
    "share_over_30",
    "share_over_60",
    "green_mean_wait_min",
    "other_mean_wait_min",
    "jain",
    "utilisation",
    "last_served_at",
    "estimate_mae_min",
    "share_underestimated",
    "mean_wait_ci95",
    "refused",
    "refused_share",
    "non_green_p90_wait_min",
    "non_green_share_over_30",
    "band_coverage",
)
#: With bookings (``scenario.booked`` > 0) the JSON and the table add these (DayResult says what they are).
APPT_METRICS = (
    "appt_mean_wait_min",
    "walkin_mean_wait_min",
    "appt_booked",
    "appt_checked_in",
    "appt_too_late",
    "appt_no_show",
)
EXTRA = ("share_in_band", "balancer_changes", "primary_share", "unserved", "kiosk_refusals", "tickets", "seconds")

# Two-sided 95% Student t quantiles by degrees of freedom (1..30); 1.96 beyond.
_T95 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t95(df: int) -> float:
    return _T95[df - 1] if 1 <= df <= len(_T95) else 1.96


def ci95(xs: list[float]) -> float:
    """Half-width of the 95% confidence interval of the mean."""
    if len(xs) < 2:
        return math.nan
    return t95(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))


def aggregate(results: list[DayResult]) -> dict:
    out: dict = {}
    for key in METRICS:
        if key == "mean_wait_ci95":
            out[key] = _round(ci95([r.mean_wait_min for r in results]))
        elif key == "last_served_at":
            out[key] = minutes_to_hhmm(_mean([r.last_served_min for r in results]))
        elif key == "band_coverage":
            out[key] = _round(_mean([r.share_in_band for r in results]))
        else:
            out[key] = _round(_mean([getattr(r, key) for r in results]))
    for key in EXTRA + APPT_METRICS:
        out[key] = _round(_mean([getattr(r, key) for r in results]))
    for key in (
        "p90_wait_min",
        "share_over_30",
        "jain",
        "green_mean_wait_min",
        "other_mean_wait_min",
        "non_green_p90_wait_min",
        "non_green_share_over_30",
        "appt_mean_wait_min",
        "walkin_mean_wait_min",
    ):
        out[f"{key}_ci95"] = _round(ci95([getattr(r, key) for r in results]))
    # Days on which citizens left without a ticket: (seed, how many), so a table can say so.
    out["refused_days"] = [(r.seed, r.refused) for r in results if r.refused]
    return out


def _round(x: float) -> float:
    return x if math.isnan(x) else round(x, 4)


def _one(args) -> list[DayResult]:
    scenario, seed, names, prior_bias = args
    day = draw_day(scenario, seed)
    return [DaySim(day, SETUPS[name], prior_bias=prior_bias).run() for name in names]


def run(
    scenario: Scenario,
    seeds: list[int] | int,
    policies: tuple[str, ...] = POLICIES,
    jobs: int = 1,
    prior_bias: float = 1.0,
) -> tuple[dict, dict[str, list[DayResult]]]:
    """Every policy on the same days (one day per seed). Returns the summary and the per-day results.
    ``prior_bias``: see ``DaySim``."""
    if isinstance(seeds, int):
        seeds = list(range(1, seeds + 1))
    for name in policies:
        if name not in SETUPS:
            raise ValueError(f"unknown policy {name!r} (expected one of {', '.join(POLICIES)})")
    work = [(scenario, seed, tuple(policies), prior_bias) for seed in seeds]
    if jobs > 1 and len(work) > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(min(jobs, len(work))) as pool:
            days = pool.map(_one, work)
    else:
        days = [_one(w) for w in work]
    per_policy = {name: [d[i] for d in days] for i, name in enumerate(policies)}
    summary = {
        "scenario": scenario.name,
        "seeds": len(seeds),
        "prior_bias": prior_bias,
        "booked": scenario.booked,
        "policies": {name: aggregate(rs) for name, rs in per_policy.items()},
    }
    return summary, per_policy


def public_json(summary: dict) -> dict:
    """The ``--json`` object: exactly the documented keys."""
    keys = METRICS + (APPT_METRICS if summary.get("booked") else ())
    return {
        "scenario": summary["scenario"],
        "seeds": summary["seeds"],
        "prior_bias": summary.get("prior_bias", 1.0),
        **({"booked": summary["booked"]} if summary.get("booked") else {}),
        "policies": {name: {k: agg[k] for k in keys} for name, agg in summary["policies"].items()},
    }


COLUMNS = (
    ("mean", "mean_wait_min", "{:.1f}"),
    ("±95%", "mean_wait_ci95", "{:.1f}"),
    ("p50", "p50_wait_min", "{:.1f}"),
    ("p90", "p90_wait_min", "{:.1f}"),
    ("p95", "p95_wait_min", "{:.1f}"),
    ("max", "max_wait_min", "{:.0f}"),
    (">30", "share_over_30", "{:.1%}"),
    (">60", "share_over_60", "{:.1%}"),
    ("green", "green_mean_wait_min", "{:.1f}"),
    ("others", "other_mean_wait_min", "{:.1f}"),
    ("ng p90", "non_green_p90_wait_min", "{:.1f}"),
    ("ng >30", "non_green_share_over_30", "{:.1%}"),
    ("Jain", "jain", "{:.3f}"),
    ("util", "utilisation", "{:.1%}"),
    ("last", "last_served_at", "{}"),
    ("est MAE", "estimate_mae_min", "{:.1f}"),
    ("under", "share_underestimated", "{:.0%}"),
    ("in band", "band_coverage", "{:.0%}"),
    ("refused", "refused", "{:.1f}"),
    ("s/day", "seconds", "{:.2f}"),
)
# With bookings, after "mean": booked citizens' wait from their slot, walk-ins' from their arrival.
APPT_COLUMNS = (
    ("appt", "appt_mean_wait_min", "{:.1f}"),
    ("walk-in", "walkin_mean_wait_min", "{:.1f}"),
)


def table(summary: dict, scenario: Scenario | None = None) -> str:
    bias = summary.get("prior_bias", 1.0)
    title = (
        f"{summary['scenario']}"
        + (f" — {scenario.title}" if scenario else "")
        + f" — {summary['seeds']} seed(s); waits in minutes, issue to call"
        + (f"; day starts with per-line times ×{bias:g}" if bias != 1.0 else "")
        + (
            f"; {summary['booked']:.0%} booked a slot (appt: wait from the slot; walk-in: from arrival)"
            if summary.get("booked")
            else ""
        )
    )
    columns = COLUMNS[:2] + APPT_COLUMNS + COLUMNS[2:] if summary.get("booked") else COLUMNS
    head = ["policy"] + [c[0] for c in columns]
    rows = [head]
    for name, agg in summary["policies"].items():
        rows.append(
            [name]
            + [
                fmt.format(agg[key]) if not (isinstance(agg[key], float) and math.isnan(agg[key])) else "-"
                for _, key, fmt in columns
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [title]
    for j, r in enumerate(rows):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    # Refusals depend on the kiosks, not the policy: say so once, from any policy's days.
    days: list[tuple[int, int]] = next(
        (agg["refused_days"] for agg in summary["policies"].values() if agg.get("refused_days")), []
    )
    if days:
        share = next(agg["refused_share"] for agg in summary["policies"].values() if agg.get("refused_days"))
        worst = max(days, key=lambda d: d[1])
        lines.append(
            f"refused: on {len(days)} of {summary['seeds']} day(s) citizens left without a ticket, refused by"
            f" the kiosks' rate limit: {share:.2%} of all who came, most {worst[1]} on seed {worst[0]}."
            " They are not in the waits above."
        )
    return "\n".join(lines)


def as_dict(result: DayResult) -> dict:
    return asdict(result)
