"""Parameter study for the shipped policy defaults (docs/simulator.md, "How the defaults were chosen").

    .venv/bin/python bench/sweep_policy.py [--seeds 21-30] [--scenarios S1,S2] [--green 5,10,30]
        [--primary 0,5] [--interval 60] [--balancer ADD_MARGIN_MIN=3 ...] [--jobs 1] [--out FILE.json]

Runs the baselines the policy's targets refer to (oldest_eligible, pooled, bind_at_issue) once per
scenario, then Tongban for every (green_credit_min, primary_line_credit_min) in the grid, all on the
same drawn days (paired), and prints per scenario one row per setting with the numbers each target
looks at. ``--balancer NAME=VALUE`` overrides a threshold constant of ``tongban/queue/balancer.py``
for the run (for a study only; the shipped values are the module's).

Shortlist on seeds the benchmark does not use (default 21–30), then confirm the finalist with
``bench/bench_policy.py`` (seeds 1–20), so the defaults are not picked on the seeds that judge them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tongban.queue import balancer
from tongban.sim import simulator
from tongban.sim.scenarios import BUILTIN

BASELINES = ("bind_at_issue", "oldest_eligible", "pooled")


def seed_list(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def paired_p90(tong: list, oldest: list) -> tuple[float, float]:
    """Mean and 95% half-width of the per-day difference in p90 (Tongban − oldest-eligible)."""
    diffs = [a.p90_wait_min - b.p90_wait_min for a, b in zip(tong, oldest)]
    return statistics.fmean(diffs), simulator.ci95(diffs)


def row(name: str, t: dict, base: dict, dp90: tuple[float, float]) -> tuple[list[str], int, int]:
    pooled, oldest, bind = base["pooled"], base["oldest_eligible"], base["bind_at_issue"]
    limit = max(1.15 * pooled["mean_wait_min"], pooled["mean_wait_min"] + 0.5)
    checks = [
        t["mean_wait_min"] <= limit,
        t["p90_wait_min"] <= oldest["p90_wait_min"],
        t["share_over_30"] <= oldest["share_over_30"],
        t["jain"] >= 0.9,
        t["green_mean_wait_min"] <= 0.5 * t["other_mean_wait_min"],
        bind["mean_wait_min"] >= 3 * t["mean_wait_min"],
    ]
    if name == "S1":
        checks.append(t["estimate_mae_min"] <= 1.5)
    mark = lambda ok: "" if ok else "✗"  # noqa: E731
    cells = [
        f"{t['mean_wait_min']:.2f}{mark(checks[0])}",
        f"{t['p90_wait_min']:.2f}{mark(checks[1])}",
        f"{dp90[0]:+.2f}±{dp90[1]:.2f}",
        f"{t['share_over_30']:.1%}{mark(checks[2])}",
        f"{t['jain']:.3f}{mark(checks[3])}",
        f"{t['green_mean_wait_min']:.2f}/{t['other_mean_wait_min']:.2f}{mark(checks[4])}",
        f"{t['green_mean_wait_min'] / t['other_mean_wait_min']:.2f}" if t["other_mean_wait_min"] else "-",
        f"{bind['mean_wait_min'] / t['mean_wait_min']:.2f}×{mark(checks[5])}",
        f"{t['estimate_mae_min']:.2f}{mark(checks[6]) if name == 'S1' else ''}",
        f"{t['balancer_changes']:.0f}",
    ]
    return cells, sum(checks), len(checks)


def render(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="21-30", help="e.g. 21-30 or 1,2,5-8 (default: not the benchmark's 1–20)")
    ap.add_argument("--scenarios", default="S1,S2")
    ap.add_argument("--green", default="5,8,10,15,20,30", help="green_credit_min values")
    ap.add_argument("--primary", default="0,5", help="primary_line_credit_min values")
    ap.add_argument("--interval", type=int, help="balancer_interval_s (default: the shipped default)")
    ap.add_argument(
        "--balancer",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a threshold constant of tongban/queue/balancer.py for this run",
    )
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", help="also write every number as JSON here")
    args = ap.parse_args()
    for item in args.balancer:
        key, _, value = item.partition("=")
        if not hasattr(balancer, key) or not key.isupper():
            ap.error(f"--balancer {key}: no such constant in tongban/queue/balancer.py")
        setattr(balancer, key, float(value))  # forked workers inherit it
    seeds = seed_list(args.seeds)
    grid = [(g, p) for p in floats(args.primary) for g in floats(args.green)]
    started = time.perf_counter()
    report: dict = {"seeds": seeds, "interval": args.interval, "balancer": args.balancer, "scenarios": {}}
    print(
        f"seeds {args.seeds} ({len(seeds)} days per setting)"
        + (f"; balancer every {args.interval} s" if args.interval else "")
        + (f"; balancer overrides: {', '.join(args.balancer)}" if args.balancer else "")
    )
    for name in args.scenarios.split(","):
        scenario = BUILTIN[name]
        base_summary, base_days = simulator.run(scenario, seeds, BASELINES, jobs=args.jobs)
        base = base_summary["policies"]
        pooled, oldest, bind = base["pooled"], base["oldest_eligible"], base["bind_at_issue"]
        limit = max(1.15 * pooled["mean_wait_min"], pooled["mean_wait_min"] + 0.5)
        print(
            f"\n{name} — {scenario.title}; limits: mean ≤ {limit:.2f} (pooled {pooled['mean_wait_min']:.2f}), "
            f"p90 ≤ {oldest['p90_wait_min']:.2f} and >30 ≤ {oldest['share_over_30']:.1%} (oldest-eligible), "
            f"bind-at-issue mean {bind['mean_wait_min']:.2f}"
        )
        rows = [
            [
                "green,primary",
                "mean",
                "p90",
                "Δp90 paired",
                ">30",
                "Jain",
                "green/others",
                "ratio",
                "vs bind",
                "est MAE",
                "changes",
                "met",
            ]
        ]
        report["scenarios"][name] = {"baselines": base, "settings": {}}
        for g, p in grid:
            change = {"green_credit_min": g, "primary_line_credit_min": p}
            if args.interval:
                change["balancer_interval_s"] = args.interval
            variant = replace(scenario, policy=replace(scenario.policy, **change))
            summary, days = simulator.run(variant, seeds, ("tongban",), jobs=args.jobs)
            t = summary["policies"]["tongban"]
            dp90 = paired_p90(days["tongban"], base_days["oldest_eligible"])
            cells, met, total = row(name, t, base, dp90)
            rows.append([f"{g:g},{p:g}"] + cells + [f"{met}/{total}"])
            report["scenarios"][name]["settings"][f"{g:g},{p:g}"] = {
                **t,
                "p90_minus_oldest": dp90[0],
                "p90_minus_oldest_ci95": dp90[1],
            }
            print(f"  {g:g},{p:g} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        print(render(rows))
    print(
        f"\n✗ = target missed; Δp90 paired = mean over days of (Tongban p90 − oldest-eligible p90) ± 95%;"
        f" sweep took {time.perf_counter() - started:.0f} s"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
