"""The kits that come with the grader: code shared by assignments, one subpackage each.

An assignment declares the kits it uses as data (``kits = ["holes"]`` in ``assignment.toml``);
:mod:`grader.core.kits` finds them here or under the entry-point group ``grader.kits``.
Each kit's ``__init__`` says what the sandboxed child needs (``CHILD_MODULES``).

Suites import the parent side like any module (``grader.kits.holes.parent``). The child
side is copied next to ``probes.py`` in every child of an assignment that declares the
kit, and a release bundle carries it because it carries the grader package: one rule for
both, so an assignment never reaches into a sibling's folder.

Kits are built on the core (``grader.core.suite``) and never the reverse: this package holds
no code of its own.
"""
