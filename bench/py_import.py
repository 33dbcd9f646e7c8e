#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Import time of b10t and its b10_transfer against the real b10-transfer's.

    python3 bench/py_import.py B10T_VENV_PYTHON REF_VENV_PYTHON [N]

B10T_VENV_PYTHON: a venv's python with the b10t wheel and no torch;
REF_VENV_PYTHON: one with b10-transfer (tools/venv.sh makes .venv-e2e).
Each import runs in N (default 9) fresh interpreters, nothing imported
before it; the median of two measures:

  import   perf_counter() around the import statement, in the process;
  wall     the process's wall time (python -c "import X") less the same
           interpreter's bare start (python -c pass), median against median.

The reference imports torch itself (b10_transfer/__init__.py), so its
cold import includes torch's; "ref, torch preloaded" is its own share,
timed after `import torch`.  Ratios are reference / ours, same run.
Targets (issue 14): ours under 50 ms and at least 10x faster.
"""
import json
import statistics
import subprocess
import sys
import time

PROBE = ("import sys, time\n{pre}\nt = time.perf_counter()\nimport {mod}\n"
         "d = time.perf_counter() - t\n"
         "print(d, int('torch' in sys.modules))")


def run_import(py, mod, pre, n):
    """Median in-process import seconds, median wall seconds, torch loaded."""
    inproc, wall, torch = [], [], False
    for _ in range(n):
        t = time.perf_counter()
        out = subprocess.run([py, "-c", PROBE.format(mod=mod, pre=pre)], check=True,
                             capture_output=True, text=True).stdout.split()
        wall.append(time.perf_counter() - t)
        inproc.append(float(out[0]))
        torch |= out[1] == "1"
    return statistics.median(inproc), statistics.median(wall), torch


def bare(py, n):
    w = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([py, "-c", "pass"], check=True)
        w.append(time.perf_counter() - t)
    return statistics.median(w)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ours, ref = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 9
    base = {py: bare(py, n) for py in (ours, ref)}
    rows = [
        ("b10t", ours, "b10t", ""),
        ("b10t's b10_transfer", ours, "b10_transfer", ""),
        ("ref b10_transfer", ref, "b10_transfer", ""),
        ("ref, torch preloaded", ref, "b10_transfer", "import torch"),
    ]
    res = {}
    print("%-22s %10s %10s  %s" % ("import", "import ms", "wall ms", "torch loaded"))
    for label, py, mod, pre in rows:
        imp, wall, torch = run_import(py, mod, pre, n)
        # with a preload the wall time is not the import's: left out
        w = None if pre else (wall - base[py]) * 1e3
        res[label] = {"import_ms": imp * 1e3, "wall_ms": w, "torch": torch}
        print("%-22s %10.1f %10s  %s" % (label, imp * 1e3, "-" if w is None else "%.1f" % w,
                                          "yes" if torch else "no"))
    print("bare interpreter: ours %.1f ms, ref %.1f ms (subtracted from wall)"
          % (base[ours] * 1e3, base[ref] * 1e3))
    ref_cold = res["ref b10_transfer"]
    ref_own = res["ref, torch preloaded"]
    for label in ("b10t", "b10t's b10_transfer"):
        r = res[label]
        print("%-22s %6.0fx faster than ref cold (import), %6.0fx (wall), "
              "%5.1fx than ref's own share; %s"
              % (label, ref_cold["import_ms"] / r["import_ms"],
                 ref_cold["wall_ms"] / max(r["wall_ms"], 0.1),
                 ref_own["import_ms"] / r["import_ms"],
                 "under 50 ms: yes" if r["import_ms"] < 50 and r["wall_ms"] < 50 else
                 "under 50 ms: NO"))
    print(json.dumps({"n": n, "results": res}))


if __name__ == "__main__":
    main()
