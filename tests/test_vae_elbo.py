"""The VAE's threshold group: the grader trains, encodes, draws eps, decodes in a fresh process and scores.

Covers: the reference passes and its feedback images are written; bad models
get a clear message and lose only the ``elbo`` points; a submission that
memorises held-out images in ``encode`` and replays them in ``decode`` gains
nothing, because ``decode`` runs in a second, fresh child process that is only
ever sent training images, the trained ``state_dict`` (as arrays) and latent
vectors; that process holds exactly the trained state, and a model it cannot
rebuild costs the whole group with a clear message; the training child is
only ever given the 4,000 training images.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from grader.core.suite import import_local
from tests.conftest import ROOT, feedback, group_result
from tests.variants.vae import (
    BAD_MODELS,
    CARRIER,
    CARRIER_BLURRED,
    EXACT_STATE,
    MEMORISER,
    REBUILD_FAILURES,
    REFUSES_ZERO_EPOCHS,
    TINY,
)

REFERENCE = (ROOT / "solutions" / "vae.py").read_text()
SUITE = ROOT / "assignments" / "vae" / "hidden" / "suite.py"
mnist = import_local(str(SUITE), "mnist")
evaluation = import_local(str(SUITE), "evaluation")


@pytest.mark.timeout(600)
def test_reference_passes_and_writes_feedback_images(grade_source, tmp_path):
    artifacts = tmp_path / "artifacts"
    result = grade_source("vae", REFERENCE, only=["elbo"], artifacts_dir=artifacts)
    test = group_result(result, "elbo")
    assert test.score == test.max_score, feedback(test)
    extra = test.extra_data
    assert extra["negative_elbo"] <= extra["threshold"]
    assert abs(extra["negative_elbo"] - extra["reconstruction"] - extra["kl"]) < 0.01
    assert set(extra["images"]) == {"samples", "manifold", "reconstructions"}   # Z = 2: the manifold too
    for path in extra["images"].values():
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert result.leaderboard and result.leaderboard[0]["order"] == "asc"
    assert "held-out negative ELBO" in feedback(test) and "reconstruction" in feedback(test)


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
    assert "not implemented yet" in feedback(test)
    assert "skipped: training did not produce a model" in feedback(test)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("patch, message", list(BAD_MODELS.values()), ids=list(BAD_MODELS))
def test_bad_model_gets_a_clear_message(grade_source, patch, message):
    result = grade_source("vae", TINY + "\n" + patch, only=["elbo"])
    test = group_result(result, "elbo")
    assert test.score < test.max_score
    assert message in feedback(test), feedback(test)
    assert "internal grader error" not in feedback(test)


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
    assert "held-out negative ELBO" in feedback(test) and test.extra_data["negative_elbo"] > 0


def _first_attempt(output: str) -> tuple[str, str]:
    """What the training and the decoder process of the first attempt printed (an untrained model misses
    the threshold and is retrained in two more processes, whose output follows)."""
    first = output.split("[training (retraining 1) process]\n")[0]
    main, decoder = first.split("[decoder process]\n")
    return main, decoder


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
    assert value < _elbo_params()["threshold"], value


@pytest.mark.timeout(120)
def test_memoriser_gains_nothing_under_the_grader(grade_source):
    test = group_result(grade_source("vae", MEMORISER, only=["elbo"]), "elbo")
    assert test.extra_data["negative_elbo"] > 784 * np.log(2) * 0.9   # decode found nothing: zero logits
    assert test.score < test.max_score
    assert "above the threshold" in feedback(test)


@pytest.mark.timeout(120)
def test_children_get_training_images_only_and_the_decoder_never_sees_encode_inputs(grade_source):
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
    assert f"TRAIN 4000 uint8 (28, 28) z_dim={params['z_dim']} epochs={params['epochs']}" in feedback(test)
    assert "ENCODE 500 OVERLAP 0" in feedback(test)          # held-out digits, none of them a training digit
    main, decoder = _first_attempt(feedback(test))
    assert "ENCODE 500" in main and "DECODE 500" not in main
    # The decoder process: the architecture from train(..., epochs=0) on 100 training digits, then only z.
    assert f"TRAIN 100 uint8 (28, 28) z_dim={params['z_dim']} epochs=0" in decoder
    assert "DECODE 500 AFTER 0 ENCODED" in decoder and "ENCODE 500" not in decoder
    assert test.score == 1   # untrained, but rebuilt and scored


def _carrier(template: str = CARRIER) -> str:
    import base64
    import zlib

    digits = base64.b64encode(zlib.compress(mnist.load_split().held_out.tobytes(), 9)).decode()
    return template.replace("__DIGITS__", digits)


def test_carrier_of_the_public_held_out_digits_would_win_on_them():
    """Control: on the raw held-out digits (what the grader scored before issue 13) the carrier is far
    below the threshold, and below the physical floor too."""
    import torch

    cheat = _load_module(_carrier(), "carrier_control")
    held = mnist.load_split().held_out
    model = cheat.train(mnist.load_split().train, types.SimpleNamespace(z_dim=2, seed=0))
    x = torch.tensor(held, dtype=torch.float32) / 255.0
    mean, sd = (t.double().numpy() for t in model.encode(x))
    logits = model.decode(torch.tensor(evaluation.sample_latents(mean, sd, np.random.default_rng(0)))).numpy()
    value = float(evaluation.negative_elbo(held / 255.0, mean, sd, logits).mean())
    assert value < _elbo_params()["floor"] < _elbo_params()["threshold"], value


@pytest.mark.timeout(180)
def test_carrier_of_the_public_held_out_digits_fails_on_distorted_digits(grade_source):
    """The grader scores a fresh secret distortion of the held-out digits: replaying the nearest carried
    digit no longer fits them, and the bound lands far above the threshold."""
    test = group_result(grade_source("vae", _carrier(), only=["elbo"]), "elbo")
    assert test.extra_data["negative_elbo"] > test.extra_data["threshold"], feedback(test)
    assert test.score == 1 and "above the threshold" in feedback(test)      # trained and rebuilt: that point only
    assert "needs_review" not in test.extra_data


@pytest.mark.timeout(180)
def test_a_bound_below_the_physical_floor_needs_review_and_scores_zero(grade_source):
    """The blurring carrier beats every honest Z = 2 VAE on the distorted digits by far: below the floor,
    the group scores 0, says "needs review", and is not retrained."""
    test = group_result(grade_source("vae", _carrier(CARRIER_BLURRED), only=["elbo"]), "elbo")
    assert test.extra_data["negative_elbo"] < _elbo_params()["floor"], feedback(test)
    assert test.score == 0 and test.status == "failed"
    assert test.extra_data["needs_review"].startswith("needs review: a held-out negative ELBO of ")
    assert feedback(test).count("0 points until an instructor has looked at the submission") == 2, feedback(test)
    assert test.extra_data["attempts"] == 1


def test_distortion_is_secret_per_grading_and_keeps_digits_mnist_like():
    from grader.kits.images.distortion import Distortion, distort

    held = mnist.load_split().held_out[:200]
    d = Distortion.from_params(_elbo_params()["distortion"])
    a, b = distort(held, np.random.default_rng(1), d), distort(held, np.random.default_rng(2), d)
    assert a.shape == held.shape and a.dtype == np.uint8
    assert np.array_equal(a, distort(held, np.random.default_rng(1), d))          # reproducible from the seed
    assert not np.array_equal(a, b) and not any(np.array_equal(x, y) for x, y in zip(a, held))
    # MNIST-like: the ink stays about the same and centred, each digit is still closest to its original.
    assert abs(a.mean() - held.mean()) < 0.1 * held.mean()
    flat_a, flat_h = a.reshape(len(a), -1).astype(float), held.reshape(len(held), -1).astype(float)
    nearest = ((flat_a[:, None, :] - flat_h[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == np.arange(len(a))).mean() > 0.5


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
    from grader.core.assignment import load_assignment
    return load_assignment("vae").groups["elbo"].params


@pytest.mark.slow           # three trainings (a missed bound is retrained twice): with the calibration
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
    assert test.extra_data["negative_elbo"] > test.extra_data["threshold"], feedback(test)
    assert test.score == 1    # the model itself is fine: only the bound fails


FILE_SIDE_CHANNEL = MEMORISER.replace('''        _SEEN.append(images.clone())''', '''        _SEEN.append(images.clone())
        torch.save(torch.cat(_SEEN), "seen.pt")     # for a decoder that would share the work directory''').replace(
    '''        seen = torch.cat(_SEEN) if _SEEN else None''', '''        import os
        seen = torch.load("seen.pt") if os.path.exists("seen.pt") else None''')


@pytest.mark.timeout(120)
def test_memoriser_through_a_file_gains_nothing(grade_source):
    """The decoder process has its own work directory and namespaces; on top of that the encoding
    process is barred from writing files once it handed over its state (probes.seal), which closes
    the file system as a channel where no namespaces are available. Memory mappings and pipes: see
    tests/test_redteam.py (a fresh process inherits none)."""
    test = group_result(grade_source("vae", FILE_SIDE_CHANNEL, only=["elbo"]), "elbo")
    assert test.score < test.max_score
    assert "your code raised" in feedback(test) and "torch.save" in feedback(test), feedback(test)   # the write failed
    assert "negative_elbo" not in test.extra_data


@pytest.mark.timeout(120)
def test_encoding_process_may_still_compute_after_the_seal(grade_source):
    """The seal only bars file writes: a model that merely prints and computes in encode is unaffected."""
    source = TINY.replace("        return mean, torch.exp(0.5 * log_var)",
                          "        print('encoding', len(images), flush=True)\n        return mean, torch.exp(0.5 * log_var)")
    test = group_result(grade_source("vae", source, only=["elbo"]), "elbo")
    assert "encoding 500" in feedback(test) and "negative_elbo" in test.extra_data


@pytest.mark.timeout(120)
def test_decoder_holds_exactly_the_trained_state_even_if_train_ignores_epochs(grade_source):
    """The decoder's own train(..., epochs=0) trains anyway (on 100 images): load_state_dict overwrites it."""
    test = group_result(grade_source("vae", EXACT_STATE, only=["elbo"]), "elbo")
    main, decoder = _first_attempt(feedback(test))
    trained = main.split("TRAINED ON 4000: ", 1)[1].split()[0]
    rebuilt = decoder.split("TRAINED ON 100: ", 1)[1].split()[0]
    used = {line.split("DECODING WITH ", 1)[1] for line in decoder.splitlines() if line.startswith("DECODING WITH")}
    assert rebuilt != trained and used == {f"{trained} SEEN 4000"}, feedback(test)   # weights and buffers
    assert set(test.extra_data["state_dict"]) == {"enc.weight", "enc.bias", "dec.weight", "dec.bias", "seen"}
    assert test.extra_data["state_dict"]["enc.weight"] == [4, 784]
    assert "negative_elbo" in test.extra_data and test.score == 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("patch, message", list(REBUILD_FAILURES.values()), ids=list(REBUILD_FAILURES))
def test_model_the_decoder_cannot_rebuild_scores_zero(grade_source, patch, message):
    test = group_result(grade_source("vae", TINY + "\n" + patch, only=["elbo"]), "elbo")
    assert test.score == 0, feedback(test)
    assert message in feedback(test), feedback(test)
    assert "skipped: the trained model could not be rebuilt in the decoder process" in feedback(test)
    assert "internal grader error" not in feedback(test)


@pytest.mark.timeout(120)
def test_train_refusing_zero_epochs_is_rebuilt_with_one(grade_source):
    test = group_result(grade_source("vae", REFUSES_ZERO_EPOCHS, only=["elbo"]), "elbo")
    main, decoder = _first_attempt(feedback(test))
    assert "TRAIN epochs=10 on 4000" in main and "TRAIN epochs=1 on 100" in decoder
    assert test.score == 1 and "negative_elbo" in test.extra_data, feedback(test)
