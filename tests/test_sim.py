"""The simulator runs the real service on seeded days; scenarios, baselines, output."""

from __future__ import annotations

import heapq
import json
import statistics
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tongban.cli import main
from tongban.queue.store import parse_iso
from tongban.sim import simulator
from tongban.sim.baselines import POLICIES, SETUPS
from tongban.sim.scenarios import (
    BUILTIN,
    ScenarioError,
    chain_windows,
    draw_day,
    from_hall,
    hall_config,
    load_scenario,
    parse_scenario,
    pooled_exponential,
)
from tongban.sim.simulator import DaySim

# A short, small day that still has every feature: 3 lines, 4 windows, green channel, no-shows.
TINY = replace(
    BUILTIN["street"],
    name="tiny",
    tickets=60,
    hours=(("08:30", "10:30"),),
    last_issue="10:00",
    profile=(("08:30", "10:30", 1.0),),
)


def test_every_policy_serves_the_same_citizens_and_everyone_is_served():
    day = draw_day(TINY, 3)
    assert day == draw_day(TINY, 3)  # drawn from the seed alone
    results = {name: DaySim(day, SETUPS[name]).run() for name in POLICIES}
    for name, r in results.items():
        assert r.tickets == len(day.citizens), name
        assert r.unserved == 0 and r.refused == 0, name
        assert r.no_shows == sum(c.no_show for c in day.citizens), name
    # Same seed, same day, same answer: nothing random happens while simulating.
    again = DaySim(day, SETUPS["tongban"]).run()
    assert again.mean_wait_min == results["tongban"].mean_wait_min
    assert again.estimate_mae_min == results["tongban"].estimate_mae_min


def test_the_real_service_wrote_the_day():
    """The simulated day is in the store as production would write it: one event per transition,
    call times, the balancer's changes as window_lines events with their reason."""
    sim = DaySim(draw_day(BUILTIN["shortage"], 1), SETUPS["tongban"])
    env_store = sim.store
    captured = {}
    original = sim.measure

    def measure():
        captured["events"] = {r[0]: r[1] for r in env_store.all("SELECT action, COUNT(*) FROM events GROUP BY action")}
        captured["lines"] = env_store.all("SELECT data FROM events WHERE action = 'window_lines'")
        return original()

    sim.measure = measure
    result = sim.run()
    events = captured["events"]
    assert events["issue"] == result.tickets
    assert events["call"] == result.served + result.no_shows + result.unserved * 0
    assert events["finish"] >= result.served and events["no_show"] == result.no_shows
    assert result.balancer_changes > 0
    for row in captured["lines"]:
        data = json.loads(row[0])
        assert data["by_balancer"] and data["reason"] and data["reason_zh"]


def test_pooled_fcfs_day_is_exactly_the_c_server_fcfs_recursion():
    """Through issue/call_next/act and SimPy, the pooled day gives, to the microsecond, the waits of
    the textbook FCFS c-server recursion on the same citizens: the simulator adds nothing of its own."""
    scenario = pooled_exponential(c=3, rho=0.75, mean_min=4.0, hours=3.0, warmup_min=0)
    day = draw_day(scenario, 5)
    free = [8 * 60.0] * 3
    waits = []
    for c in day.citizens:
        start = max(heapq.heappop(free), c.arrive_min)
        waits.append(start - c.arrive_min)
        heapq.heappush(free, start + c.service_min)
    result = DaySim(day, SETUPS["pooled"]).run()
    assert result.mean_wait_min == pytest.approx(statistics.fmean(waits), abs=1e-6)
    assert result.max_wait_min == pytest.approx(max(waits), abs=1e-6)


