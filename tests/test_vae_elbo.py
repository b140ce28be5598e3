"""The VAE's threshold group: the grader trains, encodes, draws eps, decodes in a fork and scores.

Covers: the reference passes and its feedback images are written; bad models
get a clear message and lose only the ``elbo`` points; a submission that
memorises held-out images in ``encode`` and replays them in ``decode`` gains
nothing, because ``decode`` runs in a copy forked before any held-out image
was sent; the child is only ever given the 4,000 training images.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from grader.suite import import_local
from tests.conftest import ROOT, group_result
from tests.variants.vae import BAD_MODELS, MEMORISER, TINY

REFERENCE = (ROOT / "solutions" / "vae.py").read_text()
SUITE = ROOT / "assignments" / "vae" / "hidden" / "suite.py"
mnist = import_local(str(SUITE), "mnist")
evaluation = import_local(str(SUITE), "evaluation")


@pytest.mark.timeout(600)
def test_reference_passes_and_writes_feedback_images(grade_source, tmp_path):
    artifacts = tmp_path / "artifacts"
    result = grade_source("vae", REFERENCE, only=["elbo"], artifacts_dir=artifacts)
    test = group_result(result, "elbo")
    assert test.score == test.max_score, test.output
    extra = test.extra_data
    assert extra["negative_elbo"] <= extra["threshold"]
    assert abs(extra["negative_elbo"] - extra["reconstruction"] - extra["kl"]) < 0.01
    assert set(extra["images"]) == {"samples", "manifold", "reconstructions"}   # Z = 2: the manifold too
    for path in extra["images"].values():
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert result.leaderboard and result.leaderboard[0]["order"] == "asc"
    assert "held-out negative ELBO" in test.output and "reconstruction" in test.output


@pytest.mark.timeout(120)
def test_no_images_when_artifacts_are_off(grade_source):
    result = grade_source("vae", TINY, only=["elbo"])
    test = group_result(result, "elbo")
    assert "images" not in test.extra_data
    assert test.extra_data["negative_elbo"] > test.extra_data["threshold"]   # untrained: fails, but is scored
    assert 0 < test.score < test.max_score                                    # the training check still counts


@pytest.mark.timeout(120)
def test_template_scores_zero_on_elbo(grade_source):
    result = grade_source("vae", (ROOT / "templates" / "vae.py").read_text(), only=["elbo"])
    test = group_result(result, "elbo")
    assert test.score == 0
    assert "not implemented yet" in test.output
    assert "skipped: training did not produce a model" in test.output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("patch, message", list(BAD_MODELS.values()), ids=list(BAD_MODELS))
def test_bad_model_gets_a_clear_message(grade_source, patch, message):
    result = grade_source("vae", TINY + "\n" + patch, only=["elbo"])
    test = group_result(result, "elbo")
    assert test.score < test.max_score
    assert message in test.output, test.output
    assert "internal grader error" not in test.output


@pytest.mark.timeout(120)
def test_bad_model_costs_only_the_elbo_group(grade_source):
    patch, _ = BAD_MODELS["decode outputs NaN"]
    result = grade_source("vae", TINY + "\n" + patch)
    got = {t.name: (t.score, t.max_score) for t in result.tests}
    assert got["reparametrize"] == (3, 3) and got["kl_divergence"] == (3, 3)
    assert got["elbo"][0] < 4


@pytest.mark.timeout(120)
def test_probabilities_instead_of_logits_are_scored_not_crashed(grade_source):
    patch = '''
def _decode(self, z):
    return torch.sigmoid(self.dec(z)).reshape(len(z), 28, 28)
VAE.decode = _decode
'''
    test = group_result(grade_source("vae", TINY + patch, only=["elbo"]), "elbo")
    assert "held-out negative ELBO" in test.output and test.extra_data["negative_elbo"] > 0


def _load_module(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module


def test_memoriser_would_win_if_decode_saw_the_images():
    """Control: in one process the replay attack beats the threshold by far."""
    import torch

    cheat = _load_module(MEMORISER, "memoriser_control")
    held = mnist.load_split().held_out
    x = torch.tensor(held, dtype=torch.float32) / 255.0
    model = cheat.train(held, types.SimpleNamespace(z_dim=2, seed=0))
    mean, sd = (t.double().numpy() for t in model.encode(x))
    z = evaluation.sample_latents(mean, sd, np.random.default_rng(0))
    logits = model.decode(torch.tensor(z)).numpy()
    value = float(evaluation.negative_elbo(held / 255.0, mean, sd, logits).mean())
    params = _elbo_params()
    assert value < params["reference"] * (1 + params["margin"]), value


@pytest.mark.timeout(120)
def test_memoriser_gains_nothing_under_the_grader(grade_source):
    test = group_result(grade_source("vae", MEMORISER, only=["elbo"]), "elbo")
    assert test.extra_data["negative_elbo"] > 784 * np.log(2) * 0.9   # decode found nothing: zero logits
    assert test.score < test.max_score
    assert "above the threshold" in test.output


@pytest.mark.timeout(120)
def test_child_gets_training_images_only_and_the_fork_never_sees_encode_inputs(grade_source):
    spy = TINY + '''
import hashlib
_TRAIN = set()
_ENCODED = []

class Spy(VAE):
    def encode(self, images):
        _ENCODED.append(len(images))
        digests = {hashlib.sha1((im * 255).round().to(torch.uint8).numpy().tobytes()).hexdigest() for im in images}
        print(f"ENCODE {len(images)} OVERLAP {len(digests & _TRAIN)}", flush=True)
        return super().encode(images)

    def decode(self, z):
        print(f"DECODE {len(z)} AFTER {sum(_ENCODED)} ENCODED", flush=True)
        return super().decode(z)

def train(images, args):
    _TRAIN.update(hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in images)
    print(f"TRAIN {len(images)} {images.dtype} {tuple(images.shape[1:])} z_dim={args.z_dim} epochs={args.epochs}", flush=True)
    return Spy(args.z_dim)
'''
    test = group_result(grade_source("vae", spy, only=["elbo"]), "elbo")
    params = _elbo_params()
    assert f"TRAIN 4000 uint8 (28, 28) z_dim={params['z_dim']} epochs={params['epochs']}" in test.output
    assert "ENCODE 500 OVERLAP 0" in test.output          # held-out digits, none of them a training digit
    assert "DECODE 500 AFTER 0 ENCODED" in test.output    # the fork decodes, never having seen an image


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


def _elbo_params() -> dict:
    from grader.assignment import load_assignment
    return load_assignment("vae").groups["elbo"].params


@pytest.mark.timeout(600)
def test_threshold_catches_a_loss_averaged_over_pixels(grade_source):
    """A plausible training bug (BCE averaged, not summed, over the pixels) must fail the threshold."""
    patch = '''
def _loss(self, images):
    mean, sd = self.encode(images)
    logits = self.decode(reparametrize(mean, sd))
    bce = F.binary_cross_entropy_with_logits(logits, images)      # mean over pixels and batch
    return bce + kl_divergence(mean, sd).mean()
VAE.loss = _loss
'''
    test = group_result(grade_source("vae", REFERENCE + patch, only=["elbo"]), "elbo")
    assert test.extra_data["negative_elbo"] > test.extra_data["threshold"], test.output
    assert test.score == 1    # the model itself is fine: only the bound fails


FILE_SIDE_CHANNEL = MEMORISER.replace('''        _SEEN.append(images.clone())''', '''        _SEEN.append(images.clone())
        torch.save(torch.cat(_SEEN), "seen.pt")     # the fork shares the work directory''').replace(
    '''        seen = torch.cat(_SEEN) if _SEEN else None''', '''        import os
        seen = torch.load("seen.pt") if os.path.exists("seen.pt") else None''')


@pytest.mark.timeout(120)
def test_memoriser_through_a_file_gains_nothing(grade_source):
    """The fork shares the work directory; the encoding process is barred from writing files after the fork.

    Not covered (needs namespace/seccomp isolation of the fork, see the assignment's probes.seal):
    memory mappings, pipes or sockets set up before the fork or served by a background thread.
    """
    test = group_result(grade_source("vae", FILE_SIDE_CHANNEL, only=["elbo"]), "elbo")
    assert test.score < test.max_score
    assert "your code raised" in test.output and "torch.save" in test.output, test.output   # the write failed
    assert "negative_elbo" not in test.extra_data


@pytest.mark.timeout(120)
def test_encoding_process_may_still_compute_after_the_seal(grade_source):
    """The seal only bars file writes: a model that merely prints and computes in encode is unaffected."""
    source = TINY.replace("        return mean, torch.exp(0.5 * log_var)",
                          "        print('encoding', len(images), flush=True)\n        return mean, torch.exp(0.5 * log_var)")
    test = group_result(grade_source("vae", source, only=["elbo"]), "elbo")
    assert "encoding 500" in test.output and "negative_elbo" in test.extra_data
