"""Image data sets for the generative-model assignments, loaded without a network (parent side
only: the child is sent the images it may see)."""

CHILD_MODULES: dict[str, str] = {}
