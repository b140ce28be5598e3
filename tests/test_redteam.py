"""Red team: hostile ``bandits.py`` submissions (tests/redteam/) gain nothing and harm nothing.

Every case asserts a clear message in the feedback, no points beyond its
honest parts, the grader alive (it returns a result and keeps grading the
other groups), no process left behind and nothing left on disk. Cases that
only namespaces can contain (reading files, network, process count, disk
quota) or only the seccomp filter (keyrings, locks, ptrace, new namespaces,
kernel interfaces) are skipped where the machine has none, saying so, and
fail instead when ``CI=true`` (tests/conftest.py).
"""

from __future__ import annotations

import ast
import ctypes
import os
import platform
import socket
import tempfile
import time
from pathlib import Path

import pytest

from grader.feedback.text import group_text
from grader.sandbox import process as sandbox_process
from tests.conftest import ISOLATION, ROOT, grade_path, group_result, needs_isolation, needs_seccomp, scores

REDTEAM = Path(__file__).resolve().parent / "redteam"
HONEST = (REDTEAM / "_honest.py").read_text()
SYSCALLS = (REDTEAM / "_syscalls.py").read_text()
needs_namespaces = needs_isolation
pytestmark = pytest.mark.timeout(120)

EPS, UPD = "epsilon_greedy", "update_estimate"


@pytest.fixture
def children(monkeypatch):
    """Work directories of every child started during the test; afterwards none may exist,
    on disk or in any process's command line."""
    workdirs: list[Path] = []
    original = sandbox_process.tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        path = original(*args, **kwargs)
        if str(kwargs.get("prefix", "")).startswith("grader-child-"):
            workdirs.append(Path(path))
        return path

    monkeypatch.setattr(sandbox_process.tempfile, "mkdtemp", mkdtemp)
    yield workdirs
    assert workdirs, "no child was started"
    end = time.monotonic() + 10
    while True:
        left = _processes_mentioning([str(w) for w in workdirs])
        if not left or time.monotonic() > end:
            break
        time.sleep(0.2)
    assert not left, f"processes left behind: {left}"
    assert not [w for w in workdirs if w.exists()], "a child's work directory was left on disk"


def _processes_mentioning(needles: list[str]) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if any(n in cmdline for n in needles):
            found.append(f"{pid}: {cmdline[:120]}")
    return found


def grade_case(tmp_path: Path, case: str, only: list[str], replace: dict[str, str] | None = None, **options):
    """Grade tests/redteam/CASE.py as a bandits submission."""
    source = (REDTEAM / f"{case}.py").read_text().replace("# HONEST\n", HONEST).replace("# SYSCALLS\n", SYSCALLS)
    for key, value in {"__ROOT__": str(ROOT), **(replace or {})}.items():
        source = source.replace(key, value)
    folder = tmp_path / "submission"
    folder.mkdir()
    path = folder / "bandits.py"
    path.write_text(source)
    result = grade_path(path, "bandits", only=only, **options)
    assert result.extra_data["sandbox"].startswith("sandbox:")
    assert [t.name for t in result.tests] == [g for g in (EPS, UPD, "agent") if g in only]
    return result


def feedback(result, group: str) -> str:
    return group_text(group_result(result, group))


FAST = {"time_scale": 0.1}  # wall 3 s and CPU 6 s per group instead of 30 s and 60 s


@pytest.mark.parametrize("case, message", [
    ("exit_at_import", "sys.exit(0)"),
    ("os_exit_at_import", "did the submission call sys.exit() or os._exit()?"),
    pytest.param("import_grader", "No module named 'grader'", marks=needs_namespaces),
])
def test_fails_at_import(tmp_path, children, case, message):
    result = grade_case(tmp_path, case, [UPD])
    assert scores(result) == {UPD: 0}
    assert "failed to import" in feedback(result, UPD) or "exited while" in feedback(result, UPD)
    assert message in feedback(result, UPD)


@pytest.mark.parametrize("case, message", [
    ("exit_in_hole", "sys.exit(0)"),
    ("os_exit_in_hole", "exited while running update_estimate (exit status 0"),
    ("allocate_30gb", "MemoryError"),
    ("write_2gb", "File too large"),
])
def test_hole_that_ends_or_harms_the_child(tmp_path, children, case, message):
    result = grade_case(tmp_path, case, [UPD])
    assert scores(result) == {UPD: 0}
    assert message in feedback(result, UPD)


