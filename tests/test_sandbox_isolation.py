"""The sandbox itself: what a namespaced child can see and do, its limits, its system-call
filter, and honest fallback."""

from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.cli import main as cli
from grader.core.course import Course
from grader.sandbox import (
    Child,
    ChildFailure,
    ChildSpec,
    Limits,
    NamespaceIsolation,
    NoIsolation,
    SubmissionError,
    nsinit,
    seccomp,
)
from grader.sandbox import isolation as iso
from grader.sandbox.cgroups import CgroupRoot, find_cgroup_root
from tests.conftest import CHILD_PROBES, ISOLATION, ROOT, grade_path, needs_isolation, needs_seccomp

SELECTED = ISOLATION
needs_namespaces = needs_isolation
REDTEAM = Path(__file__).resolve().parent / "redteam"
pytestmark = pytest.mark.timeout(60)

def run(child: Child, code: str, timeout: float = 20):
    return child.call("run", {"code": textwrap.dedent(code)}, time.monotonic() + timeout)


# -- what the child sees -----------------------------------------------------------
@needs_namespaces
def test_child_sees_only_the_python_installation_and_its_work_directory(child_factory):
    child = child_factory()
    sentinels = iso.sentinel_files(Course.find().protected_paths())
    view = run(child, f"""
        import os, socket, sys
        result = {{
            "root": sorted(os.listdir("/")),
            "repo": sorted(os.listdir({str(ROOT)!r})) if os.path.exists({str(ROOT)!r}) else None,
            "sentinels": [p for p in {sentinels!r} if os.path.exists(p) and open(p, "rb").read(1)],
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
    # /tmp is private: only the child's own folder, and the way to an interpreter that lives under /tmp
    python_in_tmp = {Path(p).relative_to("/tmp").parts[0] for p in iso.python_paths() if iso._is_within(p, "/tmp")}
    assert sorted(view["tmp"]) == sorted({child.workdir.name} | python_in_tmp), view["tmp"]
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
@pytest.mark.parametrize("under", ["a plain parent", "a subreaper"])
def test_sandbox_and_work_directory_go_when_the_grader_dies(tmp_path, under):
    """The grader dies (os._exit) with a live child: the sandbox goes, with its work directory. Under a
    subreaper (what a grading process without namespaces makes of itself, e.g. a pytest worker or a
    batch worker) the child's pipe ends and the grader's death signal arrive in either order; a runner
    that exited at once on the pipe's end could win, and the work directory stayed (1 time in 6 in a
    loop of such gradings under a subreaper; this test does not catch that race every time)."""
    script = f"""
import os, sys, time
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from grader.core.course import Course
from grader.sandbox import Child, ChildSpec
from grader.core.assignment import load_assignment
a = load_assignment("bandits")
spec = ChildSpec(submission=Path({str(ROOT / 'solutions' / 'bandits.py')!r}), probes=a.probes_path,
                 child_files=a.child_files,
                 isolation=Course.find().isolation())
child = Child(spec)
child.start(time.monotonic() + 20)
print(child.workdir, flush=True)
os._exit(0)
"""
    command = [sys.executable, "-c", script]
    if under == "a subreaper":      # the grader's parent adopts the orphans, and lives on while they clean up
        command = [sys.executable, "-c", f"import subprocess, sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
                   "from grader.sandbox import reaper\nreaper.become_subreaper()\n"
                   f"subprocess.run({command!r})\ntime.sleep(4)"]
    for _ in range(3 if under == "a subreaper" else 1):
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
        workdir = out.stdout.strip()
        assert workdir.startswith("/"), out.stderr
        end = time.monotonic() + 10
        while (Path(workdir).exists() or _processes_mentioning(workdir)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _processes_mentioning(workdir)       # the sandbox died with the grader: nothing runs on
        # Its work directory is removed by the sandbox's outer process on the grader's death signal. In
        # a full parallel test run it stayed 1 time in 3 runs (README "Known limits": a race between the
        # pipe's end and that signal, not understood yet); what stays is the submission's copy and an
        # empty tmp/, with no process, so it is checked to hold nothing else.
        if Path(workdir).exists():
            assert {p.name for p in Path(workdir).iterdir()} <= {"_runner", "tmp", ".sandbox-root", "bandits.py"}


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
    assert result.output.startswith("WARNING: graded WITHOUT namespace isolation (test)")      # said first
    assert "NO namespace isolation (test)" in result.extra_data["sandbox"]                      # and described last
    assert "--require-isolation" in result.extra_data["sandbox"]
    assert result.extra_data["isolation"] == "none"


@needs_namespaces
def test_default_grading_uses_namespaces():
    result = grade_path(ROOT / "solutions" / "bandits.py", "bandits", only=["update_estimate"])
    assert result.score == 3 and result.extra_data["sandbox"].startswith("sandbox: Linux namespaces")
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
    (tmp_path / "probes.py").write_text(CHILD_PROBES)
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


def test_cuda_without_a_cgroup_says_what_caps_memory():
    """No cgroup: RLIMIT_DATA and the parent's watch for host memory, NVML for the GPU (or why not)."""
    text = NamespaceIsolation(mode="userns", cgroup=None).describe()
    assert "RLIMIT_DATA per process" in text and "watched from the parent (stopped over memory_mb)" in text
    assert "device memory not watched (no NVML" in text or "through NVML (stopped over gpu_memory_mb" in text
    assert "not limited" not in text


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


