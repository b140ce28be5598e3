"""The VAE's threshold group: the course's VAE trained with the student's holes, scored by the grader.

Covers: the reference passes and its feedback images are written; the template scores 0 with
"not implemented yet"; a hole that returns the wrong kind, shape or values where the course's loop
calls it stops the training with a message that says what to fix, and costs only the ``elbo``
points; a hole that never answers is stopped by the per-call timeout; nothing the submission builds
(its ``train``, its ``VAE``) is called; the holes' child is only ever sent the encodings of training
batches; the pipeline is the template's; the grader's bound is the textbook formula.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.core.suite import import_local
from tests.conftest import ROOT, feedback, group_result

REFERENCE = (ROOT / "solutions" / "vae.py").read_text()
TEMPLATE = (ROOT / "templates" / "vae.py").read_text()
SUITE = ROOT / "assignments" / "vae" / "hidden" / "suite.py"
mnist = import_local(str(SUITE), "mnist")
evaluation = import_local(str(SUITE), "evaluation")
calls = import_local(str(SUITE), "calls")


@pytest.mark.timeout(600)
def test_reference_passes_and_writes_feedback_images(grade_source, tmp_path):
    artifacts = tmp_path / "artifacts"
    result = grade_source("vae", REFERENCE, only=["elbo"], artifacts_dir=artifacts)
    test = group_result(result, "elbo")
    assert test.score == test.max_score, feedback(test)
    extra = test.extra_data
    assert extra["negative_elbo"] <= extra["threshold"]
    assert abs(extra["negative_elbo"] - extra["reconstruction"] - extra["kl"]) < 0.01
    assert extra["attempts"] == 1
    # Per training step the course's loop calls each hole forward and asks it for its backward:
    # 4 round trips x 40 batches x 10 epochs, and the call that seeds the child's generator.
    assert extra["hole_calls"] == 4 * 40 * 10 + 1
    assert set(extra["images"]) == {"samples", "manifold", "reconstructions"}   # Z = 2: the manifold too
    for path in extra["images"].values():
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert result.leaderboard and result.leaderboard[0]["order"] == "asc"
    assert "held-out negative ELBO" in feedback(test) and "reconstruction" in feedback(test)
    assert "784-500-500-2, 10 epochs, batch 100, Adam 0.001" in test.checks[0].name


@pytest.mark.timeout(120)
def test_template_scores_zero_on_elbo(grade_source):
    test = group_result(grade_source("vae", TEMPLATE, only=["elbo"]), "elbo")
    assert test.score == 0
    assert "not implemented yet (NotImplementedError: reparametrize)" in feedback(test)


# What the course's loop receives from a hole, wrong in one way each: the message names the hole,
# what it returned where the loop called it, and what is expected.
BAD_HOLES = {
    "kl of shape [B, 1]": ('''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1, keepdim=True)
''', "the course's training loop called your kl_divergence(mean, sd) with mean and sd of shape [100, 2]: it "
     "returned a tensor of shape [100, 1] (float32); a tensor of shape [100] is expected (one value per example)"),
    "kl summed over the batch": ('''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum()
''', "it returned a tensor of shape [] (float32); a tensor of shape [100] is expected"),
    "kl as a numpy array": ('''
def kl_divergence(mean, sd):
    m, s = mean.detach().numpy(), sd.detach().numpy()
    return 0.5 * (m ** 2 + s ** 2 - 1 - np.log(s ** 2)).sum(-1)
''', "it returned a numpy array of shape [100] (float32); a torch.Tensor of shape [100] is expected"),
    "reparametrize returns a tuple": ('''
def reparametrize(mean, sd):
    eps = torch.randn_like(mean)
    return mean + sd * eps, eps
''', "reparametrize should return a torch.Tensor, got a tuple of 2"),
    "reparametrize returns NaN": ('''
def reparametrize(mean, sd):
    return mean + sd * torch.randn_like(mean) * float("nan")
''', "reparametrize returned NaN or infinite values"),
    "kl returns an integer tensor": ('''
def kl_divergence(mean, sd):
    return torch.zeros(len(mean), dtype=torch.int64)
''', "it returned a tensor of shape [100] (int64); a floating-point tensor is expected"),
    "kl raises on a batch of 100": ('''
def kl_divergence(mean, sd):
    if len(mean) == 100:
        raise ValueError("no batches of 100")
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1)
''', "your code raised ValueError: no batches of 100"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("patch, message", list(BAD_HOLES.values()), ids=list(BAD_HOLES))
def test_a_hole_the_course_loop_cannot_use_gets_a_clear_message(grade_source, patch, message):
    test = group_result(grade_source("vae", REFERENCE + "\n" + patch, only=["elbo"]), "elbo")
    assert test.score == 0
    assert message in feedback(test), feedback(test)
    assert "internal grader error" not in feedback(test)
    assert test.extra_data["attempts"] == 1         # a hole that breaks the loop is not trained again


@pytest.mark.timeout(120)
def test_a_bad_hole_costs_only_the_elbo_group_and_its_own(grade_source):
    patch, _ = BAD_HOLES["kl of shape [B, 1]"]
    result = grade_source("vae", REFERENCE + "\n" + patch)
    got = {t.name: (t.score, t.max_score) for t in result.tests}
    assert got["reparametrize"] == (3, 3) and got["kl_divergence"][0] < 3 and got["elbo"] == (0, 4)


@pytest.mark.timeout(180)
def test_a_backward_that_fails_in_the_child_is_reported(grade_source):
    """The course's loop asks the child for the hole's gradients (a vector-Jacobian product on the
    student's own graph); an autograd error there is the student's, said so."""
    patch = '''
class _Broken(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("my backward is broken")


def kl_divergence(mean, sd):
    return _Broken.apply(0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1))
'''
    test = group_result(grade_source("vae", REFERENCE + patch, only=["elbo"]), "elbo")
    assert test.score == 0
    assert "my backward is broken" in feedback(test), feedback(test)


@pytest.mark.timeout(180)
def test_a_hole_that_never_answers_is_stopped_by_the_call_timeout(grade_source):
    patch = '''
_CALLS = [0]


def reparametrize(mean, sd):
    _CALLS[0] += 1
    if _CALLS[0] > 3:
        import time
        time.sleep(1000)
    return mean + sd * torch.randn_like(mean)
'''
    test = group_result(grade_source("vae", REFERENCE + patch, only=["elbo"]), "elbo")
    assert test.score == 0
    assert "time" in feedback(test).lower() and "reparametrize" in feedback(test), feedback(test)
    assert test.seconds < 100


@pytest.mark.timeout(120)
def test_the_holes_child_sees_training_batches_only_and_nothing_it_builds_is_called(grade_source):
    """The holes print each new shape they are given; their train and VAE class announce themselves.
    The kl of shape [B, 1] then stops the loop at its first call, after the first forward pass."""
    spy = REFERENCE + '''
_SHAPES = set()
_reparametrize = reparametrize


def reparametrize(mean, sd):
    if tuple(mean.shape) not in _SHAPES:
        _SHAPES.add(tuple(mean.shape))
        print(f"SHAPE {tuple(mean.shape)} requires_grad={mean.requires_grad}", flush=True)
    return _reparametrize(mean, sd)


def train(images, args):
    print("SUBMISSION TRAIN CALLED", flush=True)
    raise SystemExit(3)


class VAE(VAE):
    def __init__(self, *args, **kwargs):
        print("SUBMISSION VAE BUILT", flush=True)
        super().__init__(*args, **kwargs)
''' + BAD_HOLES["kl of shape [B, 1]"][0]
    test = group_result(grade_source("vae", spy, only=["elbo"]), "elbo")
    text = feedback(test)
    assert "SHAPE (2, 2) requires_grad=False" in text and "SHAPE (100, 2) requires_grad=True" in text, text
    assert text.count("SHAPE") == 2            # never a held-out-sized batch (1,000 digits)
    assert "SUBMISSION" not in text
    assert "it returned a tensor of shape [100, 1]" in text


def test_the_pipeline_is_the_template_with_the_holes_replaced():
    module = calls.pipeline(replace={"reparametrize": lambda m, s: m, "kl_divergence": lambda m, s: m.sum(-1)})
    assert module.__file__ == str(calls.TEMPLATE) and calls.TEMPLATE.name == "vae.py"
    assert calls.TEMPLATE.parent.name == "templates"
    args = calls.course_arguments(module, 7, "cpu")
    assert (args.epochs, args.z_dim, args.hidden, args.batch_size, args.learning_rate) == (10, 2, 500, 100, 1e-3)
    assert args.seed == 7 and args.device == "cpu" and args.verbose is False
    import torch

    mean, sd = torch.zeros(3, 2), torch.ones(3, 2)
    assert module.reparametrize.__name__ == "reparametrize" and torch.equal(module.reparametrize(mean, sd), mean)
    with pytest.raises(Exception, match="a tensor of shape \\[3\\] is expected"):
        calls.pipeline(replace={"kl_divergence": lambda m, s: m}).kl_divergence(mean, sd)


def test_reference_eps_is_torch_global_generator_after_manual_seed():
    import torch

    torch.manual_seed(123)
    want = torch.randn_like(torch.zeros(64, 5)).double().numpy()
    assert np.array_equal(calls.reference_eps(123, (64, 5), "cpu"), want)


def test_split_is_fixed_disjoint_and_stratified():
    a, b = mnist.load_split(), mnist.load_split()
    assert a.train.shape == (4000, 28, 28) and a.held_out.shape == (1000, 28, 28)
    assert np.array_equal(a.held_out, b.held_out)
    train = {im.tobytes() for im in a.train}
    assert not any(im.tobytes() in train for im in a.held_out)


def test_trusted_bound_matches_torch():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 28, 28))
    logits = rng.normal(scale=4, size=(5, 28, 28))
    mean, sd = rng.normal(size=(5, 3)), np.exp(rng.normal(size=(5, 3)))
    got = evaluation.negative_elbo(x, mean, sd, logits)
    bce = F.binary_cross_entropy_with_logits(torch.tensor(logits), torch.tensor(x), reduction="none").sum((1, 2))
    kl = torch.distributions.kl_divergence(torch.distributions.Normal(torch.tensor(mean), torch.tensor(sd)),
                                           torch.distributions.Normal(0.0, 1.0)).sum(-1)
    assert np.allclose(got, (bce + kl).numpy(), rtol=1e-10)