def test_infinite_loop_is_stopped(tmp_path, children):
    t0 = time.monotonic()
    result = grade_case(tmp_path, "infinite_loop", [UPD], **FAST)
    assert scores(result) == {UPD: 0}
    assert "time limit reached" in feedback(result, UPD)
    assert time.monotonic() - t0 < 30


def test_sleeping_group_costs_only_itself(tmp_path, children):
    result = grade_case(tmp_path, "sleep_past_timeout", [EPS, UPD], **FAST)
    assert scores(result) == {EPS: 0, UPD: 3}
    assert "time limit reached" in feedback(result, EPS)


def test_lying_objects_get_nothing(tmp_path, children):
    result = grade_case(tmp_path, "lying_objects", [EPS, UPD])
    assert scores(result) == {EPS: 0, UPD: 0}
    assert "got AlwaysEqual" in feedback(result, UPD) or "returned" in feedback(result, UPD)


def test_monkeypatching_its_own_process_changes_no_verdict(tmp_path, children):
    result = grade_case(tmp_path, "monkeypatch", [UPD])
    assert scores(result) == {UPD: 0}
    out = feedback(result, UPD)
    assert "patched numpy" in out and "✗ sample average (α = 0) on random cases" in out
    assert "must equal the reward" in out


def test_memory_and_stack_scans_find_no_expected_values(tmp_path, children):
    result = grade_case(tmp_path, "scan_memory", [UPD])
    assert scores(result) == {UPD: 0}
    assert "scan found" in feedback(result, UPD) and "must equal the reward" in feedback(result, UPD)


def test_printing_200mb_is_truncated_and_honest_parts_score(tmp_path, children):
    result = grade_case(tmp_path, "print_200mb", [UPD])
    assert scores(result) == {UPD: 3}
    out = feedback(result, UPD)
    assert "characters not shown" in out and len(out) < 10_000


@pytest.mark.parametrize("how, message", [
    ("header_32mb", "33,554,434-byte header, over the 1,048,576-byte limit"),
    ("elements", "more than 100,000 elements"),
    ("deep", "nested more than 32 levels deep"),
    ("announce_100gb", "107,374,182,400 bytes of arrays"),
    ("garbage", "over the 1,048,576-byte limit"),
    ("forged", "a reply that does not answer this call"),
    ("trickle", "part-way through a reply"),
])
def test_flooding_the_grader_channel_costs_only_its_group(tmp_path, children, how, message):
    """Writing on the reply pipe (its fd is in sys.argv) gains nothing: the frame is refused by its
    prefix or header before it costs the parent memory (bench/bench_flood.py measures it), the
    group ends within its time limit and is not restarted, and the other group keeps its points.
    A slow trickle is indistinguishable from a slow reply until the group's time is up."""
    t0 = time.monotonic()
    result = grade_case(tmp_path, "flood_channel", [EPS, UPD], {"__HOW__": how}, **FAST)
    assert scores(result) == {EPS: 4, UPD: 0}
    out = feedback(result, UPD)
    assert message in out
    if how == "trickle":
        assert "time limit reached while running update_estimate" in out
    else:
        assert out.count("your program wrote to the grader's channel") == 1     # said once, for the group
        assert group_result(result, UPD).cause.kind == "protocol"
        assert out.count("not run: see above") == 3               # the group's other checks: no restart
    assert len(children) == 1                 # the passing group's child was handed on; none respawned
    wall = FAST["time_scale"] * 30                                # the group's time limit under FAST
    assert group_result(result, UPD).seconds < wall + 5           # within its limit, + slack for a loaded machine
    assert time.monotonic() - t0 < 60


@needs_namespaces
def test_fake_results_and_forged_frames_change_nothing(tmp_path, children):
    outside = tmp_path / "outside"
    outside.mkdir()
    before = set(os.listdir(ROOT))
    result = grade_case(tmp_path, "fake_results", [UPD], {"__OUTSIDE__": str(outside)})
    assert scores(result) == {UPD: 0} and result.score == 0
    out = feedback(result, UPD)
    assert "✗" in out and "score: 10 / 10" in out.split("--- your program printed ---", 1)[1]
    if not str(ROOT).startswith(tempfile.gettempdir()):
        # Under /tmp (a CI clone, say) the write lands in the sandbox's private /tmp instead:
        # the host-side checks below are what matter.
        assert "could not write results.json in __ROOT__".replace("__ROOT__", str(ROOT)) in out
    assert not (outside / "results.json").exists()
    assert not (ROOT / "results.json").exists() and set(os.listdir(ROOT)) - before == set()
    assert not list((tmp_path / "submission").glob("results.json"))
    assert not (tmp_path / "results.json").exists()


