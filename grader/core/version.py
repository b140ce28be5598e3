"""The grader's version, written into every result: a batch regrades a hand-in graded by another version.

It lives at the bottom of the house (the core imports nothing above it) so that every wing can
read it; ``from grader import __version__`` would be an arrow back up to the top package, which
imports the workflows (for ``grader.check``) and the command line.
"""

__version__ = "0.1.0"
