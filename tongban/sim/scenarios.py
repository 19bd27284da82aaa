"""Simulated hall days: the built-in scenarios (S1–S6 and a few more), scenario files (TOML), and days
drawn from a seed.

Everything random about a day (who arrives when, for which line, green channel or not, how long the
service takes, whether they answer the call, how long they take to walk up) is drawn from the seed
*before* the day is simulated, so every policy serves exactly the same citizens. The sources and
assumptions behind the defaults are in docs/simulator.md.
"""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import (
    WEEKDAYS,
    AppointmentsConfig,
    Hall,
    HallConfig,
    Line,
    Matter,
    Operations,
    Period,
    PolicyConfig,
    Window,
)
from ..queue.estimates import smooth


class ScenarioError(Exception):
    def __init__(self, problems: list[str], source: str = "scenario"):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class LineSpec:
    prefix: str
    name: str
    share: float  # of the day's tickets
    service_mean_min: float
    last_issue: str | None = None  # HH:MM, else the scenario's


@dataclass(frozen=True)
class WindowSpec:
    number: int
    able: tuple[str, ...]
    serving: tuple[str, ...]  # at opening, primary first


@dataclass(frozen=True)
class Absence:
    window: int
    start: str  # HH:MM
    end: str


@dataclass(frozen=True)
class Surge:
    line: str
    factor: float
    start: str
    end: str


# Relative arrival rate over the day (local time): a morning peak 9–11, an afternoon peak 14–16.
DEFAULT_PROFILE: tuple[tuple[str, str, float], ...] = (
    ("08:30", "09:00", 0.9),
    ("09:00", "11:00", 1.45),
    ("11:00", "12:00", 0.8),
    ("14:00", "16:00", 1.3),
    ("16:00", "17:30", 0.6),
)

