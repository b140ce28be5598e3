"""Child-side probes of the REINFORCE-with-baseline assignment: the holes kit's generic calls (the
student's ``baseline_losses`` and ``compute_returns`` as pure functions; each loss's gradients in the
same round trip). The parent decides every check and runs the course's training loop itself
(``grader.kits.cartpole``): nothing else of the submission is called."""

from holes_child import hole, hole_many, hole_map, hole_rngs, hole_vjp  # noqa: F401 - probes
