"""Child-side probes of the VAE assignment: the holes kit's generic calls (the student's
``reparametrize`` and ``kl_divergence`` as pure functions: forward, and the gradients with respect to
their inputs as a vector–Jacobian product). The parent draws the reference noise, trains the course's
VAE and decides every check (``calls.py``)."""

from holes_child import hole, hole_map, hole_rngs, hole_vjp  # noqa: F401 - probes
