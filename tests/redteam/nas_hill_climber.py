"""The NAS hand-in of issue 21: no controller at all; ``search`` is a hill climber with a least-squares
surrogate (one-hot features of the choices, refitted after every query; each step asks the neighbour
the surrogate rates best) that answers the best architecture it was told. Graded with the old design
it scored 4/4. Its holes are the test's (the "# HONEST" line: honest holes, or holes that are not
implemented): the grader never calls this ``search``, it trains the course's controller with the holes,
so the hand-in scores what its holes earn (tests/test_nas_redteam.py)."""
import numpy as np

# HONEST


class Answer:
    def __init__(self, architecture):
        self.architecture = list(architecture)

    def greedy(self):
        return self.architecture


def _features(architectures, choices):
    rows = []
    for a in architectures:
        row = [1.0]
        for c, x in zip(choices, a):
            row += [1.0 if i == x else 0.0 for i in range(c)]
        rows.append(row)
    return np.array(rows)


def search(query, args):
    print("HILL CLIMBER SEARCH RAN")
    rng = np.random.default_rng(args.seed)
    choices = list(args.choices)
    told = {}
    current = tuple(int(rng.integers(c)) for c in choices)
    told[current] = query(list(current))
    while len(told) < args.budget:
        keys = list(told)
        w, *_ = np.linalg.lstsq(_features(keys, choices), np.array([told[k] for k in keys]), rcond=None)
        neighbours = [current[:t] + (i,) + current[t + 1:] for t, c in enumerate(choices) for i in range(c)]
        fresh = [n for n in neighbours if n not in told]
        if not fresh:
            fresh = [tuple(int(rng.integers(c)) for c in choices)]
            fresh = [f for f in fresh if f not in told] or [current]
            if fresh == [current]:
                break
        scores = _features(fresh, choices) @ w
        pick = fresh[int(np.argmax(scores))]
        told[pick] = query(list(pick))
        current = max(told, key=told.get)
    return Answer(max(told, key=told.get))
