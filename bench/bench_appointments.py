"""The appointments benchmark (issue 18): S1 with a share of its citizens booked into slots.

    .venv/bin/python bench/bench_appointments.py [--seeds 21-40] [--booked 0.3] [--jobs 2] [--out FILE.json]

The same seeded days are simulated with nobody booked and with ``--booked`` of the citizens booked
(docs/simulator.md "Appointments": slots offered evenly over the day, some citizens early, some late,
some absent), Tongban's policy with its appointment credit of 20 min counted from the slot's start.
Targets, measured and never tuned to (a miss is printed as missed):

* booked citizens wait at most 5 min from their slot (the mean over the days of each day's mean);
* walk-ins wait no more than 10% longer than everyone did on the same days with no bookings.

Seeds 21–40 are the policy benchmark's held-out days (bench/bench_policy.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tongban.sim import simulator
from tongban.sim.scenarios import BUILTIN

APPT_TARGET_MIN = 5.0
WALKIN_WORSE_MAX = 0.10


def seed_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="21-40")
    parser.add_argument("--booked", type=float, default=0.3)
    parser.add_argument("--scenario", default="S1")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", help="write the numbers as JSON too")
    args = parser.parse_args()
    seeds = seed_list(args.seeds)
    base = BUILTIN[args.scenario]
    # (label, booked share, slots follow demand): the judged day books evenly over the slots, as a
    # platform offers them; the diagnostic row books each citizen around when they would have come.
    variants = (
        ("none", 0.0, False),
        ("even slots", args.booked, False),
        ("slots follow demand", args.booked, True),
    )
    runs = {}
    for label, booked, follow in variants:
        scenario = replace(base, booked=booked, slots_follow_demand=follow)
        summary, per_day = simulator.run(scenario, seeds, ("tongban",), jobs=args.jobs)
        runs[label] = (booked, summary["policies"]["tongban"], per_day["tongban"])
    _, none, _ = runs["none"]

    print(f"{args.scenario}, Tongban's policy, seeds {args.seeds} ({len(seeds)} days); minutes, mean of the days ±95%")
    head = (
        "booked",
        "slots",
        "all mean",
        "appt (from slot)",
        "walk-in (from arrival)",
        "booked/day",
        "checked in",
        "too late",
        "no-show",
        "util",
    )
    rows = [head]
    for label, (booked, agg, _) in runs.items():
        rows.append(
            (
                f"{booked:.0%}",
                label if booked else "-",
                f"{agg['mean_wait_min']:.2f} ±{agg['mean_wait_ci95']:.2f}",
                f"{agg['appt_mean_wait_min']:.2f} ±{agg['appt_mean_wait_min_ci95']:.2f}" if booked else "-",
                f"{agg['walkin_mean_wait_min']:.2f} ±{agg['walkin_mean_wait_min_ci95']:.2f}",
                f"{agg['appt_booked']:.1f}",
                f"{agg['appt_checked_in']:.1f}",
                f"{agg['appt_too_late']:.1f}",
                f"{agg['appt_no_show']:.1f}",
                f"{agg['utilisation']:.1%}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for j, r in enumerate(rows):
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))

    limit = (1 + WALKIN_WORSE_MAX) * none["walkin_mean_wait_min"]
    targets = []
    for label in ("even slots", "slots follow demand"):
        _, some, days = runs[label]
        worst = max(days, key=lambda d: d.appt_mean_wait_min)
        judged = "" if label == "even slots" else " [diagnostic]"
        targets += [
            (
                f"{label}{judged}: booked wait from slot ≤ {APPT_TARGET_MIN:g} min (mean)",
                some["appt_mean_wait_min"] <= APPT_TARGET_MIN,
                f"{some['appt_mean_wait_min']:.2f} (worst day {worst.appt_mean_wait_min:.2f}, seed {worst.seed})",
            ),
            (
                f"{label}{judged}: walk-ins ≤ {1 + WALKIN_WORSE_MAX:g} × no bookings",
                some["walkin_mean_wait_min"] <= limit,
                f"{some['walkin_mean_wait_min']:.2f} vs {limit:.2f} (no bookings {none['walkin_mean_wait_min']:.2f})",
            ),
        ]
    print()
    print("targets:")
    for name, met, measured in targets:
        print(f"  {'met   ' if met else 'MISSED'}  {name}: {measured}")
    some = runs["even slots"][1]
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "seeds": seeds,
                    "booked": args.booked,
                    "no_bookings": {k: none[k] for k in ("mean_wait_min", "walkin_mean_wait_min", "utilisation")},
                    "with_bookings": {k: some[k] for k in ("mean_wait_min", "utilisation", *simulator.APPT_METRICS)},
                    "targets": [{"target": n, "met": m, "measured": v} for n, m, v in targets],
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
