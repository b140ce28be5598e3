"""Running untrusted submissions: child processes, limits, isolation."""

from grader.sandbox import reaper
from grader.sandbox.isolation import Isolation, NamespaceIsolation, NoIsolation, select_isolation
from grader.sandbox.limits import Limits
from grader.sandbox.process import CallbackAbort, Child, ChildFailure, ChildSpec, SubmissionError, describe_exit

__all__ = [
    "CallbackAbort", "Child", "ChildFailure", "ChildSpec", "Isolation", "Limits", "NamespaceIsolation", "NoIsolation",
    "SubmissionError", "describe_exit", "reaper", "select_isolation",
]