def test_device_memory_policy_lives_with_the_limits():
    """No RLIMIT_AS on CUDA (it maps far more virtual memory than it uses); CPU keeps it."""
    limits = Limits(memory_mb=1024)
    assert limits.for_device("cpu") is limits and limits.for_device("cpu").address_space
    assert limits.for_device("cuda").address_space is False and limits.for_device("cuda").memory_mb == 1024
    assert limits.for_device("cuda").data_segment and not limits.for_device("cpu").data_segment


# -- one user namespace per child ---------------------------------------------------------
@needs_namespaces
def test_each_child_has_a_user_namespace_of_its_own(child_factory):
    """Root mode too: keyrings and other per-user-namespace objects are not shared, and as root
    each child's one inside id stands for a fresh outside uid (RLIMIT_NPROC counts per uid)."""
    code = "import os\nresult = [os.getuid(), os.getgid(), open('/proc/self/uid_map').read().split(), " \
           "open('/proc/self/gid_map').read().split(), os.readlink('/proc/self/ns/user')]"
    first, second = run(child_factory(), code), run(child_factory(), code)
    assert first[:2] == second[:2] == [iso.INSIDE_ID, iso.INSIDE_ID]
    assert first[2][0] == str(iso.INSIDE_ID) and first[2][2] == "1" and first[3][:2] == first[2][:2]
    assert first[4] != second[4] and first[4] != os.readlink("/proc/self/ns/user")
    if SELECTED.mode == "root":
        assert int(first[2][1]) >= iso.UID_BASE and first[2][1] != second[2][1]


@needs_namespaces
@pytest.mark.skipif(os.geteuid() != 0, reason="mode root-no-userns is for a grader running as root")
def test_root_without_user_namespaces_still_gives_a_fresh_uid(child_factory):
    """The last mode tried as root (a machine with user namespaces disabled): the child stays in
    the grader's user namespace, with a fresh uid, and under the filter."""
    isolation = dataclasses.replace(SELECTED, mode="root-no-userns")
    got = run(child_factory(isolation=isolation), """
        import fcntl, os, pwd
        result = [os.getuid(), open('/proc/self/uid_map').read().split(), pwd.getpwuid(os.getuid()).pw_name]
        try:
            fcntl.flock(os.open(os.__file__, os.O_RDONLY), fcntl.LOCK_SH)
        except OSError as exc:
            result.append(type(exc).__name__)
    """)
    assert got[0] >= iso.UID_BASE and got[1] == ["0", "0", "4294967295"] and got[2] == "student"
    assert got[3:] == ([] if SELECTED.seccomp_off else ["PermissionError"])
    assert "no user namespace: a fresh uid per child" in isolation.describe()


# -- the system-call filter (seccomp) ---------------------------------------------------------
# What the filter refuses, written out again: a rule added or lost must show up here.
LISTED = {
    "add_key", "request_key", "keyctl", "flock", "fcntl", "ptrace", "process_vm_readv", "process_vm_writev",
    "process_madvise", "pidfd_getfd", "kcmp", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "clone", "clone3",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "lookup_dcookie", "open_by_handle_at",
    "name_to_handle_at", "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark",
    "cachestat", "fadvise64", "preadv2"}
MARK = errno.ENOTRECOVERABLE    # no call below fails with it by itself: only the test's filter says it
CLONE_THREAD = 0x00010000       # without CLONE_SIGHAND the kernel refuses the clone (EINVAL): nothing starts
# A value of each compared argument that the filter lets through: F_GETFD, no namespace flag,
# POSIX_FADV_WILLNEED, no RWF flags.
LET_THROUGH = {"fcntl": 1, "clone": 0, "fadvise64": 3, "preadv2": 0}
NEIGHBOURS = ("getppid", "dup", "madvise", "mincore", "pread64", "memfd_create", "prctl", "ioctl", "seccomp")


def _needs_filter_here() -> None:
    if seccomp.unavailable():
        from tests.conftest import missing
        missing(f"the seccomp filter cannot be built here ({seccomp.unavailable()})")


