"""The core: what an assignment is, how a suite is written, how one submission is graded.

* :mod:`grader.core.course` — where the course lives (its assignments, solutions, templates),
  found by :mod:`grader.core.locate`;
* :mod:`grader.core.assignment` — ``assignment.toml`` read into data (no assignment is special here);
* :mod:`grader.core.kits` — the registry of kits an assignment declares (the kits themselves,
  built on the core, live in :mod:`grader.kits`);
* :mod:`grader.core.suite` — the ``@group`` API a suite is written against, run in the trusted parent;
* :mod:`grader.core.grading` — one submission, each group in its own sandboxed child, scored here;
* :mod:`grader.core.results` — the results model every renderer reads.

It depends on the sandbox and the formats; nothing here knows a kit, a workflow or the command line.
"""
