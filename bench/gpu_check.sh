#!/usr/bin/env bash
# bench/gpu_check.sh — prove the GPU path on a machine with a GPU, in at most 8 minutes (issue 20).
#
#   bench/gpu_check.sh [WHEELS_DIR] [--dry-run]
#
# Run from anywhere; it works in the checkout it lives in. WHEELS_DIR (default .whl, relative to the
# checkout) holds the wheels the machine lacks (../shared/gpu/wheels: gymnasium, nbformat and its
# jsonschema stack, copydetect, pyseccomp). Steps, each time-boxed, each going on after a failure:
#   a. install the wheels and the project (--no-deps: the machine's torch stays as it is)
#   b. the machine's facts: nvidia-smi, torch, the driver as the loader sees it, mounts, the sandbox,
#      the CUDA probe, whether RLIMIT_DATA holds, what NVML shows of a sandboxed child
#   c. every reference graded --require-isolation --seed 3 on cpu and on cuda (wall times, child
#      start-up) beside `verify templates --device cuda`; later `verify solutions --device cuda`
#   d. hostile CUDA hand-ins (the whole GPU; 64 GiB of host memory, private and shared), one at a time,
#      and their messages
#   e. grade-batch -j N on a mixed batch (references, templates, known-wrong variants): hand-ins a minute
#   f. the test suite with CUDA forced (GRADER_TEST_DEVICE=cuda): the GPU and sandbox tests first, then
#      as much of the rest as the time left allows (the summary says what ran)
#   g. a summary: bench/results/gpu-check.md, copied with the full log to $OUT when it is set
# --dry-run (a machine without a GPU, to check the script itself): nothing installed, bandits and vae
# only, a small batch, the GPU tests only; the CUDA steps then report the refusal they get.
# GPU_CHECK_BUDGET (seconds, default 470) bounds the whole run; BATCH_JOBS (default 8) and BATCH_SIZE
# (default 50) size step e.

set -u -o pipefail
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-470}
DEADLINE=$((START + BUDGET))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
WHEELS=.whl
DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) WHEELS=$arg ;;
    esac
done
PY=${PYTHON:-python3}
RUN=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
LOG=$RUN/gpu-check.log
mkdir -p "$RUN/jobs" "$RUN/json" bench/results
export GRADER_MEMWATCH_LOG=$RUN/memwatch.jsonl     # one line per CUDA child: peaks of host and GPU memory
: > "$GRADER_MEMWATCH_LOG"
echo "| step | exit | seconds | limit |" > "$RUN/steps.md"
echo "| --- | --- | --- | --- |" >> "$RUN/steps.md"

