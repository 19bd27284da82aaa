"""Policy benchmark: Tongban's policy and balancer against the baselines on S1 and S2 (20 seeds).

    .venv/bin/python bench/bench_policy.py [--seeds 20] [--jobs 2] [--scenarios S1,S2] [--out FILE.json]

Prints a table per scenario, two diagnostic rows (Tongban without the green-channel credit, to show
what the green channel costs the others; Tongban with the defaults before the parameter study,
green 30 and primary line 5), the targets of the issue as met/missed with the measured
numbers, and the time one simulated day of S2 takes per policy (CPU seconds, one process).
Targets are measured, never tuned to: a missed target is reported as missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tongban.sim import simulator
from tongban.sim.baselines import POLICIES, SETUPS
from tongban.sim.scenarios import BUILTIN, draw_day
from tongban.sim.simulator import DaySim


def targets(name: str, pol: dict) -> list[tuple[str, bool, str]]:
    t, pooled, oldest, bind = pol["tongban"], pol["pooled"], pol["oldest_eligible"], pol["bind_at_issue"]
    limit = max(1.15 * pooled["mean_wait_min"], pooled["mean_wait_min"] + 0.5)
    rows = [
        (
            f"{name}: mean ≤ max(1.15×pooled, pooled+0.5)",
            t["mean_wait_min"] <= limit,
            f"{t['mean_wait_min']:.2f} vs limit {limit:.2f} (pooled {pooled['mean_wait_min']:.2f})",
        ),
        (
            f"{name}: p90 ≤ oldest-eligible",
            t["p90_wait_min"] <= oldest["p90_wait_min"],
            f"{t['p90_wait_min']:.2f} vs {oldest['p90_wait_min']:.2f} (±{t['p90_wait_min_ci95']:.2f} / "
            f"±{oldest['p90_wait_min_ci95']:.2f})",
        ),
        (
            f"{name}: share >30 min ≤ oldest-eligible",
            t["share_over_30"] <= oldest["share_over_30"],
            f"{t['share_over_30']:.3f} vs {oldest['share_over_30']:.3f}",
        ),
        (f"{name}: Jain ≥ 0.9", t["jain"] >= 0.9, f"{t['jain']:.3f}"),
        (
            f"{name}: green mean ≤ ½ others",
            t["green_mean_wait_min"] <= 0.5 * t["other_mean_wait_min"],
            f"{t['green_mean_wait_min']:.2f} vs ½×{t['other_mean_wait_min']:.2f}"
            f" = {0.5 * t['other_mean_wait_min']:.2f}",
        ),
        (
            f"{name}: ≥3× lower mean than bind-at-issue",
            bind["mean_wait_min"] >= 3 * t["mean_wait_min"],
            f"{bind['mean_wait_min'] / t['mean_wait_min']:.2f}×"
            f" ({bind['mean_wait_min']:.2f} vs {t['mean_wait_min']:.2f})",
        ),
    ]
    if name == "S1":
        rows.append((f"{name}: estimate MAE ≤ 1.5 min", t["estimate_mae_min"] <= 1.5, f"{t['estimate_mae_min']:.2f}"))
    return rows


def timing(seed: int = 1) -> dict[str, float]:
    day = draw_day(BUILTIN["S2"], seed)
    out = {}
    for name in POLICIES:
        wall = time.perf_counter()
        result = DaySim(day, SETUPS[name]).run()
        out[name] = (result.seconds, time.perf_counter() - wall)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scenarios", default="S1,S2")
    ap.add_argument("--out", help="also write every number as JSON here")
    args = ap.parse_args()
    started = time.perf_counter()
    report: dict = {"seeds": args.seeds, "scenarios": {}}
    checks = []
    for name in args.scenarios.split(","):
        scenario = BUILTIN[name]
        summary, _ = simulator.run(scenario, args.seeds, POLICIES, jobs=args.jobs)
        # Diagnostics (not targets): the same policy and balancer without the green-channel credit
        # (what the green channel costs the others), and with the defaults shipped before the
        # parameter study (green 30, primary line 5; bench/sweep_policy.py).
        for label, change in (
            ("tongban (no green credit)", {"green_credit_min": 0.0}),
            ("tongban (green 30, primary 5)", {"green_credit_min": 30.0, "primary_line_credit_min": 5.0}),
        ):
            variant = replace(scenario, policy=replace(scenario.policy, **change))
            diag, _ = simulator.run(variant, args.seeds, ("tongban",), jobs=args.jobs)
            summary["policies"][label] = diag["policies"]["tongban"]
        print(simulator.table(summary, scenario))
        print()
        report["scenarios"][name] = summary
        if name in ("S1", "S2"):
            checks += targets(name, summary["policies"])
    if checks:
        print("Targets (issue 3), Tongban on 20 seeds" if args.seeds == 20 else f"Targets, {args.seeds} seeds")
        width = max(len(c[0]) for c in checks)
        for label, ok, detail in checks:
            print(f"  {'met   ' if ok else 'MISSED'}  {label.ljust(width)}  {detail}")
        print()
    times = timing()
    print("One simulated day of S2 (632 citizens), one process: CPU seconds / wall seconds; target < 2 s")
    for name, (cpu, wall) in times.items():
        print(f"  {name:<16} {cpu:5.2f} s CPU  {wall:5.2f} s wall  {'met' if cpu < 2 else 'MISSED'}")
    report["s2_day_seconds"] = {k: {"cpu": v[0], "wall": v[1]} for k, v in times.items()}
    report["checks"] = [{"target": c[0], "met": c[1], "measured": c[2]} for c in checks]
    print(f"\nbench took {time.perf_counter() - started:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
