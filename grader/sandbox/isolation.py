"""How a child is walled off from the machine.

``Isolation.wrap`` turns the plain child command into the command that runs
it in isolation; ``release`` undoes what ``wrap`` set up outside the child
(a cgroup) once the child is dead.

* :class:`NamespaceIsolation` (the default where the kernel allows it): new
  mount, PID, network, IPC, UTS and (where allowed) user namespaces built by ``nsinit.py``: no
  network at all, a read-only view of only the Python installation, a few
  ``/etc`` files and device nodes, a size-limited private work directory and
  ``/tmp``, nothing of the repository (``solutions/``, hidden tests, the
  ``grader`` package), of other students or of the grader's temp files.
  Killing the child's PID 1 kills every process it made. A seccomp filter
  (:mod:`.seccomp`) refuses the system calls that reach kernel objects
  namespaces do not separate (keyrings, file locks on the shared Python
  installation, ...). Where it cannot be built (no pyseccomp or libseccomp)
  or installed (the kernel refuses it), the namespaces are used without it,
  ``describe()`` says so, and ``select_isolation(require=True)`` refuses:
  isolation is then incomplete.
* :class:`NoIsolation`: rlimits, a scrubbed environment and a private work
  directory only. Its ``describe()`` says so in every result, and
  ``select_isolation(require=True)`` refuses it. It is chosen when the probe
  (one sandboxed ``python -c`` per process) fails, or when the environment
  variable ``GRADER_ISOLATION=none`` asks for it (debugging, benchmarks).

Memory: RLIMIT_AS caps each process on CPU; a cgroup (where this process
may create one) caps the whole sandbox on CUDA, and on CPU too under a
delegated cgroup v2 subtree. Without a cgroup a CUDA child gets RLIMIT_DATA
per process, and the parent watches its resident memory and its GPU memory
(:mod:`.memwatch`).

CUDA: a child on ``cuda`` sees the NVIDIA driver wherever the loader finds it
(:func:`driver_files`: the loader's cache and the grader's ``LD_LIBRARY_PATH``,
each link followed to the real folder, which is bound read-only; a folder that
is a mount point of its own below a bound one is bound too) and the GPU's
device files; nothing else is added.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import glob
import json
import os
import secrets
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from grader.sandbox import memwatch, seccomp
from grader.sandbox.cgroups import CgroupRoot, find_cgroup_root
from grader.sandbox.limits import Limits

NSINIT = Path(__file__).resolve().parent / "nsinit.py"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/nsswitch.conf", "/etc/hosts", "/etc/alternatives")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
CPU_SYS = ("/sys/devices/system/cpu", "/sys/devices/system/node")
UID_BASE = 2_000_000_000     # root mode: each child gets its own (outside) uid from here
INSIDE_ID = 1000             # the child's uid and gid as it sees them in a user namespace (nsinit.INSIDE_ID)
PROBE_TIMEOUT = 20.0
# The NVIDIA driver's user-space libraries (what the CUDA runtime, NVML and the JIT load), by file name.
DRIVER_LIBRARIES = ("libcuda.so*", "libcudadebugger.so*", "libnvidia-*.so*", "libnvcuvid.so*", "libnvoptix.so*")
LDCONFIG = ("/sbin/ldconfig", "/usr/sbin/ldconfig", "/sbin/ldconfig.real", "/usr/bin/ldconfig")
GPU_DEVICES = ("/dev/nvidia*", "/dev/dri/*")
# /proc's machine-wide counters: a child reads constants there (a fresh /proc shows the whole machine's
# load, memory and uptime, which two children alive together could signal each other through).
PROC_CONSTANT = ("/proc/loadavg", "/proc/meminfo", "/proc/stat", "/proc/uptime")
PROC_EMPTY = ("/proc/vmstat", "/proc/zoneinfo", "/proc/buddyinfo", "/proc/pagetypeinfo", "/proc/interrupts",
              "/proc/softirqs", "/proc/schedstat", "/proc/diskstats", "/proc/pressure/cpu", "/proc/pressure/memory",
              "/proc/pressure/io", "/proc/pressure/irq")


class Isolation(Protocol):
    name: str

    def wrap(self, argv: list[str], workdir: Path, limits: Limits | None = None, device: str = "cpu") -> list[str]:
        """Command line that runs ``argv`` isolated, with ``workdir`` as its only writable place."""

    def release(self, workdir: Path) -> None:
        """Undo what ``wrap`` set up for ``workdir`` outside the child; the child is dead by now."""

    def describe(self) -> str:
        """One line for the result's output: what protection the child had."""


