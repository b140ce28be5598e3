"""CartPole-v1 for the RL assignments (``reinforce``, ``reinforce_baseline``), all on the parent's side.

The ``training`` threshold runs the course's own pipeline (the template's network, episode
collector, loop and optimizer, :func:`grader.kits.holes.parent.load_pipeline`) in the trusted
parent, on a gymnasium vector env the parent makes, with the student's holes called in the
submission's sandboxed child (:mod:`grader.kits.holes`), and evaluates the course's network on
hidden seeds: :mod:`.parent`. The hole calls the suites share (``compute_returns`` and the losses,
checked on what came back) are in :mod:`.holes`. Nothing runs in a child but the holes, so the kit
has no child modules.
"""