left() { echo $((DEADLINE - $(date +%s))); }
# cap WANT [RESERVE]: WANT seconds, or what is left before the deadline less RESERVE (at least 5)
cap() {
    local want=$1 reserve=${2:-0} l
    l=$(($(left) - reserve))
    ((l < want)) && want=$l
    ((want < 5)) && want=5
    echo "$want"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# run NAME LIMIT CMD...: in the foreground, time-boxed (SIGINT first: pytest and grade-batch then print
# what they did), its output in the log; exit status and seconds go to the steps table.
run() {
    local name=$1 limit=$2 t0 rc
    shift 2
    t0=$(now)
    echo
    echo "=== $name (at most ${limit} s): $*"
    timeout -s INT -k 20 "$limit" "$@"
    rc=$?
    echo "--- $name: exit $rc in $(since "$t0") s"
    echo "| $name | $rc | $(since "$t0") | $limit |" >> "$RUN/steps.md"
    return 0
}

# bg NAME LIMIT CMD...: the same in the background, its output in jobs/NAME.out (shown after the phase)
bg() {
    local name=$1 limit=$2
    shift 2
    (
        t0=$(now)
        timeout -s INT -k 20 "$limit" "$@" > "$RUN/jobs/$name.out" 2>&1
        rc=$?
        echo "$rc $(since "$t0") $limit" > "$RUN/jobs/$name.status"
    ) &
}

# show NAME...: the output and status of finished background jobs, into the log and the steps table
show() {
    local name rc secs limit
    for name in "$@"; do
        echo
        echo "=== $name"
        tail -c 20000 "$RUN/jobs/$name.out" 2>/dev/null
        read -r rc secs limit < "$RUN/jobs/$name.status" 2>/dev/null || { rc="?"; secs="?"; limit="?"; }
        echo "--- $name: exit $rc in $secs s"
        echo "| $name | $rc | $secs | $limit |" >> "$RUN/steps.md"
    done
}

main() {
    echo "gpu_check: $(date -u '+%Y-%m-%d %H:%M:%S UTC') in $ROOT (work folder $RUN, budget $BUDGET s, dry run: $DRY)"

    # -- a. install --------------------------------------------------------------------------------------
    # Into the interpreter's own site-packages: a sandboxed child runs `python -I` (PYTHONPATH ignored)
    # and sees the Python installation only, never /tmp (the grader's temp folder), so packages in
    # --target /tmp/site would be missing in every child (the RL references import gymnasium). The
    # --target install is the last resort, and the summary says so.
    INSTALL="not run (dry run)"
    if ((DRY == 0)); then
        if compgen -G "$WHEELS/*.whl" > /dev/null; then
            if timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "$WHEELS"/*.whl; then
                INSTALL="wheels into the interpreter's site-packages"
            elif timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
                    --break-system-packages "$WHEELS"/*.whl; then
                INSTALL="wheels into the interpreter's site-packages (--break-system-packages)"
            else
                timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
                    "$WHEELS"/*.whl
                export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
                INSTALL="wheels with --target /tmp/site and PYTHONPATH (sandboxed children do NOT see them)"
            fi
        else
            INSTALL="no wheels in $WHEELS"
        fi
        if timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e .; then
            INSTALL="$INSTALL; the project editable (--no-deps)"
        else
            export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
            INSTALL="$INSTALL; the project NOT installed (pip failed): run from the checkout with PYTHONPATH"
        fi
    fi
    echo "install: $INSTALL"
    echo "$INSTALL" > "$RUN/install.txt"
    G=("$PY" -m grader)

    # -- b. facts ------------------------------------------------------------------------------------------
    echo
    echo "=== facts"
    timeout 20 nvidia-smi 2>&1 | head -30 || echo "nvidia-smi: not available"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH-<unset>}"
    echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"
    echo "uname: $(uname -a)"
    echo "--- ldconfig -p | grep -E 'libcuda|libnvidia-ml'"
    (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | grep -E 'libcuda|libnvidia-ml' || echo "(none)"
    echo "--- mountinfo lines for nvidia"
    grep -i nvidia /proc/self/mountinfo || echo "(none)"
    ls -la /dev/nvidia* /dev/dri 2>&1 | head -20
    ls /proc/driver/nvidia 2>&1 | head -5
    run "facts (python)" "$(cap 75 300)" "$PY" "$RUN/facts.py" "$RUN/facts.json"

    # -- c, first phase: each reference on cpu and on cuda, and the templates, at once ---------------------
    if ((DRY)); then
        ASSIGNMENTS="bandits vae"
    else
        ASSIGNMENTS=$(ls assignments/*/assignment.toml 2>/dev/null | awk -F/ '{print $2}' | tr '\n' ' ')
    fi
    echo "assignments: $ASSIGNMENTS"
    local jobs=() a d limit
    limit=$(cap 150 230)
    for a in $ASSIGNMENTS; do
        [ -f "solutions/$a.py" ] || continue
        for d in cpu cuda; do
            bg "grade-$a-$d" "$limit" "${G[@]}" grade "solutions/$a.py" --require-isolation --seed 3 --device "$d" \
                --json "$RUN/json/grade-$a-$d.json"
            jobs+=("grade-$a-$d")
        done
    done
    if ((DRY)); then
        bg "verify-templates-cuda" "$limit" "${G[@]}" verify templates --device cuda --assignment bandits
    else
        bg "verify-templates-cuda" "$limit" "${G[@]}" verify templates --device cuda
    fi
    jobs+=("verify-templates-cuda")
    wait
    show "${jobs[@]}"

    # -- d. hostile CUDA hand-ins, one at a time: a child that takes the whole GPU would take it from every
    # CUDA child alive beside it (and where NVML shows only the GPU's total, those would be stopped too)
    "$PY" "$RUN/hostile.py" write "$RUN/hostile"
    for case in whole_gpu host_64g host_shared_64g; do
        [ -f "$RUN/hostile/$case/vae.py" ] || continue
        run "hostile-$case" "$(cap 45 180)" "${G[@]}" grade "$RUN/hostile/$case/vae.py" --assignment vae \
            --require-isolation --seed 3 --device cuda --only "$(cat "$RUN/hostile/only")" \
            --json "$RUN/json/hostile-$case.json"
    done
    "$PY" "$RUN/hostile.py" show "$RUN/json"
    run "pytest over-budget CUDA children (alone)" "$(cap 100 170)" env -u GRADER_MEMWATCH_LOG GRADER_TEST_DEVICE=cuda \
        "$PY" -m pytest -q -p no:cacheprovider -n 0 --timeout 150 -rfE tests/test_gpu_sandbox.py -k over_its_memory

    # -- c, second phase: verify solutions on cuda, beside the GPU and sandbox tests with CUDA forced ------------
    limit=$(cap 160 100)
    jobs=()
    if ((DRY)); then
        bg "verify-solutions-cuda" "$limit" "${G[@]}" verify solutions --device cuda --assignment bandits
    else
        bg "verify-solutions-cuda" "$limit" "${G[@]}" verify solutions --device cuda
    fi
    jobs+=("verify-solutions-cuda")
    local gpu_tests=(tests/test_gpu_sandbox.py tests/test_redteam_proc.py tests/test_sandbox_isolation.py)
    ((DRY)) && gpu_tests=(tests/test_gpu_sandbox.py)
    bg "pytest-gpu-cuda-forced" "$limit" env -u GRADER_MEMWATCH_LOG GRADER_TEST_DEVICE=cuda "$PY" -m pytest -q \
        -p no:cacheprovider -n 6 --maxprocesses 6 --timeout 150 -rfE -k "not over_its_memory" "${gpu_tests[@]}"
    jobs+=("pytest-gpu-cuda-forced")
    wait
    show "${jobs[@]}"

    # -- e. grade-batch throughput ---------------------------------------------------------------------------
    local size=${BATCH_SIZE:-50} njobs=${BATCH_JOBS:-8}
    ((DRY)) && size=4 && njobs=2
    "$PY" "$RUN/batch.py" make "$RUN/batch/subs" "$size" $ASSIGNMENTS
    local t0
    t0=$(now)
    run "grade-batch -j $njobs ($size hand-ins)" "$(cap 100 25)" "${G[@]}" grade-batch "$RUN/batch/subs" \
        --out "$RUN/batch/out" -j "$njobs" --device cuda --require-isolation --no-html -q --seed 1
    "$PY" "$RUN/batch.py" rate "$RUN/batch/out" "$(since "$t0")" "$njobs" "$size" | tee "$RUN/batch.txt"

    # -- f. the rest of the suite with CUDA forced, in the time left --------------------------------------------
    if ((DRY == 0)); then
        local rest
        rest=$(cap 600 25)
        run "pytest rest cuda-forced (the time left: ${rest} s)" "$rest" env -u GRADER_MEMWATCH_LOG GRADER_TEST_DEVICE=cuda "$PY" -m pytest -q \
            -p no:cacheprovider -n 14 --maxprocesses 14 --timeout 120 -rfE \
            --ignore=tests/test_gpu_sandbox.py --ignore=tests/test_redteam_proc.py \
            --ignore=tests/test_sandbox_isolation.py tests 2>&1 | tee "$RUN/pytest-rest.out" | tail -n 80
    fi

    # -- g. summary ---------------------------------------------------------------------------------------------
    "$PY" "$RUN/summary.py" "$RUN" "$DRY" "$(($(date +%s) - START))" > "$RUN/gpu-check.md"
    cp "$RUN/gpu-check.md" bench/results/gpu-check.md
    echo
    cat "$RUN/gpu-check.md"
}