def test_the_filter_refuses_what_the_design_lists():
    import fcntl

    assert {r.syscall for r in seccomp.RULES} == LISTED
    assert {r.case for r in seccomp.RULES if r.syscall == "fcntl"} == set(seccomp.LOCK_COMMANDS)
    assert {r.case for r in seccomp.RULES if r.syscall == "clone"} == set(seccomp.CLONE_NEW)
    assert all(getattr(fcntl, name) == value for name, value in seccomp.LOCK_COMMANDS.items())
    assert [r.syscall for r in seccomp.RULES if r.errno is not None] == ["clone3"]  # the rest: EPERM


def test_the_filter_is_compiled_once_for_this_architecture():
    _needs_filter_here()
    program = seccomp.program()
    assert program and len(program) % 8 == 0 and seccomp.program() is program
    native = {rule.syscall for rule, _ in seccomp.native_rules()}
    assert {"keyctl", "add_key", "flock", "fcntl", "ptrace", "clone", "clone3", "unshare", "mount",
            "io_uring_setup", "bpf", "perf_event_open", "userfaultfd"} <= native


def test_redteam_syscall_numbers_match_libseccomp():
    _needs_filter_here()
    import pyseccomp

    scope: dict = {}
    exec(compile((REDTEAM / "_syscalls.py").read_text(), "_syscalls.py", "exec"), scope)
    arches = {"x86_64": pyseccomp.Arch.X86_64, "aarch64": pyseccomp.Arch.AARCH64}
    for machine, numbers in scope["TABLE"].items():
        assert {n: pyseccomp.resolve_syscall(arches[machine], n) for n in numbers} == numbers, machine


def test_without_pyseccomp_the_filter_is_off_and_grading_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyseccomp", None)   # import fails
    seccomp.program.cache_clear()
    seccomp.unavailable.cache_clear()
    try:
        assert seccomp.unavailable() == "pyseccomp is not installed"
        chosen = NamespaceIsolation(mode="userns")
        assert chosen.seccomp_off == "pyseccomp is not installed"
        assert "system-call filter: OFF (pyseccomp is not installed)" in chosen.describe()
        assert "--require-isolation refuses" in chosen.describe()
        monkeypatch.setattr(iso, "_select", lambda protected: chosen)
        assert iso.select_isolation() is chosen
        with pytest.raises(RuntimeError, match="isolation is incomplete.*pyseccomp is not installed"):
            iso.select_isolation(require=True)
    finally:
        monkeypatch.undo()
        seccomp.program.cache_clear()
        seccomp.unavailable.cache_clear()


def test_describe_names_the_filter_when_it_is_on():
    on = NamespaceIsolation(mode="root", seccomp_off="")
    assert "user; a fresh uid per child" in on.describe() and "system-call filter (seccomp) refuses" in on.describe()
    assert "kernel keyrings, file locks" in on.describe() and "OFF" not in on.describe() and on.incomplete() == ""


def test_config_carries_the_compiled_filter_only_when_it_is_on(tmp_path):
    _needs_filter_here()
    import base64
    import json

    def config(isolation):
        argv = isolation.wrap(["python"], tmp_path, Limits(), "cpu")
        return json.loads(argv[argv.index("--") - 1])

    on = NamespaceIsolation(mode="root", seccomp_off="")
    assert base64.b64decode(config(on)["seccomp"]) == seccomp.program()
    assert "seccomp" not in config(dataclasses.replace(on, seccomp_off="benchmark"))
    with pytest.raises(nsinit.SetupError, match="not a BPF program"):
        nsinit.install_filter(b"\0" * 12)


def _filter_calls() -> list[tuple[str, int, list[int], int | None]]:
    """(label, number, arguments, errno the filter gives or None if it must let the call through).
    Arguments are invalid (-1) wherever they can be, so a call the filter lets through fails in
    the kernel with an errno of its own and does nothing."""
    import pyseccomp

    calls: list[tuple[str, int, list[int], int | None]] = []
    for rule, number in seccomp.native_rules():
        want = MARK if rule.errno is None else rule.errno
        args = [-1] * 6
        thread = CLONE_THREAD if rule.syscall == "clone" else 0
        if rule.arg is None:
            calls.append((rule.label, number, args, want))
            continue
        args[rule.arg] = rule.value | thread
        calls.append((rule.label, number, list(args), want))
        if rule.mask == seccomp.INT_MASK:   # the kernel reads an int: the upper half must not matter
            args[rule.arg] = rule.value | 1 << 32
            calls.append((rule.label + " with the upper half set", number, list(args), want))
        args[rule.arg] = LET_THROUGH[rule.syscall] | thread
        if all(c[0] != rule.syscall for c in calls):
            calls.append((rule.syscall, number, list(args), None))
    for name in NEIGHBOURS:
        number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
        if number >= 0:
            calls.append((name, number, [-1] * 6, None))
    return calls


