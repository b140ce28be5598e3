"""Child-side probes of the bandits assignment: the holes kit's generic calls (the student's
``epsilon_greedy`` and ``update_estimate`` as pure functions, many calls per round trip). The
parent keeps the agents' estimates and counts and decides every check (``calls.py``)."""

from holes_child import hole, hole_map, hole_rngs, hole_vjp  # noqa: F401 - probes