def test_built_in_scenarios_match_the_issue():
    s1 = BUILTIN["S1"]
    assert {"S1", "S2", "S3", "S4", "S5", "S6"} <= set(BUILTIN)
    assert (s1.tickets, s1.windows, s1.service_cv, s1.no_show, s1.green) == (550, 12, 0.8, 0.08, 0.15)
    assert s1.hours == (("08:30", "12:00"), ("14:00", "17:30"))
    assert (s1.kiosks, s1.kiosk_max_per_minute) == (2, 12)
    assert all(4 <= ln.service_mean_min <= 15 for ln in s1.lines)
    assert BUILTIN["S2"].tickets == 650
    # The six layouts: a big hall, a 3-skill chain (~90% load), a surge with long tails, ~93% load.
    s3 = BUILTIN["S3"]
    assert (s3.windows, len(s3.lines), s3.kiosks) == (24, 8, 4)
    assert all(len(w.able) == 3 for w in BUILTIN["S4"].window_specs())
    assert BUILTIN["S5"].surges and BUILTIN["S5"].service_cv > 1
    assert BUILTIN["S6"].tickets > BUILTIN["S2"].tickets
    assert BUILTIN["street"].tickets == 150 and BUILTIN["street"].windows == 4
    assert (BUILTIN["mix"].green, BUILTIN["mix"].no_show) == (0.25, 0.15)
    day = draw_day(s1, 1)
    assert 480 < len(day.citizens) < 620
    # A long chain: two or three lines each, only the primary at opening, every line reachable from
    # every other through shared windows.
    specs = chain_windows(s1.lines, 12)
    assert all(2 <= len(w.able) <= 3 and w.serving == w.able[:1] for w in specs)
    linked = {s1.lines[0].prefix}
    for _ in specs:
        linked |= {p for w in specs if set(w.able) & linked for p in w.able}
    assert linked == {ln.prefix for ln in s1.lines}


def test_serving_sets_of_the_baselines():
    s1 = BUILTIN["S1"]
    assert all(len(w.serving) == 1 for w in hall_config(s1, serving="primary").windows)
    assert all(w.serving == w.able for w in hall_config(s1, serving="able").windows)
    pooled = hall_config(s1, serving="all")
    assert all(set(w.serving) == {ln.prefix for ln in s1.lines} for w in pooled.windows)


def test_scenario_from_a_file(tmp_path):
    path = tmp_path / "day.toml"
    path.write_text(
        'name = "mine"\nbase = "street"\ntickets = 40\nwindows = 3\ngreen = 0.5\n'
        'hours = ["09:00-11:00"]\nlast_issue = "10:30"\n'
        '[[lines]]\nprefix = "A"\nshare = 0.6\nservice_mean_min = 6\n'
        '[[lines]]\nprefix = "B"\nshare = 0.4\nservice_mean_min = 9\n'
        '[[absences]]\nwindow = 1\nstart = "09:00"\nend = "10:00"\n'
        "[policy]\ngreen_credit_min = 20\n",
        encoding="utf-8",
    )
    s = load_scenario(path)
    assert (s.name, s.tickets, s.windows, s.green, s.policy.green_credit_min) == ("mine", 40, 3, 0.5, 20)
    result = simulator.simulate_day(s, "tongban", 1)
    assert result.unserved == 0 and result.tickets > 10
    with pytest.raises(ScenarioError) as bad:
        parse_scenario({"tickets": -3, "colour": "red", "base": "S9"})
    assert len(bad.value.problems) == 3


def test_a_hall_file_can_be_simulated():
    from tongban.config import load_hall_config

    hall = load_hall_config("config/demo-hall.toml")
    s = replace(from_hall(hall, TINY), tickets=40)
    assert [w.number for w in s.window_specs()] == [w.number for w in hall.windows]
    assert s.window_specs()[2].serving == hall.windows[2].serving  # as configured, not primary only
    result = simulator.simulate_day(s, "tongban", 2)
    assert result.unserved == 0 and result.served > 0