@dataclass(frozen=True)
class NoIsolation:
    name: str = "none"
    reason: str = ""

    def wrap(self, argv: list[str], workdir: Path, limits: Limits | None = None, device: str = "cpu") -> list[str]:
        return argv

    def release(self, workdir: Path) -> None:
        return None

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return ("sandbox: NO namespace isolation" + why + ": only rlimits (CPU time, memory, file size, "
                "open files), wall-time kill of the process group, a scrubbed environment and a private work "
                "directory; the submission could read files, use the network, and the number of processes and "
                "the disk use are not capped (processes that leave the process group may survive it); "
                f"memory on CUDA: {memwatch.describe_cuda(cgroup=False)}. "
                "Use --require-isolation to refuse grading like this.")


@dataclass(frozen=True)
class NamespaceIsolation:
    """Namespaces built by ``nsinit.py``; ``mode`` is ``root`` (the grader runs as root: each child
    gets a user namespace whose one id maps to a fresh outside uid), ``userns`` (an unprivileged
    user namespace, mapped to the grader's own uid) or ``root-no-userns`` (as root where user
    namespaces are disabled: only the fresh uid, in the grader's user namespace; the last choice).

    ``seccomp_off`` is why the system-call filter is off ('' when it is on); by default the
    filter is on wherever it can be built. Benchmarks turn it off to measure its cost.
    ``proc_counters`` is why /proc's machine-wide counters stay visible ('' when they read as
    constants): where the kernel refuses a mount over them, the sandbox is used without, and says so
    (``sysinfo(2)`` tells the same numbers anyway, so ``--require-isolation`` does not refuse it).
    """

    mode: str = "userns"
    name: str = "namespaces"
    cgroup: CgroupRoot | None = None
    hidden: tuple[str, ...] = field(default_factory=lambda: tuple(secret_paths()))
    seccomp_off: str = field(default_factory=seccomp.unavailable)
    proc_counters: str = ""

    def wrap(self, argv: list[str], workdir: Path, limits: Limits | None = None, device: str = "cpu") -> list[str]:
        limits = limits or Limits()
        config = build_config(Path(workdir), limits, device, self.mode, self.hidden)
        if self.proc_counters:
            config.pop("proc_files", None)
        if not self.seccomp_off:
            config["seccomp"] = base64.b64encode(seccomp.program()).decode("ascii")
        if self._uses_cgroup(device):
            # The tmpfs work directory is charged to the cgroup too: memory plus disk quota.
            memory = (int(limits.memory_mb) + int(limits.disk_mb)) << 20
            config["cgroup_procs"] = self.cgroup.create(_cgroup_name(workdir), memory, int(limits.processes))
        return [sys.executable, "-I", "-S", "-B", str(NSINIT), json.dumps(config), "--", *argv]

    def _uses_cgroup(self, device: str) -> bool:
        """On CUDA whenever we may; on CPU too where cgroup v2 was delegated to us (an explicit
        grant), since RLIMIT_AS caps each process but not their sum."""
        return self.cgroup is not None and (device == "cuda" or self.cgroup.version == 2)

    def release(self, workdir: Path) -> None:
        if self.cgroup is not None:
            self.cgroup.remove(_cgroup_name(workdir))

    def incomplete(self) -> str:
        """'' if every layer is on; otherwise what is missing (``--require-isolation`` refuses it)."""
        return f"the seccomp system-call filter is off ({self.seccomp_off})" if self.seccomp_off else ""

    def describe(self) -> str:
        gpu = memwatch.describe_cuda(cgroup=self.cgroup is not None)
        if self._uses_cgroup("cpu"):
            gpu += "; the cgroup also caps the sandbox's total memory on CPU"
        if self.seccomp_off:
            calls = (f"system-call filter: OFF ({self.seccomp_off}): {seccomp.SUMMARY} are not refused, so children "
                     "may reach each other through kernel objects; --require-isolation refuses grading like this")
        else:
            calls = f"system-call filter (seccomp) refuses {seccomp.SUMMARY}"
        kinds = {"root": "UTS, user; a fresh uid per child", "userns": "UTS, user",
                 "root-no-userns": "UTS; no user namespace: a fresh uid per child"}
        return (f"sandbox: Linux namespaces (mount, PID, network, IPC, {kinds.get(self.mode, 'UTS')}): no network, "
                "read-only view of the Python installation only, private size-limited work directory and /tmp; "
                "limits on CPU time, wall time (whole PID namespace killed), memory, processes, open files, "
                f"file size, disk and output; memory on CUDA: {gpu}; {calls}; /proc's machine-wide counters: "
                + (f"VISIBLE ({self.proc_counters})" if self.proc_counters else "constants"))


