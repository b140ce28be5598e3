"""The class page in a real browser (Debian's headless Chromium, tests/browser.py): it loads with no console
error, sorting and filtering work, every link resolves, and a student name carrying HTML is shown as text.

Skipped where no Chromium is installed; a failure under CI=true (.ci/run installs one)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from grader.workflows.report import write_report
from grader.workflows.similarity import similarity_report
from tests.browser import Browser, require_browser
from tests.conftest import ROOT
from tests.fake_results import make_class, write_result

pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("class_page_browser")]

HOSTILE = ['<img src=x onerror="window.pwned=1">', '"><svg onload=alert(2)>']


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = require_browser()
    with Browser(binary, width=1400, height=1000) as b:
        yield b


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A small class: full, partial, timed-out, refused, missing, needs-review (overridden), errored results,
    two students whose folder names are markup, a similarity report with a flagged pair, and an
    overrides.csv with one refused line."""
    tmp = tmp_path_factory.mktemp("class")
    subs, out = tmp / "subs", tmp / "out"
    solution = (ROOT / "solutions" / "bandits.py").read_text()
    for student in ("alice", "bob"):                       # a copy: the flagged pair
        (subs / student).mkdir(parents=True)
        (subs / student / "bandits.py").write_text(solution)
    (subs / "carol").mkdir()
    (subs / "carol" / "bandits.py").write_text((ROOT / "templates" / "bandits.py").read_text())
    similarity_report(subs, out / "similarity", "bandits")
    write_result(out, "alice", "bandits", seconds=2.0)
    write_result(out, "bob", "bandits", {"agent": 0, "epsilon_greedy": 2}, seconds=4.5)
    write_result(out, "carol", "bandits", {"update_estimate": 0}, timeout="update_estimate", seconds=40.0)
    write_result(out, "dave", "bandits", {g: 0 for g in ("epsilon_greedy", "update_estimate", "agent")},
                 status="refused: symlink: dave/bandits.py is a symbolic link", feedback=False)
    write_result(out, "erin", "bandits", status="missing: erin/bandits.py is no longer in the submissions folder")
    for i, name in enumerate(HOSTILE):
        write_result(out, name, "bandits", {"agent": i})
    write_result(out, "alice", "vae")
    write_result(out, "mallory", "vae", {"elbo": 0}, needs_review="needs review: negative ELBO 60.0 below 165")
    write_result(out, "frank", "vae", status="error: grading took longer than 400 s")
    (out / "overrides.csv").write_text("student,assignment,group,points,reason,who\n"
                                       "mallory,vae,elbo,4,read the code: an honest VAE,dr.k\n"
                                       "bob,bandits,agent,lots,r,k\n")
    summary = write_report(out)
    assert len(summary.problems) == 1
    return out


@pytest.fixture
def page(browser: Browser, results: Path) -> Browser:
    browser.errors.clear()
    browser.open((results / "index.html").as_uri())
    return browser


def rows(b: Browser, section: str) -> list[dict]:
    """The visible rows of a section's table: first cell's text and each cell's sort value."""
    return b.eval(f"""Array.from(document.querySelectorAll({json.dumps(section)} + ' table.rows tbody tr'))
        .filter(tr => !tr.hidden && !tr.closest('section').hidden)
        .map(tr => ({{name: tr.cells[0].textContent, values: Array.from(tr.cells).map(c => c.dataset.v ?? null)}}))""")


def click(b: Browser, section: str, column: str) -> None:
    b.eval(f"""Array.from(document.querySelectorAll({json.dumps(section)} + ' thead th button'))
        .find(x => x.textContent === {json.dumps(column)}).click()""")


def choose(b: Browser, element: str, value: str) -> None:
    b.eval(f"""(() => {{ const e = document.getElementById({json.dumps(element)}); e.value = {json.dumps(value)};
        e.dispatchEvent(new Event('input')); }})()""")


def test_loads_with_no_console_error(page: Browser) -> None:
    assert page.errors == [] and page.dialogs == []
    assert page.eval("document.getElementById('count').textContent") == "10 of 10 results shown"
    assert page.eval("document.querySelector('.problems').textContent").count("overrides.csv line 3") == 1


def test_sorting_by_a_column_and_back(page: Browser) -> None:
    bandits = "#a-1"
    click(page, bandits, "total")
    totals = [r["values"][1] for r in rows(page, bandits)]
    assert totals == ["0", "5", "7", "7", "8", "10", ""]                     # numbers ascending, no score last
    click(page, bandits, "total")
    assert [r["values"][1] for r in rows(page, bandits)] == ["10", "8", "7", "7", "5", "0", ""]
    assert page.eval("document.querySelector('#a-1 th[aria-sort]').textContent") == "total"
    click(page, bandits, "student")
    names = [r["name"] for r in rows(page, bandits)]
    assert names == sorted(names, key=str.lower)
    click(page, bandits, "time (s)")
    times = [float(r["values"][-1]) for r in rows(page, bandits)]
    assert times == sorted(times)
    assert page.errors == []


