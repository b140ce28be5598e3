"""Issue 14, "What was measured": for each case, the submission that showed the misleading message,
graded, and the message it gets now.

Each hint is asserted where the observed values match its mistake and, for the hints that used to
point elsewhere, asserted absent where they do not.
"""

from __future__ import annotations

import html
import io

import pytest
from rich.console import Console

from grader.core.environment import offered_packages, statement_block
from grader.feedback.html import render_html
from grader.feedback.terminal import print_report
from grader.feedback.text import summary_line
from grader.workflows.check import format_report, run_check
from tests.conftest import ROOT, feedback, group_result, said, scores, stopped_every_group

pytestmark = pytest.mark.timeout(180)
BANDITS = (ROOT / "solutions" / "bandits.py").read_text()
HOLES = ["epsilon_greedy", "update_estimate"]


def _hints(test) -> list[str]:
    return [c.hint for c in test.checks if c.hint] + ([test.cause.hint] if test.cause and test.cause.hint else [])


# -- import failures: one cause, said once and in full, with the hint that fits ---------------------------
# Students hand in `from tqdm import tqdm`; whether this machine has tqdm depends on what else is
# installed (copydetect brings it), so the graded case imports a package no machine has.
ABSENT = "tqdm_from_my_laptop"
IMPORT_FAILURES = {
    "a data file next to the submission": (
        BANDITS.replace("import numpy as np", "import numpy as np\nARMS = np.load('arms.npy')", 1),
        "FileNotFoundError: [Errno 2] No such file or directory: 'arms.npy'",
        "`arms.npy` is not there when the grader runs your file"),
    "a package the grader does not have": (
        BANDITS.replace("import numpy as np", f"import numpy as np\nfrom {ABSENT} import tqdm", 1),
        f"ModuleNotFoundError: No module named '{ABSENT}' (not available to submissions)",
        f"`{ABSENT}` is not available to submissions: a submission may import Python's standard library and "
        "numpy"),
    "main() called at import": (
        BANDITS.split('if __name__ == "__main__":')[0] + "main()\n",
        "SystemExit: 2",
        'your file calls `main()` when it is imported (line'),
}


@pytest.mark.parametrize("source, summary, hint", IMPORT_FAILURES.values(), ids=list(IMPORT_FAILURES))
def test_an_import_failure_is_one_cause_said_in_full(grade_source, source, summary, hint):
    """Said once, at the top of every rendering (issue 22: it was repeated in every group of the table and
    the page); each group says it was not run, and the groups after the first start no child."""
    result = grade_source("bandits", source, only=HOLES)
    assert result.score == 0
    assert result.cause.kind == "import" and result.cause.summary == summary and hint in result.cause.hint
    assert stopped_every_group(result, summary)
    for test in result.tests:
        line = summary_line(test)
        assert line.startswith("not run: your file failed to import") and summary not in line
        assert summary not in feedback(test)
    assert said(result).count(summary) == 1
    assert group_result(result, "update_estimate").extra_data["startup_seconds"] == []     # no child started
    console = Console(file=io.StringIO(), width=150)
    print_report(result, console)
    printed = console.file.getvalue()
    assert printed.count(hint.split(":")[0]) == 1 and printed.index(summary) < printed.index("epsilon_greedy")
    page, shown = render_html(result), html.escape(summary)
    assert page.count(shown) == 1 and page.index(shown) < page.index("<table>")


def test_main_at_import_says_where_to_put_it(grade_source):
    source, _, _ = IMPORT_FAILURES["main() called at import"]
    test = grade_source("bandits", source, only=["update_estimate"]).tests[0]
    assert 'Put it under `if __name__ == "__main__":`' in test.cause.hint
    assert "argparse" in test.cause.hint                     # why it exited with status 2
    assert "unrecognized arguments" in test.student_output   # and argparse's own words are shown


# -- hints that discriminate -------------------------------------------------------------------------
VAE = (ROOT / "solutions" / "vae.py").read_text()