def _cgroup_name(workdir: Path) -> str:
    return "grader-" + Path(workdir).name


def secret_paths(protected: tuple[str, ...] = ()) -> list[str]:
    """What a child must never see even if it sits below a directory that is bound in: what the
    caller protects (the course), the ``grader`` package, the files its installation left in
    site-packages (an editable install's path hooks name the checkout), and the grader's temp
    folder when it lies inside the Python installation (tox points TMPDIR into its env: other
    children's and other students' files live there)."""
    package = Path(__file__).resolve().parent.parent
    paths = {*protected, str(package)}
    paths.update(distribution_files())
    paths.add(os.path.realpath(tempfile.gettempdir()))
    return sorted(paths)


def distribution_files() -> list[str]:
    """Files that installing the ``grader`` package put outside the package: dist-info, the ``.pth``
    and finder module of an editable install (which spell out where the checkout is)."""
    try:
        from importlib import metadata

        names = set(metadata.packages_distributions().get("grader", []))
        found = []
        for dist in metadata.distributions():   # every copy on sys.path, not only the first
            if dist.metadata["Name"] not in names:
                continue
            for entry in dist.files or ():
                path = os.path.realpath(str(dist.locate_file(entry)))
                if os.path.isfile(path):
                    found.append(path)
        return sorted(set(found))
    except Exception:  # noqa: BLE001 - a broken metadata folder must not stop grading; the probe checks
        return []


def sentinel_files(protected: tuple[str, ...] = ()) -> list[str]:
    """A few real files of each protected folder (the course, recursively: hidden tests first) and
    of the grader's installation: the probe proves that a child can open none of them (a folder's
    name may show as an empty mount point on the way to the Python installation; its contents
    must not)."""
    package = Path(__file__).resolve().parent.parent
    python = python_paths(tuple(protected))
    picks: list[Path] = [package / "__init__.py", Path(__file__).resolve()]

    def course_files(pattern: str, folder: Path) -> list[Path]:
        """Files of the course itself: not those of a venv inside it, which the child must see."""
        return sorted(p for p in folder.glob(pattern) if p.is_file()
                      and not any(_is_within(os.path.realpath(p), b) for b in python))[:3]

    for folder in map(Path, protected):
        if folder.is_dir():
            picks.extend(course_files("*/hidden/*.py", folder))
            picks.extend(course_files("*", folder))
            picks.extend(course_files("*/*", folder))
    picks.extend(Path(p) for p in distribution_files()[:8])
    return sorted({str(p) for p in picks if p.is_file()})


def _real_chain(path: str) -> tuple[list[tuple[str, str]], str]:
    """Symlinks met on the way to ``path`` (link, target) and its real path, so both resolve inside."""
    links: list[tuple[str, str]] = []
    current = "/"
    for part in Path(os.path.abspath(path)).parts[1:]:
        candidate = os.path.join(current, part)
        hops = 0
        while os.path.islink(candidate) and hops < 40:
            target = os.readlink(candidate)
            links.append((candidate, target))
            candidate = os.path.normpath(os.path.join(os.path.dirname(candidate), target))
            hops += 1
        current = candidate
    return links, current