def test_filtering_by_name_status_and_assignment(page: Browser) -> None:
    choose(page, "q", "ALI")
    assert {r["name"] for r in rows(page, "#a-1")} == {"alice"} and {r["name"] for r in rows(page, "#a-2")} == {"alice"}
    assert page.eval("document.getElementById('count').textContent") == "2 of 10 results shown"
    choose(page, "q", "")
    choose(page, "kind", "needs review")
    assert rows(page, "#a-1") == [] and [r["name"] for r in rows(page, "#a-2")] == ["mallory"]
    assert [r["name"] for r in rows(page, "#queue")] == ["mallory"]
    choose(page, "kind", "overridden")
    assert [r["name"] for r in rows(page, "#a-2")] == ["mallory"]
    choose(page, "kind", "")
    choose(page, "only", "vae")
    assert page.eval("document.getElementById('a-1').hidden") is True
    assert {r["name"] for r in rows(page, "#a-2")} == {"alice", "mallory", "frank"}
    assert {r["name"] for r in rows(page, "#queue")} == {"mallory", "frank"}
    choose(page, "only", "")
    assert len(rows(page, "#a-1")) == 7 and page.errors == []


def test_every_link_resolves(page: Browser, results: Path) -> None:
    index = (results / "index.html").as_uri()
    links = page.eval("Array.from(document.links).map(a => a.href)")
    assert any(link.endswith("similarity.html#pair-0") for link in links)
    assert sum(link.endswith("/feedback.html") for link in links) >= 9
    for link in sorted(set(links)):
        url = urlparse(link)
        assert url.scheme == "file", link
        path = Path(unquote(url.path))
        assert path.is_file() and path.resolve().is_relative_to(results.resolve()), link
        if url.fragment and link.split("#")[0] == index:
            assert page.eval(f"document.getElementById({json.dumps(url.fragment)}) !== null"), link
    for link in sorted({link for link in links if not link.startswith(index) and ".html" in link}):
        page.errors.clear()
        page.open(link)                                # really opened: a missing file is a console error
        assert page.errors == [], (link, page.errors)
        fragment = urlparse(link).fragment
        if fragment:
            assert page.eval(f"document.getElementById({json.dumps(unquote(fragment))}) !== null"), link


def test_a_name_carrying_html_is_shown_as_text(page: Browser) -> None:
    shown = page.eval("Array.from(document.querySelectorAll('#a-1 tbody tr')).map(tr => tr.cells[0].textContent)")
    for name in HOSTILE:
        assert name in shown
    assert page.eval("document.querySelectorAll('img').length") == 0
    assert page.eval("document.querySelectorAll('svg').length") == 2          # the two histograms, nothing else
    assert page.eval("window.pwned === undefined") is True and page.dialogs == []


def test_a_300_student_page_loads_sorts_and_filters(browser: Browser, tmp_path: Path) -> None:
    out = tmp_path / "class"
    make_class(out, 300, curve=0)
    write_report(out)
    browser.errors.clear()
    browser.open((out / "index.html").as_uri())
    assert browser.errors == []
    total = browser.eval("document.querySelectorAll('section.assignment tbody tr').length")
    assert total > 1400
    assert browser.eval("document.getElementById('count').textContent") == f"{total} of {total} results shown"
    click(browser, "#a-3", "total")
    totals = [float(v) for v in (r["values"][1] for r in rows(browser, "#a-3")) if v]
    assert totals == sorted(totals) and len(totals) > 280
    choose(browser, "q", "student29")
    assert {r["name"] for r in rows(browser, "#a-3")} <= {f"student29{i}" for i in range(10)}
    shot = browser.screenshot(tmp_path / "shot.png")
    assert shot.stat().st_size > 20_000                                         # drawn, not blank
    assert browser.errors == []


def test_the_browser_helper_sees_errors(browser: Browser, tmp_path: Path) -> None:
    """The checks above can fail: an exception, a missing file and an alert are seen."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><img src='nope.png'><script>alert('hi'); undefined_function();</script>")
    browser.errors.clear()
    browser.open(bad.as_uri())
    assert browser.dialogs[-1] == "hi"
    assert any("undefined_function" in e for e in browser.errors) and any("nope.png" in e for e in browser.errors)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_missing_browser_is_a_skip_except_where_one_is_promised(monkeypatch) -> None:
    import tests.browser as browser_module

    monkeypatch.setattr(browser_module, "CHROMIUM", None)
    monkeypatch.delenv("GRADER_REQUIRE_BROWSER", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="this run promises one"):
        require_browser()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        require_browser()
