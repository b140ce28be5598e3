"""Not a submission: the code two sandboxed children run at the same time (see
tests/test_redteam_proc.py), with __ROLE__ filled in. A fresh /proc shows the whole machine's
counters: the load average, free memory, CPU times, uptime. One child (the loader) makes load:
busy processes and a few hundred MB held, left running after its call returns; the other (the
observer) reads the counters again and again, before and during that load, as a receiver of a
"two bits a second through loadavg" channel would. Sets ``result`` to what each read returned."""
import subprocess
import sys
import time

ROLE = "__ROLE__"
COUNTERS = ("/proc/loadavg", "/proc/meminfo", "/proc/stat", "/proc/uptime", "/proc/vmstat", "/proc/pressure/cpu")

if ROLE == "load":
    busy = "x = b'x' * (200 << 20)\nwhile True:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", busy], start_new_session=True) for _ in range(2)]
    time.sleep(1.0)
    result = {"started": [p.pid for p in procs], "alive": [p.poll() is None for p in procs]}
else:
    seen = {path: [] for path in COUNTERS}
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        for path in COUNTERS:
            try:
                with open(path) as fh:
                    text = fh.read()
            except OSError as exc:
                text = f"refused: {exc.errno}"
            if text not in seen[path]:
                seen[path].append(text)
        time.sleep(0.1)
    result = seen
