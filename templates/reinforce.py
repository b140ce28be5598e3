"""REINFORCE on CartPole-v1: discounted returns and the policy-gradient loss.

Fill in the two functions marked TODO. Everything else (the network, the
episode collector, the training loop) is given. Run ``python reinforce.py`` to
train on your own machine and see the learning curve, and
``grader check reinforce.py`` for the public checks.

The grader trains the course's own copy of the given code (this network, this
collector, this loop, with the defaults of ``build_parser()``, on the CPU) on a
vectorized CartPole-v1 it makes, calling your two functions, and scores the
policy that training produces on evaluation episodes it runs itself. The
course's loop and your holes: changes outside the holes do not change your
score (experiment with them freely to learn).
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

Policy = Callable[[np.ndarray], np.ndarray]


def compute_returns(rewards: Sequence[float], gamma: float) -> np.ndarray:
    """Discounted return from every step of one episode.

    ``G_t = rewards[t] + gamma * rewards[t+1] + gamma**2 * rewards[t+2] + ...``,
    as a float64 array of the same length as ``rewards`` (empty in, empty out).
    Do not modify ``rewards``.
    """
    # TODO: walk the episode backwards: G_t = r_t + gamma * G_{t+1}, with G_T = 0
    raise NotImplementedError("compute_returns")


def reinforce_loss(logits: torch.Tensor, actions: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """Scalar loss whose gradient is the REINFORCE estimate of minus the policy gradient.

    ``logits`` [B, A], ``actions`` [B] (int64), ``returns`` [B]:
    ``-mean_b( log pi(actions[b] | s_b) * returns[b] )`` with ``log pi = log_softmax(logits)``.
    ``returns`` is a constant: no gradient may flow into it.
    """
    # TODO: log_softmax, pick the taken action's log-probability, weight by the (detached) return, mean, minus
    raise NotImplementedError("reinforce_loss")


# ---------------------------------------------------------------------------
# Given: network, policy, episode collector, training loop.
# ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Hyperparameters: the grader trains the course's loop with these defaults (it sets ``seed``; CPU)."""
    p = argparse.ArgumentParser(description="REINFORCE on CartPole-v1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--batch-episodes", type=int, default=8, help="finished episodes per update")
    p.add_argument("--max-episodes", type=int, default=5000)
    p.add_argument("--max-seconds", type=float, default=100.0, help="stop training after this long")
    p.add_argument("--stop-return", type=float, default=490.0,
                   help="stop once the mean return of the last --stop-window episodes reaches this")
    p.add_argument("--stop-window", type=int, default=20)
    p.add_argument("--num-envs", type=int, default=16, help="sub-environments (only when run as a script)")
    return p


class PolicyNet(nn.Module):
    """A small MLP from observations to action logits."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(obs)


class GreedyPolicy:
    """What ``train`` returns: float32 observations [N, obs_dim] -> int64 actions [N] (the most likely action)."""

    def __init__(self, net: nn.Module, device: torch.device) -> None:
        self.net = net.eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        logits = self.net(torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device))
        return logits.argmax(dim=-1).cpu().numpy().astype(np.int64)


class EpisodeCollector:
    """Steps a vector env without pause and hands out the episodes that finished.

    Sub-environments run independently: when one finishes an episode the
    others carry on, so no step is wasted waiting for the longest episode.
    With "next-step" autoreset, the step after an episode's last one only
    resets that sub-environment (its action is ignored, its reward is 0), so
    it is not recorded.
    """

    def __init__(self, env: Any, seed: int) -> None:
        self.env = env
        self.n = int(env.num_envs)
        self.obs, _ = env.reset(seed=seed)
        self.resetting = np.zeros(self.n, dtype=bool)
        self.partial: list[tuple[list, list, list]] = [([], [], []) for _ in range(self.n)]
        self.episodes_done = 0

    def collect(self, sample: Callable[[np.ndarray], np.ndarray], n_episodes: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Step until ``n_episodes`` more episodes have finished; return them as (obs, actions, rewards)."""
        finished: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        while len(finished) < n_episodes:
            actions = sample(self.obs)
            next_obs, rewards, terminated, truncated, _ = self.env.step(actions)
            for i in np.flatnonzero(~self.resetting):
                o, a, r = self.partial[i]
                o.append(self.obs[i])
                a.append(actions[i])
                r.append(rewards[i])
            done = np.logical_or(terminated, truncated)
            for i in np.flatnonzero(done):
                o, a, r = self.partial[i]
                finished.append((np.asarray(o, dtype=np.float32), np.asarray(a, dtype=np.int64), np.asarray(r, dtype=np.float64)))
                self.partial[i] = ([], [], [])
            self.resetting = done
            self.obs = next_obs
        self.episodes_done += len(finished)
        return finished


