"""The ``grader`` command: argument parsing and dispatch to the workflows (:mod:`grader.cli.main`)."""
