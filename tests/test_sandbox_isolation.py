"""The sandbox itself: what a namespaced child can see and do, its limits, and honest fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.cli import main as cli
from grader.core.course import protected_paths
from grader.sandbox import (
    Child,
    ChildFailure,
    ChildSpec,
    Limits,
    NamespaceIsolation,
    NoIsolation,
    SubmissionError,
    nsinit,
)
from grader.sandbox import isolation as iso
from grader.sandbox.cgroups import CgroupRoot, find_cgroup_root
from tests.conftest import ISOLATION, ROOT, grade_path, needs_isolation

SELECTED = ISOLATION
needs_namespaces = needs_isolation
pytestmark = pytest.mark.timeout(60)

PROBES = '''
def run(sub, ctx, code):
    scope = {}
    exec(code, scope)
    return scope.get("result")
'''


@pytest.fixture
def child_factory(tmp_path):
    """``make(limits=...)`` → a started Child whose probe ``run`` executes ``code`` in the sandbox."""
    (tmp_path / "probes.py").write_text(PROBES)
    (tmp_path / "sub.py").write_text("")
    made: list[Child] = []

    def make(**limits) -> Child:
        spec = ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py",
                         limits=Limits(**limits), isolation=SELECTED)
        child = Child(spec)
        made.append(child)
        child.start(time.monotonic() + 30)
        return child

    yield make
    for child in made:
        child.close()


def run(child: Child, code: str, timeout: float = 20):
    return child.call("run", {"code": textwrap.dedent(code)}, time.monotonic() + timeout)


# -- what the child sees -----------------------------------------------------------
@needs_namespaces
def test_child_sees_only_the_python_installation_and_its_work_directory(child_factory):
    child = child_factory()
    view = run(child, f"""
        import os, socket, sys
        result = {{
            "root": sorted(os.listdir("/")),
            "repo": sorted(os.listdir({str(ROOT)!r})) if os.path.exists({str(ROOT)!r}) else None,
            "sentinels": [p for p in {iso.sentinel_files(protected_paths())!r} if os.path.exists(p) and open(p, "rb").read(1)],
            "cwd": os.getcwd(), "cwd_files": sorted(os.listdir(".")),
            "tmp": sorted(os.listdir("/tmp")),
            "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
            "uid": os.getuid(), "host": socket.gethostname(),
            "sys_prefix_exists": os.path.isdir(sys.prefix),
        }}
        try:
            import grader
            result["grader"] = grader.__file__
        except ImportError as exc:
            result["grader"] = str(exc)
        for path in ("/usr/x", sys.prefix + "/x", "/x"):
            try:
                open(path, "w")
                result["wrote " + path] = True
            except OSError:
                pass
        open("mine.txt", "w").write("ok")
        open("/tmp/mine.txt", "w").write("ok")
        result["wrote"] = sorted(os.listdir(".")) + sorted(os.listdir("/tmp"))
    """)
    assert set(view["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "usr", "proc",
                                  "sys", "tmp", "root", "opt", "home", "work"} | {Path(p).parts[1] for p in iso.python_paths()}
    # The checkout is at most the empty way to a venv inside it (<checkout>/.venv): none of its files.
    on_the_way = {Path(p).relative_to(ROOT).parts[0] for p in iso.python_paths() if iso._is_within(p, str(ROOT))}
    assert view["repo"] is None or set(view["repo"]) <= on_the_way, view["repo"]
    assert view["sentinels"] == [] and "No module named 'grader'" in view["grader"]
    assert view["cwd"] == str(child.workdir) and view["cwd_files"] == ["_runner", "sub.py", "tmp"]
    assert view["tmp"] == [child.workdir.name]  # /tmp is private: only the child's own folder
    assert view["pids"] == ["1", "2"] and view["uid"] != 0 and view["host"] == "sandbox"
    assert view["sys_prefix_exists"] and not any(k.startswith("wrote /") for k in view)
    assert "mine.txt" in view["wrote"]
    assert not (child.workdir / "mine.txt").exists()  # writes stay in the sandbox's tmpfs


@needs_namespaces
def test_no_network_at_all(child_factory):
    child = child_factory()
    got = run(child, """
        import socket
        result = []
        for family, addr in ((socket.AF_INET, ("127.0.0.1", 80)), (socket.AF_INET, ("1.1.1.1", 53))):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(1)
            try:
                s.connect(addr)
                result.append("connected")
            except OSError as exc:
                result.append(exc.errno)
        result.append(sorted(n for _, n in socket.if_nameindex()))
    """)
    assert "connected" not in got and got[-1] == ["lo"]


# -- limits --------------------------------------------------------------------------
@needs_namespaces
def test_disk_quota_covers_work_directory_and_tmp(child_factory):
    child = child_factory(disk_mb=8)
    got = run(child, """
        import errno
        block = b"x" * (1 << 20)
        written = 0
        try:
            for i in range(20):
                with open(("/tmp/" if i % 2 else "") + f"f{i}", "wb") as fh:
                    fh.write(block)
                written += 1
        except OSError as exc:
            result = (written, exc.errno == errno.ENOSPC)
    """)
    assert got[1] is True and 5 <= got[0] < 9


@needs_namespaces
def test_process_limit_counts_only_the_sandbox(child_factory):
    child = child_factory(processes=8)
    got = run(child, """
        import os, time
        made = 0
        try:
            for _ in range(50):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                made += 1
        except BlockingIOError:
            pass
        result = made
    """)
    assert 1 <= got < 8


@needs_namespaces
def test_close_kills_processes_that_left_the_process_group(child_factory):
    child = child_factory()
    pid = run(child, """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(300)
            os._exit(0)
        result = os.getpid()
    """)
    workdir = str(child.workdir)
    assert pid == 2
    child.close()
    time.sleep(0.3)
    assert not _processes_mentioning(workdir) and not Path(workdir).exists()


def _processes_mentioning(needle: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace"):
                found.append(pid)
        except OSError:
            pass
    return found


def test_signal_deaths_read_as_signals(child_factory):
    child = child_factory()
    with pytest.raises(ChildFailure, match="signal SIGKILL"):
        run(child, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")


def test_memory_limit_applies(child_factory):
    child = child_factory(memory_mb=512)
    with pytest.raises(SubmissionError, match="MemoryError"):
        run(child, "result = len(bytearray(1 << 30))")


def test_cpu_time_limit_stops_a_busy_child(child_factory):
    child = child_factory(cpu_seconds=1)
    with pytest.raises(ChildFailure, match="CPU time limit exceeded"):
        run(child, "while True:\n    pass")


def test_open_files_limit(child_factory):
    child = child_factory(open_files=32)
    with pytest.raises(SubmissionError, match="Too many open files"):
        run(child, "files = [open('/dev/null') for _ in range(100)]")


@needs_namespaces
def test_sandbox_and_work_directory_go_when_the_grader_dies(tmp_path):
    script = f"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from grader.core.course import sandbox_isolation
from grader.sandbox import Child, ChildSpec
from grader.core.assignment import load_assignment
a = load_assignment("bandits")
spec = ChildSpec(submission=Path({str(ROOT / 'solutions' / 'bandits.py')!r}), probes=a.probes_path,
                 isolation=sandbox_isolation())
child = Child(spec)
child.start(time.monotonic() + 20)
print(child.workdir, flush=True)
os._exit(0)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    workdir = out.stdout.strip()
    assert workdir.startswith("/"), out.stderr
    end = time.monotonic() + 5
    while (Path(workdir).exists() or _processes_mentioning(workdir)) and time.monotonic() < end:
        time.sleep(0.1)
    assert not Path(workdir).exists() and not _processes_mentioning(workdir)


# -- selection and honest fallback ------------------------------------------------------
def test_require_isolation_refuses_the_fallback(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(iso, "_select", lambda protected: NoIsolation(reason="user namespaces are disabled"))
    assert isinstance(iso.select_isolation(), NoIsolation)
    with pytest.raises(RuntimeError, match="user namespaces are disabled"):
        iso.select_isolation(require=True)
    code = cli.main(["grade", str(ROOT / "solutions" / "bandits.py"), "--require-isolation", "--only", "update_estimate"])
    assert code == 2 and "namespace isolation is not available" in capsys.readouterr().err


def test_fallback_says_so_in_the_result(tmp_path):
    result = grade_path(ROOT / "solutions" / "bandits.py", "bandits", only=["update_estimate"],
                        isolation=NoIsolation(reason="test"))
    assert result.score == 3
    assert "NO namespace isolation (test)" in result.output and "--require-isolation" in result.output
    assert result.extra_data["isolation"] == "none"


@needs_namespaces
def test_default_grading_uses_namespaces():
    result = grade_path(ROOT / "solutions" / "bandits.py", "bandits", only=["update_estimate"])
    assert result.score == 3 and "sandbox: Linux namespaces" in result.output
    assert result.extra_data["isolation"] == "namespaces"


def test_environment_variable_turns_isolation_off(monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "none")
    chosen = iso._select.__wrapped__(())
    assert isinstance(chosen, NoIsolation) and "GRADER_ISOLATION" in chosen.describe()


def test_probe_reports_why_namespaces_fail(monkeypatch):
    monkeypatch.setattr(iso, "NSINIT", Path("/nonexistent/nsinit.py"))
    assert "sandbox failed" in iso.probe("userns")


# -- configuration ----------------------------------------------------------------------
def test_config_binds_only_what_is_needed(tmp_path):
    config = iso.build_config(tmp_path, Limits(disk_mb=64, processes=16), "cpu", "root", hidden=(str(ROOT),))
    assert not any(b == "/" or str(ROOT).startswith(b.rstrip("/") + "/") and b not in iso.SYSTEM_DIRS
                   for b in config["binds"] if b not in ("/usr",))
    # Only the system folders, the Python installation and a few /etc files: nothing of /tmp or a
    # home folder unless the Python installation itself lives there (a venv under /tmp, say).
    python = [os.path.realpath(p) for p in iso.python_paths()]
    assert all(not b.startswith(("/tmp", "/home", "/root")) or any(iso._is_within(b, p) for p in python)
               for b in config["binds"]), config["binds"]
    assert "/sys" not in config["binds"] and config["disk_mb"] == 64 and config["processes"] == 16
    assert config["uid"] >= iso.UID_BASE and "cgroup_procs" not in config
    assert set(config["devices"]) == set(iso.DEVICES)


def test_secrets_below_a_bound_folder_are_masked(tmp_path):
    config = iso.build_config(tmp_path, Limits(), "cpu", "userns", hidden=("/usr/share/course", str(ROOT)))
    assert "/usr/share/course" in config["mask"]
    assert str(ROOT) not in config["mask"] or any(str(ROOT).startswith(b + "/") for b in config["binds"])


def test_symlinks_on_the_way_are_recreated(tmp_path, monkeypatch):
    real = tmp_path / "real" / "python"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    links, resolved = iso._real_chain(str(tmp_path / "link" / "python"))
    assert resolved == str(real) and links == [(str(tmp_path / "link"), str(tmp_path / "real"))]


def test_cuda_config_uses_a_cgroup_and_the_gpu_devices(tmp_path):
    cgroot = tmp_path / "cg"
    cgroot.mkdir()
    isolation = NamespaceIsolation(mode="root", cgroup=CgroupRoot(cgroot, 2))
    workdir = tmp_path / "grader-child-x"
    workdir.mkdir()
    argv = isolation.wrap(["python", "runner.py"], workdir, Limits(memory_mb=1024, processes=32), "cuda")
    assert argv[-2:] == ["python", "runner.py"] and argv[argv.index("--") - 2] == str(iso.NSINIT)
    import json
    config = json.loads(argv[argv.index("--") - 1])
    group = cgroot / "grader-grader-child-x"
    assert config["cgroup_procs"] == [str(group / "cgroup.procs")]
    assert (group / "memory.max").read_text() == str((1024 + Limits().disk_mb) << 20)
    assert (group / "pids.max").read_text() == "32"
    assert "/sys" in config["binds"] or not os.path.exists("/sys")
    assert "cgroup memory.max" in isolation.describe()
    for control in group.iterdir():  # cgroupfs removes its control files with the folder
        control.unlink()
    isolation.release(workdir)
    assert not group.exists()


@needs_namespaces
def test_cuda_child_joins_its_cgroup_and_sees_sys(tmp_path):
    """The CUDA path end to end, minus the GPU: a (fake) cgroup is made and joined, /sys is bound."""
    cgroot = tmp_path / "cg"
    cgroot.mkdir()
    (tmp_path / "probes.py").write_text(PROBES)
    (tmp_path / "sub.py").write_text("")

    class FakeCgroup(CgroupRoot):
        def create(self, name, memory_bytes, processes=0):
            procs = super().create(name, memory_bytes, processes)
            Path(procs[0]).touch()  # cgroupfs has it already
            return procs

    isolation = NamespaceIsolation(mode=SELECTED.mode, cgroup=FakeCgroup(cgroot, 2))
    spec = ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py", isolation=isolation,
                     limits=Limits(), device="cuda")
    child = Child(spec)
    try:
        child.start(time.monotonic() + 30)
        group = cgroot / f"grader-{child.workdir.name}"
        assert (group / "cgroup.procs").read_text() == "0"  # what a process writes to join its cgroup
        assert run(child, "import os\nresult = os.path.isdir('/sys/class')") is True
        assert run(child, "import os\nresult = os.environ['GRADER_DEVICE']") == "cuda"
        assert run(child, "import resource\nresult = resource.getrlimit(resource.RLIMIT_AS)[0]") == -1
    finally:
        child.close()


def test_cgroup_v1_is_used_on_cuda_only(tmp_path):
    isolation = NamespaceIsolation(mode="root", cgroup=CgroupRoot(tmp_path, 1))
    workdir = tmp_path / "grader-child-y"
    workdir.mkdir()
    argv = isolation.wrap(["python"], workdir, Limits(), "cpu")
    assert '"cgroup_procs"' not in argv[argv.index("--") - 1] and not (tmp_path / "grader-grader-child-y").exists()
    assert "also caps" not in isolation.describe()
    assert "also caps" in NamespaceIsolation(mode="root", cgroup=CgroupRoot(tmp_path, 2)).describe()


def test_cuda_without_a_cgroup_says_memory_is_not_limited():
    assert "not limited" in NamespaceIsolation(mode="userns", cgroup=None).describe()


def test_find_cgroup_root_v2_and_v1(tmp_path):
    fs = tmp_path / "fs"
    (fs / "grader.slice").mkdir(parents=True)
    (fs / "cgroup.controllers").write_text("cpu memory pids\n")
    (fs / "grader.slice" / "cgroup.subtree_control").write_text("memory pids\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/grader.slice\n")
    assert find_cgroup_root(fs, proc) == CgroupRoot(fs / "grader.slice", 2)
    (fs / "grader.slice" / "cgroup.subtree_control").write_text("pids\n")
    assert find_cgroup_root(fs, proc) is None  # memory not delegated: no cgroup, and we say so

    v1 = tmp_path / "v1"
    (v1 / "memory" / "job").mkdir(parents=True)
    (v1 / "memory" / "job" / "memory.limit_in_bytes").write_text("max")
    proc.write_text("4:memory:/job\n1:cpu:/\n")
    root = find_cgroup_root(v1, proc)
    assert root == CgroupRoot(v1 / "memory" / "job", 1)
    procs = root.create("child", 1 << 20)
    assert Path(procs[0]).parent.name == "child"
    assert (v1 / "memory" / "job" / "child" / "memory.limit_in_bytes").read_text() == str(1 << 20)


def test_limits_table_knows_disk_and_processes():
    limits = Limits.from_mapping({"disk_mb": 100, "processes": 10})
    assert limits.disk_mb == 100 and limits.processes == 10


def test_exit_status_mirroring():
    assert nsinit._mirror(0) == 0
    assert nsinit._mirror(3 << 8) == 3
    assert nsinit._mirror(nsinit.SETUP_FAILED << 8) == nsinit.SETUP_FAILED


def test_hide_modules_resolves_source_files_without_importing_them():
    import sys as _sys

    from grader.sandbox.isolation import module_files
    from grader.sandbox.limits import Limits

    _sys.modules.pop("json.tool", None)
    files = module_files(("json.tool", "json", "no_such_module_xyz"))
    assert files[0].endswith("json/tool.py") and files[1].endswith("/json")  # a package hides its folder
    assert len(files) == 2 and "json.tool" not in _sys.modules
    assert Limits.from_mapping({"hide_modules": ["a.b"]}).hide_modules == ("a.b",)


def test_device_memory_policy_lives_with_the_limits():
    """No RLIMIT_AS on CUDA (it maps far more virtual memory than it uses); CPU keeps it."""
    limits = Limits(memory_mb=1024)
    assert limits.for_device("cpu") is limits and limits.for_device("cpu").address_space
    assert limits.for_device("cuda").address_space is False and limits.for_device("cuda").memory_mb == 1024