write_helpers() {
# ---------------------------------------------------------------------------------------------------- facts.py
cat > "$RUN/facts.py" <<'PYEOF'
"""The machine's facts for the GPU check: each part on its own, an error in one does not stop the rest."""
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

facts = {}


def part(name):
    def wrap(fn):
        t0 = time.monotonic()
        try:
            facts[name] = fn()
        except Exception as exc:  # noqa: BLE001
            facts[name] = f"ERROR {type(exc).__name__}: {exc}"
        print(f"{name} ({time.monotonic() - t0:.1f} s): {json.dumps(facts[name], default=str)[:3000]}", flush=True)
        return fn
    return wrap


@part("torch")
def _():
    import torch
    out = {"version": torch.__version__, "cuda": torch.version.cuda, "available": torch.cuda.is_available()}
    if out["available"]:
        out["device"] = torch.cuda.get_device_name(0)
        out["count"] = torch.cuda.device_count()
    return out


@part("isolation")
def _():
    from grader.sandbox import select_isolation
    t0 = time.monotonic()
    iso = select_isolation()
    return {"chosen": type(iso).__name__, "mode": getattr(iso, "mode", ""), "seconds": round(time.monotonic() - t0, 1),
            "describe": iso.describe()}


@part("driver as the sandbox shows it")
def _():
    from grader.sandbox import isolation as iso
    from grader.sandbox.limits import Limits
    cfg = iso.build_config(Path("/nonexistent"), Limits(), "cuda", "root" if os.geteuid() == 0 else "userns",
                           tuple(iso.secret_paths()))
    return {"driver_files": iso.driver_files(), "library_path": iso.driver_library_path(),
            "binds": cfg["binds"], "devices": cfg["devices"],
            "links": [link for link in cfg["symlinks"] if "nvidia" in str(link) or "cuda" in str(link)][:40]}


@part("cuda probe in the sandbox")
def _():
    from grader.core import devices
    from grader.sandbox import select_isolation
    t0 = time.monotonic()
    why = devices.probe_cuda(select_isolation())
    return {"usable": not why, "why not": why, "seconds": round(time.monotonic() - t0, 1)}


def _limited(code, data_mb, timeout=120):
    def limit():
        resource.setrlimit(resource.RLIMIT_DATA, (data_mb << 20, data_mb << 20))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         preexec_fn=limit)
    text = (run.stdout + run.stderr).strip().splitlines()
    return {"exit": run.returncode, "said": text[-1] if text else ""}