def _is_within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor.rstrip("/") + "/")


def python_paths(secrets: tuple[str, ...] = ()) -> list[str]:
    """The Python installation this grader runs on: prefixes, the interpreter's folder, site-packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable)),
             *_libpython_dirs()}
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # very old virtualenv
        pass
    core = {p for p in paths if p and os.path.isdir(p)}
    for extra in _site_added_paths():
        if any(_is_within(extra, c) for c in core) or not any(_is_within(extra, h) for h in secrets):
            core.add(extra)
    return sorted(core)


def _libpython_dirs() -> set[str]:
    """Where the interpreter's own shared library lives (an absolute RPATH may point outside the
    prefix): without it the child's loader would pick another ``libpython`` (a distribution's)."""
    found = set()
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split(None, 5)[-1].strip() if line.count(" ") >= 5 else ""
                if "/libpython" in path and os.path.isfile(path):
                    found.add(os.path.dirname(os.path.realpath(path)))
    except OSError:
        pass
    return found


def _site_added_paths() -> list[str]:
    """Folders that ``.pth`` files of the installation put on ``sys.path`` (a distribution's
    dist-packages, a conda layer): the child, started with ``-I``, makes the same ``sys.path`` from
    the same files. Not PYTHONPATH or the user site (``-I`` ignores them), not the current folder;
    :func:`python_paths` also leaves out what lies in a secret folder (an old-style editable
    install adds the checkout itself)."""
    skip = {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    user_site = getattr(site, "USER_SITE", None)
    out = []
    for entry in sys.path[1:]:
        if not entry or not os.path.isdir(entry) or entry.endswith(".zip"):
            continue
        real = os.path.realpath(entry)
        if real in skip or real == os.path.realpath(os.getcwd()) or (user_site and _is_within(real, user_site)):
            continue
        out.append(real)
    return out


def build_config(workdir: Path, limits: Limits, device: str, mode: str, hidden: tuple[str, ...] = (), *,
                 driver: tuple[str, ...] | None = None, mounts: tuple[str, ...] | None = None) -> dict:
    """What ``nsinit.py`` builds for one child (JSON-able).

    On ``cuda`` the driver's files (``driver``: default :func:`driver_files`) are shown too: each
    link on the way is made again and each real folder is bound. ``mounts`` (default: this
    process's mount points) tells which folders below a bound one are mounts of their own: a bind
    shows one mount only, so such a folder on the way to something the child needs is bound too."""
    links: dict[str, str] = {}
    binds: list[str] = []
    for path in (*SYSTEM_DIRS, *python_paths(hidden), *ETC_FILES, *(("/sys",) if device == "cuda" else CPU_SYS)):
        if not os.path.lexists(path):
            continue
        chain, real = _real_chain(path)
        links.update(chain)
        if os.path.exists(real):
            binds.append(real)
    if device == "cuda":
        for path in (driver_files() if driver is None else driver):
            chain, real = _real_chain(path)
            folder = real if os.path.isdir(real) else os.path.dirname(real)
            if not os.path.exists(real) or any(_is_within(folder, h) or _is_within(path, h) for h in hidden):
                continue
            links.update(chain)
            binds.append(folder)
    kept = keep_binds(binds, mount_points() if mounts is None else mounts)
    devices = list(DEVICES)
    if device == "cuda":
        devices += gpu_devices()
    # A secret below a bound folder is masked; a bound folder below a secret one (a venv inside
    # the checkout) shows the secret folder only as the empty way to its mount point.
    mask = [h for h in hidden if any(_is_within(h, k) and h != k for k in kept)]
    uid = INSIDE_ID if mode == "userns" else UID_BASE + secrets.randbelow(1 << 26)  # as root: outside
    inside = uid if mode == "root-no-userns" else INSIDE_ID                     # what the child sees
    return {
        "mode": mode,
        "uid": uid,
        "workdir": str(workdir),
        "parent_pid": os.getpid(),
        "symlinks": sorted(links.items()),
        "binds": kept,
        "devices": devices,
        "mask": mask,
        "disk_mb": int(limits.disk_mb),
        "processes": int(limits.processes),
        "files": {
            "/etc/passwd": (f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                            f"student:x:{inside}:{inside}:student:{workdir}:/usr/sbin/nologin\n"
                            f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
            "/etc/group": f"root:x:0:\nstudent:x:{inside}:\nnogroup:x:65534:\n",
            "/etc/hostname": "sandbox\n",
        },
        "proc_files": proc_constants(limits),
    }


def keep_binds(paths: list[str] | tuple[str, ...], mounts: tuple[str, ...] | list[str]) -> list[str]:
    """The folders to bind, parents before children: a path that a folder bound before it already
    shows is left out, unless a mount point lies between them (a bind shows one mount, not the
    ones below it: ``/usr/local/nvidia`` mounted below a bound ``/usr`` is an empty folder there),
    in which case each such mount point on the way is bound as well."""
    candidates = set(paths)
    for path in list(candidates):
        for m in mounts:
            if m != "/" and _is_within(path, m) and any(_is_within(m, c) and m != c for c in candidates):
                candidates.add(m)

    def mount_of(path: str) -> str:
        return max((m for m in mounts if _is_within(path, m)), key=len, default="/")

    kept: list[str] = []
    for b in sorted(candidates, key=lambda p: (len(p), p)):
        above = [k for k in kept if _is_within(b, k)]
        if above and mount_of(b) == mount_of(max(above, key=len)):
            continue       # the folder bound above it shows it already
        kept.append(b)
    return kept


def mount_points(mountinfo: str | None = None) -> tuple[str, ...]:
    """Every mount point of this process's mount namespace (``/proc/self/mountinfo``, or its text)."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
                mountinfo = fh.read()
        except OSError:
            return ()
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            found.append(_unescape_mount(fields[4]))
    return tuple(dict.fromkeys(found))


def _unescape_mount(text: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def gpu_devices(patterns: tuple[str, ...] = GPU_DEVICES) -> list[str]:
    """The GPU's device files (``/dev/nvidia0``, ``/dev/nvidiactl``, ``/dev/nvidia-uvm``, the
    ``/dev/nvidia-caps`` folder, ``/dev/dri/*``): bound into a CUDA child, nothing else of /dev."""
    return sorted({p for pattern in patterns for p in glob.glob(pattern)})


def is_driver_library(name: str) -> bool:
    return any(fnmatch.fnmatch(os.path.basename(name), pattern) for pattern in DRIVER_LIBRARIES)


def parse_ldconfig(listing: str) -> list[str]:
    """The driver libraries in ``ldconfig -p``'s listing (``\tlibcuda.so.1 (libc6,x86-64) => /lib/libcuda.so.1``),
    as the loader would open them: the path after ``=>``, links not yet followed."""
    found = []
    for line in listing.splitlines():
        name, arrow, path = line.strip().partition(" => ")
        if arrow and is_driver_library(name.split(" (", 1)[0]) and path.startswith("/"):
            found.append(path.strip())
    return list(dict.fromkeys(found))


@functools.cache
def _ldconfig_listing() -> str:
    """``ldconfig -p``: the loader's cache (``/etc/ld.so.cache``) as text; '' where there is none."""
    import shutil

    for exe in (*LDCONFIG, shutil.which("ldconfig") or ""):
        if not exe or not os.path.isfile(exe):
            continue
        try:
            run = subprocess.run([exe, "-p"], capture_output=True, timeout=10, env={"LANG": "C", "PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.TimeoutExpired):
            continue
        if run.returncode == 0:
            return run.stdout.decode("utf-8", "replace")
    return ""


def driver_files(listing: str | None = None, library_path: str | None = None) -> tuple[str, ...]:
    """The NVIDIA driver's libraries as the loader finds them: those the loader's cache lists
    (``listing``: ``ldconfig -p``'s text) and those in the folders of ``library_path`` (default: the
    grader's ``LD_LIBRARY_PATH``). Links are not followed here (:func:`build_config` does)."""
    found = parse_ldconfig(_ldconfig_listing() if listing is None else listing)
    for folder in _library_path_folders(library_path):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        found += [os.path.join(folder, n) for n in names if is_driver_library(n)]
    return tuple(dict.fromkeys(found))


def _library_path_folders(library_path: str | None = None) -> list[str]:
    text = os.environ.get("LD_LIBRARY_PATH", "") if library_path is None else library_path
    return [os.path.abspath(p) for p in text.split(os.pathsep) if p.strip()]


def driver_library_path(library_path: str | None = None, hidden: tuple[str, ...] = ()) -> str:
    """The ``LD_LIBRARY_PATH`` of a CUDA child: the folders of the grader's own (``library_path``)
    that hold driver libraries and lie in no secret folder, in their order; '' when none does."""
    kept = []
    for folder in _library_path_folders(library_path):
        real = os.path.realpath(folder)
        if any(_is_within(folder, h) or _is_within(real, h) for h in hidden) or not os.path.isdir(folder):
            continue
        try:
            if any(is_driver_library(n) for n in os.listdir(folder)):
                kept.append(folder)
        except OSError:
            continue
    return os.pathsep.join(dict.fromkeys(kept))


def proc_constants(limits: Limits) -> dict[str, str]:
    """What a child reads in /proc's machine-wide counters: the same text for every child with these
    limits (its memory budget as the machine's memory, an idle machine, a fixed boot time), and empty
    files for the other counters; a counter this kernel lacks is left out by ``nsinit``."""
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    kb = int(limits.memory_mb) << 10
    meminfo = {"MemTotal": kb, "MemFree": kb, "MemAvailable": kb}
    for key in ("Buffers", "Cached", "SwapCached", "Active", "Inactive", "Active(anon)", "Inactive(anon)",
                "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "SwapTotal", "SwapFree", "Dirty",
                "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim",
                "KernelStack", "PageTables", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed",
                "VmallocChunk", "AnonHugePages", "ShmemHugePages", "HugePages_Total", "HugePages_Free",
                "HugePages_Rsvd", "HugePages_Surp", "Hugepagesize", "Hugetlb"):
        meminfo[key] = 2048 if key == "Hugepagesize" else kb if key == "CommitLimit" else 0
    idle = 100 * 100          # 100 s idle per CPU: a machine that does nothing
    stat = [f"cpu  0 0 0 {idle * cpus} 0 0 0 0 0 0"] + [f"cpu{i} 0 0 0 {idle} 0 0 0 0 0 0" for i in range(cpus)]
    stat += ["intr 0", "ctxt 0", "btime 1700000000", "processes 1", "procs_running 1", "procs_blocked 0",
             "softirq 0 0 0 0 0 0 0 0 0 0 0"]
    files = {
        "/proc/loadavg": "0.00 0.00 0.00 1/1 1\n",
        "/proc/meminfo": "".join(f"{k + ':':<16}{v:>8}" + ("\n" if k.startswith("HugePages_") else " kB\n")
                                 for k, v in meminfo.items()),
        "/proc/stat": "\n".join(stat) + "\n",
        "/proc/uptime": "100.00 100.00\n",
    }
    assert tuple(files) == PROC_CONSTANT
    files.update({path: "" for path in PROC_EMPTY})
    return files


def _modes() -> list[str]:
    """Modes to probe, best first. As root, ``root-no-userns`` keeps the namespaces (and a fresh
    uid per child) on a machine whose user namespaces are disabled, where the others fail."""
    return ["root", "userns", "root-no-userns"] if os.geteuid() == 0 else ["userns"]


def probe(mode: str, protected: tuple[str, ...] = (), seccomp_off: str | None = None, proc_counters: str = "") -> str:
    """'' if a child can be started in ``mode`` here, can read nothing of ``protected`` (the
    course) or the grader's installation, reaches no network and, unless ``seccomp_off`` says
    why not, runs under the system-call filter; else why not."""
    if not sys.platform.startswith("linux"):
        return f"namespaces need Linux (this is {sys.platform})"
    hidden = tuple(secret_paths(protected))
    iso = (NamespaceIsolation(mode=mode, hidden=hidden, proc_counters=proc_counters) if seccomp_off is None
           else NamespaceIsolation(mode=mode, hidden=hidden, seccomp_off=seccomp_off, proc_counters=proc_counters))
    binds = set(build_config(Path("/nonexistent"), Limits(), "cpu", mode, iso.hidden)["binds"])
    bound = [h for h in iso.hidden if h in binds]
    if bound:
        return (f"the Python installation is itself a folder the child must not see ({bound[0]}): "
                "make the venv in a folder of its own, e.g. <checkout>/.venv")
    check = ("import os, socket, sys\n"
             "seen = []\n"
             "for p in sys.argv[2:]:\n"
             "    try:\n"
             "        with open(p, 'rb') as fh:\n"
             "            if fh.read(1):\n"
             "                seen.append(p)\n"
             "    except OSError:\n"
             "        pass\n"
             "assert not seen, f'visible: {seen}'\n"
             "s = socket.socket()\n"
             "s.settimeout(1)\n"
             "try:\n    s.connect(('127.0.0.1', 9))\nexcept OSError:\n    pass\n"
             "else:\n    raise SystemExit('network reachable')\n"
             "filtered = 'Seccomp:\\t2' in open('/proc/self/status').read()\n"
             "assert filtered == (sys.argv[1] == 'on'), f'seccomp filter installed: {filtered}'\n"
             "open('probe', 'w').write('ok')\n")
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as tmp:
        argv = iso.wrap([sys.executable, "-I", "-S", "-c", check, "off" if iso.seccomp_off else "on",
                         *sentinel_files(protected)], Path(tmp), Limits(), "cpu")
        try:
            run = subprocess.run(argv, cwd=tmp, capture_output=True, timeout=PROBE_TIMEOUT,
                                 env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{mode} sandbox did not start: {exc}"
        if run.returncode != 0:
            text = (run.stderr or run.stdout).decode("utf-8", "replace").strip().splitlines()
            return f"{mode} sandbox failed: {text[-1] if text else f'exit status {run.returncode}'}"
    return ""


@functools.cache
def _select(protected: tuple[str, ...]) -> Isolation:
    if os.environ.get("GRADER_ISOLATION", "").lower() in ("none", "off", "0"):
        return NoIsolation(reason="disabled by GRADER_ISOLATION")
    reasons = []
    for mode in _modes():
        why = probe(mode, protected)
        counters = ""
        if "cannot hide /proc" in why and not probe(mode, protected, proc_counters=why):
            counters, why = why, ""   # the kernel refuses a mount over /proc's counters: say so, keep the rest
        if not why:
            return NamespaceIsolation(mode=mode, cgroup=find_cgroup_root(), hidden=tuple(secret_paths(protected)),
                                      proc_counters=counters)
        if not seccomp.unavailable() and not probe(mode, protected, seccomp_off=why):
            # The namespaces work and only the filter failed (a kernel without seccomp filters, say):
            # use them, and say the filter is off rather than dropping to no isolation at all.
            return NamespaceIsolation(mode=mode, cgroup=find_cgroup_root(), hidden=tuple(secret_paths(protected)),
                                      seccomp_off=f"not installed: {why}")
        reasons.append(why)
    return NoIsolation(reason="; ".join(reasons))


def select_isolation(require: bool = False, protected: tuple[str, ...] = ()) -> Isolation:
    """The strongest isolation available here (probed once per process and set of protected
    folders); ``protected`` are folders no child may see (the caller's course).

    ``require`` refuses anything less than complete isolation: no namespaces, or
    namespaces without the system-call filter (children could then reach each other
    through kernel keyrings or file locks).
    """
    chosen = _select(tuple(sorted(protected)))
    if require and isinstance(chosen, NoIsolation):
        raise RuntimeError(f"namespace isolation is not available on this machine: {chosen.reason}")
    if require and isinstance(chosen, NamespaceIsolation) and chosen.incomplete():
        raise RuntimeError(f"isolation is incomplete on this machine: {chosen.incomplete()}; "
                           "install pyseccomp and libseccomp (libseccomp2) to grade with --require-isolation")
    return chosen
