#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""load_compile_cache() through the b10t wheel against b10-transfer's, one run.

    sudo python3 bench/py_load.py B10T_VENV_PYTHON REF_VENV_PYTHON [MB]

B10T_VENV_PYTHON: a venv's python with the b10t wheel; REF_VENV_PYTHON: one
with torch and b10-transfer (tools/venv.sh makes .venv-e2e).  In a private
mount namespace with a tmpfs on /cache (the reference wants its store under
/cache/model and 100 GB free), each saves the same generated tree, then
loads it into an empty cache dir 5 times: the median of the call alone and
of the whole process (import included).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import time

MNT = "/cache"

CALL = ("import time, sys; t0 = time.perf_counter(); import b10_transfer as b; t1 = time.perf_counter();"
        "s = b.load_compile_cache(); t2 = time.perf_counter();"
        "print('%s %f %f' % (s.name, t1 - t0, t2 - t1))")


def gen(d, mb):
    rnd = random.Random(42)
    words = [bytes(rnd.getrandbits(8) for _ in range(16)) for _ in range(512)]
    n = 0
    i = 0
    while n < mb << 20:
        sub = os.path.join(d, "fxgraph", "%02x" % (i % 64))
        os.makedirs(sub, exist_ok=True)
        size = min(int(rnd.lognormvariate(9, 1.2)), 4 << 20)
        data = b"".join(rnd.choice(words) for _ in range(size // 16 + 1))[:size]
        with open(os.path.join(sub, "f%05d" % i), "wb") as f:
            f.write(data)
        n += size
        i += 1
    return i, n


def main():
    if os.environ.get("B10T_BENCH_NS") != "1":
        os.makedirs(MNT, exist_ok=True)
        script = ("mount --make-rprivate / && mount -t tmpfs -o size=1t,mode=755 b10t-bench %s "
                  "&& exec \"$@\"" % MNT)
        env = dict(os.environ, B10T_BENCH_NS="1")
        sys.exit(subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", sys.executable,
                                 os.path.abspath(__file__)] + sys.argv[1:], env=env).returncode)
    ours, ref = sys.argv[1], sys.argv[2]
    mb = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    src = os.path.join(MNT, "app", "src")
    files, nbytes = gen(src, mb)
    os.makedirs(os.path.join(MNT, "model", "compile_cache"))
    print("tree: %d files, %.1f MB" % (files, nbytes / 1e6))
    out = {}
    for name, py in (("b10t", ours), ("b10-transfer", ref)):
        cache = os.path.join(MNT, "app", "cache-" + name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("B10T_", "TORCHINDUCTOR_"))}
        env.update(TORCHINDUCTOR_CACHE_DIR=cache, B10FS_CACHE_DIR=os.path.join(MNT, "model", "compile_cache"),
                   LOCAL_WORK_DIR=os.path.join(MNT, "app", "work-" + name), BASETEN_FS_ENABLED="1",
                   PATH=os.path.dirname(py) + os.pathsep + os.environ["PATH"])
        os.makedirs(env["LOCAL_WORK_DIR"])
        shutil.copytree(src, cache)
        p = subprocess.run([py, "-c", "import b10_transfer as b; print(b.save_compile_cache().name)"],
                           env=env, capture_output=True, text=True)
        print("%s save: %s %s" % (name, p.stdout.strip(), p.stderr.strip()[-300:] if "SUCCESS" not in p.stdout else ""))
        calls, procs = [], []
        for _ in range(5):
            shutil.rmtree(cache, ignore_errors=True)
            t0 = time.perf_counter()
            p = subprocess.run([py, "-c", CALL], env=env, capture_output=True, text=True)
            procs.append(time.perf_counter() - t0)
            st, imp, call = p.stdout.split()[-3:] if p.stdout.strip() else ("?", "0", "0")
            calls.append(float(call))
        calls.sort()
        procs.sort()
        out[name] = {"status": st, "import_s": float(imp), "load_call_s": calls[2], "process_s": procs[2]}
        print("%s load: %s, import %.3f s, load_compile_cache() %.3f s, process %.3f s (median of 5)"
              % (name, st, float(imp), calls[2], procs[2]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