def batch_returns(episodes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], gamma: float) -> np.ndarray:
    """The discounted return of every step of a batch of episodes, episode after episode
    (``compute_returns`` on each episode's rewards), as one float array."""
    return np.concatenate([compute_returns(rewards, gamma) for _, _, rewards in episodes])


def make_sampler(net: nn.Module, device: torch.device, generator: torch.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """Draw actions from the current policy (no gradient; the update recomputes the logits)."""
    @torch.no_grad()
    def sample(obs: np.ndarray) -> np.ndarray:
        probs = torch.softmax(net(torch.as_tensor(obs, device=device)), dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).cpu().numpy()
    return sample


def train(env: Any, args: argparse.Namespace) -> Policy:
    """Train a policy with REINFORCE on ``env`` (a gymnasium vector env) and return it."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # a tiny MLP: threads cost more than they give
    obs_dim = int(np.prod(env.single_observation_space.shape))
    n_actions = int(env.single_action_space.n)
    net = PolicyNet(obs_dim, n_actions, args.hidden).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    sample = make_sampler(net, device, generator)
    collector = EpisodeCollector(env, args.seed)
    recent: list[float] = []
    start = time.monotonic()

    while collector.episodes_done < args.max_episodes and time.monotonic() - start < args.max_seconds:
        episodes = collector.collect(sample, min(args.batch_episodes, args.max_episodes - collector.episodes_done))
        obs = torch.as_tensor(np.concatenate([o for o, _, _ in episodes]), device=device)
        actions = torch.as_tensor(np.concatenate([a for _, a, _ in episodes]), device=device)
        returns = torch.as_tensor(batch_returns(episodes, args.gamma), dtype=torch.float32, device=device)
        loss = reinforce_loss(net(obs), actions, returns)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        recent = (recent + [float(r.sum()) for _, _, r in episodes])[-args.stop_window:]
        if getattr(args, "verbose", False):
            print(f"episodes {collector.episodes_done:5d}  mean return (last {len(recent)}) {np.mean(recent):6.1f}  "
                  f"{time.monotonic() - start:5.1f} s")
        if len(recent) >= args.stop_window and np.mean(recent) >= args.stop_return:
            break
    return GreedyPolicy(net, device)


def evaluate(policy: Policy, episodes: int = 100, seed: int = 12345) -> np.ndarray:
    """Returns of ``episodes`` CartPole-v1 episodes played by ``policy`` (one vector env, one episode each)."""
    import gymnasium as gym

    env = gym.make_vec("CartPole-v1", num_envs=episodes, vectorization_mode="vector_entry_point")
    obs, _ = env.reset(seed=seed)
    totals = np.zeros(episodes)
    running = np.ones(episodes, dtype=bool)
    while running.any():
        obs, rewards, terminated, truncated, _ = env.step(policy(obs))
        totals += rewards * running
        running &= ~(terminated | truncated)
    return totals


def main() -> None:
    import gymnasium as gym

    parser = build_parser()
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    env = gym.make_vec("CartPole-v1", num_envs=args.num_envs, vectorization_mode="vector_entry_point")
    t0 = time.monotonic()
    policy = train(env, args)
    seconds = time.monotonic() - t0
    returns = evaluate(policy, seed=args.seed + 1)
    print(f"trained in {seconds:.1f} s; evaluation over 100 episodes: {returns.mean():.1f} ± {returns.std():.1f}")


if __name__ == "__main__":
    main()
