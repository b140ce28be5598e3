"""A trained torch module's weights as data, so that a fresh child can rebuild the module.

Both threshold groups that score a trained network (the VAE's decoder, the RL policies)
score it in a fresh process that never saw training: the training child exports the
module's ``state_dict`` as plain arrays (:func:`.child.export_state`), the parent checks
them (:func:`.parent.check_state`) and sends them on, and the fresh child builds the same
architecture with the student's own ``train`` told not to train, then loads them with
``strict=True`` (:func:`.child.load_state`). Nothing but parameters and buffers survives
training. The child side is imported as ``weights_child``."""

CHILD_MODULES = {"weights_child": "child.py"}