@needs_namespaces
def test_reading_solutions_by_path_search_finds_nothing(tmp_path, children):
    result = grade_case(tmp_path, "read_solutions_by_path", [UPD])
    assert scores(result) == {UPD: 0}
    assert "search found: nothing" in feedback(result, UPD)


@needs_namespaces
def test_fork_500_is_capped_and_nothing_survives(tmp_path, children):
    result = grade_case(tmp_path, "fork_500", [UPD])
    out = feedback(result, UPD)
    assert scores(result) == {UPD: 0}
    assert "BlockingIOError" in out and "Resource temporarily unavailable" in out
    made = int(out.split("forked ", 1)[1].split()[0])
    assert made < 100


@needs_namespaces
def test_sockets_to_localhost_reach_nothing(tmp_path, children):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.settimeout(0)
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    udp.settimeout(0)
    try:
        result = grade_case(tmp_path, "socket_out", [UPD], {"__PORT__": str(port)})
        with pytest.raises(BlockingIOError):
            tcp.accept()
        with pytest.raises(BlockingIOError):
            udp.recvfrom(4096)
    finally:
        tcp.close()
        udp.close()
    assert scores(result) == {UPD: 3}  # the functions are honest; the leak failed
    out = feedback(result, UPD)
    assert "TCP connect failed" in out and "Network is unreachable" in out
    assert "succeeded" not in out


@pytest.fixture
def grader_session_keyring():
    """Give the grader a session keyring of its own, as a login session (pam_keyinit) does: every
    child inherits it unless the sandbox replaces it. Best effort: without keyrings there is none."""
    numbers = {"x86_64": 250, "aarch64": 219}
    if platform.machine() in numbers:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(numbers[platform.machine()], 1, b"grader-test-session")  # KEYCTL_JOIN_SESSION_KEYRING


@needs_seccomp
def test_keyring_relay_between_groups_finds_nothing(tmp_path, children, grader_session_keyring):
    """epsilon_greedy's child stores its inputs in the session, user and a named keyring, opened
    to everyone; update_estimate's child, the next group, looks for them. Measured before the
    fix: as root, the second child read the key through /proc/keys."""
    result = grade_case(tmp_path, "keyring_relay", [EPS, UPD])
    assert scores(result) == {EPS: 4, UPD: 3}   # the honest functions; the relay adds nothing
    wrote, read = feedback(result, EPS), feedback(result, UPD)
    assert "keyring write to the session keyring: refused: PermissionError" in wrote
    assert "keyring join of a named keyring: refused: PermissionError" in wrote
    assert "succeeded" not in wrote
    assert "keyring read: nothing" in read and "keyring search of the session keyring: refused" in read
    assert "epsilon_greedy was given" not in read


@needs_seccomp
@pytest.mark.parametrize("case, attempts", [
    ("ptrace_peek", ["ptrace seize of a forked copy", "process_vm_readv of a forked copy",
                     "ptrace seize of the sandbox's init", "process_vm_readv of the sandbox's init"]),
    ("namespace_escape", ["unshare of a user namespace", "unshare of a mount namespace",
                          "clone into new user and network namespaces", "mount of a tmpfs over /tmp",
                          "pivot_root", "chroot", "setns"]),
    ("kernel_interfaces", ["io_uring_setup", "bpf map create", "perf_event_open", "userfaultfd"]),
])
def test_forbidden_system_calls_are_refused(tmp_path, children, case, attempts):
    """Each attempt fails with a PermissionError the student can read; the child lives on and
    its honest function keeps its points."""
    result = grade_case(tmp_path, case, [UPD])
    assert scores(result) == {UPD: 3}
    out = feedback(result, UPD)
    for what in attempts:
        assert f"{what}: refused: PermissionError: [Errno 1] Operation not permitted" in out, what
    assert "succeeded" not in out and "read:" not in out
    if case == "namespace_escape":
        assert "plain fork: exit status 7" in out


@needs_namespaces
def test_filling_the_disk_hits_the_quota(tmp_path, children):
    result = grade_case(tmp_path, "fill_disk", [UPD])
    assert scores(result) == {UPD: 0}
    assert "No space left on device" in feedback(result, UPD)


