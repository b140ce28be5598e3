"""The successor tree the parent sends with each training-env answer, so the child answers the
next few ``env.step`` calls itself and round-trips once per several steps, not once per step.

CartPole is deterministic given its state and the action, and its dynamics are public. From the
real env's state after a served step, :class:`SuccessorTree` computes, per sub-environment,
what ``step`` returns after every action sequence of length 1 to ``depth``: ``2 + 4 + … +
2**depth`` nodes. The node reached by the actions ``a1 … ad`` (each 0 or 1) sits at index
``2**d - 2 + code`` where ``code`` is ``a1 … ad`` read as a binary number (``a1`` the most
significant bit), so from the node at ``(d, code)`` action ``a`` leads to ``(d + 1, 2 * code + a)``.
The child's :class:`~grader.kits.cartpole.child.ProxyVectorEnv` walks this index.

What the tree never holds: a reset. The step after an episode ends is an autoreset whose
starting state the parent draws from its own generator, for all the sub-environments that reset
on that step together (one draw: which sub-environments reset at once changes every one of
them), so it cannot be tabulated per sub-environment. A node that ends an episode is therefore
a leaf: its children are not valid, and the child comes back to the parent for that step. The
parent stays authoritative: it replays the actions the child reports on its own gymnasium env
(counting episodes, enforcing the budget, recording the curve from that replay) and checks that
the replay matches the tree it sent (:meth:`SuccessorTree.node`).

Every node is what gymnasium's ``CartPoleVectorEnv.step`` computes, bit for bit: the tree is
built level by level with that arithmetic written out (:func:`_advance`, element-wise, so a node
does not depend on the width of the level it is computed in), which the first tree of each process
checks against gymnasium's own ``step`` on a batch of states (:func:`written_out_matches`); should
a gymnasium release change its arithmetic, the tree is computed with gymnasium's ``step`` itself,
~2 × slower. ``tests/test_cartpole_lookahead.py`` checks both ways against a plain gymnasium vector
env across autoresets, and the parent compares every replayed step with the tree it sent.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


def node_index(depth: int, code: np.ndarray) -> np.ndarray:
    """Index in the tree's node axis of the nodes reached by ``depth`` actions whose bits are ``code``."""
    return (1 << depth) - 2 + code


def tree_nodes(depth: int) -> int:
    """Nodes per sub-environment of a tree of this depth: 2 + 4 + … + 2**depth."""
    return (1 << (depth + 1)) - 2


def _physics() -> Any:
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    return CartPoleVectorEnv(num_envs=1)


def _advance(p: Any, state: np.ndarray, steps: np.ndarray, force: np.ndarray) -> tuple[np.ndarray, ...]:
    """One step of ``CartPoleVectorEnv.step`` (Euler integrator, no autoreset), the same operations in
    the same order on the constants of ``p`` (a CartPoleVectorEnv): ``(state, steps, obs, reward,
    terminated, truncated)``. ``force`` is ``sign(action - 0.5) * force_mag``, i.e. ±force_mag."""
    x, x_dot, theta, theta_dot = state
    costheta = np.cos(theta)
    sintheta = np.sin(theta)
    temp = (force + p.polemass_length * np.square(theta_dot) * sintheta) / p.total_mass
    thetaacc = (p.gravity * sintheta - costheta * temp) / (
        p.length * (4.0 / 3.0 - p.masspole * np.square(costheta) / p.total_mass))
    xacc = temp - p.polemass_length * thetaacc * costheta / p.total_mass
    x = x + p.tau * x_dot
    x_dot = x_dot + p.tau * xacc
    theta = theta + p.tau * theta_dot
    theta_dot = theta_dot + p.tau * thetaacc
    state = np.stack((x, x_dot, theta, theta_dot))
    terminated = ((x < -p.x_threshold) | (x > p.x_threshold) | (theta < -p.theta_threshold_radians)
                  | (theta > p.theta_threshold_radians))
    steps = steps + 1
    return (state, steps, state.T.astype(np.float32), np.ones(len(x), dtype=np.float32), terminated,
            steps >= p.max_episode_steps)


@functools.cache
def written_out_matches() -> bool:
    """Whether :func:`_advance` returns exactly what gymnasium's own ``step`` does, on states on both
    sides of every threshold, both actions, and the step counts around truncation (once a process)."""
    from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

    rng = np.random.default_rng(0)
    n = 512
    state = rng.uniform(-1, 1, size=(4, n)) * np.array([[3.0], [3.0], [0.3], [4.0]])
    steps = rng.integers(490, 500, size=n).astype(np.int32)
    actions = np.tile(np.array([0, 1], dtype=np.int64), n // 2)
    env = CartPoleVectorEnv(num_envs=n)
    if not (env.kinematics_integrator == "euler" and not env._sutton_barto_reward):
        return False
    env.state, env.steps, env.prev_done = state.copy(), steps.copy(), np.zeros(n, dtype=bool)
    want = env.step(actions)[:4] + (env.state, env.steps)
    got = _advance(env, state, steps, np.sign(actions - 0.5) * env.force_mag)
    got = got[2:] + got[:2]
    return all(np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b) for a, b in zip(want, got))


