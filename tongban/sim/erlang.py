"""Erlang C: the M/M/c queue, the reference the simulator's pooled exponential case must agree with.

``c`` servers, arrivals at rate ``lam`` (Poisson), service at rate ``mu`` each (exponential); offered
load ``a = lam / mu`` erlangs, utilisation ``rho = a / c`` (must be < 1).

* ``erlang_c(c, a)``: probability that an arrival has to wait, P(W > 0).
* ``mean_wait(c, lam, mu)``: E[W] = C / (c·mu − lam).
* ``wait_tail(c, lam, mu, t)``: P(W > t) = C · exp(−(c·mu − lam) · t).
* ``wait_quantile(c, lam, mu, p)``: the smallest t with P(W ≤ t) ≥ p; 0 when P(W = 0) ≥ p.
"""

from __future__ import annotations

import math


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c, by the stable recursion B(k) = a·B(k−1) / (k + a·B(k−1))."""
    if c < 0 or a < 0:
        raise ValueError("need c >= 0 and a >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    if c < 1:
        raise ValueError("need at least one server")
    if a >= c:
        raise ValueError(f"unstable: offered load {a} erlangs on {c} servers")
    if a <= 0:
        return 0.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1 - b))


def _drain(c: int, lam: float, mu: float) -> float:
    return c * mu - lam


def mean_wait(c: int, lam: float, mu: float) -> float:
    return erlang_c(c, lam / mu) / _drain(c, lam, mu)


def wait_tail(c: int, lam: float, mu: float, t: float) -> float:
    if t < 0:
        return 1.0
    return erlang_c(c, lam / mu) * math.exp(-_drain(c, lam, mu) * t)


def wait_quantile(c: int, lam: float, mu: float, p: float) -> float:
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    waits = erlang_c(c, lam / mu)
    if waits <= 1 - p:
        return 0.0
    return math.log(waits / (1 - p)) / _drain(c, lam, mu)
