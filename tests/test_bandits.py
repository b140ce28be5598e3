"""The bandits reference keeps full marks on several hidden seeds (variants: test_variants.py)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, feedback

REFERENCE = (ROOT / "solutions" / "bandits.py").read_text()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_full_marks_on_several_seeds(grade_source, seed):
    result = grade_source("bandits", REFERENCE, seed=seed)
    assert result.score == result.max_score == 10, [feedback(t) for t in result.tests]