def test_simulate_json_prints_one_object_with_the_documented_keys(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text('base = "street"\ntickets = 30\nhours = ["08:30-10:00"]\nlast_issue = "09:30"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", "--scenario", str(path), "--seeds", "2", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["seeds"] == 2 and doc["scenario"] == "tiny" and doc["prior_bias"] == 1.0
    assert list(doc["policies"]) == list(POLICIES)
    for metrics in doc["policies"].values():
        assert set(metrics) == {
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
        }
    table = CliRunner().invoke(main, ["simulate", "--scenario", str(path), "--seeds", "1", "--policy", "tongban"])
    assert table.exit_code == 0 and "tongban" in table.output and "pooled" not in table.output
    assert CliRunner().invoke(main, ["simulate", "--scenario", "S9"]).exit_code != 0


def test_metrics_helpers():
    assert simulator.jain([5, 5, 5]) == 1.0
    assert simulator.jain([1, 0, 0, 0]) == pytest.approx(0.25)
    assert simulator.quantile([0, 10], 0.9) == pytest.approx(9.0)
    assert simulator.ci95([1.0, 1.0, 1.0]) == 0.0
    assert simulator.t95(19) == pytest.approx(2.093)


def test_a_citizen_refused_by_the_kiosks_retries_then_leaves_and_is_counted():
    """One kiosk limited to 2 tickets a minute and a crowd at the door: the refused try again when
    the screen says, give up after three refusals, and are counted (not silently dropped)."""
    crowd = replace(TINY, kiosks=1, kiosk_max_per_minute=2, door_share=0.3, tickets=40)
    day = draw_day(crowd, 1)
    r = DaySim(day, SETUPS["tongban"]).run()
    assert r.refused > 0 and r.kiosk_refusals >= crowd.kiosk_tries * r.refused
    assert r.tickets + r.refused == len(day.citizens)
    assert r.refused_share == pytest.approx(r.refused / len(day.citizens))
    # Refusals depend on the kiosks, not the policy; more kiosks, fewer refusals.
    assert DaySim(day, SETUPS["oldest_eligible"]).run().refused == r.refused
    roomy = replace(crowd, kiosks=4)
    assert DaySim(draw_day(roomy, 1), SETUPS["tongban"]).run().refused < r.refused
    summary, _ = simulator.run(crowd, [1, 2], ("tongban",))
    agg = summary["policies"]["tongban"]
    assert agg["refused"] > 0 and 0 < agg["refused_share"] < 1
    text = simulator.table(summary, crowd)
    assert "refused" in text.splitlines()[1] and "left without a ticket" in text
    assert "left without a ticket" not in simulator.table(simulator.run(TINY, [1], ("tongban",))[0])


def test_non_green_tail_and_band_coverage_are_measured_from_the_store():
    sim = DaySim(draw_day(TINY, 2), SETUPS["tongban"])
    seen = {}
    original = sim.measure

    def measure():
        seen["rows"] = sim.store.all("SELECT id, green, issued_at, called_at FROM tickets WHERE state = 'done'")
        return original()

    sim.measure = measure
    r = sim.run()
    waits = {
        row["id"]: (parse_iso(row["called_at"]) - parse_iso(row["issued_at"])).total_seconds() / 60
        for row in seen["rows"]
    }
    others = sorted(w for row in seen["rows"] if not row["green"] for w in [waits[row["id"]]])
    assert r.non_green_p90_wait_min == pytest.approx(simulator.quantile(others, 0.9))
    assert r.non_green_share_over_30 == pytest.approx(sum(w > 30 for w in others) / len(others))
    inside = sum(low <= waits[i] <= high for i, (_, low, high) in sim.estimates.items() if i in waits)
    assert r.share_in_band == pytest.approx(inside / len(waits))
    agg = simulator.aggregate([r])
    assert agg["band_coverage"] == pytest.approx(round(r.share_in_band, 4))
    assert agg["non_green_p90_wait_min"] == pytest.approx(round(r.non_green_p90_wait_min, 4))


def test_prior_bias_starts_the_day_with_per_line_times_off_by_the_factor():
    day = draw_day(TINY, 1)
    fair = DaySim(day, SETUPS["tongban"])
    slow = DaySim(day, SETUPS["tongban"], prior_bias=1.33)
    for prefix, (service, _, cycle, _) in day.history.items():
        row = slow.store.one("SELECT service_min, cycle_min FROM lines WHERE prefix = ?", (prefix,))
        assert row["service_min"] == pytest.approx(1.33 * service) and row["cycle_min"] == pytest.approx(1.33 * cycle)
        assert fair.store.one("SELECT cycle_min FROM lines WHERE prefix = ?", (prefix,))[0] == pytest.approx(cycle)
    a, b = fair.run(), slow.run()
    assert a.mean_wait_min == b.mean_wait_min  # the same calls: the prior changes only what is promised
    assert a.estimate_mae_min != b.estimate_mae_min
    out = CliRunner().invoke(
        main,
        [
            "simulate",
            "--scenario",
            "S1",
            "--seeds",
            "1",
            "--policy",
            "oldest_eligible",
            "--prior-bias",
            "0.67",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["prior_bias"] == 0.67


def test_a_bound_ticket_is_forecast_with_its_windows_own_queue():
    """bind_at_issue: a window calls only the tickets bound to it, so the forecast keeps each window's
    tickets apart. The third A ticket, bound to the free window 2, is called at once, though two A
    tickets are older (window 1's)."""
    from tongban.queue.clock import FakeClock
    from tongban.queue.service import HallService
    from tongban.queue.store import Store
    from tongban.sim.baselines import Binding, policy_config
    from tongban.sim.scenarios import at

    s = replace(TINY, lines=TINY.lines[:1], windows=2)
    binding = Binding("fewest_issued")
    config = hall_config(s, serving="able", policy=policy_config(SETUPS["bind_at_issue"], s.policy))
    store = Store(":memory:")
    svc = HallService(store, config, FakeClock(at(s, 9 * 60)), chooser=binding.chooser, ticket_group=binding.group)
    svc.sync_with_config()
    svc.window_action(1, "open", clerk="c1")
    svc.window_action(2, "open", clerk="c2")
    tickets = [svc.take_ticket(line="A").ticket for _ in range(3)]
    for t, window in zip(tickets, (1, 1, 2)):
        binding.window_of[t.id] = window
    first = svc.call_next(1)
    assert first.id == tickets[0].id
    outlook = svc.ticket_outlook(tickets[2])
    assert (outlook.people_ahead, outlook.estimate.minutes) == (0, 0)
    outlook = svc.ticket_outlook(tickets[1])
    assert outlook.people_ahead == 0 and outlook.estimate.minutes > 0  # after window 1's current citizen
    store.close()


def test_booked_citizens_check_in_through_the_real_service_and_are_measured_from_their_slot():
    """A share of the day books slots (queue/appointments.py loads them); the early wait until check-in
    opens, the too-late take an ordinary ticket, the absent become no-shows; waits are reported apart."""
    scenario = replace(TINY, booked=0.5, appt_early=0.3, appt_late=0.3, appt_absent=0.2)
    day = draw_day(scenario, 4)
    plain = draw_day(replace(TINY, booked=0.0), 4)
    # Booking changes when the booked come, never who comes or what they need.
    assert [(c.line, c.service_min) for c in day.citizens] == [(c.line, c.service_min) for c in plain.citizens]
    booked = [c for c in day.citizens if c.slot_start_min is not None]
    assert booked and any(c.absent for c in booked)
    sim = DaySim(day, SETUPS["tongban"])
    store = sim.store
    states: dict[str, int] = {}
    original_close = store.close
    store.close = lambda: states.update(
        {r["state"]: r["n"] for r in store.all("SELECT state, COUNT(*) AS n FROM appointments GROUP BY state")}
    )
    r = sim.run()
    original_close()
    assert r.appt_booked == len(booked) == sum(states.values())
    assert r.appt_checked_in == states.get("checked_in", 0) > 0
    assert r.appt_no_show == states.get("no_show", 0) >= sum(c.absent for c in booked) + r.appt_too_late
    assert r.tickets == len(day.citizens) - sum(c.absent for c in booked)
    assert 0 <= r.appt_mean_wait_min < r.walkin_mean_wait_min + 30
    summary, _ = simulator.run(scenario, [4], ("tongban",))
    doc = simulator.public_json(summary)
    assert doc["booked"] == 0.5 and set(simulator.APPT_METRICS) <= set(doc["policies"]["tongban"])
    text = simulator.table(summary)
    assert "50% booked" in text and "walk-in" in text
    assert "appt" not in simulator.table(simulator.run(TINY, [4], ("tongban",))[0])


def test_a_scenario_file_books_and_its_shares_are_checked():
    s = parse_scenario({"base": "street", "booked": 0.3, "slot_min": 20, "slots_follow_demand": True})
    assert (s.booked, s.slot_min, s.slots_follow_demand) == (0.3, 20, True)
    with pytest.raises(ScenarioError) as refused:
        parse_scenario({"booked": 2, "appt_early": 0.6, "appt_late": 0.6})
    assert "booked" in str(refused.value)
    with pytest.raises(ScenarioError) as refused:
        parse_scenario({"appt_early": 0.6, "appt_late": 0.6})
    assert "appt_early + appt_late + appt_absent" in str(refused.value)
