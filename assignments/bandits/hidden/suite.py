"""Hidden tests of the bandits assignment. Never released to students."""

from __future__ import annotations

import math

import numpy as np

from grader.core.suite import GroupContext, group, import_local
from grader.kits.holes.parent import Holes

testbed = import_local(__file__, "testbed")
calls = import_local(__file__, "calls")
_choices = calls.choices


def _tolerance(p: float, n: int, sigmas: float = 5.0) -> float:
    return sigmas * math.sqrt(p * (1 - p) / n)


def _seed(ctx: GroupContext) -> int:
    return int(ctx.rng.integers(2**31))


def _counts(choices: np.ndarray, k: int) -> str:
    counts = np.bincount(choices, minlength=k)
    return ", ".join(f"arm {a}: {int(c)}" for a, c in enumerate(counts) if c)


def _tie_hint(choices: np.ndarray) -> str:
    """Which tie-breaking the choices among the tied arms 1, 3, 4 show (none when they show no tie rule)."""
    tied = set(np.unique(choices).tolist())
    if tied == {4}:
        return "you break ties toward the highest index; np.argmax(estimates) returns the lowest one"
    if len(tied) > 1 and tied <= {1, 3, 4}:
        return ("you break ties at random (e.g. rng.choice over the best arms); the contract asks for the lowest "
                "index, as np.argmax(estimates) returns it")
    return ""


def _exploration_hint(greedy_share: float, eps: float, k: int, n: int) -> str:
    """The hint for a greedy share that matches a known mistake, and only then."""
    if abs(greedy_share - (1 - eps)) < _tolerance(1 - eps, n):
        return ("the greedy arm is chosen 1 − ε of the time: exploring must draw among all k arms, the greedy one "
                "included (rng.integers(len(estimates)))")
    if abs(greedy_share - (eps + (1 - eps) / k)) < _tolerance(eps + (1 - eps) / k, n):
        return "you explore with probability 1 − ε instead of ε (compare rng.random() < epsilon)"
    if abs(greedy_share - 0.9 - 0.1 / k) < _tolerance(0.9 + 0.1 / k, n) and abs(eps - 0.1) > 1e-9:
        return "you explore 10% of the time whatever ε is: use the epsilon argument"
    return ""


@group("epsilon_greedy")
def epsilon_greedy(ctx: GroupContext) -> None:
    rng = ctx.rng
    n = int(ctx.params.get("samples", 20000))

    with ctx.check("returns a plain int in range and leaves the estimates unchanged"):
        _choices(ctx, rng.normal(size=10), 0.3, _seed(ctx), 300)

    with ctx.check("ε = 0 always takes the greedy arm"):
        est = rng.normal(size=7)
        choices = _choices(ctx, est, 0.0, _seed(ctx), 500)
        ctx.require(np.all(choices == np.argmax(est)),
                    f"with ε = 0 the greedy arm {int(np.argmax(est))} must always be chosen; "
                    f"other arms were chosen {int(np.sum(choices != np.argmax(est)))} times out of 500")

    with ctx.check("ties go to the lowest index"):
        est = np.array([0.5, 2.0, -1.0, 2.0, 2.0])
        choices = _choices(ctx, est, 0.0, _seed(ctx), 200)
        ctx.require(np.all(choices == 1), "with ε = 0 and estimates [0.5, 2, -1, 2, 2] the choice must be arm 1 "
                                          "(ties broken toward the lowest index, as np.argmax does)",
                    expected="arm 1 every time", got=_counts(choices, len(est)), hint=_tie_hint(choices))

    with ctx.check("ε = 1 explores uniformly over all arms"):
        k = 5
        est = rng.normal(size=k)
        freq = np.bincount(_choices(ctx, est, 1.0, _seed(ctx), n), minlength=k) / n
        tol = _tolerance(1 / k, n)
        ctx.require(np.all(np.abs(freq - 1 / k) < tol),
                    f"with ε = 1 every arm should be chosen 1/{k} of the time; frequencies were {np.round(freq, 3).tolist()}")

    with ctx.check("greedy share is 1 − ε + ε/k, exploration uniform over all arms (ε = 0.5, k = 4)", weight=2):
        k, eps = 4, 0.5
        est = rng.permutation(np.arange(k, dtype=float))
        greedy = int(np.argmax(est))
        freq = np.bincount(_choices(ctx, est, eps, _seed(ctx), n), minlength=k) / n
        share = 1 - eps + eps / k
        ctx.require(abs(freq[greedy] - share) < _tolerance(share, n),
                    f"the greedy arm was chosen {freq[greedy]:.3f} of the time; expected 1 − ε + ε/k = {share:.3f}",
                    expected=f"{share:.3f}", got=f"{freq[greedy]:.3f}",
                    hint=_exploration_hint(freq[greedy], eps, k, n))
        others = np.delete(freq, greedy)
        ctx.require(np.all(np.abs(others - eps / k) < _tolerance(eps / k, n)),
                    f"each non-greedy arm should be chosen ε/k = {eps / k:.3f} of the time; got {np.round(others, 3).tolist()}",
                    expected=f"{eps / k:.3f} each", got=str(np.round(others, 3).tolist()))

    with ctx.check("greedy share with ε = 0.1, k = 10"):
        k, eps = 10, 0.1
        est = rng.normal(size=k)
        freq = np.bincount(_choices(ctx, est, eps, _seed(ctx), n), minlength=k) / n
        share = 1 - eps + eps / k
        got = freq[np.argmax(est)]
        ctx.require(abs(got - share) < _tolerance(share, n),
                    f"the greedy arm was chosen {got:.3f} of the time; expected {share:.3f}",
                    expected=f"{share:.3f}", got=f"{got:.3f}", hint=_exploration_hint(got, eps, k, n))

    with ctx.check("randomness comes only from rng: same seed ⇒ same choices, other seed ⇒ other choices"):
        est = rng.normal(size=6)
        seed = _seed(ctx)
        a = _choices(ctx, est, 0.5, seed, 400)
        b = _choices(ctx, est, 0.5, seed, 400)
        c = _choices(ctx, est, 0.5, seed + 1, 400)
        ctx.require(np.array_equal(a, b), "two runs with generators of the same seed made different choices",
                    hint="draw random numbers only from the rng argument (not np.random.*, random or a new generator)")
        ctx.require(not np.array_equal(a, c), "generators with different seeds gave identical choices",
                    hint="draw random numbers from the rng argument (a generator seeded inside ignores it)")


