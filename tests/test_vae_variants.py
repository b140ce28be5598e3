"""The VAE hole groups: the reference on other seeds, the template, the public checks
(wrong and correct variants: test_variants.py).

Only the hole groups run here (``--only``), with a fixed seed; the trained
model is tested in test_vae_elbo.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, feedback

REFERENCE = (ROOT / "solutions" / "vae.py").read_text()
HOLES = ("reparametrize", "kl_divergence")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("seed", [1, 2])
def test_reference_holes_full_marks_on_other_seeds(grade_source, seed):
    result = grade_source("vae", REFERENCE, only=list(HOLES), seed=seed)
    for test in result.tests:
        assert test.score == test.max_score, feedback(test)


@pytest.mark.timeout(120)
def test_template_holes_score_zero_and_say_not_implemented(grade_source):
    result = grade_source("vae", (ROOT / "templates" / "vae.py").read_text(), only=list(HOLES))
    for test in result.tests:
        assert test.score == 0
        assert "not implemented yet" in feedback(test)


@pytest.mark.timeout(180)
def test_public_checks_pass_for_the_reference_and_fail_for_the_template(grade_source):
    result = grade_source("vae", REFERENCE, suite="public")
    assert {t.name for t in result.tests} == {"reparametrize", "kl_divergence", "elbo"}
    assert result.score == result.max_score, [feedback(t) for t in result.tests]
    result = grade_source("vae", (ROOT / "templates" / "vae.py").read_text(), suite="public")
    assert result.score == 0
