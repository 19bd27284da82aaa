"""Parameter study for the shipped policy defaults (docs/simulator.md, "How the defaults were chosen").

    .venv/bin/python bench/sweep_policy.py [--seeds 1-20] [--scenarios S1,S2,S3,S4,S5,S6]
        [--green 5,10,15] [--primary 0] [--set NAME=VALUE ...] [--balancer ADD_MARGIN_MIN=3 ...]
        [--jobs 2] [--out FILE.json]

Runs the baselines the targets refer to (oldest_eligible, pooled) once per scenario, then Tongban for
every (green_credit_min, primary_line_credit_min) in the grid, all on the same drawn days (paired),
and prints per scenario one row per setting with the numbers each target of bench/bench_policy.py
looks at. ``--set NAME=VALUE`` sets any other ``[policy]`` key for every setting;
``--balancer NAME=VALUE`` overrides a threshold constant of ``tongban/queue/balancer.py`` for the run
(for a study only; the shipped values are the module's).

Tune on seeds 1–20 (the default); bench/bench_policy.py judges on seeds 21–40, which no setting was
chosen on.
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

from bench_policy import seed_list  # beside this script: the one way to read "1-20,25"

from tongban.config import PolicyConfig
from tongban.queue import balancer
from tongban.sim import simulator
from tongban.sim.scenarios import BUILTIN

BASELINES = ("oldest_eligible", "pooled")


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def paired(tong: list, oldest: list, key: str) -> tuple[float, float]:
    """Mean and 95% half-width of the per-day difference in ``key`` (Tongban − oldest-eligible)."""
    diffs = [getattr(a, key) - getattr(b, key) for a, b in zip(tong, oldest)]
    return statistics.fmean(diffs), simulator.ci95(diffs)


def row(t: dict, base: dict, dp90: tuple[float, float]) -> tuple[list[str], int, int]:
    pooled, oldest = base["pooled"], base["oldest_eligible"]
    mae_limit = max(1.5, 0.15 * t["mean_wait_min"])
    checks = [
        t["mean_wait_min"] <= oldest["mean_wait_min"] + 0.1,
        t["mean_wait_min"] <= 1.15 * pooled["mean_wait_min"],
        t["non_green_p90_wait_min"] <= oldest["non_green_p90_wait_min"] + 0.5,
        t["non_green_share_over_30"] <= oldest["non_green_share_over_30"] + 0.005,
        t["green_mean_wait_min"] <= 0.5 * t["other_mean_wait_min"],
        t["estimate_mae_min"] <= mae_limit,
        t["band_coverage"] >= 0.8,
    ]
    mark = lambda ok: "" if ok else "✗"  # noqa: E731
    ratio = t["green_mean_wait_min"] / t["other_mean_wait_min"] if t["other_mean_wait_min"] else 0.0
    cells = [
        f"{t['mean_wait_min']:.2f}{mark(checks[0])}{'' if checks[1] else '†'}",
        f"{t['non_green_p90_wait_min']:.2f}{mark(checks[2])}",
        f"{dp90[0]:+.2f}±{dp90[1]:.2f}",
        f"{t['non_green_share_over_30']:.1%}{mark(checks[3])}",
        f"{t['green_mean_wait_min']:.2f}/{t['other_mean_wait_min']:.2f}{mark(checks[4])}",
        f"{ratio:.2f}",
        f"{t['estimate_mae_min']:.2f}{mark(checks[5])}",
        f"{t['band_coverage']:.0%}{mark(checks[6])}",
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


def setting_value(name: str, text: str):
    kind = type(getattr(PolicyConfig(), name))
    if kind is bool:
        return text.lower() in ("1", "true", "yes")
    return kind(float(text)) if kind is int else kind(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-20", help="e.g. 1-20 (the tuning seeds) or 1,2,5-8")
    ap.add_argument("--scenarios", default="S1,S2,S3,S4,S5,S6")
    ap.add_argument("--green", default="5,10,15", help="green_credit_min values")
    ap.add_argument("--primary", default="0", help="primary_line_credit_min values")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="another [policy] key")
    ap.add_argument(
        "--balancer",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a threshold constant of tongban/queue/balancer.py for this run",
    )
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", help="also write every number as JSON here")
    args = ap.parse_args()
    for item in args.balancer:
        key, _, value = item.partition("=")
        if not hasattr(balancer, key) or not key.isupper():
            ap.error(f"--balancer {key}: no such constant in tongban/queue/balancer.py")
        setattr(balancer, key, float(value))  # forked workers inherit it
    extra = {}
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in PolicyConfig.__dataclass_fields__:
            ap.error(f"--set {key}: not a [policy] key")
        extra[key] = setting_value(key, value)
    seeds = seed_list(args.seeds)
    grid = [(g, p) for p in floats(args.primary) for g in floats(args.green)]
    started = time.perf_counter()
    report: dict = {"seeds": seeds, "set": args.set, "balancer": args.balancer, "scenarios": {}}
    print(
        f"seeds {args.seeds} ({len(seeds)} days per setting)"
        + (f"; policy: {', '.join(args.set)}" if args.set else "")
        + (f"; balancer overrides: {', '.join(args.balancer)}" if args.balancer else "")
    )
    for name in args.scenarios.split(","):
        scenario = BUILTIN[name]
        base_summary, base_days = simulator.run(scenario, seeds, BASELINES, jobs=args.jobs)
        base = base_summary["policies"]
        pooled, oldest = base["pooled"], base["oldest_eligible"]
        print(
            f"\n{name} — {scenario.title}; oldest-eligible: mean {oldest['mean_wait_min']:.2f}, non-green p90"
            f" {oldest['non_green_p90_wait_min']:.2f}, >30 {oldest['non_green_share_over_30']:.1%}, est MAE"
            f" {oldest['estimate_mae_min']:.2f}; pooled mean {pooled['mean_wait_min']:.2f}"
            f" (×1.15 = {1.15 * pooled['mean_wait_min']:.2f})"
        )
        rows = [
            ["green,primary", "mean", "ng p90", "Δ paired", "ng >30", "green/others", "ratio", "MAE", "band", "changes"]
            + ["met"]
        ]
        report["scenarios"][name] = {"baselines": base, "settings": {}}
        for g, p in grid:
            change = {"green_credit_min": g, "primary_line_credit_min": p, **extra}
            variant = replace(scenario, policy=replace(scenario.policy, **change))
            summary, days = simulator.run(variant, seeds, ("tongban",), jobs=args.jobs)
            t = summary["policies"]["tongban"]
            dp90 = paired(days["tongban"], base_days["oldest_eligible"], "non_green_p90_wait_min")
            cells, met, total = row(t, base, dp90)
            rows.append([f"{g:g},{p:g}"] + cells + [f"{met}/{total}"])
            report["scenarios"][name]["settings"][f"{g:g},{p:g}"] = {
                **t,
                "ng_p90_minus_oldest": dp90[0],
                "ng_p90_minus_oldest_ci95": dp90[1],
            }
            print(f"  {g:g},{p:g} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        print(render(rows))
    print(
        "\n✗ = target missed (mean: vs oldest-eligible + 0.1; † = above 1.15 × pooled); Δ paired = mean over days"
        f" of (Tongban − oldest-eligible) non-green p90 ± 95%; sweep took {time.perf_counter() - started:.0f} s"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