def test_reparametrize_with_sd_squared_gets_the_sd_squared_hint_and_no_other(grade_source):
    source = VAE + "\ndef reparametrize(mean, sd):\n    return mean + sd ** 2 * torch.randn_like(mean)\n"
    test = group_result(grade_source("vae", source, only=["reparametrize"]), "reparametrize")
    failed = [c for c in test.checks if c.status == "failed"]
    assert [c.name for c in failed] == [
        "mean and standard deviation of 20000 samples match mean and sd in every dimension",
        "gradients: ∂z/∂mean is the identity and ∂z/∂sd is eps"]          # the noise and its source are right
    assert all("sd²" in c.hint for c in failed)
    text = feedback(test)
    assert "rand_like" not in text and "seeding" not in text and "randn_like" not in text


def test_uniform_noise_gets_the_rand_like_hint(grade_source):
    source = VAE + "\ndef reparametrize(mean, sd):\n    return mean + sd * (torch.rand_like(mean) - 0.5) * 12 ** 0.5\n"
    test = group_result(grade_source("vae", source, only=["reparametrize"]), "reparametrize")
    normal = next(c for c in test.checks if c.name.startswith("the noise is normal"))
    assert normal.status == "failed" and "torch.rand_like" in normal.hint
    assert not any("sd²" in h for h in _hints(test))


def test_value_loss_on_the_detached_advantage_fails_only_its_own_checks(grade_source):
    source = (ROOT / "solutions" / "reinforce_baseline.py").read_text() + '''
def baseline_losses(logits, values, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    advantage = (returns - values).detach()
    return -(logp * advantage).mean(), (advantage ** 2).mean()
'''
    test = grade_source("reinforce_baseline", source, only=["baseline_losses"]).tests[0]
    failed = [c for c in test.checks if c.status != "passed"]
    assert [c.name for c in failed] == ["the value loss's gradient w.r.t. the values is -2(G - V)/B"]
    assert test.score == 4                                  # the policy loss was right: its checks pass
    assert "don't detach the value estimate in the value loss" in failed[0].hint


def test_a_loss_summed_over_the_batch_names_the_factor(grade_source):
    source = (ROOT / "solutions" / "reinforce.py").read_text() + '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns.detach()).sum()
'''
    test = grade_source("reinforce", source, only=["reinforce_loss"]).tests[0]
    first = next(c for c in test.checks if c.status == "failed")
    assert "B = 64 times the expected one: you summed over the batch" in first.hint
    assert first.expected and first.got and abs(float(first.got) / float(first.expected) - 64) < 0.01
    right = source.replace(".sum()", ".mean() * 1.5")              # wrong, but not by the factor B
    other = next(c for c in grade_source("reinforce", right, only=["reinforce_loss"]).tests[0].checks
                 if c.status == "failed")
    assert other.hint == ""


def test_small_values_are_printed_in_significant_digits(grade_source):
    source = VAE + ("\ndef kl_divergence(mean, sd):\n"
                    "    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2 + 1e-8)).sum(-1)\n")
    test = grade_source("vae", source, only=["kl_divergence"]).tests[0]
    tiny = next(c for c in test.checks if c.name.startswith("finite and accurate for a tiny sd"))
    assert tiny.status == "failed" and "1e-06" in tiny.message and "sd = [1e-06" in tiny.message
    assert "0.0," not in tiny.message and "small constant inside the log" in tiny.hint


# -- grader check agrees with grade; it warns about imports the grader does not have --------------------
RANDOM_TIES = '''
def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(estimates)))
    best = np.flatnonzero(estimates == estimates.max())
    return int(rng.choice(best))