@part("what a sandboxed CUDA child sees")
def _():
    from grader.sandbox import Child, ChildSpec, select_isolation
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "probes.py").write_text("def run(sub, ctx, code):\n    scope = {}\n    exec(code, scope)\n"
                                             "    return scope.get('result')\n")
        (Path(tmp) / "sub.py").write_text("")
        child = Child(ChildSpec(submission=Path(tmp) / "sub.py", probes=Path(tmp) / "probes.py", device="cuda",
                                isolation=select_isolation()))
        try:
            child.start(time.monotonic() + 60)
            return child.call("run", {"code": textwrap.dedent("""
                import glob, os, resource
                result = {"dev": sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/dri/*")),
                          "/proc/driver/nvidia": sorted(os.listdir("/proc/driver/nvidia"))
                          if os.path.isdir("/proc/driver/nvidia") else "absent",
                          "env": {k: v for k, v in os.environ.items() if "CUDA" in k or k == "LD_LIBRARY_PATH"},
                          "loadavg": open("/proc/loadavg").read(), "uptime": open("/proc/uptime").read(),
                          "RLIMIT_DATA": resource.getrlimit(resource.RLIMIT_DATA),
                          "RLIMIT_AS": resource.getrlimit(resource.RLIMIT_AS),
                          "libcuda": [p for d in ("/lib", "/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu",
                                                  *os.environ.get("LD_LIBRARY_PATH", "").split(":"))
                                      for p in glob.glob(os.path.join(d, "libcuda.so*")) if d],
                          "libcuda resolves": [os.path.realpath(p) for p in glob.glob("/lib*/libcuda.so.1")
                                               + glob.glob("/usr/lib*/libcuda.so.1")
                                               + glob.glob("/usr/lib/x86_64-linux-gnu/libcuda.so.1")
                                               if os.path.exists(p)]}
            """)}, time.monotonic() + 60)
        finally:
            child.close()


@part("RLIMIT_DATA 1 GiB, 2 GiB allocated (private)")
def _():
    return _limited("import numpy as np\nx = np.ones(2 << 27)\nprint('allocated and touched 2 GiB: NOT held')", 1024)


@part("RLIMIT_DATA 1 GiB, 2 GiB shared anonymous mmap")
def _():
    return _limited("import mmap\nm = mmap.mmap(-1, 2 << 30)\nfor i in range(0, 2 << 30, 1 << 20):\n    m[i] = 1\n"
                    "print('2 GiB shared: not counted by RLIMIT_DATA (the watch of the parent is what holds)')", 1024)


@part("CUDA under RLIMIT_DATA 4 GiB")
def _():
    return _limited("import torch\nx = torch.ones(1 << 20, device='cuda').sum().item()\n"
                    "s = {l.split(':')[0]: l.split(':')[1].strip() for l in open('/proc/self/status') if l.startswith('Vm')}\n"
                    "print('CUDA works; VmData', s.get('VmData'), 'VmRSS', s.get('VmRSS'), 'VmSize', s.get('VmSize'))",
                    4096)