# S1's lines: five lines like the demo hall's, per-line mean service 4–15 minutes.
DEFAULT_LINES: tuple[LineSpec, ...] = (
    LineSpec("A", "商事登记 business registration", 0.25, 9.0),
    LineSpec("B", "人社 social security", 0.30, 6.0),
    LineSpec("C", "公证与不动产 notary and real estate", 0.08, 15.0),
    LineSpec("D", "公积金与医保 provident fund, medical insurance", 0.22, 5.0),
    LineSpec("E", "综合 general services", 0.15, 4.0),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    tickets: float  # expected tickets in the day
    lines: tuple[LineSpec, ...] = DEFAULT_LINES
    windows: int | tuple[WindowSpec, ...] = 12  # a count: a long chain is built (``chain_windows``)
    chain_skills: int = 0  # lines each chained window is able to serve: 3, or 0 for two or three
    hours: tuple[tuple[str, str], ...] = (("08:30", "12:00"), ("14:00", "17:30"))
    last_issue: str | None = "17:00"
    profile: tuple[tuple[str, str, float], ...] = DEFAULT_PROFILE
    door_share: float = 0.03  # share of the day's tickets already at the door when it opens
    service_cv: float = 0.8
    service_dist: str = "lognormal"  # or "exponential"
    no_show: float = 0.08
    green: float = 0.15
    walk_min: tuple[float, float] = (0.3, 1.2)
    recall_after_min: float = 1.0  # a citizen who does not come: recalled after 1 min,
    no_show_after_min: float = 1.0  # marked no-show 1 min after that
    absences: tuple[Absence, ...] = ()
    surges: tuple[Surge, ...] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    day: str = "2026-11-26"  # a Thursday
    timezone: str = "Asia/Shanghai"
    warmup_min: float = 0.0  # tickets issued this long after opening are left out of the stats
    history_samples: int = 40  # "yesterday": the per-line smoothed times the store starts with
    kiosks: int = 2  # ticket kiosks; each citizen walks up to one of them (drawn)
    kiosk_max_per_minute: int = 12  # the hall's operations.kiosk_max_per_minute
    kiosk_tries: int = 3  # refused presses (another kiosk, or the same when told) before giving up
    # Appointments (docs/simulator.md "Appointments"): this share of the day's citizens booked a slot
    # of ``slot_min`` minutes on the platform, each slot of the day offered equally. Of them,
    # ``appt_early`` come 10–45 min before their slot, ``appt_late`` 5–30 min after its start,
    # ``appt_absent`` never come; the rest 10 min before to 5 min after its start.
    booked: float = 0.0
    slot_min: int = 30
    appt_early: float = 0.2
    appt_late: float = 0.1
    appt_absent: float = 0.05
    # True: each booked citizen books the slot around when they would have walked in (bookings follow
    # the day's peaks) instead of any slot of the day.
    slots_follow_demand: bool = False
    early_checkin_min: int = 30  # the hall file's [appointments]
    late_checkin_min: int = 15

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def window_specs(self) -> tuple[WindowSpec, ...]:
        if isinstance(self.windows, int):
            return chain_windows(self.lines, self.windows, self.chain_skills)
        return self.windows

    def midnight(self) -> datetime:
        return datetime.combine(date.fromisoformat(self.day), time(0), tzinfo=self.tz)


def hhmm(text: str) -> float:
    hh, mm = text.split(":")
    return int(hh) * 60 + int(mm)


def chain_windows(lines: tuple[LineSpec, ...], n: int, skills: int = 0) -> tuple[WindowSpec, ...]:
    """Windows in a long chain: primaries in proportion to each line's work (share × mean service,
    at least one each), each window able to serve its primary and the next line round the ring, every
    other window the previous line as well (two or three lines each), serving only its primary.
    ``skills=3``: every window is able to serve the previous line too (three lines each)."""
    if n < len(lines):
        raise ScenarioError([f"windows: {n} windows cannot each give {len(lines)} lines a primary window"])
    work = [line.share * line.service_mean_min for line in lines]
    total = sum(work)
    exact = [n * w / total for w in work]
    counts = [max(1, math.floor(x)) for x in exact]
    while sum(counts) > n:
        i = max((i for i in range(len(lines)) if counts[i] > 1), key=lambda i: counts[i] - exact[i])
        counts[i] -= 1
    while sum(counts) < n:
        i = max(range(len(lines)), key=lambda i: exact[i] - counts[i])
        counts[i] += 1
    out = []
    number = 1
    k = len(lines)
    for i, line in enumerate(lines):
        nxt, prev = lines[(i + 1) % k].prefix, lines[(i - 1) % k].prefix
        for _ in range(counts[i]):
            able = [line.prefix]
            if nxt != line.prefix:
                able.append(nxt)
            if (skills >= 3 or number % 2 == 0) and prev not in able:
                able.append(prev)
            out.append(WindowSpec(number, tuple(able), (line.prefix,)))
            number += 1
    return tuple(out)


# ---------- the built-in days ----------

# The big hall's lines: S1's five and three more departments a district centre often seats.
BIG_HALL_LINES: tuple[LineSpec, ...] = (
    LineSpec("A", "商事登记 business registration", 0.18, 9.0),
    LineSpec("B", "人社 social security", 0.20, 6.0),
    LineSpec("C", "公证与不动产 notary and real estate", 0.07, 15.0),
    LineSpec("D", "公积金与医保 provident fund, medical insurance", 0.15, 5.0),
    LineSpec("E", "综合 general services", 0.10, 4.0),
    LineSpec("F", "税务 tax", 0.12, 8.0),
    LineSpec("G", "出入境 exit and entry", 0.10, 6.0),
    LineSpec("H", "车驾管 vehicles and driving licences", 0.08, 7.0),
)

S1 = Scenario("S1", "normal day: ~550 tickets, 12 windows", 550)
BUILTIN: dict[str, Scenario] = {
    "S1": S1,
    "S2": replace(S1, name="S2", title="peak day: ~650 tickets, 12 windows", tickets=650),
    "S3": replace(
        S1,
        name="S3",
        title="big hall: ~1100 tickets, 24 windows, 8 lines, 4 kiosks",
        tickets=1100,
        lines=BIG_HALL_LINES,
        windows=24,
        kiosks=4,
    ),
    "S4": replace(
        S1,
        name="S4",
        title="3-skill chain at ~90% load: ~675 tickets, every window able to serve 3 lines",
        tickets=675,
        chain_skills=3,
    ),
    "S5": replace(
        S1,
        name="S5",
        title="surge and long tails: line B ×2 from 9:00 to 11:00, service CV 1.5, ~520 tickets",
        tickets=520,
        service_cv=1.5,
        surges=(Surge("B", 2.0, "09:00", "11:00"),),
    ),
    "S6": replace(S1, name="S6", title="high load (~93%): ~715 tickets, 12 windows", tickets=715),
    # Days kept from earlier studies (docs/simulator.md): not in the benchmark's targets.
    "shortage": replace(
        S1,
        name="shortage",
        title="windows 1 and 5 absent all morning",
        absences=(Absence(1, "08:30", "12:00"), Absence(5, "08:30", "12:00")),
    ),
    "street": replace(
        S1,
        name="street",
        title="small hall: 4 windows, ~150 tickets, 3 lines",
        tickets=150,
        windows=4,
        lines=(
            LineSpec("A", "综合受理 general intake", 0.45, 7.0),
            LineSpec("B", "人社 social security", 0.35, 5.0),
            LineSpec("C", "不动产 real estate", 0.20, 12.0),
        ),
    ),
    "mix": replace(S1, name="mix", title="S1 with 25% green channel and 15% no-shows", green=0.25, no_show=0.15),
}


def pooled_exponential(
    c: int = 6, rho: float = 0.8, mean_min: float = 5.0, hours: float = 10.0, warmup_min: float = 60.0
) -> Scenario:
    """The M/M/c check against Erlang C: constant Poisson arrivals, exponential service, nothing else
    (no walk-up, no no-shows, no green channel); one line served by every window."""
    lam = rho * c / mean_min
    end = 8 * 60 + hours * 60
    close = f"{int(end // 60):02d}:{int(end % 60):02d}"
    return Scenario(
        "MMc",
        f"M/M/{c}, rho={rho}",
        tickets=lam * hours * 60,
        lines=(LineSpec("A", "all", 1.0, mean_min),),
        windows=tuple(WindowSpec(i, ("A",), ("A",)) for i in range(1, c + 1)),
        hours=(("08:00", close),),
        last_issue=None,
        profile=(("08:00", close, 1.0),),
        door_share=0.0,
        service_dist="exponential",
        no_show=0.0,
        green=0.0,
        walk_min=(0.0, 0.0),
        warmup_min=warmup_min,
        history_samples=0,
    )


# ---------- a scenario from a hall file ----------


def from_hall(hall: HallConfig, base: Scenario = S1) -> Scenario:
    """Simulate a configured hall: its lines, windows (able and opening serving as configured), hours
    (the simulated weekday's), last issue times, policy, kiosks and their rate limit. Demand: the base
    scenario's day scaled to the number of windows, each line's share in proportion to its number of
    matters, every line with the base day's mean service time (the hall file says nothing about demand)."""
    weights = [max(1, len(line.matters)) for line in hall.lines]
    total = sum(weights)
    base_mean = sum(ln.share * ln.service_mean_min for ln in base.lines) / sum(ln.share for ln in base.lines)
    lines = tuple(
        LineSpec(
            line.prefix,
            line.name_zh,
            w / total,
            round(base_mean, 2),
            f"{line.last_issue:%H:%M}" if line.last_issue else None,
        )
        for line, w in zip(hall.lines, weights)
    )
    windows = tuple(WindowSpec(w.number, w.able, w.serving) for w in hall.windows)
    weekday = WEEKDAYS[date.fromisoformat(base.day).weekday()]
    hours = tuple((f"{p.start:%H:%M}", f"{p.end:%H:%M}") for p in hall.hall.hours.get(weekday, ()))
    if not hours:
        raise ScenarioError([f"hall.hours.{weekday}: the hall is closed on the simulated day {base.day}"])
    return replace(
        base,
        name=hall.hall.id,
        title=f"{hall.hall.name_en} ({hall.source})",
        tickets=base.tickets * len(windows) / 12,
        lines=lines,
        windows=windows,
        hours=hours,
        last_issue=None,
        policy=hall.policy,
        timezone=hall.hall.timezone,
        kiosks=len(hall.kiosks) or base.kiosks,
        kiosk_max_per_minute=hall.operations.kiosk_max_per_minute,
    )


def hall_config(scenario: Scenario, *, serving: str = "opening", policy: PolicyConfig | None = None) -> HallConfig:
    """The hall file a scenario stands for. ``serving``: ``opening`` (as the scenario opens),
    ``primary`` (each window only its primary line), ``able`` (every line it is able to serve) or
    ``all`` (every window able to serve and serving every line: the pooled hall)."""
    prefixes = tuple(line.prefix for line in scenario.lines)
    periods = tuple(Period(_time(a), _time(b)) for a, b in scenario.hours)
    hall = Hall(
        id=f"sim-{scenario.name.lower()}",
        name_zh=f"模拟大厅 {scenario.name}",
        name_en=scenario.title,
        address="-",
        phone="-",
        timezone=scenario.timezone,
        hours={d: periods for d in WEEKDAYS},
    )
    lines = tuple(
        Line(
            prefix=ln.prefix,
            name_zh=ln.name,
            name_en=ln.name,
            matters=(matter_code(ln.prefix),),
            last_issue=_time(last) if (last := ln.last_issue or scenario.last_issue) else None,
        )
        for ln in scenario.lines
    )
    windows = []
    for w in scenario.window_specs():
        able, lines_now = w.able, w.serving
        if serving == "primary":
            lines_now = w.serving[:1]
        elif serving == "able":
            lines_now = w.serving[:1] + tuple(p for p in w.able if p != w.serving[0])
        elif serving == "all":
            able = w.serving[:1] + tuple(p for p in prefixes if p != w.serving[0])
            lines_now = able
        windows.append(
            Window(number=w.number, name=f"{w.number}号窗口", location="-", phone="-", able=able, serving=lines_now)
        )
    # One matter per line: a booking is for a matter, and its check-in takes the matter's line.
    matters = tuple(
        Matter(matter_code(ln.prefix), ln.name, ln.name, "", 1, "on-site", 0, "", ()) for ln in scenario.lines
    )
    return HallConfig(
        hall=hall,
        departments=(),
        matters=matters,
        lines=lines,
        windows=tuple(windows),
        policy=policy or scenario.policy,
        operations=Operations(kiosk_max_per_minute=scenario.kiosk_max_per_minute),
        appointments=AppointmentsConfig(scenario.early_checkin_min, scenario.late_checkin_min),
        source=f"scenario {scenario.name}",
    )


def matter_code(prefix: str) -> str:
    return f"M{prefix}"


def _time(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


# ---------- a day drawn from a seed ----------


@dataclass(frozen=True)
class Citizen:
    index: int
    arrive_min: float  # minutes after the day's local midnight
    line: str
    green: bool
    service_min: float
    no_show: bool
    walk_min: float
    kiosk: int = 1  # the kiosk they walk up to first (1..scenario.kiosks)
    slot_start_min: float | None = None  # a booked slot's start (minutes after midnight); None: a walk-in
    absent: bool = False  # booked, and never comes

    @property
    def reference(self) -> str:
        """The booking reference the simulated citizen types at the kiosk."""
        return f"{10_000_000 + self.index}"


@dataclass(frozen=True)
class Day:
    scenario: Scenario
    seed: int
    citizens: tuple[Citizen, ...]
    history: dict[str, tuple[float, int, float, int]]  # line: (service_min, n, minutes per call, n)


def _service_time(rng: random.Random, scenario: Scenario, mean: float) -> float:
    if scenario.service_dist == "exponential":
        return rng.expovariate(1.0 / mean)
    sigma2 = math.log(1.0 + scenario.service_cv**2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def _rate_segments(scenario: Scenario) -> list[tuple[float, float, str, float]]:
    """(start, end, line, rate per minute) pieces: the profile, cut at each line's last issue and at
    the hall's hours, times the line's share, times any surge."""
    spans = [(hhmm(a), hhmm(b)) for a, b in scenario.hours]
    profile = [(hhmm(a), hhmm(b), r) for a, b, r in scenario.profile]
    share_total = sum(ln.share for ln in scenario.lines)
    pieces = []
    for ln in scenario.lines:
        last = ln.last_issue or scenario.last_issue
        stop = hhmm(last) if last else math.inf
        for a, b, r in profile:
            for s, e in spans:
                lo, hi = max(a, s), min(b, e, stop)
                if hi > lo:
                    pieces.append((lo, hi, ln.prefix, r * ln.share / share_total))
    # The expected day, before surges, is the scenario's ticket count less the door crowd.
    mass = sum((hi - lo) * r for lo, hi, _, r in pieces)
    scale = scenario.tickets * (1 - scenario.door_share) / mass if mass > 0 else 0.0
    out = []
    for lo, hi, prefix, r in pieces:
        cuts = sorted(
            {
                lo,
                hi,
                *(hhmm(s.start) for s in scenario.surges if s.line == prefix),
                *(hhmm(s.end) for s in scenario.surges if s.line == prefix),
            }
        )
        for x, y in zip(cuts, cuts[1:]):
            if x < lo or y > hi:
                continue
            factor = 1.0
            for surge in scenario.surges:
                if surge.line == prefix and hhmm(surge.start) <= x and y <= hhmm(surge.end):
                    factor *= surge.factor
            out.append((x, y, prefix, r * scale * factor))
    return out


def draw_day(scenario: Scenario, seed: int) -> Day:
    rng = random.Random(f"tongban-sim:{scenario.name}:{seed}")
    arrivals: list[tuple[float, str]] = []
    for lo, hi, prefix, rate in _rate_segments(scenario):
        if rate <= 0:
            continue
        t = lo + rng.expovariate(rate)
        while t < hi:
            arrivals.append((t, prefix))
            t += rng.expovariate(rate)
    if scenario.door_share > 0:
        opening = hhmm(scenario.hours[0][0])
        n_door = _poisson(rng, scenario.tickets * scenario.door_share)
        shares = [ln.share for ln in scenario.lines]
        for _ in range(n_door):
            prefix = rng.choices([ln.prefix for ln in scenario.lines], weights=shares)[0]
            arrivals.append((opening + rng.uniform(0, 5), prefix))
    arrivals.sort()
    means = {ln.prefix: ln.service_mean_min for ln in scenario.lines}
    citizens = []
    # Kiosks from their own stream, so adding kiosks does not change who comes and how long they take.
    kiosk_rng = random.Random(f"tongban-sim-kiosk:{scenario.name}:{seed}")
    for i, (t, prefix) in enumerate(arrivals):
        citizens.append(
            Citizen(
                i,
                t,
                prefix,
                rng.random() < scenario.green,
                _service_time(rng, scenario, means[prefix]),
                rng.random() < scenario.no_show,
                rng.uniform(*scenario.walk_min),
                kiosk_rng.randint(1, max(1, scenario.kiosks)),
            )
        )
    if scenario.booked > 0:
        citizens = _book(scenario, seed, citizens)
    # "Yesterday": the smoothed times a hall's store already holds in the morning (they persist).
    history = {}
    for ln in scenario.lines:
        service = cycle = None
        for k in range(scenario.history_samples):
            s = _service_time(rng, scenario, ln.service_mean_min)
            call = (
                scenario.recall_after_min + scenario.no_show_after_min
                if rng.random() < scenario.no_show
                else rng.uniform(*scenario.walk_min) + s
            )
            service = smooth(service, k, s)
            cycle = smooth(cycle, k, call)
        if service is not None and cycle is not None:  # both are set together
            history[ln.prefix] = (service, scenario.history_samples, cycle, scenario.history_samples)
    return Day(scenario, seed, tuple(citizens), history)


def slots(scenario: Scenario) -> list[tuple[float, float]]:
    """The bookable slots of the day: ``slot_min`` long, within each period of the hours, ending by
    the last issue time (a slot after it could not be checked in)."""
    last = hhmm(scenario.last_issue) if scenario.last_issue else math.inf
    out = []
    for a, b in scenario.hours:
        start, end = hhmm(a), min(hhmm(b), last)
        while start + scenario.slot_min <= end:
            out.append((start, start + scenario.slot_min))
            start += scenario.slot_min
    return out


def _book(scenario: Scenario, seed: int, citizens: list[Citizen]) -> list[Citizen]:
    """A share of the day's citizens booked a slot instead of walking in. They are drawn from their own
    stream, so the day's citizens (their lines, services, no-shows) are those of the day without
    bookings; only when the booked ones come changes. Every slot is offered equally, as a platform
    opens the same number of bookings per slot, so bookings spread over the day rather than
    following the morning peak."""
    rng = random.Random(f"tongban-sim-appt:{scenario.name}:{seed}")
    offered = slots(scenario)
    if not offered:
        return citizens
    opening = {a: hhmm(a) for a, _ in scenario.hours}
    out = []
    for c in citizens:
        if rng.random() >= scenario.booked:
            out.append(c)
            continue
        start, _ = rng.choice(offered)
        if scenario.slots_follow_demand:
            start = min(offered, key=lambda slot: (not slot[0] <= c.arrive_min < slot[1], abs(slot[0] - c.arrive_min)))[
                0
            ]
        kind = rng.random()
        if kind < scenario.appt_absent:
            out.append(replace(c, slot_start_min=start, absent=True))
            continue
        kind -= scenario.appt_absent
        if kind < scenario.appt_early:
            arrive = start - rng.uniform(10, 45)
        elif kind < scenario.appt_early + scenario.appt_late:
            arrive = start + rng.uniform(5, 30)
        else:
            arrive = start + rng.uniform(-10, 5)
        # Nobody stands at a locked door: an early citizen of the first slot of a period comes at its opening.
        period_open = max((o for o in opening.values() if o <= start), default=start)
        out.append(replace(c, arrive_min=max(arrive, period_open), slot_start_min=start))
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# ---------- scenario files ----------

_KEYS = {
    "name",
    "title",
    "base",
    "tickets",
    "lines",
    "windows",
    "hours",
    "last_issue",
    "profile",
    "door_share",
    "service_cv",
    "service_dist",
    "no_show",
    "green",
    "walk_min",
    "recall_after_min",
    "no_show_after_min",
    "absences",
    "surges",
    "policy",
    "day",
    "timezone",
    "warmup_min",
    "history_samples",
    "chain_skills",
    "kiosks",
    "kiosk_max_per_minute",
    "kiosk_tries",
    "booked",
    "slot_min",
    "appt_early",
    "appt_late",
    "appt_absent",
    "early_checkin_min",
    "late_checkin_min",
    "slots_follow_demand",
}


def load_scenario(path: str | Path) -> Scenario:
    """A scenario from a TOML file; ``base = "S1"`` starts from a built-in and overrides what is given."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError([f"(file): {exc}"], str(path)) from exc
    return parse_scenario(doc, str(path))


def parse_scenario(doc: dict, source: str = "scenario") -> Scenario:
    problems: list[str] = []
    for key in doc:
        if key not in _KEYS:
            problems.append(f"{key}: unknown key (expected one of {', '.join(sorted(_KEYS))})")
    base_name = doc.get("base", "S1")
    if base_name not in BUILTIN:
        problems.append(f"base: {base_name!r} is not a built-in scenario (expected one of {', '.join(BUILTIN)})")
        base_name = "S1"
    s = BUILTIN[base_name]
    values: dict = {"name": str(doc.get("name", path_name(source))), "title": str(doc.get("title", source))}

    def number(key: str, lo: float, hi: float):
        if key in doc:
            v = doc[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                problems.append(f"{key}: is {v!r} (expected a number from {lo} to {hi})")
            else:
                values[key] = float(v) if not isinstance(getattr(s, key), int) or isinstance(v, float) else v

    for key, lo, hi in (
        ("tickets", 1, 100_000),
        ("door_share", 0, 1),
        ("service_cv", 0.05, 5),
        ("no_show", 0, 1),
        ("green", 0, 1),
        ("recall_after_min", 0, 60),
        ("no_show_after_min", 0, 60),
        ("warmup_min", 0, 24 * 60),
        ("history_samples", 0, 10_000),
        ("chain_skills", 0, 3),
        ("kiosks", 1, 100),
        ("kiosk_max_per_minute", 1, 1000),
        ("kiosk_tries", 1, 100),
        ("booked", 0, 1),
        ("slot_min", 5, 240),
        ("appt_early", 0, 1),
        ("appt_late", 0, 1),
        ("appt_absent", 0, 1),
        ("early_checkin_min", 0, 240),
        ("late_checkin_min", 0, 240),
    ):
        number(key, lo, hi)
    for key in (
        "history_samples",
        "chain_skills",
        "kiosks",
        "kiosk_max_per_minute",
        "kiosk_tries",
        "slot_min",
        "early_checkin_min",
        "late_checkin_min",
    ):
        if key in values:
            values[key] = int(values[key])
    if "slots_follow_demand" in doc:
        if isinstance(doc["slots_follow_demand"], bool):
            values["slots_follow_demand"] = doc["slots_follow_demand"]
        else:
            problems.append(f"slots_follow_demand: is {doc['slots_follow_demand']!r} (expected true or false)")
    for key in ("last_issue", "day", "timezone", "service_dist"):
        if key in doc:
            values[key] = doc[key]
    if values.get("service_dist", "lognormal") not in ("lognormal", "exponential"):
        problems.append(f"service_dist: {values['service_dist']!r} (expected lognormal or exponential)")
    if "walk_min" in doc:
        values["walk_min"] = tuple(doc["walk_min"])
    if "hours" in doc:
        values["hours"] = tuple(tuple(p.split("-")) for p in doc["hours"])
    if "profile" in doc:
        values["profile"] = tuple((p["start"], p["end"], float(p["rate"])) for p in doc["profile"])
    if "lines" in doc:
        try:
            values["lines"] = tuple(
                LineSpec(
                    ln["prefix"],
                    ln.get("name", ln["prefix"]),
                    float(ln["share"]),
                    float(ln["service_mean_min"]),
                    ln.get("last_issue"),
                )
                for ln in doc["lines"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"lines: {exc!s} (expected prefix, share and service_mean_min in each [[lines]])")
    if "windows" in doc:
        w = doc["windows"]
        if isinstance(w, int) and not isinstance(w, bool):
            values["windows"] = w
        else:
            try:
                values["windows"] = tuple(
                    WindowSpec(int(x["number"]), tuple(x["able"]), tuple(x.get("serving", x["able"][:1]))) for x in w
                )
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(f"windows: {exc!s} (expected a count, or [[windows]] with number, able, serving)")
    if "absences" in doc:
        values["absences"] = tuple(Absence(int(a["window"]), a["start"], a["end"]) for a in doc["absences"])
    if "surges" in doc:
        values["surges"] = tuple(Surge(x["line"], float(x["factor"]), x["start"], x["end"]) for x in doc["surges"])
    if "policy" in doc:
        known = set(PolicyConfig.__dataclass_fields__)
        bad = [k for k in doc["policy"] if k not in known]
        for k in bad:
            problems.append(f"policy.{k}: unknown key (expected one of {', '.join(sorted(known))})")
        if not bad:
            values["policy"] = replace(s.policy, **doc["policy"])
    if problems:
        raise ScenarioError(problems, source)
    out = replace(s, **values)
    try:
        out.window_specs()
        _check(out)
    except ScenarioError as exc:
        raise ScenarioError(exc.problems, source) from None
    except (ValueError, KeyError) as exc:
        raise ScenarioError([str(exc)], source) from None
    return out


def _check(s: Scenario) -> None:
    problems = []
    prefixes = {ln.prefix for ln in s.lines}
    for w in s.window_specs():
        for p in (*w.able, *w.serving):
            if p not in prefixes:
                problems.append(f"windows: window {w.number} names line {p!r}, which is not in [[lines]]")
    for a, b in s.hours:
        hhmm(a), hhmm(b)
    if s.appt_early + s.appt_late + s.appt_absent > 1:
        problems.append("appt_early + appt_late + appt_absent: more than 1 (expected shares of the booked citizens)")
    if problems:
        raise ScenarioError(problems)


def path_name(source: str) -> str:
    return Path(source).stem if source else "file"


def minutes_to_hhmm(minutes: float) -> str:
    minutes = round(minutes)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def at(scenario: Scenario, minutes: float) -> datetime:
    return scenario.midnight() + timedelta(minutes=minutes)