@group("update_estimate")
def update_estimate(ctx: GroupContext) -> None:
    rng = ctx.rng

    holes = Holes(ctx)

    def run(estimates, counts, rewards, alphas) -> np.ndarray:
        return calls.update(holes, np.asarray(estimates, float), np.asarray(counts), np.asarray(rewards, float),
                            np.asarray(alphas, float))

    def expected(e, c, r, a):
        e, c, r, a = map(np.asarray, (e, c, r, a))
        return np.where(a == 0, e + (r - e) / c, e + a * (r - e))

    with ctx.check("first update with the sample average (count = 1) returns the reward"):
        r = rng.normal(size=5) * 3
        got = run(rng.normal(size=5), np.ones(5, int), r, np.zeros(5))
        ctx.require(np.allclose(got, r, rtol=1e-9, atol=1e-12),
                    f"after the first pull the sample average must equal the reward {r[0]:.4f}; got {got[0]:.4f}")

    with ctx.check("sample average (α = 0) on random cases", weight=2):
        n = 200
        e, c, r = rng.normal(size=n) * 2, rng.integers(1, 1000, size=n), rng.normal(size=n) * 2
        got = run(e, c, r, np.zeros(n))
        want = expected(e, c, r, np.zeros(n))
        i = int(np.argmax(np.abs(got - want)))
        ctx.require(np.allclose(got, want, rtol=1e-9, atol=1e-12),
                    f"update_estimate({e[i]:.4f}, count={c[i]}, reward={r[i]:.4f}, alpha=0) returned {got[i]:.6f}, "
                    f"expected Q + (R − Q)/count = {want[i]:.6f}",
                    hint=_update_hint(got, e, c, r, np.zeros(n)))

    with ctx.check("constant step size (α > 0) on random cases", weight=2):
        n = 200
        e, c, r, a = rng.normal(size=n) * 2, rng.integers(1, 1000, size=n), rng.normal(size=n) * 2, rng.uniform(0.01, 1.0, size=n)
        got = run(e, c, r, a)
        want = expected(e, c, r, a)
        i = int(np.argmax(np.abs(got - want)))
        ctx.require(np.allclose(got, want, rtol=1e-9, atol=1e-12),
                    f"update_estimate({e[i]:.4f}, count={c[i]}, reward={r[i]:.4f}, alpha={a[i]:.3f}) returned {got[i]:.6f}, "
                    f"expected Q + α(R − Q) = {want[i]:.6f}",
                    hint=_update_hint(got, e, c, r, a))

    with ctx.check("successive sample-average updates give the mean of the rewards"):
        rewards = rng.normal(size=50)
        got = run(np.cumsum(rewards)[:-1] / np.arange(1, 50), np.arange(2, 51), rewards[1:], np.zeros(49))
        want = np.cumsum(rewards)[1:] / np.arange(2, 51)
        ctx.require(np.allclose(got, want, rtol=1e-9, atol=1e-12),
                    "updating the mean of the first n rewards with reward n+1 (count = n+1) must give the mean of n+1 rewards")