@part("NVML and a sandboxed child holding 2 GiB on the GPU")
def _():
    import torch
    if not torch.cuda.is_available():
        return "no GPU"
    from grader.sandbox import Child, ChildSpec, Limits, memwatch, select_isolation
    problem = memwatch.nvml_problem()
    if problem:
        return problem
    nv = memwatch._nvml()[0]
    before = nv.sample()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "probes.py").write_text("def run(sub, ctx, code):\n    scope = {}\n    exec(code, scope)\n"
                                             "    return scope.get('result')\n")
        (Path(tmp) / "sub.py").write_text("")
        spec = ChildSpec(submission=Path(tmp) / "sub.py", probes=Path(tmp) / "probes.py", device="cuda",
                         isolation=select_isolation(), limits=Limits(gpu_memory_mb=8192), preload=("torch",))
        child = Child(spec)
        try:
            child.start(time.monotonic() + 90)
            child.call("run", {"code": textwrap.dedent("""
                import builtins
                import torch
                builtins.held = torch.ones(2 << 28, device='cuda')   # 2 GiB, kept after the call
                result = builtins.held.numel()
            """)}, time.monotonic() + 90)
            time.sleep(1.0)
            per_pid, total = nv.sample()
            tree = memwatch.process_tree(child.proc.pid, memwatch.process_table())
            watch = child.watch
            return {"before": {"per_pid_mb": {p: b >> 20 for p, b in before[0].items()}, "total_mb": before[1] >> 20},
                    "holding": {"per_pid_mb": {p: b >> 20 for p, b in per_pid.items()}, "total_mb": total >> 20},
                    "child tree pids": sorted(tree), "pids NVML names in the tree": sorted(set(per_pid) & tree),
                    "watch method": watch.gpu_method if watch else None,
                    "watch gpu peak mb": (watch.gpu_peak >> 20) if watch else None,
                    "watch host peak mb": (watch.host_peak >> 20) if watch else None}
        finally:
            child.close()


Path(sys.argv[1]).write_text(json.dumps(facts, indent=1, default=str))
PYEOF

# ---------------------------------------------------------------------------------------------------- hostile.py
cat > "$RUN/hostile.py" <<'PYEOF'
"""Hostile CUDA hand-ins: the VAE reference with code that runs at import (so in every child)."""
import json
import sys
import tomllib
from pathlib import Path

CASES = {
    "whole_gpu": '''
import time as _time
import torch as _torch
_held = []
try:
    while True:
        _held.append(_torch.empty(1 << 30, dtype=_torch.uint8, device="cuda"))
except Exception as _exc:
    print(f"HOSTILE: holding {len(_held)} GiB of GPU memory, then {type(_exc).__name__}", flush=True)
_time.sleep(60)
''',
    "host_64g": '''
import numpy as _np
_held = _np.ones(8 << 30)        # 64 GiB of float64, every page touched
print("HOSTILE: 64 GiB of host memory allocated", flush=True)
''',
    "host_shared_64g": '''
import mmap as _mmap
_held = _mmap.mmap(-1, 64 << 30)     # shared anonymous memory: RLIMIT_DATA does not count it
for _i in range(0, 64 << 30, 4096):
    _held[_i] = 1
print("HOSTILE: 64 GiB of shared memory touched", flush=True)
''',
}

if sys.argv[1] == "write":
    out = Path(sys.argv[2])
    reference = Path("solutions/vae.py").read_text()
    groups = tomllib.loads(Path("assignments/vae/assignment.toml").read_text())["groups"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "only").write_text(next(iter(groups)))
    for name, code in CASES.items():
        (out / name).mkdir(exist_ok=True)
        (out / name / "vae.py").write_text(reference + "\n" + code)
