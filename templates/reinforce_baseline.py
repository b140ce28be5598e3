"""REINFORCE with a learned baseline on CartPole-v1, within a budget of training episodes.

Fill in ``baseline_losses`` and paste your ``compute_returns`` from the
previous assignment (both marked TODO). Everything else (the networks, the
episode collector, the training loop) is given. Run
``python reinforce_baseline.py`` to train on your own machine, and
``grader check reinforce_baseline.py`` for the public checks (they check the
pasted ``compute_returns`` too).

The grader trains the course's own copy of the given code (these networks,
this collector, this loop, with the defaults of ``build_parser()``, on the
CPU) on a vectorized CartPole-v1 it makes, within a budget of
``args.episodes`` training episodes, calling your ``baseline_losses`` and
``compute_returns``, and scores the policy that training produces on
evaluation episodes it runs itself. The course's loop and your holes: changes
outside the holes do not change your score (experiment with them freely).
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
    """Discounted return from every step of one episode: your ``compute_returns`` from the
    ``reinforce`` assignment (no points of its own here, but the course's training loop calls it:
    the ``training`` points need it, and ``grader check`` checks it)."""
    # TODO: paste your compute_returns from the reinforce assignment (G_t = r_t + gamma * G_{t+1})
    raise NotImplementedError("compute_returns")


def baseline_losses(logits: torch.Tensor, values: torch.Tensor, actions: torch.Tensor,
                    returns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(policy_loss, value_loss)`` of REINFORCE with the learned baseline ``values``.

    ``logits`` [B, A], ``values`` [B] (the value network's prediction of the return),
    ``actions`` [B] (int64), ``returns`` [B]:

    * ``policy_loss = -mean_b( log_softmax(logits)[b, actions[b]] * (returns[b] - values[b]) )``
      with the baseline treated as a constant (no gradient from it into the value network);
    * ``value_loss = mean_b( (returns[b] - values[b]) ** 2 )`` (no gradient into the policy).
    """
    # TODO: advantage = returns - values.detach(); policy loss as in REINFORCE with the advantage; value loss = MSE
    raise NotImplementedError("baseline_losses")


# ---------------------------------------------------------------------------
# Given: network, policy, episode collector, training loop.
# ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Hyperparameters: the grader trains the course's loop with these defaults (it sets ``seed`` and the
    ``episodes`` budget; CPU)."""
    p = argparse.ArgumentParser(description="REINFORCE with a baseline on CartPole-v1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--value-lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--value-steps", type=int, default=4,
                   help="extra value-only updates per batch before the joint update (a better-fitted baseline)")
    p.add_argument("--return-scale", type=float, default=0.01,
                   help="returns are multiplied by this before the losses (keeps the value regression well scaled)")
    p.add_argument("--batch-episodes", type=int, default=2, help="finished episodes per update")
    p.add_argument("--episodes", type=int, default=350, help="training episodes (the grader sets its budget)")
    p.add_argument("--max-seconds", type=float, default=100.0, help="stop training after this long")
    p.add_argument("--stop-return", type=float, default=500.0,
                   help="stop once the mean return of the last --stop-window episodes reaches this")
    p.add_argument("--stop-window", type=int, default=50)
    p.add_argument("--final-lr-fraction", type=float, default=0.3,
                   help="learning rates decay linearly over the episode budget down to this fraction")
    p.add_argument("--num-envs", type=int, default=16, help="sub-environments (only when run as a script)")
    return p


class PolicyNet(nn.Module):
    """A small MLP from observations to action logits."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(obs)


class ValueNet(nn.Module):
    """The baseline: a small MLP from observations to the predicted (scaled) return."""

    def __init__(self, obs_dim: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(obs).squeeze(-1)


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
    """Train a policy with REINFORCE and a learned baseline on ``env``, using at most ``args.episodes`` episodes."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # tiny MLPs: threads cost more than they give
    obs_dim = int(np.prod(env.single_observation_space.shape))
    n_actions = int(env.single_action_space.n)
    net = PolicyNet(obs_dim, n_actions, args.hidden).to(device)
    value_net = ValueNet(obs_dim, args.hidden).to(device)
    optimizer = torch.optim.Adam([{"params": net.parameters(), "lr": args.lr},
                                  {"params": value_net.parameters(), "lr": args.value_lr}])
    generator = torch.Generator(device=device).manual_seed(args.seed)
    sample = make_sampler(net, device, generator)
    collector = EpisodeCollector(env, args.seed)
    recent: list[float] = []
    start = time.monotonic()

    while collector.episodes_done < args.episodes and time.monotonic() - start < args.max_seconds:
        episodes = collector.collect(sample, min(args.batch_episodes, args.episodes - collector.episodes_done))
        obs = torch.as_tensor(np.concatenate([o for o, _, _ in episodes]), device=device)
        actions = torch.as_tensor(np.concatenate([a for _, a, _ in episodes]), device=device)
        returns = torch.as_tensor(batch_returns(episodes, args.gamma), dtype=torch.float32,
                                  device=device) * args.return_scale
        # Anneal the step size over the budget: late updates fine-tune instead of undoing a good policy.
        progress = collector.episodes_done / max(1, args.episodes)
        for group, lr in zip(optimizer.param_groups, (args.lr, args.value_lr)):
            group["lr"] = lr * max(args.final_lr_fraction, 1.0 - progress)
        logits = net(obs)
        for _ in range(args.value_steps):
            _, value_loss = baseline_losses(logits.detach(), value_net(obs), actions, returns)
            optimizer.zero_grad()
            value_loss.backward()
            optimizer.step()
        policy_loss, value_loss = baseline_losses(logits, value_net(obs), actions, returns)
        optimizer.zero_grad()
        (policy_loss + value_loss).backward()
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
