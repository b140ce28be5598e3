"""Child-side probes of the REINFORCE assignment: the holes kit's generic calls (the student's
``compute_returns`` and ``reinforce_loss`` as pure functions; a loss's gradients in the same round
trip). The parent decides every check and runs the course's training loop itself
(``grader.kits.cartpole``): nothing else of the submission is called."""

from holes_child import hole, hole_many, hole_map, hole_rngs, hole_vjp  # noqa: F401 - probes
