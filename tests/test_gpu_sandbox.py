"""CUDA children on CPU-only CI: what the sandbox shows a CUDA child (the driver wherever the loader finds
it, the environment), the device probe's refusal and ``auto``'s fallback, and the parent's memory watch.

Both causes of issue 20 are here without a GPU: the driver behind a link into a folder outside the system
folders, a folder that is a mount point of its own below a bound one (``/usr/local/nvidia`` below ``/usr``),
and ``CUDA_VISIBLE_DEVICES=""`` hiding every GPU. The tests at the end need a real GPU (skipped elsewhere;
``bench/gpu_check.sh`` runs them with the rest of the suite on a GPU machine).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.cli.main import main
from grader.core import devices
from grader.core.assignment import load_assignment
from grader.core.devices import DeviceChoice, DeviceError
from grader.core.grading import GradeOptions, grade_submission
from grader.sandbox import Child, ChildFailure, ChildSpec, Limits, NamespaceIsolation, NoIsolation, memwatch
from grader.sandbox import isolation as iso
from grader.sandbox.process import scrubbed_env
from tests.conftest import ISOLATION, ROOT, needs_isolation, write_toy_assignment

pytestmark = pytest.mark.timeout(120)

LDCONFIG = """\
612 libs found in cache `/etc/ld.so.cache'
\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1
\tlibnvidia-ml.so.1 (libc6,x86-64) => /usr/local/nvidia/lib64/libnvidia-ml.so.1
\tlibcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12
\tlibcuda.so.1 (libc6,x86-64) => /lib/libcuda.so.1
\tlibcuda.so.1 (libc6) => /usr/local/nvidia/lib/libcuda.so.1
\tlibcudadebugger.so.1 (libc6,x86-64) => /lib/libcudadebugger.so.1
\tlibnvidia-ptxjitcompiler.so.1 (libc6,x86-64) => /lib/libnvidia-ptxjitcompiler.so.1
"""


def fake_driver(base: Path) -> tuple[Path, Path]:
    """``base/sys/lib/libcuda.so.1 -> base/nvidia/lib64/libcuda.so.1 -> libcuda.so.550.54`` (a real shared
    library, libz, under the driver's name): (the link the loader's cache names, the real folder)."""
    real = base / "nvidia" / "lib64"
    real.mkdir(parents=True)
    libz = ctypes.util.find_library("z")
    source = next((Path(p) for p in (f"/lib/x86_64-linux-gnu/{libz}", f"/usr/lib/x86_64-linux-gnu/{libz}",
                                      f"/lib64/{libz}", f"/usr/lib64/{libz}", f"/usr/lib/{libz}") if libz and Path(p).exists()),
                  None)
    if source is None:
        (real / "libcuda.so.550.54").write_bytes(b"\x7fELF not really")
    else:
        shutil.copy(source, real / "libcuda.so.550.54")
    (real / "libcuda.so.1").symlink_to("libcuda.so.550.54")
    (real / "unrelated.txt").write_text("x")
    link_dir = base / "sys" / "lib"
    link_dir.mkdir(parents=True)
    (link_dir / "libcuda.so.1").symlink_to(real / "libcuda.so.1")
    return link_dir / "libcuda.so.1", real


# -- finding the driver as the loader does -------------------------------------------------------------
def test_the_loaders_cache_names_the_driver_libraries_only():
    assert iso.parse_ldconfig(LDCONFIG) == [
        "/usr/local/nvidia/lib64/libnvidia-ml.so.1", "/lib/libcuda.so.1", "/usr/local/nvidia/lib/libcuda.so.1",
        "/lib/libcudadebugger.so.1", "/lib/libnvidia-ptxjitcompiler.so.1"]
    assert iso.parse_ldconfig("") == [] and iso.parse_ldconfig("garbage\n\tlibcuda.so.1 => relative\n") == []


def test_driver_files_come_from_the_cache_and_the_library_path(tmp_path):
    folder = tmp_path / "driver"
    folder.mkdir()
    for name in ("libcuda.so.1", "libnvidia-ml.so.1", "libcudart.so.12", "notes.txt"):
        (folder / name).write_text("")
    found = iso.driver_files(listing=LDCONFIG, library_path=f"{folder}:{tmp_path / 'missing'}:")
    assert found[:5] == tuple(iso.parse_ldconfig(LDCONFIG))
    assert found[5:] == (str(folder / "libcuda.so.1"), str(folder / "libnvidia-ml.so.1"))


def test_a_driver_behind_a_link_outside_the_system_folders_is_bound_and_its_links_made_again(tmp_path):
    """Cause 1, first half: ``/lib/libcuda.so.1 -> /usr/local/nvidia/lib64/...``: binding /lib shows a
    dangling link unless the real folder is bound too."""
    link, real = fake_driver(tmp_path)
    config = iso.build_config(tmp_path / "work", Limits(), "cuda", "userns", (), driver=(str(link),),
                              mounts=("/",))
    assert str(real) in config["binds"]
    assert (str(link), str(real / "libcuda.so.1")) in config["symlinks"]
    assert (str(real / "libcuda.so.1"), "libcuda.so.550.54") in config["symlinks"]
    cpu = iso.build_config(tmp_path / "work", Limits(), "cpu", "userns", (), driver=(str(link),), mounts=("/",))
    assert str(real) not in cpu["binds"] and not any("libcuda" in a for a, _ in cpu["symlinks"])


def test_a_driver_folder_inside_a_secret_is_not_bound(tmp_path):
    link, real = fake_driver(tmp_path)
    config = iso.build_config(tmp_path / "work", Limits(), "cuda", "userns", (str(tmp_path / "nvidia"),),
                              driver=(str(link),), mounts=("/",))
    assert str(real) not in config["binds"]


def test_a_mount_point_below_a_bound_folder_is_bound_after_it():
    """Cause 1, second half: ``/usr/local/nvidia`` is a read-only mount of its own below ``/usr``; a bind
    of /usr shows an empty folder there, so the mount point is bound too, after /usr."""
    mounts = ("/", "/proc", "/usr/local/nvidia", "/usr/share/elsewhere")
    kept = iso.keep_binds(["/usr", "/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu", "/etc/hosts"], mounts)
    assert kept == ["/usr", "/etc/hosts", "/usr/local/nvidia"]          # parents first; nothing else below /usr
    assert iso.keep_binds(["/usr", "/usr/local/nvidia/lib64"], ("/",)) == ["/usr"]     # no mount: /usr shows it
    # a mount inside a mount: each one on the way
    nested = iso.keep_binds(["/usr", "/usr/a/b/c/lib"], ("/", "/usr/a", "/usr/a/b/c"))
    assert nested == ["/usr", "/usr/a", "/usr/a/b/c"]
    # the driver's folder is the mount point itself
    assert iso.keep_binds(["/usr", "/usr/local/nvidia"], mounts) == ["/usr", "/usr/local/nvidia"]


def test_build_config_binds_the_submount_on_the_way_to_the_driver(tmp_path, monkeypatch):
    link, real = fake_driver(tmp_path)
    monkeypatch.setattr(iso, "SYSTEM_DIRS", (*iso.SYSTEM_DIRS, str(tmp_path)))
    config = iso.build_config(tmp_path / "work", Limits(), "cuda", "userns", (), driver=(str(link),),
                              mounts=("/", str(tmp_path / "nvidia")))
    binds = config["binds"]
    assert str(tmp_path) in binds and str(tmp_path / "nvidia") in binds and str(real) not in binds
    assert binds.index(str(tmp_path)) < binds.index(str(tmp_path / "nvidia"))
    without = iso.build_config(tmp_path / "work", Limits(), "cuda", "userns", (), driver=(str(link),), mounts=("/",))
    assert str(tmp_path / "nvidia") not in without["binds"] and str(real) not in without["binds"]


def test_mount_points_are_read_from_mountinfo():
    text = ("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
            "40 27 0:50 / /usr/local/nvidia ro,nosuid,nodev - overlay overlay ro\n"
            "41 27 0:51 / /mnt/with\\040space rw - tmpfs tmpfs rw\n")
    assert iso.mount_points(text) == ("/", "/usr/local/nvidia", "/mnt/with space")
    assert "/" in iso.mount_points() or not Path("/proc/self/mountinfo").exists()


def test_gpu_device_files_are_found_by_pattern(tmp_path):
    (tmp_path / "nvidia0").write_text("")
    (tmp_path / "nvidiactl").write_text("")
    (tmp_path / "nvidia-caps").mkdir()
    (tmp_path / "null").write_text("")
    assert iso.gpu_devices((f"{tmp_path}/nvidia*",)) == [str(tmp_path / n) for n in ("nvidia-caps", "nvidia0", "nvidiactl")]


# -- the environment of a CUDA child -------------------------------------------------------------------
def _spec(tmp_path, device, isolation=None):
    return ChildSpec(submission=tmp_path / "s.py", probes=tmp_path / "p.py", device=device,
                     isolation=isolation or NamespaceIsolation(mode="userns", hidden=()))


def test_cuda_visible_devices_unset_stays_unset_and_set_stays_set(tmp_path, monkeypatch):
    """Cause 2: ``CUDA_VISIBLE_DEVICES=""`` hides every GPU; it was set so whenever the grader had none."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert "CUDA_VISIBLE_DEVICES" not in scrubbed_env(tmp_path, _spec(tmp_path, "cuda"))
    assert scrubbed_env(tmp_path, _spec(tmp_path, "cpu"))["CUDA_VISIBLE_DEVICES"] == ""    # a CPU child: no GPU
    for value in ("1", "GPU-0f2c", ""):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
        assert scrubbed_env(tmp_path, _spec(tmp_path, "cuda"))["CUDA_VISIBLE_DEVICES"] == value
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert scrubbed_env(tmp_path, _spec(tmp_path, "cuda"))["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert "CUDA_DEVICE_ORDER" not in scrubbed_env(tmp_path, _spec(tmp_path, "cpu"))


def test_a_cuda_child_gets_only_the_driver_folders_of_the_library_path(tmp_path, monkeypatch):
    driver, course, other = tmp_path / "nvidia" / "lib64", tmp_path / "course" / "lib", tmp_path / "cuda" / "lib64"
    for folder in (driver, course, other):
        folder.mkdir(parents=True)
    (driver / "libcuda.so.1").write_text("")
    (course / "libnvidia-ml.so.1").write_text("")        # a driver's name, in a folder the child must not see
    (other / "libcudart.so.12").write_text("")            # the toolkit, not the driver
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{course}:{driver}:{other}:{tmp_path / 'gone'}")
    isolation = NamespaceIsolation(mode="userns", hidden=(str(tmp_path / "course"),))
    assert scrubbed_env(tmp_path, _spec(tmp_path, "cuda", isolation))["LD_LIBRARY_PATH"] == str(driver)
    assert "LD_LIBRARY_PATH" not in scrubbed_env(tmp_path, _spec(tmp_path, "cpu", isolation))
    monkeypatch.setenv("LD_LIBRARY_PATH", str(other))
    assert "LD_LIBRARY_PATH" not in scrubbed_env(tmp_path, _spec(tmp_path, "cuda", isolation))


@needs_isolation
def test_a_cuda_child_loads_the_driver_through_its_link_and_sees_nothing_else(tmp_path, monkeypatch):
    """End to end in the namespaces: the child opens the loader's path (a link into a folder outside the
    system folders) with the loader itself (dlopen), gets the driver's folder on its library path, and
    sees nothing else of the folder the driver lies in beside it."""
    base = tmp_path / "fake-driver"
    try:
        link, real = fake_driver(base)
        monkeypatch.setattr(iso, "driver_files", lambda *a, **k: (str(link),))
        monkeypatch.setenv("LD_LIBRARY_PATH", str(real))
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        hidden = tuple(h for h in iso.secret_paths((str(ROOT),)) if not iso._is_within(str(base), h))
        isolation = NamespaceIsolation(mode=ISOLATION.mode, hidden=hidden, seccomp_off=ISOLATION.seccomp_off)
        (tmp_path / "probes.py").write_text("def run(sub, ctx, code):\n    scope = {}\n    exec(code, scope)\n"
                                            "    return scope.get('result')\n")
        (tmp_path / "sub.py").write_text("")
        spec = ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py", isolation=isolation,
                         device="cuda")
        child = Child(spec)
        try:
            child.start(time.monotonic() + 60)
            got = child.call("run", {"code": textwrap.dedent(f"""
                import ctypes, os
                result = {{"env": {{k: v for k, v in os.environ.items() if "CUDA" in k or k == "LD_LIBRARY_PATH"}},
                          "listing": sorted(os.listdir({str(real)!r})),
                          "target": os.path.realpath({str(link)!r})}}
                try:
                    ctypes.CDLL({str(link)!r})
                    result["dlopen"] = "ok"
                except OSError as exc:
                    result["dlopen"] = str(exc)
            """)}, time.monotonic() + 30)
        finally:
            child.close()
        assert got["env"] == {"LD_LIBRARY_PATH": str(real)}
        assert got["target"] == str(real / "libcuda.so.550.54")
        assert got["listing"] == ["libcuda.so.1", "libcuda.so.550.54", "unrelated.txt"]
        if ctypes.util.find_library("z"):
            assert got["dlopen"] == "ok", got
    finally:
        shutil.rmtree(base, ignore_errors=True)


# -- the device probe -----------------------------------------------------------------------------------
@pytest.fixture
def gpu_but_no_sandboxed_cuda(monkeypatch):
    """torch "sees a GPU" while a sandboxed child cannot compute on it: on CPU torch because it has no CUDA
    at all, on a GPU machine because the probe asks for a GPU that is not there. The probe is real: a child
    started like every other, in the sandbox."""
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    monkeypatch.setattr(devices, "PROBE_CODE", "import torch\ntorch.ones(1, device='cuda:99').sum().item()\n")
    monkeypatch.setattr(devices, "_probed", {})
    monkeypatch.setattr(devices, "AUTO_MEANS", "auto")


def test_cuda_refuses_in_one_line_when_the_sandbox_cannot_compute_on_it(gpu_but_no_sandboxed_cuda):
    with pytest.raises(DeviceError) as caught:
        devices.resolve("cuda", ISOLATION)
    message = str(caught.value)
    assert message.startswith("--device cuda was requested but CUDA is not usable in the sandbox: ")
    assert "\n" not in message and len(message) < 400
    assert any(word in message for word in ("CUDA", "cuda", "device")), message


def test_the_cli_refuses_cuda_with_exit_2_and_one_line(gpu_but_no_sandboxed_cuda, capsys):
    assert main(["grade", str(ROOT / "solutions" / "vae.py"), "--device", "cuda", "--seed", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grader: error: --device cuda was requested but CUDA is not usable in the sandbox: ")
    assert len(err.splitlines()) == 1, err


TOY = '''
name = "gputoy"
title = "a toy assignment that imports torch"
submission = "gputoy.py"
uses_torch = true
holes = []
[limits]
wall_seconds = 60
[groups.device]
points = 1
'''
PROBES = '''
import os
def device(sub, ctx):
    return os.environ["GRADER_DEVICE"]
'''
SUITE = '''
from grader.core.suite import group

@group("device")
def device(ctx):
    with ctx.check("the child's device"):
        ctx.extra("device", ctx.call("device"))
'''


def test_auto_grades_on_the_cpu_and_says_why(gpu_but_no_sandboxed_cuda, tmp_path):
    submission = write_toy_assignment(tmp_path, "gputoy", TOY, PROBES, SUITE, filename="gputoy.py")
    result = grade_submission(submission, load_assignment("gputoy", tmp_path), GradeOptions(device="auto", seed=0))
    header = [line for line in result.output.splitlines() if line.startswith("device: ")]
    assert len(header) == 1 and header[0].startswith("device: cpu (CUDA not usable in the sandbox: "), result.output
    assert result.extra_data["device"] == "cpu"
    assert result.extra_data["device_note"].startswith("CUDA not usable in the sandbox: ")
    assert result.tests[0].score == 1 and result.tests[0].extra_data["device"] == "cpu"   # nobody loses a point
    assert len(devices._probed) == 1                   # probed once
    again = grade_submission(submission, load_assignment("gputoy", tmp_path), GradeOptions(device="auto", seed=0))
    assert again.extra_data["device_note"] == result.extra_data["device_note"] and len(devices._probed) == 1


def test_a_resolved_choice_is_used_as_it_is(monkeypatch):
    """A batch resolves once in its main process and hands the choice to its workers: no probe there."""
    monkeypatch.setattr(devices, "probe_cuda", lambda isolation=None: pytest.fail("probed again"))
    choice = DeviceChoice("cpu", "CUDA not usable in the sandbox: x")
    assert devices.resolve(choice) is choice and devices.resolve_device(choice) == "cpu"
    assert choice.header() == "device: cpu (CUDA not usable in the sandbox: x)"
    assert devices.resolve("cpu") == DeviceChoice("cpu") and DeviceChoice("cuda").header() == "device: cuda"


def test_a_batch_resolves_once_and_hands_the_choice_on(gpu_but_no_sandboxed_cuda):
    from grader.workflows.batch import BatchError, concrete_device

    options = concrete_device(GradeOptions(device="auto", seed=0, isolation=ISOLATION))
    assert isinstance(options.device, DeviceChoice) and options.device.device == "cpu" and options.device.note
    assert concrete_device(options).device is options.device                    # as it is, in a worker
    with pytest.raises(BatchError, match="CUDA is not usable in the sandbox"):
        concrete_device(GradeOptions(device="cuda", isolation=ISOLATION))


def test_the_suites_device_switch_forces_cuda(monkeypatch):
    """GRADER_TEST_DEVICE=cuda (tests/conftest.py) makes `auto` mean `cuda`: without a usable GPU, a grading
    that does not name a device fails loudly instead of falling back."""
    monkeypatch.setattr(devices, "AUTO_MEANS", "cuda")
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    with pytest.raises(DeviceError, match="torch sees no CUDA device"):
        devices.resolve("auto")
    assert devices.resolve("cpu").device == "cpu"
    monkeypatch.setattr(devices, "AUTO_MEANS", "auto")
    assert devices.resolve("auto") == DeviceChoice("cpu")        # a CPU machine: no note, nothing is wrong


def test_cuda_available_asks_torch_only_where_a_gpu_device_file_exists(monkeypatch):
    """No GPU device file: no CUDA, said without importing torch (its import then runs while the first
    child starts up, grader.core.warmup); with one, torch decides."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: [])
    assert not devices.gpu_device_files() and not devices.cuda_available()
    monkeypatch.setattr(devices.glob, "glob", lambda pattern: ["/dev/nvidia0"] if "nvidia" in pattern else [])
    assert devices.gpu_device_files() and devices.cuda_available()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not devices.cuda_available()
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from grader.core import devices\n"
            "devices.gpu_device_files = lambda: False\n"
            "print(devices.cuda_available(), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_an_assignment_too_small_for_a_gpu_grades_on_the_cpu_and_says_why(monkeypatch):
    """``cpu_only`` (the RL assignments: CartPole's networks): a grading that would have used CUDA runs on
    the CPU, children included, without probing CUDA, and its device line says why; one on the CPU anyway
    says nothing."""
    from grader.core.course import Course
    from grader.core.grading import device_choice

    reinforce = Course.find().assignment("reinforce")
    assert "too small" in reinforce.cpu_only
    monkeypatch.setattr(devices, "probe_cuda", lambda isolation=None: pytest.fail("probed CUDA"))
    monkeypatch.setattr(devices, "AUTO_MEANS", "auto")
    for requested in ("cuda", DeviceChoice("cuda")):
        choice = device_choice(reinforce, GradeOptions(device=requested))
        assert choice.device == "cpu" and choice.note == "reinforce grades on the CPU: " + reinforce.cpu_only
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    assert device_choice(reinforce, GradeOptions(device="auto")).note
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    assert device_choice(reinforce, GradeOptions(device="auto")) == DeviceChoice("cpu")
    assert device_choice(reinforce, GradeOptions(device="cpu")) == DeviceChoice("cpu")
    with pytest.raises(DeviceError, match="unknown device"):         # still checked, as for every assignment
        device_choice(reinforce, GradeOptions(device="gpu"))
    result = grade_submission(Course.find().templates_dir / "reinforce.py", reinforce,
                              GradeOptions(device=DeviceChoice("cuda"), only=["compute_returns"], seed=1,
                                           isolation=ISOLATION))
    assert result.extra_data["device"] == "cpu" and "too small" in result.extra_data["device_note"]
    assert "device: cpu (reinforce grades on the CPU: CartPole's networks" in result.output


def test_conftest_reads_the_switch():
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); os.environ['GRADER_TEST_DEVICE'] = 'cuda'\n"
            "import tests.conftest\nfrom grader.core import devices\nprint(devices.AUTO_MEANS)\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.strip() == "cuda", out.stderr


# -- the parent's memory watch ----------------------------------------------------------------------------
class FakeGpu:
    def __init__(self, per_pid=None, total=0):
        self.per_pid, self.total = per_pid or {}, total

    def sample(self):
        return dict(self.per_pid), self.total


def _sleeper(code: str = "import time; time.sleep(60)") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


def _watcher(tmp_path, gpu):
    return memwatch.Watcher(gpu=lambda: (gpu, ""), interval=0.05, registry=tmp_path / "registry")


def test_the_watch_stops_a_child_over_its_host_memory(tmp_path):
    proc = _sleeper("import time\nx = b'x' * (400 << 20)\ntime.sleep(60)")
    watcher = memwatch.Watcher(gpu=lambda: (None, "none"), interval=0.05)
    watch = watcher.add(proc.pid, host_mb=200)
    try:
        assert proc.wait(timeout=30) == -9
        assert watch.reason.startswith("used ") and "MiB of host memory (resident, all its processes), over the 200 MiB " \
                                                     "budget" in watch.reason, watch.reason
    finally:
        watcher.remove(watch)
        proc.kill()


def test_the_watch_counts_the_whole_process_tree(tmp_path):
    code = ("import subprocess, sys, time\n"
            "kids = [subprocess.Popen([sys.executable, '-c', \"import time; x = b'x' * (150 << 20); time.sleep(60)\"])"
            " for _ in range(2)]\ntime.sleep(60)")
    proc = _sleeper(code)
    watcher = memwatch.Watcher(gpu=lambda: (None, "none"), interval=0.05)
    watch = watcher.add(proc.pid, host_mb=250)       # each child alone is under it, the two are not
    try:
        assert proc.wait(timeout=30) == -9 and "host memory" in watch.reason
    finally:
        watcher.remove(watch)
        proc.kill()


def test_where_only_vmrss_is_told_the_libraries_pages_are_allowed_for(tmp_path):
    """gVisor's /proc/PID/status has VmRSS only, which counts the pages of torch's and CUDA's libraries too."""
    proc = _sleeper()
    fake = tmp_path / "proc"
    (fake / str(proc.pid)).mkdir(parents=True)
    (fake / str(proc.pid) / "stat").write_text(f"{proc.pid} (python3) S 1 {proc.pid} {proc.pid} 0 -1\n")
    status = fake / str(proc.pid) / "status"
    watcher = memwatch.Watcher(gpu=lambda: (None, "none"), proc=str(fake), interval=60)
    watch = watcher.add(proc.pid, host_mb=4096)
    try:
        status.write_text("Name:\tpython3\nVmRSS:\t5000000 kB\n")          # 4.8 GiB: libraries included
        watcher.check([watch])
        assert not watch.reason and watch.host_peak == 5000000 << 10
        status.write_text("Name:\tpython3\nVmRSS:\t7000000 kB\n")
        watcher.check([watch])
        assert watch.reason == (f"used 6835 MiB of host memory (resident, all its processes, libraries included: "
                                f"{memwatch.LIBRARY_PAGES_MB} MiB allowed for them), over the 4096 MiB budget")
        assert proc.wait(timeout=10) == -9
    finally:
        watcher.remove(watch)
        proc.kill()


def test_the_watch_uses_nvmls_figure_for_the_childs_processes(tmp_path):
    proc = _sleeper()
    gpu = FakeGpu({proc.pid: 900 << 20, 1: 50 << 30}, total=60 << 30)
    watcher = _watcher(tmp_path, gpu)
    watch = watcher.add(proc.pid, gpu_mb=1024)
    try:
        watcher.check([watch])
        assert not watch.reason and watch.gpu_method == memwatch.PER_PROCESS and watch.gpu_peak == 900 << 20
        gpu.per_pid[proc.pid] = 3 << 30
        watcher.check([watch])
        assert watch.reason == ("used 3072 MiB of GPU memory, over the 1024 MiB budget (measured by the grader "
                                "through NVML, for this child's processes)")
        assert proc.wait(timeout=10) == -9
    finally:
        watcher.remove(watch)
        proc.kill()


def test_without_per_process_figures_the_watch_uses_the_gpus_growth(tmp_path):
    """Under gVisor or in a container NVML names no process of ours: the GPU's total growth since the child
    started counts, less the budgets of the other grader children alive (they share the GPU)."""
    proc, other = _sleeper(), _sleeper()
    gpu = FakeGpu({12345678: 70 << 30}, total=10 << 30)            # a pid that is not ours
    watcher = _watcher(tmp_path, gpu)
    watch = watcher.add(proc.pid, gpu_mb=1024)
    assert watch.gpu_baseline == 10 << 30
    try:
        gpu.total = (10 << 30) + (800 << 20)
        watcher.check([watch])
        assert not watch.reason and watch.gpu_method == memwatch.DEVICE_TOTAL
        neighbour = watcher.add(other.pid, gpu_mb=2048)           # another child shares the GPU
        gpu.total = (10 << 30) + (2500 << 20)
        watcher.check([watch])
        assert not watch.reason, watch.reason                      # 2500 - 2048 of the other's budget: within
        gpu.total = (10 << 30) + (3500 << 20)
        watcher.check([watch])
        assert watch.reason.startswith("used 1452 MiB of GPU memory, over the 1024 MiB budget (measured by the grader "
                                       "as the growth of the GPU's total use since this child started, less the 2048 "
                                       "MiB budget of the other grader children"), watch.reason
        assert proc.wait(timeout=10) == -9
        watcher.remove(neighbour)
        assert not (tmp_path / "registry" / str(other.pid)).exists()
    finally:
        watcher.remove(watch)
        for p in (proc, other):
            p.kill()


def test_a_dead_graders_budget_is_forgotten(tmp_path):
    proc = _sleeper()
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "999999999").write_text("8192")       # no such process
    gpu = FakeGpu(total=0)
    watcher = _watcher(tmp_path, gpu)
    watch = watcher.add(proc.pid, gpu_mb=100)
    try:
        gpu.total = 200 << 20
        watcher.check([watch])
        assert "over the 100 MiB budget" in watch.reason and not (tmp_path / "registry" / "999999999").exists()
    finally:
        watcher.remove(watch)
        proc.kill()


def test_no_nvml_means_no_gpu_watch_and_says_so(monkeypatch):
    monkeypatch.setattr(memwatch, "_nvml", lambda: (None, "no NVML: nvidia-ml-py is not installed"))
    assert "device memory not watched (no NVML: nvidia-ml-py is not installed)" in memwatch.describe_cuda(cgroup=False)
    assert memwatch.describe_cuda(cgroup=True).startswith("host memory: cgroup memory.max; ")
    watcher = memwatch.Watcher(gpu=memwatch._nvml, interval=0.05)
    watch = watcher.add(os.getpid(), gpu_mb=100)
    watcher.remove(watch)
    assert watch.gpu_mb == 0


def test_the_watchs_kill_reaches_the_students_feedback(tmp_path, monkeypatch):
    """A CUDA child over its host budget is stopped by the parent; the call fails with the reason. Shared
    anonymous memory, which RLIMIT_DATA does not count, is what it takes here."""
    monkeypatch.setattr(memwatch, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(memwatch, "_WATCHER", memwatch.Watcher(gpu=lambda: (None, "none"), interval=0.05))
    (tmp_path / "probes.py").write_text("def run(sub, ctx, code):\n    scope = {}\n    exec(code, scope)\n"
                                        "    return scope.get('result')\n")
    (tmp_path / "sub.py").write_text("")
    spec = ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py", isolation=NoIsolation(),
                     device="cuda", limits=Limits(memory_mb=600))
    child = Child(spec)
    try:
        child.start(time.monotonic() + 60)
        with pytest.raises(ChildFailure) as caught:
            child.call("run", {"code": "import mmap, time\nblocks = []\nwhile True:\n    m = mmap.mmap(-1, 50 << 20)\n"
                                       "    m.write(b'x' * (50 << 20))\n    blocks.append(m)\n    time.sleep(0.02)\n"},
                       time.monotonic() + 60)
    finally:
        child.close()
    failure = caught.value
    assert failure.kind == "crashed" and failure.final       # a fresh child would meet it again: no restart
    assert failure.again(skipped=True).final
    assert failure.message.startswith("the child was stopped while running run: it used "), failure.message
    assert "MiB of host memory (resident, all its processes), over the 600 MiB budget" in failure.message


def test_limits_know_the_gpu_budget_and_rlimit_data():
    from grader.core.schema import describe

    limits = Limits.from_mapping({"gpu_memory_mb": 2048})
    assert limits.gpu_memory_mb == 2048 and limits.for_device("cuda").gpu_memory_mb == 2048
    assert limits.for_device("cuda").data_segment and not limits.for_device("cuda").address_space
    assert "gpu_memory_mb" in describe() and "data_segment" in describe()


# -- on a real GPU (bench/gpu_check.sh runs these) -------------------------------------------------------
needs_gpu = pytest.mark.skipif(not devices.cuda_available(), reason="no GPU that torch sees here")


@needs_gpu
def test_a_sandboxed_child_computes_on_the_gpu():
    assert devices.probe_cuda(ISOLATION) == ""
    assert devices.resolve("cuda", ISOLATION) == DeviceChoice("cuda")


@needs_gpu
@pytest.mark.timeout(300)
@pytest.mark.parametrize("what, code, expect", [
    ("gpu", "import torch\nblocks = []\nwhile True:\n    blocks.append(torch.empty(256 << 20, dtype=torch.uint8, "
            "device='cuda').fill_(1))\n", "MiB of GPU memory, over the 1024 MiB budget"),
    ("host", "import numpy as np\nblocks = []\nwhile True:\n    blocks.append(np.ones(64 << 20))\n", "host memory"),
])
def test_a_cuda_child_over_its_memory_is_stopped(tmp_path, what, code, expect):
    (tmp_path / "probes.py").write_text("def run(sub, ctx, code):\n    scope = {}\n    exec(code, scope)\n"
                                        "    return scope.get('result')\n")
    (tmp_path / "sub.py").write_text("")
    spec = ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py", isolation=ISOLATION,
                     device="cuda", limits=Limits(memory_mb=4096, gpu_memory_mb=1024, wall_seconds=200,
                                                  cpu_seconds=200), preload=("torch",))
    child = Child(spec)
    try:
        child.start(time.monotonic() + 120)
        with pytest.raises((ChildFailure, Exception)) as caught:
            child.call("run", {"code": code}, time.monotonic() + 150)
    finally:
        child.close()
    text = str(getattr(caught.value, "message", caught.value))
    if what == "host" and "MemoryError" in text:
        return                          # RLIMIT_DATA held first (Linux); the watch is the second line
    if what == "gpu" and memwatch.nvml_problem():
        assert "out of memory" in text.lower()
        return
    assert expect in text, text
