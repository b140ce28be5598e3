"""Red team: /proc's machine-wide counters carry nothing from one child to another (issue 21, item 6).

A fresh /proc in a PID namespace still shows the machine's load average, free memory, CPU times and
uptime: two children alive together could signal through them (two bits a second through
``/proc/loadavg``, measured before). In the sandbox each of these files reads as a constant (or is
empty), the same for every child, whatever the other does; the libraries that read them still work.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from grader.sandbox import Child, Limits
from grader.sandbox import isolation as iso
from tests.conftest import needs_isolation

REDTEAM = Path(__file__).resolve().parent / "redteam"
pytestmark = pytest.mark.timeout(120)

def run(child: Child, code: str, timeout: float = 30):
    return child.call("run", {"code": textwrap.dedent(code)}, time.monotonic() + timeout)


def _relay(role: str) -> str:
    return (REDTEAM / "proc_counters.py").read_text().replace("__ROLE__", role)


def test_the_counters_read_as_constants_with_the_memory_budget_as_the_machine():
    files = iso.proc_constants(Limits(memory_mb=3000))
    assert tuple(files)[:4] == iso.PROC_CONSTANT and set(iso.PROC_EMPTY) <= set(files)
    assert files == iso.proc_constants(Limits(memory_mb=3000))          # the same for every child
    meminfo = dict(line.split(":", 1) for line in files["/proc/meminfo"].splitlines())
    assert meminfo["MemTotal"].split() == ["3072000", "kB"] and meminfo["MemAvailable"].split()[0] == "3072000"
    stat = files["/proc/stat"].splitlines()
    assert stat[0].startswith("cpu  ") and any(line.startswith("btime ") for line in stat)
    assert len(files["/proc/loadavg"].split()) == 5 and len(files["/proc/uptime"].split()) == 2
    assert all(files[p] == "" for p in iso.PROC_EMPTY)
    config = iso.build_config(Path("/nonexistent"), Limits(), "cpu", "userns", (), mounts=("/",))
    assert config["proc_files"] == iso.proc_constants(Limits())


def test_the_hosts_counters_do_move():
    """Control: outside the sandbox these files change from one read to the next."""
    first = Path("/proc/stat").read_text()
    time.sleep(0.3)
    assert Path("/proc/stat").read_text() != first


@needs_isolation
def test_two_children_alive_together_see_nothing_of_each_others_load(child_factory):
    observer, loader = child_factory(), child_factory(processes=16)
    before = run(observer, _relay("observe"))
    started = run(loader, _relay("load"))
    assert all(started["alive"]), started                     # the load runs while the observer looks
    during = run(observer, _relay("observe"))
    for path, texts in during.items():
        assert len(texts) == 1, (path, texts)                 # never changed while it was read
        assert texts == before[path], (path, before[path], texts)   # nor with the other child's load
    constants = iso.proc_constants(Limits())
    for path in iso.PROC_CONSTANT:
        assert during[path] == [constants[path]], path
    for path in ("/proc/vmstat", "/proc/pressure/cpu"):
        assert during[path][0] in ("", "refused: 2"), (path, during[path])    # empty, or this kernel has none


@needs_isolation
@pytest.mark.timeout(240)
def test_the_libraries_that_read_them_still_work(child_factory):
    child = child_factory(memory_mb=4096, wall_seconds=200, cpu_seconds=200)
    got = run(child, """
        import numpy as np
        import psutil
        import torch
        torch.set_num_threads(2)
        result = {"threads": torch.get_num_threads(), "sum": float(np.ones(4).sum()),
                  "matmul": float((torch.ones(8, 8) @ torch.ones(8, 8)).sum()),
                  "memory": psutil.virtual_memory().total, "cpus": psutil.cpu_count(),
                  "times": psutil.cpu_times().idle > 0, "boot": psutil.boot_time()}
    """, timeout=200)
    assert got["threads"] == 2 and got["sum"] == 4.0 and got["matmul"] == 512.0
    assert got["memory"] == 4096 << 20 and got["cpus"] >= 1 and got["times"]
    assert got["boot"] == 1700000000


def test_a_kernel_that_refuses_the_mounts_keeps_the_sandbox_and_says_so(tmp_path, monkeypatch):
    """Where a mount over /proc's counters is refused (some sandboxing runtimes), the rest of the sandbox is
    kept and every result says the counters are visible (sysinfo(2) tells the same numbers anyway)."""
    from grader.sandbox import NamespaceIsolation

    refused = "root sandbox failed: grader sandbox setup failed: cannot hide /proc/loadavg: mount: Operation not permitted"
    monkeypatch.setattr(iso, "probe", lambda mode, protected=(), seccomp_off=None, proc_counters="":
                        "" if proc_counters else refused)
    monkeypatch.setattr(iso, "_modes", lambda: ["userns"])
    monkeypatch.delenv("GRADER_ISOLATION", raising=False)
    chosen = iso._select.__wrapped__(())
    assert isinstance(chosen, NamespaceIsolation) and chosen.proc_counters == refused
    assert f"/proc's machine-wide counters: VISIBLE ({refused})" in chosen.describe()
    assert not chosen.incomplete() or "seccomp" in chosen.incomplete()
    argv = chosen.wrap(["true"], tmp_path, Limits())
    assert '"proc_files"' not in argv[argv.index("--") - 1]
    kept = NamespaceIsolation(mode="userns", hidden=())
    assert kept.describe().endswith("/proc's machine-wide counters: constants")
    argv = kept.wrap(["true"], tmp_path, Limits())
    assert '"proc_files"' in argv[argv.index("--") - 1]