@needs_namespaces
def test_planted_pickle_and_torchscript_files_are_never_loaded(tmp_path, children):
    """The grader loads no file a submission writes (a child sends back arrays only; the VAE's
    threshold trains the course's own model in the grader's process), so a planted .pt or
    TorchScript archive is never loaded; planting outside the sandbox fails."""
    outside = tmp_path / "outside"
    outside.mkdir()
    source = (REDTEAM / "vae_model_files.py").read_text()
    source = source.replace("__ROOT__", str(ROOT)).replace("__OUTSIDE__", str(outside))
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "vae.py").write_text(source)
    before = set(os.listdir(ROOT)), set(os.listdir(ROOT / "assignments" / "vae"))
    result = grade_path(folder / "vae.py", "vae", only=["kl_divergence"])
    out = feedback(result, "kl_divergence")
    assert scores(result) == {"kl_divergence": 3}  # the honest hole keeps its points, nothing more
    planted = ast.literal_eval(out.split("planted: ", 1)[1].splitlines()[0])
    assert "./model.pt" in planted and all(p.startswith(("./", "../", "/tmp/")) for p in planted)  # sandbox only
    assert "could not plant " + str(outside / "model.pt") in out
    assert not list(outside.iterdir()) and not (outside / "payload-ran").exists()
    assert (set(os.listdir(ROOT)), set(os.listdir(ROOT / "assignments" / "vae"))) == before
    assert not list(folder.glob("*.pt")) and not list(tmp_path.glob("*.pt"))


@pytest.mark.parametrize("how", ["fixed", "runner_up", "softmax_explore", "explore_then_commit", "other_epsilon",
                                 "no_greedy_in_exploration"])
def test_an_epsilon_greedy_that_is_not_epsilon_greedy_gets_no_agent_points(tmp_path, children, how):
    """Exploring toward the runner-up or by a softmax earns as much as the reference (the reward-only
    threshold passed such agents before issue 13); with the exact greedy share only the uniformity of the
    non-greedy actions tells. The course's agents run with these holes and the group sees what they did;
    the honest update_estimate keeps its points."""
    result = grade_case(tmp_path, "other_learners", [UPD, "agent"], replace={"__HOW__": how})
    assert scores(result) == {UPD: 3, "agent": 0}, feedback(result, "agent")
    text = feedback(result, "agent")
    assert "took a greedy arm" in text or "not drawn uniformly from the non-greedy arms" in text, text
    assert "also on fresh problems" not in text      # a broken rule is not chance


@pytest.mark.parametrize("how, agent_points", [("honest", 3), ("unimplemented", 0)])
def test_the_agent_class_plays_no_part_in_the_score(tmp_path, children, how, agent_points):
    """A UCB agent class with honest holes keeps every point (the class is not scored); with the
    holes unimplemented the same class earns nothing."""
    result = grade_case(tmp_path, "agent_class_only", [EPS, UPD, "agent"], replace={"__HOW__": how})
    assert scores(result)["agent"] == agent_points, feedback(result, "agent")


def test_mutating_the_estimates_and_patching_numpy_loses_the_points(tmp_path, children):
    """epsilon_greedy edits its input and the file replaces np.array_equal: the parent compares what it
    sent with the estimates as they were after the call, in its own process."""
    result = grade_case(tmp_path, "mutating_estimates", [EPS, "agent"])
    assert scores(result) == {EPS: 0, "agent": 0}, feedback(result, EPS)
    assert "modified the estimates" in feedback(result, EPS)


VAE_HOLES = {how: (REDTEAM / f"_{how}_vae.py").read_text() for how in ("honest", "missing", "wrong")}


def _grade_vae_case(tmp_path: Path, case: str, holes: str, only: list[str], replace: dict[str, str] | None = None):
    """Grade tests/redteam/CASE.py as a vae.py, its ``# HOLES`` line the honest, missing (the template's)
    or wrong holes."""
    source = (REDTEAM / f"{case}.py").read_text().replace("# HOLES\n", VAE_HOLES[holes])
    for key, value in (replace or {}).items():
        source = source.replace(key, value)
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "vae.py").write_text(source)
    return grade_path(folder / "vae.py", "vae", only=only)


def _held_out_digits() -> str:
    import base64
    import zlib

    from grader.core.suite import import_local

    mnist = import_local(str(ROOT / "assignments" / "vae" / "hidden" / "suite.py"), "mnist")
    return base64.b64encode(zlib.compress(mnist.load_split().held_out.tobytes(), 9)).decode()


