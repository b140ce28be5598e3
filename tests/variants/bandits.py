"""Plausible implementations of the bandit holes: wrong ones that must lose points,
and correct alternatives that must keep full marks.

Each entry is the source of a replacement function; the test appends it to the
reference solution, so the later definition wins (the agent looks names up at
call time).
"""

WRONG = {
    "epsilon_greedy": {
        "explores only among the non-greedy arms": '''
def epsilon_greedy(estimates, epsilon, rng):
    greedy = int(np.argmax(estimates))
    if rng.random() < epsilon:
        others = [a for a in range(len(estimates)) if a != greedy]
        return int(rng.choice(others))
    return greedy
''',
        "ε inverted (explores with probability 1 − ε)": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() > epsilon:
        return int(rng.integers(len(estimates)))
    return int(np.argmax(estimates))
''',
        "ties broken toward the highest index": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(estimates)))
    return int(len(estimates) - 1 - np.argmax(estimates[::-1]))
''',
        "uses numpy's global random state instead of rng": '''
def epsilon_greedy(estimates, epsilon, rng):
    if np.random.random() < epsilon:
        return int(np.random.randint(len(estimates)))
    return int(np.argmax(estimates))
''',
        "never explores the last arm (off-by-one)": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(estimates) - 1))
    return int(np.argmax(estimates))
''',
        "ignores ε (always explores 10%)": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < 0.1:
        return int(rng.integers(len(estimates)))
    return int(np.argmax(estimates))
''',
        "greedy means argmin": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(estimates)))
    return int(np.argmin(estimates))
''',
        "returns a float": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return float(rng.integers(len(estimates)))
    return float(np.argmax(estimates))
''',
        "sorts the estimates in place": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(estimates)))
    greedy = int(np.argmax(estimates))
    estimates.sort()
    return greedy
''',
    },
    "update_estimate": {
        "step 1/(n+1) instead of 1/n": '''
def update_estimate(estimate, count, reward, alpha):
    step = 1.0 / (count + 1) if alpha == 0 else alpha
    return float(estimate + step * (reward - estimate))
''',
        "α ignored (always the sample average)": '''
def update_estimate(estimate, count, reward, alpha):
    return float(estimate + (reward - estimate) / count)
''',
        "sign flipped (Q − step (R − Q))": '''
def update_estimate(estimate, count, reward, alpha):
    step = 1.0 / count if alpha == 0 else alpha
    return float(estimate - step * (reward - estimate))
''',
        "step 1/(n−1) (count taken as excluding this pull)": '''
def update_estimate(estimate, count, reward, alpha):
    step = 1.0 / max(count - 1, 1) if alpha == 0 else alpha
    return float(estimate + step * (reward - estimate))
''',
        "averages estimate and reward": '''
def update_estimate(estimate, count, reward, alpha):
    return float((estimate + reward) / 2)
''',
        "α used as 1 − α": '''
def update_estimate(estimate, count, reward, alpha):
    step = 1.0 / count if alpha == 0 else 1 - alpha
    return float(estimate + step * (reward - estimate))
''',
        "integer division": '''
def update_estimate(estimate, count, reward, alpha):
    step = 1 // count if alpha == 0 else alpha
    return float(estimate + step * (reward - estimate))
''',
    },
}

CORRECT = {
    "epsilon_greedy": {
        "rng.choice and np.flatnonzero": '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.uniform() < epsilon:
        return int(rng.choice(len(estimates)))
    return int(np.flatnonzero(estimates == np.max(estimates))[0])
''',
        "returns numpy integers": '''
def epsilon_greedy(estimates, epsilon, rng):
    explore = rng.random() < epsilon
    return rng.integers(len(estimates)) if explore else np.argmax(estimates)
''',
    },
    "update_estimate": {
        "weighted-average form": '''
def update_estimate(estimate, count, reward, alpha):
    step = alpha if alpha > 0 else 1.0 / count
    return (1.0 - step) * estimate + step * reward
''',
        "running sum form": '''
def update_estimate(estimate, count, reward, alpha):
    if alpha:
        return estimate + alpha * (reward - estimate)
    total = estimate * (count - 1) + reward
    return total / count
''',
    },
}
