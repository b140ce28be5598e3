"""How often chance costs a correct submission its threshold points: a confidence bound from measured runs.

Shared by the threshold benches (``bench_reinforce.py --chance``, ``bench_vae.py --chance``,
``calibrate_bandits.py``). A run of the reference that fails its threshold is a Bernoulli event
with an unknown rate ``p``; from ``k`` failures in ``n`` independent runs the one-sided
Clopper–Pearson bound says ``p <= upper(k, n)`` with the given confidence. A grading fails when
one of its ``runs`` fails all its ``1 + retries`` independent attempts, so its probability is at
most ``runs * upper**(1 + retries)``.
"""

from __future__ import annotations

import math


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (no scipy needed for n in the thousands)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    total = 0.0
    for i in range(0, k + 1):
        log_term = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)
        total += math.exp(log_term)
    return min(1.0, total)


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a rate from ``k`` events in ``n`` trials (exact, by bisection)."""
    if k >= n:
        return 1.0
    alpha = 1.0 - confidence
    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if binomial_cdf(k, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def grading_failure_bound(p_run: float, runs: int = 1, retries: int = 0) -> float:
    """Probability that a grading of ``runs`` runs, each retried up to ``retries`` times, loses points."""
    return min(1.0, runs * p_run ** (1 + retries))


def report(label: str, failures: int, n: int, runs: int = 1, retries: int = 0, confidence: float = 0.95) -> str:
    upper = clopper_pearson_upper(failures, n, confidence)
    bound = grading_failure_bound(upper, runs, retries)
    return (f"{label}: {failures}/{n} runs failed (rate {failures / n:.4f}; one-sided {confidence:.0%} Clopper-Pearson "
            f"upper bound {upper:.4f}); a grading of {runs} run(s) with {retries} retrain(s) each loses points with "
            f"probability <= {bound:.2e} ({'meets' if bound <= 1e-3 else 'MISSES'} the 1e-3 target)")
