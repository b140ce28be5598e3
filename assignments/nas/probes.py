"""Child-side probes of the NAS assignment: the holes kit's generic calls (the student's four
functions as pure functions: forward, and the vector–Jacobian product where a check or the
course's search needs a gradient). The child holds no expected value, no reward table and no
target; the parent decides every check (``calls.py``) and runs the course's search (``serving.py``)."""

from holes_child import hole, hole_map, hole_rngs, hole_vjp  # noqa: F401 - probes
