"""Neural architecture search: a REINFORCE-with-baseline controller that designs small MNIST networks.

Fill in the four functions marked TODO: the EfficientNet reward, the
log-probability of a whole architecture, the controller's loss with a
baseline, and the baseline's moving average. Everything else (the search
space, the networks it describes, the RNN controller, the search loop, local
training and plots) is given: it is the course's code.

Run ``python nas.py`` to search on your own machine: every architecture the
controller proposes is really trained for a few seconds on the 4,000 bundled
training digits (``assignments/vae/data/mnist-train-4k.npz``) and scored on
1,000 of them held back; ``grader check nas.py`` runs the public checks.

How it is graded: your four functions are called as pure functions (each on
its own, in a sandbox) by the hidden tests, and the search threshold trains
the course's own controller with the course's own loop (this file's
``search`` and ``Controller`` as given, with their default hyperparameters)
calling your ``sequence_log_prob``, ``controller_loss`` and ``update_baseline``.
Its ``query(architecture)`` returns the reward of an architecture measured in
advance by the grader on digits you never see, for a target number of FLOPs it
keeps secret, ``args.budget`` queries at most; the architecture the
controller then prefers (``controller.greedy()``) is scored. Changes outside
the four functions (to ``search``, ``Controller``, the hyperparameters) do not
change your score.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------
# The search space: an architecture is one choice (an index) per decision.
# ---------------------------------------------------------------------------
SPACE: tuple[tuple[str, tuple], ...] = (
    ("resolution", (28, 14, 7)),                  # the input is average-pooled to this size first
    ("channels", (2, 4, 8, 16)),                  # output channels of the convolution
    ("kernel", (1, 3, 5)),                        # its kernel size (then a 2x2 max-pool)
    ("layers", (1, 2)),                           # hidden fully connected layers
    ("width", (16, 32, 64, 128, 256)),            # units per hidden layer
    ("activation", ("relu", "tanh", "sigmoid")),  # after the convolution and every hidden layer
)
CHOICES = [len(options) for _, options in SPACE]   # valid choices per decision
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


# ---------------------------------------------------------------------------
# The four holes.
# ---------------------------------------------------------------------------
def efficientnet_reward(accuracy, flops, target_flops: float, beta: float = 0.07):
    """EfficientNet's search objective ``accuracy * (target_flops / flops) ** beta``.

    ``accuracy`` and ``flops`` are scalars or numpy arrays (broadcast against
    each other); the result is float64 (a numpy float or array). ``flops > 0``.
    """
    # BEGIN SOLUTION: accuracy times (target / flops) to the power beta, computed in float64 (np.asarray(..., dtype=np.float64))
    accuracy = np.asarray(accuracy, dtype=np.float64)
    flops = np.asarray(flops, dtype=np.float64)
    reward = accuracy * (float(target_flops) / flops) ** float(beta)
    return reward if reward.ndim else np.float64(reward)
    # END SOLUTION


def sequence_log_prob(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of whole architectures under the controller: ``[B]``.

    ``logits [B, T, K]`` are the controller's scores for the ``K`` choices of
    each of the ``T`` decisions (choices a decision does not have carry
    ``-inf``), ``tokens [B, T]`` (int64) the choices taken. The result is
    ``sum_t log_softmax(logits)[b, t, tokens[b, t]]``, differentiable with
    respect to ``logits``.
    """
    # BEGIN SOLUTION: log_softmax over the choices (last dim; log(softmax) has NaN gradients at -inf), gather each decision's taken choice, sum over the T decisions
    log_probs = torch.log_softmax(logits, dim=-1)
    taken = log_probs.gather(-1, tokens.long().unsqueeze(-1)).squeeze(-1)
    return taken.sum(dim=-1)
    # END SOLUTION


def controller_loss(log_probs: torch.Tensor, rewards: torch.Tensor, baseline) -> torch.Tensor:
    """REINFORCE with a baseline: the scalar ``-mean((rewards - baseline) * log_probs)``.

    ``log_probs [B]`` (from ``sequence_log_prob``), ``rewards [B]``, ``baseline``
    a float or a 0-d tensor. The advantage ``rewards - baseline`` is a constant:
    no gradient flows into ``rewards`` or ``baseline``.
    """
    # BEGIN SOLUTION: advantage = (rewards - baseline) detached; minus the mean of advantage * log_probs
    advantage = torch.as_tensor(rewards - baseline, dtype=log_probs.dtype, device=log_probs.device).detach()
    return -(advantage * log_probs).mean()
    # END SOLUTION