@pytest.mark.timeout(600)      # wrong holes: the course's VAE is trained three times (a miss is trained again)
@pytest.mark.parametrize("case, holes, message", [
    ("vae_carrier", "missing", "not implemented yet (NotImplementedError: reparametrize)"),
    ("vae_trains_nothing", "missing", "not implemented yet (NotImplementedError: reparametrize)"),
    ("vae_carrier", "wrong", "is above the threshold"),
])
def test_a_vae_hand_in_without_working_holes_gets_no_elbo_points(tmp_path, children, case, holes, message):
    """Issue 21: a hand-in with no VAE that carried the public held-out digits and replayed the nearest
    one got 4/4 (-ELBO 180.1, "training took 0.1 s"); one whose train returned an untrained model got
    1/4 (it rebuilt in a fresh process). The grader trains the course's VAE with the holes and never
    calls their train or class: with the template's holes the course's loop stops at its first call
    of them, with wrong ones the course's VAE learns too little; 0 of 4 either way."""
    replace = {"__DIGITS__": _held_out_digits()} if case == "vae_carrier" else {}
    test = group_result(_grade_vae_case(tmp_path, case, holes, ["elbo"], replace), "elbo")
    text = group_text(test)
    assert test.score == 0, text
    assert message in text, text
    assert "train called" not in text and "CARRIER" not in text        # their train is never called
    if holes == "wrong":
        assert test.extra_data["negative_elbo"] > test.extra_data["threshold"] + 20, text


@pytest.mark.timeout(600)
def test_honest_holes_with_a_cheating_vae_class_score_what_the_holes_earn(tmp_path, children):
    """The same carrier with honest holes gets the full threshold points, and its bound is the course's
    VAE's, not the replay's (about 56 nats on the raw digits): nothing it builds is scored."""
    result = _grade_vae_case(tmp_path, "vae_carrier", "honest", ["elbo"], {"__DIGITS__": _held_out_digits()})
    test = group_result(result, "elbo")
    text = group_text(test)
    assert test.score == test.max_score, text
    assert "train called" not in text
    assert test.extra_data["negative_elbo"] > 150, text       # an honest Z = 2 VAE's bound, not a replay's


def test_replacing_torch_randn_does_not_fake_the_reference_noise(tmp_path, children):
    """Issue 21: the probe drew the reference eps in the child with torch.randn, which the hand-in had
    replaced: 3/3. The reference is drawn in the grader's process: the hand-in's noise (numpy's) is
    normal, independent and scaled right, but not torch's global generator's: 2.7 of 3."""
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "vae.py").write_text((REDTEAM / "vae_fake_randn.py").read_text())
    result = grade_path(folder / "vae.py", "vae", only=["reparametrize"])
    test = group_result(result, "reparametrize")
    failed = [c.name for c in test.checks if not c.passed]
    assert failed == ["eps comes from torch's global generator: after torch.manual_seed(s) it equals torch.randn(shape)"], \
        group_text(test)
    assert test.score == pytest.approx(2.7)


@pytest.mark.parametrize("isolated", [pytest.param(True, marks=needs_isolation), False])
def test_detached_process_is_gone_before_the_result_exists(tmp_path, children, isolated):
    """A setsid'd grandchild outlives its process group; without namespaces it rewrote results.json
    after the grader had finished. Now the PID namespace (isolated) or the subreaper sweep
    (fallback) kills it before grade returns, so nothing writes afterwards."""
    from grader.sandbox import NoIsolation

    outside = tmp_path / "outside"
    outside.mkdir()
    isolation = ISOLATION if isolated else NoIsolation(reason="test of the fallback")
    result = grade_case(tmp_path, "detached_process", [UPD], {"__OUTSIDE__": str(outside)}, isolation=isolation)
    assert scores(result) == {UPD: 3}   # the hole is honest; the daemon gains nothing
    assert "started a detached process" in feedback(result, UPD)
    if not isolated:
        assert result.output.startswith("WARNING: graded WITHOUT namespace isolation (test of the fallback)")
        pid = int((outside / "daemon.pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    else:
        assert not (outside / "daemon.pid").exists()
    (outside / "results.json").unlink(missing_ok=True)
    time.sleep(1.5)
    assert not (outside / "results.json").exists(), "a process of the submission wrote after grading ended"
