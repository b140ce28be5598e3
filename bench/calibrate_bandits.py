"""Calibrate the bandits threshold: the reference agent's margin over many hidden seeds.

    python bench/calibrate_bandits.py [--seeds 30]

For each seed, grades solutions/bandits.py (group ``agent`` only) and prints
the student-minus-reference gap that the threshold ``margin`` must absorb,
then the same for a greedy (ε = 0) agent, which must fail.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import numpy as np

from grader.core.assignment import load_assignment
from grader.core.course import solutions_dir
from grader.core.grading import GradeOptions, grade_file
from grader.feedback.text import group_text

GAP = re.compile(r"mean reward (-?[\d.]+) \(reference (-?[\d.]+)\)")


def gaps(path: Path, seeds: int) -> tuple[np.ndarray, int]:
    a = load_assignment("bandits")
    out, passed = [], 0
    for seed in range(seeds):
        result = grade_file(path, a, GradeOptions(seed=seed, only=["agent"]))
        test = result.tests[0]
        got, ref = map(float, GAP.search(group_text(test)).groups())
        out.append(got - ref)
        passed += test.status == "passed"
    return np.array(out), passed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=30)
    args = parser.parse_args()
    margin = load_assignment("bandits").groups["agent"].params["margin"]
    ref, passed = gaps(solutions_dir() / "bandits.py", args.seeds)
    print(f"reference: gap to the parent's reference agent mean {ref.mean():+.4f}, sd {ref.std():.4f}, "
          f"min {ref.min():+.4f}; margin {margin}; passed {passed}/{args.seeds}")
    with tempfile.TemporaryDirectory() as tmp:
        greedy = Path(tmp) / "bandits.py"
        source = (solutions_dir() / "bandits.py").read_text()
        greedy.write_text(source.replace("return epsilon_greedy(self.estimates, self.epsilon, self.rng)",
                                         "return epsilon_greedy(self.estimates, 0.0, self.rng)"))
        g, gpassed = gaps(greedy, min(args.seeds, 10))
        print(f"greedy (ε = 0) agent: gap mean {g.mean():+.4f}, max {g.max():+.4f}; passed {gpassed}/{min(args.seeds, 10)}")


if __name__ == "__main__":
    main()