class SuccessorTree:
    """Builds the tree of ``depth`` levels for ``num_envs`` sub-environments (``depth >= 1``).

    Level d is ``num_envs * 2**d`` wide: the states of level d - 1, each repeated once per action.
    ``written_out=False`` steps each level with gymnasium's own ``CartPoleVectorEnv.step`` (what
    happens anyway when :func:`written_out_matches` is false).
    """

    def __init__(self, num_envs: int, depth: int, written_out: bool = True) -> None:
        from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

        if depth < 1:
            raise ValueError("a successor tree has at least one level")
        self.num_envs, self.depth = int(num_envs), int(depth)
        self.written_out = written_out and written_out_matches()
        self._physics = _physics()
        # At level d, column (i, code) takes action code & 1 from its parent column (i, code >> 1).
        self._actions = [np.tile(np.array([0, 1], dtype=np.int64), self.num_envs << (d - 1))
                         for d in range(1, self.depth + 1)]
        self._forces = [np.sign(a - 0.5) * self._physics.force_mag for a in self._actions]
        self._levels = [] if self.written_out else \
            [CartPoleVectorEnv(num_envs=self.num_envs << d) for d in range(1, self.depth + 1)]
        # Of the last tree grown, kept here (never sent): each node's float64 state [N, nodes, 4] and
        # step count [N, nodes], from which :meth:`enter` replays the steps a child took.
        self.states = np.zeros((self.num_envs, 0, 4))
        self.steps = np.zeros((self.num_envs, 0), dtype=np.int32)

    def grow(self, env: Any) -> dict[str, np.ndarray]:
        """The tree below the state of ``env`` (gymnasium's CartPoleVectorEnv, unwrapped).

        ``obs`` float32 ``[N, nodes, 4]``, ``reward`` float64 and ``terminated`` /
        ``truncated`` bool ``[N, nodes]``: what ``env.step`` would return for each sub-env
        after each action sequence (nodes below an episode's end hold values no step can
        return: the child never reads them). Levels no path can reach are left out: once
        every node of some sub-env's level ends an episode (or lies below an end), the step
        after that level goes to the parent whatever the actions, so the tree stops there
        (``tree_nodes(d)`` nodes for d levels, 0 < d <= depth).
        """
        n = self.num_envs
        state, steps = np.asarray(env.state, dtype=np.float64), np.asarray(env.steps)
        blocked = np.zeros((n, 1), dtype=bool)      # per sub-env and node of the level: an episode ended on the way
        levels: list[tuple[np.ndarray, ...]] = []
        inner: list[tuple[np.ndarray, np.ndarray]] = []
        for d in range(1, self.depth + 1):
            width = 1 << d
            state, steps = np.repeat(state, 2, axis=1), np.repeat(steps, 2)
            if self.written_out:
                state, steps, o, r, te, tr = _advance(self._physics, state, steps, self._forces[d - 1])
            else:
                level = self._levels[d - 1]
                level.state, level.steps, level.prev_done = state, steps, np.zeros(n * width, dtype=bool)
                o, r, te, tr, _ = level.step(self._actions[d - 1])
                state, steps = level.state, level.steps
            te, tr = te.reshape(n, width), tr.reshape(n, width)
            levels.append((o.reshape(n, width, 4), r.reshape(n, width), te, tr))
            inner.append((state.T.reshape(n, width, 4), np.asarray(steps).reshape(n, width)))
            blocked = np.repeat(blocked, 2, axis=1) | te | tr
            if blocked.all(axis=1).any():
                break
        self.states = np.concatenate([level[0] for level in inner], axis=1)
        self.steps = np.concatenate([level[1] for level in inner], axis=1)
        return {key: np.concatenate([level[i] for level in levels], axis=1, dtype=dtype)
                for i, (key, dtype) in enumerate((("obs", np.float32), ("reward", np.float64),
                                                  ("terminated", bool), ("truncated", bool)))}

    def enter(self, env: Any, depth: int, code: np.ndarray, done: np.ndarray) -> None:
        """Put ``env`` (the one the last tree grew from, unwrapped) in the state of the nodes ``(depth,
        code)`` of that tree, as if their actions had been stepped: what ``step`` leaves behind (the
        float64 state, the step counts, which sub-envs reset on the next step). Replaying a step this
        way costs an index, where gymnasium's ``step`` costs ~0.1 ms."""
        rows, at = np.arange(len(code)), node_index(depth, code)
        env.state = np.ascontiguousarray(self.states[rows, at].T)
        env.steps = self.steps[rows, at].copy()
        env.prev_done = np.asarray(done, dtype=bool).copy()

    @staticmethod
    def depth_of(tree: dict[str, np.ndarray]) -> int:
        """Levels in ``tree`` (its node axis holds ``tree_nodes(depth)`` nodes)."""
        return int(tree["obs"].shape[1] + 2).bit_length() - 2

    @staticmethod
    def node(tree: dict[str, np.ndarray], depth: int, code: np.ndarray) -> tuple[np.ndarray, ...]:
        """``(obs, reward, terminated, truncated)`` of every sub-env at its node ``(depth, code)``."""
        rows, at = np.arange(len(code)), node_index(depth, code)
        return (tree["obs"][rows, at], tree["reward"][rows, at], tree["terminated"][rows, at],
                tree["truncated"][rows, at])
