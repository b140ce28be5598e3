"""The student's holes as pure functions across the sandbox: the one way every group calls them.

A threshold trains the course's own pipeline (the template's given code, loaded in the
trusted parent by :func:`.parent.load_pipeline`), and each hole that pipeline calls is a
proxy (:meth:`.parent.Holes.function`): its inputs go to the submission's sandboxed child
as data, the child calls the student's function, and its outputs come back as arrays whose
dtype and shape are read from the frame. Where the pipeline needs a gradient through a hole,
the backward pass is a vector–Jacobian product computed in the child on the same graph
(``hole_vjp``). The hidden unit tests use the same calls (:meth:`.parent.Holes.call`), so
every check is decided in the parent on raw values: outputs, the inputs as they were after
the call, gradients.

The child side is imported as ``holes_child`` (every assignment declares ``kits = ["holes"]``);
its probes are re-exported by each assignment's ``probes.py``.
"""

CHILD_MODULES = {"holes_child": "child.py"}