def _update_hint(got: np.ndarray, e: np.ndarray, c: np.ndarray, r: np.ndarray, a: np.ndarray) -> str:
    """Name the mistake the returned values match exactly (each candidate is a common wrong update)."""
    step = np.where(a == 0, 1.0 / c, a)
    candidates = {
        "the step is 1/(count + 1): count already includes this pull, so the step is 1/count":
            e + np.where(a == 0, 1.0 / (c + 1), a) * (r - e),
        "the step is 1/(count − 1): count already includes this pull, so the step is 1/count":
            e + np.where(a == 0, 1.0 / np.maximum(c - 1, 1), a) * (r - e),
        "α is ignored: with alpha > 0 the step is alpha, not 1/count": e + (r - e) / c,
        "the sign is flipped: the estimate moves toward the reward, Q + step · (R − Q)": e - step * (r - e),
        "the step is 1 − α; with alpha > 0 the step is alpha itself": e + np.where(a == 0, 1.0 / c, 1 - a) * (r - e),
        "1 // count is integer division (0 for count > 1): use 1 / count": e + np.where(a == 0, 1 // c, a) * (r - e),
    }
    for hint, values in candidates.items():
        if np.allclose(got, values, rtol=1e-9, atol=1e-12):
            return hint
    return ""


@group("agent")
def agent(ctx: GroupContext) -> None:
    """The course's ε-greedy agents on the parent's testbed, acting with the student's
    ``epsilon_greedy`` and learning with the student's ``update_estimate`` (:func:`calls.run_agents`).
    Three requirements on what that loop did: in every block of steps the share of greedy actions
    (any of the tied best arms of the estimates the action was chosen from) is what ε-greedy gives,
    ``1 − ε + ε·m/k`` with ``m`` tied best arms; the non-greedy actions are uniform over the other
    arms (by the arms' estimates, their counts and their index); and the mean reward is the
    reference agent's on the same problems minus a margin derived from their measured spread. A run
    that only missed the reward bound is repeated on fresh problems, at most ``retries`` times."""
    p = ctx.params
    runs, steps, arms = int(p["runs"]), int(p["steps"]), int(p.get("arms", 10))
    eps, alpha, margin = float(p["epsilon"]), float(p.get("alpha", 0.0)), float(p["margin"])
    initial, blocks, sigmas = float(p.get("initial", 0.0)), int(p.get("blocks", 10)), float(p.get("sigmas", 5.0))

    with ctx.check(f"ε-greedy learning on the {arms}-armed testbed ({runs} runs × {steps} steps, ε = {eps:g}): the "
                   f"course's agents with your epsilon_greedy and update_estimate take the greedy arm 1 − ε + ε·m/k of "
                   f"the time in every {steps // blocks} steps, explore uniformly, and earn the reference agent's "
                   f"mean reward − {margin:g} or more"):
        for attempt in range(1 + int(p.get("retries", 0))):
            bed = testbed.Testbed.draw(ctx.rng, runs, arms, steps)
            reference = testbed.run_reference(bed, eps, alpha, initial, np.random.default_rng(ctx.rng.integers(2**63)))
            run = calls.run_agents(Holes(ctx), bed.rewards, runs, arms, steps, eps, alpha, initial,
                                   ctx.rng.integers(2**31, size=runs), lambda t: ctx.progress(steps=t))
            rewards = run["rewards"]
            got, ref = float(rewards.mean()), float(reference.mean())
            last, ref_last = float(rewards[:, -100:].mean()), float(reference[:, -100:].mean())
            stats = testbed.exploration_stats(run, eps, blocks, ctx.rng)
            ctx.extra("curve", np.round(rewards.mean(axis=0)[:: max(1, steps // 100)], 4).tolist())
            ctx.extra("reference_curve", np.round(reference.mean(axis=0)[:: max(1, steps // 100)], 4).tolist())
            ctx.extra("greedy_shares", np.round(stats.shares, 4).tolist())
            ctx.note(("again on fresh problems: " if attempt else "")
                     + f"mean reward {got:.3f} (reference {ref:.3f}); last 100 steps {last:.3f} (reference {ref_last:.3f}); "
                     f"greedy share per {steps // blocks} steps {np.round(stats.shares, 3).tolist()} "
                     f"(expected {np.round(stats.expected, 3).tolist()})")
            worst = int(np.argmax(np.abs(stats.share_z)))
            ctx.require(bool(np.all(np.abs(stats.share_z) <= sigmas)),
                        f"steps {worst * steps // blocks + 1}-{(worst + 1) * steps // blocks}: epsilon_greedy took a greedy "
                        f"arm {stats.shares[worst]:.3f} of the time, ε-greedy {stats.expected[worst]:.3f} "
                        f"({stats.share_z[worst]:+.1f} standard errors; at most {sigmas:g} allowed)",
                        expected=f"{stats.expected[worst]:.3f}", got=f"{stats.shares[worst]:.3f}",
                        hint=_exploration_hint(stats.shares[worst], eps, arms, max(1, runs * steps // blocks)))
            ranked, block, z = stats.worst_uniformity()
            ctx.require(z <= sigmas,
                        f"steps {block * steps // blocks + 1}-{(block + 1) * steps // blocks}: the arms explored are not "
                        f"drawn uniformly from the non-greedy arms (by their {ranked}: {z:.1f} standard errors from "
                        f"uniform; at most {sigmas:g} allowed)",
                        hint="when exploring, draw uniformly among all k arms (rng.integers(len(estimates)))")
            if got >= ref - margin:
                break
        ctx.leaderboard("mean reward", got)
        ctx.require(got >= ref - margin,
                    f"mean reward {got:.3f} is below the threshold {ref - margin:.3f} "
                    f"(reference {ref:.3f} on the same bandit problems, minus a margin of {margin:g})"
                    + (" (also on fresh problems)" if attempt else ""))