'''


def test_random_tie_breaking_fails_the_self_check_as_it_loses_points(grade_source, tmp_path):
    graded = grade_source("bandits", BANDITS + RANDOM_TIES, only=["epsilon_greedy"]).tests[0]
    assert graded.score < graded.max_score
    ties = next(c for c in graded.checks if c.name == "ties go to the lowest index")
    assert ties.status == "failed" and "you break ties at random" in ties.hint
    path = tmp_path / "bandits.py"
    path.write_text(BANDITS + RANDOM_TIES)
    report = run_check(path)
    checked = group_result(report.result, "epsilon_greedy")
    assert checked.status == "failed"
    text = format_report(report)
    assert "the lowest of the tied best arms" in text and "ties must go to the lowest index" in text


def test_check_warns_about_a_package_the_grader_does_not_have(tmp_path):
    path = tmp_path / "bandits.py"
    path.write_text(BANDITS.replace("import numpy as np", "import numpy as np\nimport copydetect", 1))
    report = run_check(path)
    text = format_report(report)
    first = text.splitlines()[0]
    assert first.startswith("warning: your file imports `copydetect` (line ")
    assert "numpy (≥ 1.26), torch 2.13.0, gymnasium (≥ 1.0), matplotlib (≥ 3.7), tqdm" in first
    assert "not available to submissions" in text and not report.passed      # and the check does what grading does
    clean = tmp_path / "ok" / "bandits.py"
    clean.parent.mkdir()
    clean.write_text(BANDITS)
    assert "warning" not in format_report(run_check(clean))


def test_every_statement_lists_the_packages_from_course_toml():
    packages = offered_packages()
    assert [p.name for p in packages] == ["numpy", "torch", "gymnasium", "matplotlib", "tqdm"]
    assert str(packages[1]) == "torch 2.13.0"            # the grader's own pin
    block = statement_block()
    for readme in sorted((ROOT / "assignments").glob("*/README.md")):
        assert block in readme.read_text(), f"{readme}: run `grader templates`"


def test_every_offered_package_is_importable_by_the_grader():
    import importlib

    for package in offered_packages():
        importlib.import_module(package.name)


def test_html_feedback_of_an_import_failure_names_the_cause_once(grade_source):
    source, summary, hint = IMPORT_FAILURES["a package the grader does not have"]
    result = grade_source("bandits", source, only=HOLES)
    page = render_html(result)
    assert page.count(f"`{ABSENT}` is not available to submissions") == 1
    assert scores(result) == {"epsilon_greedy": 0, "update_estimate": 0}


@pytest.mark.parametrize("package, graded", [("copydetect", False), ("tqdm", True), ("scipy_or_anything", False)])
def test_an_import_is_available_exactly_when_the_course_lists_it(grade_source, tmp_path, package, graded):
    """One list (course.toml), enforced in the child wherever the grader is installed: copydetect is on this
    machine (the grader's similarity report uses it) but not the course's, so a submission that imports
    it fails, graded and checked alike; tqdm is the course's (students use progress bars)."""
    source = BANDITS.replace("import numpy as np", f"import numpy as np\nimport {package}", 1)
    result = grade_source("bandits", source, only=HOLES)
    assert (result.score == 7) is graded, said(result)
    path = tmp_path / "bandits.py"
    path.write_text(source)
    assert run_check(path).passed is graded
    if not graded:
        assert result.cause.summary.startswith(f"ModuleNotFoundError: No module named '{package}'")
        assert "not available to submissions" in said(result)


# -- threshold groups: numbers that read right, the likely cause named --------------------------------
def test_budget_wording_cannot_look_exceeded():
    from grader.kits.cartpole.parent import budget_used

    assert budget_used(351, 350) == "the 350-episode budget used up (1 more finished on the same last step)"
    assert budget_used(350, 350) == "the 350-episode budget used up"
    assert budget_used(200, 350) == "200 of the 350 budget episodes used"


def test_a_passing_run_does_not_read_as_a_failure():
    import numpy as np

    from grader.kits.cartpole.parent import learning_summary

    line = learning_summary(np.full(100, 362.3), np.arange(100.0))
    assert line == "100 training episodes; best mean of 20 consecutive episodes 362.3"     # no "(< 475)"


def test_a_function_with_another_signature_is_said_once_with_the_contract(grade_source):
    source = BANDITS + "\ndef update_estimate(estimate, count, reward):\n    return estimate + (reward - estimate) / count\n"
    test = grade_source("bandits", source, only=["update_estimate"]).tests[0]
    assert test.cause.kind == "signature"
    assert test.cause.summary == "TypeError: update_estimate() takes 3 positional arguments but 4 were given"
    assert "def update_estimate(estimate: float, count: int, reward: float, alpha: float) -> float" in test.cause.hint
    assert all(c.status == "not run" for c in test.checks) and feedback(test).count("TypeError") == 1
