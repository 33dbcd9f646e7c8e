#!/usr/bin/env python3
"""layers_fleet.py: many updaters, loaders and compactors at once on one store.

    layers_fleet.py B10T BASE N_UPDATERS [--compact] [--loads N]

Each updater i has its own cache dir BASE/u<i> holding the shared entries
(shared/*, the same bytes in every dir), its unique entries (u<i>/*) and
vLLM's index file with one key of its own.  They are released together;
loaders meanwhile load into fresh dirs again and again and check every
loaded tree (each file holds its own path, so a torn or misplaced file
shows); with --compact a compactor runs `gc --compact` in a loop.  Prints
one JSON object: the exit codes, the loads' outcomes and failures."""
import ast
import json
import os
import subprocess
import sys
import threading
import time

b10t, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
compact = "--compact" in sys.argv
loads_wanted = int(sys.argv[sys.argv.index("--loads") + 1]) if "--loads" in sys.argv else 20
stores = sys.argv[sys.argv.index("--stores") + 1].split(":") if "--stores" in sys.argv else None
UNIQUE, SHARED = 6, 4


def content(rel):
    # Each file names itself, padded so that sizes differ between files.
    return (("%s\n" % rel) * (1 + len(rel) % 7)).encode()


def make_cache(d, i):
    for s in range(SHARED):
        put(d, "shared/s%d.py" % s)
    for u in range(UNIQUE):
        put(d, "u%d/k%d.py" % (i, u))
    idx = os.path.join(d, "torch_compile_cache", "ab", "rank_0_0", "backbone")
    os.makedirs(idx, exist_ok=True)
    with open(os.path.join(idx, "vllm_compile_cache.py"), "w") as f:
        f.write("{(%d, 0, 'inductor'): ('h%d', 'p%d')}" % (i, i, i))


def put(d, rel):
    p = os.path.join(d, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(content(rel))


def check_tree(d):
    """Problems of a loaded tree: a file whose bytes are not its own."""
    bad = []
    for dp, _, fs in os.walk(d):
        for f in fs:
            p = os.path.join(dp, f)
            rel = os.path.relpath(p, d)
            data = open(p, "rb").read()
            if rel.endswith("vllm_compile_cache.py"):
                try:
                    ast.literal_eval(data.decode())
                except (ValueError, SyntaxError):
                    bad.append(rel + ": not a dict literal")
            elif data != content(rel):
                bad.append(rel)
    return bad


def env_for(cache, i=0):
    e = dict(os.environ)
    e["TORCHINDUCTOR_CACHE_DIR"] = cache
    if stores:
        e["B10FS_CACHE_DIR"] = stores[i % len(stores)]
    return e


for i in range(n):
    make_cache(os.path.join(base, "u%d" % i), i)

stop = threading.Event()
loads = {"ok": 0, "dne": 0, "fail": [], "bad": []}


def loader(k):
    j = 0
    while not stop.is_set() or j < 1:
        d = os.path.join(base, "l%d-%d" % (k, j))
        p = subprocess.run([b10t, "load", "-q"], env=env_for(d, k), capture_output=True, text=True)
        if p.returncode == 0:
            loads["ok"] += 1
            b = check_tree(d)
            if b:
                loads["bad"].append(b[:3])
        elif p.returncode == 3:
            loads["dne"] += 1
        else:
            loads["fail"].append(p.stderr.strip()[-300:])
        subprocess.run(["rm", "-rf", d])
        j += 1


compactions = {"rc": []}


def compactor():
    while not stop.is_set():
        p = subprocess.run([b10t, "gc", "--compact", "-q"], capture_output=True, text=True)
        compactions["rc"].append(p.returncode)
        if p.returncode not in (0, 4):
            compactions.setdefault("err", []).append(p.stderr.strip()[-300:])
        time.sleep(0.05)


r, w = os.pipe()
procs = []
for i in range(n):
    procs.append(subprocess.Popen(["sh", "-c", 'read x; exec "$0" update --json', b10t],
                                  stdin=r, env=env_for(os.path.join(base, "u%d" % i), i),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE))
os.close(r)
threads = [threading.Thread(target=loader, args=(k,)) for k in range(2)]
if compact:
    threads.append(threading.Thread(target=compactor))
for t in threads:
    t.start()
os.close(w)
out = []
for p in procs:
    so, se = p.communicate()
    try:
        res = json.loads(so)
    except ValueError:
        res = {"unparsed": so.decode(errors="replace")}
    res["rc"] = p.returncode
    if p.returncode not in (0, 4):
        res["stderr"] = se.decode(errors="replace")[-400:]
    out.append(res)
while loads["ok"] + loads["dne"] + len(loads["fail"]) < loads_wanted:
    time.sleep(0.05)
stop.set()
for t in threads:
    t.join()
print(json.dumps({"updaters": out, "loads": loads, "compactions": compactions}))