def update_baseline(baseline: float, rewards, decay: float) -> float:
    """Exponential moving average of the rewards: ``decay * baseline + (1 - decay) * mean(rewards)``.

    ``rewards`` is a sequence, numpy array or tensor of one batch's rewards; return a Python float.
    """
    # BEGIN SOLUTION: mean of this batch as a float (the search passes a tensor: torch.as_tensor(rewards, dtype=torch.float64).mean().item() reads a list, an array or a tensor), then the moving average
    if isinstance(rewards, torch.Tensor):
        mean = float(rewards.detach().double().mean())
    else:
        mean = float(np.mean(np.asarray(rewards, dtype=np.float64)))
    return float(decay) * float(baseline) + (1.0 - float(decay)) * mean
    # END SOLUTION


# ---------------------------------------------------------------------------
# Given: the networks of the search space, their FLOPs, training them.
# ---------------------------------------------------------------------------
def describe(architecture: Sequence[int]) -> str:
    """``resolution=14 channels=8 ...`` for an architecture given as choice indices."""
    return " ".join(f"{name}={options[int(i)]}" for (name, options), i in zip(SPACE, architecture))


def build_model(architecture: Sequence[int]) -> nn.Module:
    """The network an architecture describes: [B, 1, 28, 28] digits → [B, 10] class logits.

    avg-pool to the resolution → conv (channels, kernel, same padding) → activation
    → 2x2 max-pool → ``layers`` fully connected layers of ``width`` units, each with
    the activation → linear layer to the 10 classes.
    """
    values = {name: options[int(i)] for (name, options), i in zip(SPACE, architecture)}
    act = ACTIVATIONS[values["activation"]]
    size = values["resolution"]
    layers: list[nn.Module] = []
    if size < 28:
        layers.append(nn.AvgPool2d(28 // size))
    k, c = values["kernel"], values["channels"]
    layers += [nn.Conv2d(1, c, k, padding=k // 2), act(), nn.MaxPool2d(2), nn.Flatten()]
    features = (size // 2) ** 2 * c
    for _ in range(values["layers"]):
        layers += [nn.Linear(features, values["width"]), act()]
        features = values["width"]
    layers.append(nn.Linear(features, 10))
    return nn.Sequential(*layers)


def count_flops(model: nn.Module) -> int:
    """FLOPs of one forward pass on one digit, counted by torch's own counter (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 28, 28))
    return int(counter.get_total_flops())


def prepare_digits(images: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, 28, 28]`` → standardised float32 ``[N, 1, 28, 28]``."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32).unsqueeze(1) / 255.0
    return (x - MNIST_MEAN) / MNIST_STD


def train_and_evaluate(architecture: Sequence[int], train_x: torch.Tensor, train_y: torch.Tensor,
                       eval_x: torch.Tensor, eval_y: torch.Tensor, seed: int = 0, epochs: int = 3,
                       batch_size: int = 100, lr: float = 3e-3) -> float:
    """Train the architecture's network (Adam, a short fixed schedule) and return its accuracy on ``eval_x``.

    This is exactly how the grader measured its table (on digits you never see).
    """
    torch.manual_seed(int(seed))
    model = build_model(architecture)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    for _ in range(epochs):
        for batch in torch.randperm(len(train_x), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(part).argmax(dim=1) for part in eval_x.split(1000)])
    return float((predictions == eval_y).double().mean())


def nas_reward(accuracy, flops, target_flops: float, beta: float = 0.07):
    """The reward the search maximises (the grader serves the same one).

    MnasNet's form of the EfficientNet objective: a network above the target
    pays ``(target / flops) ** beta`` (doubling its FLOPs must buy 5 % accuracy);
    one at or below the target gets its accuracy, no bonus for being smaller.
    """
    accuracy = np.asarray(accuracy, dtype=np.float64)
    over = np.asarray(flops) > target_flops
    return np.where(over, efficientnet_reward(accuracy, flops, target_flops, beta), accuracy)


# ---------------------------------------------------------------------------
# Given: the controller (NASNet's RNN) and the search loop.
# ---------------------------------------------------------------------------
class Controller(nn.Module):
    """An RNN that emits an architecture one decision at a time (Zoph & Le; NASNet).

    At step ``t`` a GRU cell reads the embedding of the previous decision's
    choice and its state; head ``t`` turns the state into scores for decision
    ``t``'s choices. Choices a decision does not have get ``-inf`` scores, so
    they are never sampled.
    """

    def __init__(self, choices: Sequence[int], hidden: int = 32) -> None:
        super().__init__()
        self.choices = [int(c) for c in choices]
        self.max_choices = max(self.choices)
        self.start = nn.Parameter(torch.zeros(hidden))            # the input of the first step
        self.embed = nn.Embedding(sum(self.choices), hidden)       # one row per (decision, choice)
        self.cell = nn.GRUCell(hidden, hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, self.max_choices) for _ in self.choices)
        offsets = np.concatenate([[0], np.cumsum(self.choices)[:-1]])
        self.register_buffer("offsets", torch.as_tensor(offsets, dtype=torch.int64))
        valid = torch.arange(self.max_choices)[None, :] < torch.as_tensor(self.choices)[:, None]
        self.register_buffer("valid", valid)                       # [T, K]

    def _scores(self, t: int, state: torch.Tensor) -> torch.Tensor:
        return self.heads[t](state).masked_fill(~self.valid[t], float("-inf"))

    def _step_input(self, t: int, previous: torch.Tensor | None, batch: int) -> torch.Tensor:
        if previous is None:
            return self.start.expand(batch, -1)
        return self.embed(previous + self.offsets[t - 1])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, T, K]`` of every decision, reading the given choices (teacher forcing)."""
        batch = tokens.shape[0]
        state = torch.zeros(batch, self.start.shape[0], device=tokens.device)
        scores = []
        for t in range(len(self.choices)):
            state = self.cell(self._step_input(t, tokens[:, t - 1] if t else None, batch), state)
            scores.append(self._scores(t, state))
        return torch.stack(scores, dim=1)

    @torch.no_grad()
    def sample(self, batch: int, generator: torch.Generator | None = None, greedy: bool = False) -> torch.Tensor:
        """``batch`` architectures ``[B, T]`` drawn from the policy (or its most likely choice at each step)."""
        device = self.start.device
        state = torch.zeros(batch, self.start.shape[0], device=device)
        tokens: list[torch.Tensor] = []
        for t in range(len(self.choices)):
            state = self.cell(self._step_input(t, tokens[-1] if tokens else None, batch), state)
            scores = self._scores(t, state)
            if greedy:
                tokens.append(scores.argmax(dim=-1))
            else:
                tokens.append(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(1))
        return torch.stack(tokens, dim=1)

    def greedy(self) -> list[int]:
        """The architecture the controller prefers: the most likely choice at every step."""
        return [int(c) for c in self.sample(1, greedy=True)[0].tolist()]


Query = Callable[[Sequence[int]], float]


def build_parser() -> argparse.ArgumentParser:
    """Hyperparameters. The grader's search uses the course's defaults (these, as given), sets ``seed``,
    ``device``, ``budget`` and ``choices``, and lifts ``max_seconds`` (no clock stops its search)."""
    p = argparse.ArgumentParser(description="REINFORCE-with-baseline architecture search on MNIST digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--budget", type=int, default=162, help="architectures queried at most (the grader sets its own)")
    p.add_argument("--batch", type=int, default=16, help="architectures sampled per controller update")
    p.add_argument("--lr", type=float, default=0.02, help="the controller's Adam learning rate")
    p.add_argument("--hidden", type=int, default=32, help="the controller's GRU size")
    p.add_argument("--baseline-decay", type=float, default=0.8, help="decay of the reward's moving average")
    p.add_argument("--entropy", type=float, default=0.01,
                   help="weight of an entropy bonus while queries are left (keeps the controller exploring)")
    p.add_argument("--no-baseline", action="store_true", help="plain REINFORCE (baseline 0), for comparison")
    p.add_argument("--max-updates", type=int, default=400, help="controller updates at most")
    p.add_argument("--patience", type=int, default=150,
                   help="stop after this many updates in a row that sampled no new architecture (converged)")
    p.add_argument("--max-seconds", type=float, default=20.0, help="stop searching after this long")
    p.add_argument("--target-flops", type=float, default=30_000.0, help="local runs only: the FLOPs target")
    p.add_argument("--data", type=Path, help="local runs only: .npz with 'images' and 'labels'")
    p.add_argument("--plot", type=Path, help="local runs only: save the search's curves to this PNG")
    p.add_argument("--verbose", action="store_true")
    return p


def search(query: Query, args: argparse.Namespace) -> Controller:
    """Train the controller with REINFORCE and a moving-average baseline; ask ``query`` for rewards.

    ``query(architecture)`` (a list of choice indices, one per decision) returns
    its reward; every call counts against ``args.budget``, so rewards are
    remembered and an architecture sampled again costs nothing. Once the budget
    is spent, the controller goes on learning from the architectures it knows
    (samples it cannot ask about are left out of the batch). The search stops
    when ``args.patience`` updates in a row met no new architecture (the
    budget is spent, or the controller has settled), after ``args.max_updates``
    updates, or after ``args.max_seconds``.
    """
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    choices = list(getattr(args, "choices", CHOICES))
    controller = Controller(choices, args.hidden).to(device)
    optimizer = torch.optim.Adam(controller.parameters(), lr=args.lr)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    known: dict[tuple[int, ...], float] = {}
    baseline = None
    stale = 0                           # updates in a row without a new architecture
    start = time.monotonic()
    for update in range(args.max_updates):
        if time.monotonic() - start > args.max_seconds or stale >= args.patience:
            break
        tokens = controller.sample(args.batch, generator)
        architectures = [tuple(int(c) for c in row) for row in tokens.tolist()]
        asked = len(known)
        for architecture in dict.fromkeys(architectures):
            if architecture not in known and len(known) < args.budget:
                known[architecture] = float(query(list(architecture)))
        stale = stale + 1 if len(known) == asked else 0
        # Once the budget is spent, keep learning from the architectures already known.
        keep = [i for i, a in enumerate(architectures) if a in known]
        if not keep:
            continue
        tokens, architectures = tokens[keep], [architectures[i] for i in keep]
        rewards = torch.tensor([known[a] for a in architectures], dtype=torch.float32, device=device)
        if args.no_baseline:
            baseline = 0.0
        elif baseline is None:          # start the moving average at the first batch's mean
            baseline = float(rewards.mean())

        logits = controller(tokens)
        log_probs = sequence_log_prob(logits, tokens)
        loss = controller_loss(log_probs, rewards, baseline)
        if args.entropy and len(known) < args.budget:      # explore while queries are left
            p = torch.softmax(logits, dim=-1)
            entropy = -(p * torch.log_softmax(logits, dim=-1).masked_fill(p == 0, 0.0)).sum(dim=(1, 2)).mean()
            loss = loss - args.entropy * entropy
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if not args.no_baseline:
            baseline = update_baseline(baseline, rewards, args.baseline_decay)
        if getattr(args, "verbose", False) and (not stale or update % 20 == 0):
            print(f"update {update + 1:4d}  queries {len(known):4d}  mean reward {float(rewards.mean()):.4f}  "
                  f"baseline {float(baseline):.4f}  greedy {describe(controller.greedy())}")
    return controller


# ---------------------------------------------------------------------------
# Given: searching on your own machine (real training of every queried network).
# ---------------------------------------------------------------------------
BUNDLED_DATA = "mnist-train-4k.npz"   # the 4,000 training digits shipped with the VAE assignment


def find_bundled_data() -> Path | None:
    here = Path(globals().get("__file__", "nas.py")).resolve().parent
    for folder in (here, here.parent / "assignments" / "vae" / "data", Path.cwd(), Path.cwd() / "assignments" / "vae" / "data"):
        if (folder / BUNDLED_DATA).is_file():
            return folder / BUNDLED_DATA
    return None


class LocalQuery:
    """Trains every queried architecture on 3,000 digits, scores it on 1,000 others; remembers each query."""

    def __init__(self, path: Path, target_flops: float, budget: int) -> None:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"].astype(np.int64)
        order = np.random.default_rng(0).permutation(len(images))
        fit, held = order[:-1000], order[-1000:]
        self.train_x, self.train_y = prepare_digits(images[fit]), torch.as_tensor(labels[fit])
        self.eval_x, self.eval_y = prepare_digits(images[held]), torch.as_tensor(labels[held])
        self.target_flops, self.budget = target_flops, budget
        self.history: list[tuple[tuple[int, ...], float, int, float]] = []   # architecture, accuracy, FLOPs, reward

    def __call__(self, architecture: Sequence[int]) -> float:
        if len(self.history) >= self.budget:
            raise RuntimeError(f"the query budget of {self.budget} is spent")
        t0 = time.monotonic()
        accuracy = train_and_evaluate(architecture, self.train_x, self.train_y, self.eval_x, self.eval_y)
        flops = count_flops(build_model(architecture))
        reward = float(nas_reward(accuracy, flops, self.target_flops))
        self.history.append((tuple(architecture), accuracy, flops, reward))
        print(f"query {len(self.history):3d}: {describe(architecture):70s} accuracy {accuracy:.3f}  "
              f"{flops:>9,} FLOPs  reward {reward:.4f}  ({time.monotonic() - t0:.1f} s)")
        return reward


def plot_search(history: Sequence[tuple], path: Path) -> None:
    """Reward of every query and the best so far."""
    from matplotlib.figure import Figure

    rewards = np.array([h[3] for h in history])
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.plot(np.arange(1, len(rewards) + 1), rewards, ".", label="reward of each query")
    ax.plot(np.arange(1, len(rewards) + 1), np.maximum.accumulate(rewards), label="best so far")
    ax.set_xlabel("query")
    ax.set_ylabel("reward")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    args = build_parser().parse_args()
    data = args.data or find_bundled_data()
    if data is None:
        print(f"pass --data FILE.npz (arrays 'images' and 'labels') to search; {BUNDLED_DATA} was not found")
        return
    torch.set_num_threads(1)
    args.choices, args.verbose = CHOICES, True
    query = LocalQuery(data, args.target_flops, args.budget)
    controller = search(query, args)
    best = controller.greedy()
    print(f"the controller prefers {describe(best)}")
    if args.plot and query.history:
        plot_search(query.history, args.plot)
        print(f"curves saved to {args.plot}")


if __name__ == "__main__":
    main()
