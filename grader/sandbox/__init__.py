"""Running untrusted submissions: child processes, limits, isolation."""

from . import reaper
from .isolation import Isolation, NamespaceIsolation, NoIsolation, select_isolation
from .limits import Limits
from .process import CallbackAbort, Child, ChildFailure, ChildSpec, SubmissionError, describe_exit

__all__ = [
    "CallbackAbort", "Child", "ChildFailure", "ChildSpec", "Isolation", "Limits", "NamespaceIsolation", "NoIsolation",
    "SubmissionError", "describe_exit", "reaper", "select_isolation",
]