@needs_seccomp
def test_the_filter_refuses_exactly_its_rules(child_factory, monkeypatch):
    """Every listed call (and argument value) is refused with the filter's errno, clone3 with
    ENOSYS; the same calls with other argument values, and their neighbours, are not. The
    child runs the very rules the grader uses, compiled with an errno nothing else returns."""
    calls = _filter_calls()
    monkeypatch.setattr(seccomp, "program", lambda: seccomp.build(MARK))
    got = run(child_factory(), f"""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.syscall.argtypes = [ctypes.c_long] * 7
        result = []
        for number, args in {[(number, args) for _, number, args, _ in calls]!r}:
            ctypes.set_errno(0)
            result.append(ctypes.get_errno() if libc.syscall(number, *args) == -1 else 0)
    """)
    wrong = [f"{label}: errno {errno.errorcode.get(e, e)}, expected {errno.errorcode.get(w, w) if w else 'not refused'}"
             for (label, _, _, w), e in zip(calls, got) if (e != w if w is not None else e == MARK)]
    assert not wrong, wrong
    assert sum(w is not None for *_, w in calls) >= len(seccomp.native_rules())


def _lock_relay(role: str) -> str:
    return (REDTEAM / "lock_relay.py").read_text().replace("__ROLE__", role)


@needs_seccomp
def test_locks_on_the_shared_installation_reach_no_other_child(child_factory):
    """Two children alive at once: one takes locks on a file of the read-only Python
    installation, whose offsets spell a message; the other looks for them. Every lock call is
    refused with a PermissionError, so there is nothing to find."""
    publisher, observer = child_factory(), child_factory()
    published = run(publisher, _lock_relay("publish"))
    observed = run(observer, _lock_relay("observe"))
    refused = "refused: PermissionError: [Errno 1] Operation not permitted"
    assert published["flock"] == published["F_OFD_SETLK"] == published["lockf"] == refused
    assert set(published["F_SETLK"]) == {refused}
    assert set(observed["F_GETLK"]) == {refused} and observed["F_OFD_GETLK"] == observed["flock"] == refused
    assert observed["message"] == "" and observed["/proc/locks"] == []


@needs_namespaces
def test_without_the_filter_locks_are_a_channel_between_children(child_factory):
    """Control for the test above: the same two children, with the filter off, do talk."""
    off = dataclasses.replace(SELECTED, seccomp_off="off for this control")
    publisher, observer = child_factory(isolation=off), child_factory(isolation=off)
    published = run(publisher, _lock_relay("publish"))
    observed = run(observer, _lock_relay("observe"))
    assert published["flock"] == published["F_OFD_SETLK"] == "succeeded"
    assert observed["message"] == "pixels" and observed["flock"] == "another process holds it"
    assert observed["F_OFD_GETLK"] == 0


@needs_seccomp
@pytest.mark.timeout(240)
def test_the_students_stack_works_under_the_filter(child_factory):
    """numpy, a small torch training loop (two threads: glibc falls back from clone3 to clone),
    a DataLoader worker process, a matplotlib figure, a gymnasium CartPole, a thread and a
    subprocess: none of it needs a refused call."""
    child = child_factory(memory_mb=8192, wall_seconds=200, cpu_seconds=200)
    got = run(child, """
        import os, subprocess, threading
        import numpy as np
        import torch
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import gymnasium as gym

        result = {"seccomp": open("/proc/self/status").read().split("Seccomp:")[1].split()[0]}
        torch.manual_seed(0)
        torch.set_num_threads(2)
        x = torch.randn(256, 8)
        y = x.sum(1, keepdim=True)
        model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        losses = []
        for step in range(300):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        result["loss"] = [losses[0], losses[-1]]
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, num_workers=1)
        result["batches"] = sum(1 for _ in loader)
        fig, ax = plt.subplots()
        ax.plot(np.arange(10) ** 2)
        fig.savefig("plot.png")
        result["png"] = os.path.getsize("plot.png")
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=0)
        steps = 0
        for _ in range(20):
            obs, reward, done, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            if done or truncated:
                break
        result["cartpole"] = steps
        seen = []
        thread = threading.Thread(target=seen.append, args=(1,))
        thread.start()
        thread.join()
        result["thread"] = seen
        result["subprocess"] = subprocess.run(["/bin/echo", "ok"], capture_output=True, text=True).stdout
    """, timeout=200)
    assert got["seccomp"] == "2"
    assert got["loss"][1] < got["loss"][0] / 10
    assert got["batches"] == 4 and got["png"] > 1000 and got["cartpole"] >= 1
    assert got["thread"] == [1] and got["subprocess"] == "ok\n"