else:
    for path in sorted(Path(sys.argv[2]).glob("hostile-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            print(f"{path.stem}: no result ({exc})")
            continue
        for test in data.get("tests", []):
            text = " ".join(str(test.get("output", "")).split())
            print(f"{path.stem}: {test.get('name')} {test.get('score')}/{test.get('max_score')}: {text[:500]}")
PYEOF

# ---------------------------------------------------------------------------------------------------- batch.py
cat > "$RUN/batch.py" <<'PYEOF'
"""A mixed batch (references, templates, known-wrong variants from tests/variants), and its rate."""
import json
import runpy
import sys
from pathlib import Path

if sys.argv[1] == "make":
    out, size, names = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    pools = {}
    for name in names:
        solution = Path(f"solutions/{name}.py").read_text()
        pool = [solution, Path(f"templates/{name}.py").read_text()]
        try:
            wrong = runpy.run_path(f"tests/variants/{name}.py").get("WRONG", {})
            pool += [solution + "\n" + src for per_hole in wrong.values() for src in per_hole.values()]
        except Exception as exc:  # noqa: BLE001
            print(f"variants of {name}: {exc}")
        pools[name] = pool
    count = {}
    for i in range(size):
        name = names[i % len(names)]
        k = i // len(names)
        pool = pools[name]
        source = pool[k % 3] if k % 3 < 2 else pool[2 + (k // 3) % max(1, len(pool) - 2)] if len(pool) > 2 else pool[0]
        target = out / f"student{i:03d}" / f"{name}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
        count[name] = count.get(name, 0) + 1
    print(f"batch: {size} hand-ins ({', '.join(f'{n} {c}' for n, c in count.items())}): references, templates, "
          "known-wrong variants in turn")
else:
    out, seconds, jobs, size = Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    results = sorted(out.glob("*/*/results.json"))
    statuses = {}
    for path in results:
        try:
            status = json.loads(path.read_text())["extra_data"]["batch"].get("status", "?")
        except (OSError, ValueError, KeyError, TypeError):
            status = "?"
        statuses[status.split(":")[0]] = statuses.get(status.split(":")[0], 0) + 1
    rate = len(results) / seconds * 60 if seconds > 0 else 0.0
    minutes = 300 / rate if rate else float("inf")
    print(f"grade-batch -j {jobs}: {len(results)} of {size} hand-ins in {seconds:.0f} s = {rate:.1f} hand-ins a minute "
          f"({', '.join(f'{k} {v}' for k, v in sorted(statuses.items())) or 'none'}); 300 mixed hand-ins would take "
          f"{minutes:.1f} min at this rate (target: 10 min)")
PYEOF

# ---------------------------------------------------------------------------------------------------- summary.py
cat > "$RUN/summary.py" <<'PYEOF'
"""bench/results/gpu-check.md from what the run left in its work folder."""
import json
import re
import statistics
import sys
from pathlib import Path

run, dry, seconds = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
out = [f"# GPU check ({'DRY RUN on a machine without a GPU, ' if dry else ''}{seconds} s, `bench/gpu_check.sh`)", ""]
try:
    facts = json.loads((run / "facts.json").read_text())
except (OSError, ValueError):
    facts = {}
torch = facts.get("torch", {})
out += ["## Machine", "",
        f"* install: {(run / 'install.txt').read_text().strip() if (run / 'install.txt').exists() else '?'}",
        f"* torch: {json.dumps(torch)}",
        f"* sandbox: {json.dumps(facts.get('isolation', {}))[:600]}",
        f"* CUDA probe in the sandbox: {json.dumps(facts.get('cuda probe in the sandbox'))}",
        f"* driver as the sandbox shows it: {json.dumps(facts.get('driver as the sandbox shows it'))[:1500]}"]
for key in facts:
    if key.startswith(("RLIMIT_DATA", "CUDA under", "NVML")):
        out.append(f"* {key}: {json.dumps(facts[key])[:1500]}")
out += ["", "## Steps", "", (run / "steps.md").read_text().strip(), ""]

rows = ["| assignment | cpu score | cpu wall s | cuda score | cuda wall s | child start-up s (cpu; cuda: mean / max) |",
        "| --- | --- | --- | --- | --- | --- |"]
names = sorted({p.stem.split("-")[1] for p in (run / "json").glob("grade-*-*.json")})


def status(job):
    try:
        return (run / "jobs" / f"{job}.status").read_text().split()
    except OSError:
        return ["?", "?", "?"]


for name in names:
    cells = []
    startup = []
    for device in ("cpu", "cuda"):
        path = run / "json" / f"grade-{name}-{device}.json"
        try:
            data = json.loads(path.read_text())
            score = f"{data['score']:g}/{data['extra_data'].get('max_score', '?')}"
            if data["extra_data"].get("device") != device:
                score += f" (on {data['extra_data'].get('device')})"
            ups = [s for t in data.get("tests", []) for s in t.get("extra_data", {}).get("startup_seconds", [])]
            startup.append(f"{statistics.mean(ups):.1f} / {max(ups):.1f}" if ups else "-")
        except (OSError, ValueError, KeyError, TypeError):
            score = "no result"
            startup.append("-")
        cells += [score, status(f"grade-{name}-{device}")[1]]
    rows.append(f"| {name} | {' | '.join(cells)} | {'; '.join(startup)} |")
out += ["## References, --require-isolation --seed 3 (all ten gradings and `verify templates` at once, 16 cores)", "",
        *rows, ""]

for job in ("verify-templates-cuda", "verify-solutions-cuda"):
    try:
        text = (run / "jobs" / f"{job}.out").read_text()
    except OSError:
        text = ""
    verdict = [line.strip() for line in text.splitlines() if line.strip().startswith(("OK:", "FAILED", "grader: error"))]
    out.append(f"* `{job}`: exit {status(job)[0]}, {status(job)[1]} s: {' '.join(verdict[-2:])[:600] or 'no verdict'}")
out += ["", "## Hostile CUDA hand-ins (vae reference + code at import, --device cuda)", ""]
for path in sorted((run / "json").glob("hostile-*.json")):
    try:
        data = json.loads(path.read_text())
        for test in data.get("tests", []):
            text = " ".join(str(test.get("output", "")).split())
            out.append(f"* {path.stem} `{test.get('name')}` {test.get('score')}/{test.get('max_score')}: {text[:400]}")
    except (OSError, ValueError) as exc:
        out.append(f"* {path.stem}: no result ({exc})")
if not list((run / "json").glob("hostile-*.json")):
    out.append("* no result (see the log)")
out += ["", "## Batch", "", (run / "batch.txt").read_text().strip() if (run / "batch.txt").exists() else "not run", ""]

out += ["## Tests with CUDA forced (GRADER_TEST_DEVICE=cuda)", ""]
for name, path in (("GPU and sandbox tests", run / "jobs" / "pytest-gpu-cuda-forced.out"),
                   ("the rest of the suite (as far as the time allowed)", run / "pytest-rest.out")):
    try:
        lines = path.read_text().splitlines()
    except OSError:
        out.append(f"* {name}: not run")
        continue
    tail = [line for line in lines if re.search(r"\b(passed|failed|error|errors|skipped|interrupted)\b", line)
            and ("==" in line or line.startswith(("FAILED", "ERROR")) or re.match(r"^\d+ ", line))]
    out.append(f"* {name}: " + "; ".join(tail[-1:]) if tail else f"* {name}: no summary line (see the log)")
    out += [f"  * {line[:300]}" for line in lines if line.startswith(("FAILED", "ERROR"))][:40]

watched = []
for line in (run / "memwatch.jsonl").read_text().splitlines() if (run / "memwatch.jsonl").exists() else []:
    try:
        watched.append(json.loads(line))
    except ValueError:
        continue
if watched:
    stopped = [w for w in watched if w.get("reason")]
    methods = sorted({w.get("gpu_method") or "-" for w in watched})
    out += ["", "## Memory of the CUDA children (the parent's watch)", "",
            f"* {len(watched)} CUDA children watched; GPU method(s): {', '.join(methods)}",
            f"* host peak (resident, MiB): max {max(w['host_peak_mb'] for w in watched)}, median "
            f"{statistics.median(w['host_peak_mb'] for w in watched):g}",
            f"* GPU peak (MiB): max {max(w['gpu_peak_mb'] for w in watched)}, median "
            f"{statistics.median(w['gpu_peak_mb'] for w in watched):g}",
            f"* stopped by the watch: {len(stopped)}"] + [f"  * {w['reason'][:300]}" for w in stopped[:10]]
print("\n".join(out))
PYEOF
}

write_helpers
main 2>&1 | tee "$LOG"
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    cp "$RUN/gpu-check.md" "$OUT/gpu-check.md" 2>/dev/null
    cp "$LOG" "$OUT/gpu-check.log"
    cp "$RUN/facts.json" "$OUT/facts.json" 2>/dev/null
    cp "$RUN/memwatch.jsonl" "$OUT/memwatch.jsonl" 2>/dev/null
fi
echo "gpu_check: done in $(($(date +%s) - START)) s; summary bench/results/gpu-check.md, log $LOG"
