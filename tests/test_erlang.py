"""Erlang C, its tail and quantiles; the simulator's pooled exponential case agrees with it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tongban.sim import erlang, simulator
from tongban.sim.scenarios import pooled_exponential


def test_one_server_is_mm1():
    # M/M/1: P(wait) = rho, E[W] = rho / (mu - lam).
    assert erlang.erlang_c(1, 0.6) == pytest.approx(0.6)
    assert erlang.mean_wait(1, 0.6, 1.0) == pytest.approx(0.6 / 0.4)


def test_known_values():
    # Textbook: 2 servers, a = 1 erlang: C = 1/3. 10 servers, a = 8: C ≈ 0.4092.
    assert erlang.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang.erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-4)
    assert erlang.erlang_b(2, 1.0) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        erlang.erlang_c(3, 3.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.floats(0.05, 0.98), st.floats(0.05, 5), st.floats(0.01, 0.99))
def test_tail_and_quantile_are_consistent(c, rho, mu, p):
    lam = rho * c * mu
    waits = erlang.erlang_c(c, lam / mu)
    assert 0 <= waits <= 1
    assert erlang.wait_tail(c, lam, mu, 0) == pytest.approx(waits)
    # The mean is the integral of the tail.
    assert erlang.mean_wait(c, lam, mu) == pytest.approx(waits / (c * mu - lam))
    t = erlang.wait_quantile(c, lam, mu, p)
    if t == 0:
        assert waits <= 1 - p + 1e-12
    else:
        assert erlang.wait_tail(c, lam, mu, t) == pytest.approx(1 - p, rel=1e-9)
    # More servers at the same utilisation wait less often (economies of scale).
    if c < 40:
        assert erlang.erlang_c(c + 1, rho * (c + 1)) <= waits + 1e-12


def test_the_simulators_pooled_exponential_day_agrees_with_erlang_c():
    """M/M/4 at rho 0.7 through the real service (one line, every window, FCFS, exponential service,
    no walk-up, no no-shows, no green channel; the first hour left out as warm-up): Erlang C's mean
    wait lies inside the simulated mean's 95% confidence interval, and so does its 90th percentile
    inside the interval of the simulated p90."""
    c, rho, mean = 4, 0.7, 4.0
    scenario = pooled_exponential(c=c, rho=rho, mean_min=mean, hours=8.0, warmup_min=60)
    summary, per_day = simulator.run(scenario, 12, ("pooled",))
    lam, mu = rho * c / mean, 1 / mean
    means = [r.mean_wait_min for r in per_day["pooled"]]
    mid, half = sum(means) / len(means), simulator.ci95(means)
    assert abs(mid - erlang.mean_wait(c, lam, mu)) <= half, (mid, half, erlang.mean_wait(c, lam, mu))
    p90 = [r.p90_wait_min for r in per_day["pooled"]]
    mid90, half90 = sum(p90) / len(p90), simulator.ci95(p90)
    assert abs(mid90 - erlang.wait_quantile(c, lam, mu, 0.9)) <= half90
    assert not math.isnan(summary["policies"]["pooled"]["mean_wait_ci95"])
