"""The policy benchmark: Tongban's policy, balancer and forecast against the baselines on S1–S6.

    .venv/bin/python bench/bench_policy.py [--seeds 21-40] [--scenarios S1,S2,S3,S4,S5,S6] [--jobs 2]
        [--biases 0.67,1.33] [--bias-policies tongban,oldest_eligible,pooled] [--no-timing] [--out FILE.json]

Seeds 21–40 are held out: the policy and its defaults are tuned on seeds 1–20 (bench/sweep_policy.py),
never on these. Per scenario it prints the policy table, two diagnostic rows (Tongban without the
green-channel credit, to show what the green channel costs the others; Tongban with idle windows
waiting for the balancer, the behaviour before ``idle_windows_take_able_lines``) and the estimate's
error and band coverage when the day starts with per-line times off by each ``--biases`` factor.
Then every target, met or missed with its numbers, and the CPU time of one simulated day of S2.
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

SCENARIOS = ("S1", "S2", "S3", "S4", "S5", "S6")
DIAGNOSTICS = (
    ("tongban (no green credit)", {"green_credit_min": 0.0}),
    ("tongban (idle windows wait)", {"idle_windows_take_able_lines": False}),
)


def seed_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def mae_limit(t: dict) -> float:
    return max(1.5, 0.15 * t["mean_wait_min"])


def targets(name: str, pol: dict, biased: dict[float, dict]) -> list[tuple[str, str, bool, str]]:
    """(scenario, target, met, measured) for Tongban on one scenario."""
    t, pooled, oldest = pol["tongban"], pol["pooled"], pol["oldest_eligible"]
    rows = [
        (
            "mean ≤ oldest-eligible + 0.1",
            t["mean_wait_min"] <= oldest["mean_wait_min"] + 0.1,
            f"{t['mean_wait_min']:.2f} vs {oldest['mean_wait_min']:.2f} + 0.1",
        ),
        (
            "mean ≤ 1.15 × pooled",
            t["mean_wait_min"] <= 1.15 * pooled["mean_wait_min"],
            f"{t['mean_wait_min']:.2f} vs {1.15 * pooled['mean_wait_min']:.2f} (pooled {pooled['mean_wait_min']:.2f};"
            f" oldest-eligible {oldest['mean_wait_min']:.2f})",
        ),
        (
            "non-green p90 ≤ oldest-eligible + 0.5 min",
            t["non_green_p90_wait_min"] <= oldest["non_green_p90_wait_min"] + 0.5,
            f"{t['non_green_p90_wait_min']:.2f} vs {oldest['non_green_p90_wait_min']:.2f} + 0.5"
            f" (±{t['non_green_p90_wait_min_ci95']:.2f} / ±{oldest['non_green_p90_wait_min_ci95']:.2f})",
        ),
        (
            "non-green >30 min ≤ oldest-eligible + 0.5 pt",
            t["non_green_share_over_30"] <= oldest["non_green_share_over_30"] + 0.005,
            f"{t['non_green_share_over_30']:.2%} vs {oldest['non_green_share_over_30']:.2%} + 0.5 pt",
        ),
        (
            "green mean ≤ ½ others",
            t["green_mean_wait_min"] <= 0.5 * t["other_mean_wait_min"],
            f"{t['green_mean_wait_min']:.2f} vs ½×{t['other_mean_wait_min']:.2f}"
            f" = {0.5 * t['other_mean_wait_min']:.2f}",
        ),
    ]
    for bias in sorted(biased):
        b = biased[bias]
        limit = mae_limit(b)
        rows.append(
            (
                f"estimate MAE ≤ max(1.5, 15% of mean), prior ×{bias:g}",
                b["estimate_mae_min"] <= limit,
                f"{b['estimate_mae_min']:.2f} vs {limit:.2f}",
            )
        )
        rows.append(
            (
                f"band coverage ≥ 80%, prior ×{bias:g}",
                b["band_coverage"] >= 0.8,
                f"{b['band_coverage']:.1%}",
            )
        )
    return [(name, label, ok, detail) for label, ok, detail in rows]


def estimate_table(name: str, by_bias: dict[float, dict]) -> str:
    """MAE and band coverage per policy, one pair of columns per prior bias."""
    biases = sorted(by_bias)
    names = [n for n in by_bias[1.0] if all(n in by_bias[b] for b in biases)]
    head = ["policy"] + [f"{label} ×{b:g}" for b in biases for label in ("MAE", "in band")]
    rows = [head]
    for n in names:
        cells = [n]
        for b in biases:
            agg = by_bias[b][n]
            cells += [f"{agg['estimate_mae_min']:.2f}", f"{agg['band_coverage']:.0%}"]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out = [f"{name} — the estimate when the day starts with per-line times off by a factor (×1: unbiased)"]
    for j, r in enumerate(rows):
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def timing(seed: int = 1) -> dict[str, tuple[float, float]]:
    day = draw_day(BUILTIN["S2"], seed)
    out = {}
    for name in POLICIES:
        wall = time.perf_counter()
        result = DaySim(day, SETUPS[name]).run()
        out[name] = (result.seconds, time.perf_counter() - wall)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="21-40", help="e.g. 21-40 (held out, the default) or 1-20 (tuning)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--biases", default="0.67,1.33", help="prior biases for the estimate table, beside 1.0")
    ap.add_argument("--bias-policies", default="tongban,oldest_eligible,pooled")
    ap.add_argument("--no-timing", action="store_true", help="skip the one-day CPU timing")
    ap.add_argument("--out", help="also write every number as JSON here")
    args = ap.parse_args()
    seeds = seed_list(args.seeds)
    biases = [float(b) for b in args.biases.split(",") if b]
    bias_policies = tuple(args.bias_policies.split(","))
    started = time.perf_counter()
    report: dict = {"seeds": seeds, "scenarios": {}}
    checks = []
    for name in args.scenarios.split(","):
        scenario = BUILTIN[name]
        summary, _ = simulator.run(scenario, seeds, POLICIES, jobs=args.jobs)
        for label, change in DIAGNOSTICS:
            variant = replace(scenario, policy=replace(scenario.policy, **change))
            diag, _ = simulator.run(variant, seeds, ("tongban",), jobs=args.jobs)
            summary["policies"][label] = diag["policies"]["tongban"]
        print(simulator.table(summary, scenario))
        print()
        by_bias = {1.0: summary["policies"]}
        for bias in biases:
            biased, _ = simulator.run(scenario, seeds, bias_policies, jobs=args.jobs, prior_bias=bias)
            by_bias[bias] = biased["policies"]
        print(estimate_table(name, by_bias))
        print(f"({time.perf_counter() - started:.0f} s so far)\n", flush=True)
        report["scenarios"][name] = {"summary": summary, "by_bias": {str(b): v for b, v in by_bias.items()}}
        checks += targets(name, summary["policies"], {b: v["tongban"] for b, v in by_bias.items()})
    print(f"Targets, Tongban on seeds {args.seeds} ({len(seeds)} days per scenario)")
    width = max(len(c[1]) for c in checks)
    met = 0
    for scenario_name, label, ok, detail in checks:
        met += ok
        print(f"  {'met   ' if ok else 'MISSED'}  {scenario_name}  {label.ljust(width)}  {detail}")
    print(f"  {met} of {len(checks)} met")
    print()
    report["checks"] = [{"scenario": c[0], "target": c[1], "met": c[2], "measured": c[3]} for c in checks]
    if not args.no_timing:
        times = timing()
        print("One simulated day of S2, one process: CPU seconds / wall seconds")
        for name, (cpu, wall) in times.items():
            print(f"  {name:<16} {cpu:5.2f} s CPU  {wall:5.2f} s wall")
        report["s2_day_seconds"] = {k: {"cpu": v[0], "wall": v[1]} for k, v in times.items()}
    print(f"\nbench took {time.perf_counter() - started:.0f} s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
