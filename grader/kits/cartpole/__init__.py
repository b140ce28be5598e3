"""CartPole-v1 for the RL assignments: the parent side (evaluation on hidden seeds, the budgeted
training-env server, learning summaries) in :mod:`.parent`; the child side (the proxy env, the
policy probes, gymnasium's own CartPole switched off) in :mod:`.child`, which every child of an
assignment declaring ``kits = ["cartpole"]`` imports as ``cartpole_child``."""

CHILD_MODULES = {"cartpole_child": "child.py"}
