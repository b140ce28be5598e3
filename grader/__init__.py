"""Autograder for deep reinforcement learning and generative-model assignments."""

__version__ = "0.1.0"
