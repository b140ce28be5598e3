"""A reinforce.py whose compute_returns computes float32 returns and hands them back as an ndarray
subclass whose ``dtype`` property says float64 (issue 21: on main 0c73fbe it got 3/3, the probe read
``str(result.dtype)`` from the student's object). The parent reads the dtype from the frame: the
real float32. reinforce_loss is honest."""
import numpy as np

# HOLES


class Float64Liar(np.ndarray):
    @property
    def dtype(self):
        return np.dtype("float64")

    def astype(self, dtype, *args, **kwargs):
        return self


def compute_returns(rewards, gamma):
    rewards = np.asarray(rewards, dtype=np.float32)
    out, running = np.empty(len(rewards), dtype=np.float32), np.float32(0.0)
    for t in range(len(rewards) - 1, -1, -1):
        running = np.float32(rewards[t] + np.float32(gamma) * running)
        out[t] = running
    return out.view(Float64Liar)
