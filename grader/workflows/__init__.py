"""What people do with the grader, each built on the core: check a file, verify the course,
release a student bundle, grade a batch (local workers or Dask), run inside Gradescope.
The command line (:mod:`grader.cli`) knows these; they never know it."""
