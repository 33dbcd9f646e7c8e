#!/usr/bin/env python3
"""Many b10t processes at once across the two clients of one share.

  fleet.py save N B10T BASE STORE1 STORE2
      N saves of one key released together; saver i has the cache dir
      BASE/save<i>/cache (filled by the caller) and the store seen through
      client 1 (even i) or client 2 (odd i).  Prints "i client rc last-line".

  fleet.py spin N B10T BASE LOAD_STORE SAVE_STORE SRC SECONDS
      N loads spin on one client (LOAD_STORE) while one save of SRC
      publishes through the other (SAVE_STORE).  Each loader retries while
      it finds nothing (exit 3), into BASE/load<i>/cache, for at most SECONDS
      and at most 10 s after the save ended.
      Prints "i rc attempts last-line" per loader, then "save rc last-line".

The processes are released together by closing a pipe, so the saves race
and the loads span the moment of the publish.
"""
import os
import subprocess
import sys
import threading
import time


def last_line(out):
    lines = out.decode(errors="replace").strip().split("\n")
    return lines[-1] if lines else ""


def env_for(cache, store):
    env = dict(os.environ)
    env["TORCHINDUCTOR_CACHE_DIR"] = cache
    env["B10FS_CACHE_DIR"] = store
    return env


def save(n, b10t, base, store1, store2):
    r, w = os.pipe()
    procs = []
    for i in range(n):
        store = store1 if i % 2 == 0 else store2
        env = env_for("%s/save%d/cache" % (base, i), store)
        procs.append(subprocess.Popen(["sh", "-c", 'read x; exec "$0" save -q', b10t],
                                      stdin=r, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT))
    os.close(r)
    os.close(w)
    for i, p in enumerate(procs):
        out = p.communicate()[0]
        print(i, 1 + i % 2, p.returncode, last_line(out))


def spin(n, b10t, base, load_store, save_store, src, seconds):
    results = [None] * n
    start = threading.Event()
    # Once the save has ended, the loaders spin GRACE seconds more (a
    # negative lookup cache may hide the new name that long), not SECONDS.
    grace = 10.0
    save_end = []

    def loader(i):
        start.wait()
        deadline = time.monotonic() + seconds
        attempts = 0
        while True:
            attempts += 1
            p = subprocess.run([b10t, "load", "-q"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               env=env_for("%s/load%d/cache" % (base, i), load_store))
            t = time.monotonic()
            if p.returncode != 3 or t > deadline or (save_end and t > save_end[0] + grace):
                results[i] = (p.returncode, attempts, last_line(p.stdout))
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=loader, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start.set()
    # Let the loaders find nothing a few times first, so the publish lands
    # while they spin.
    time.sleep(0.5)
    p = subprocess.run([b10t, "save", "-q"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env_for(src, save_store))
    save_end.append(time.monotonic())
    for t in threads:
        t.join()
    for i, (rc, attempts, line) in enumerate(results):
        print(i, rc, attempts, line)
    print("save", p.returncode, last_line(p.stdout))


def main():
    mode = sys.argv[1]
    if mode == "save":
        save(int(sys.argv[2]), *sys.argv[3:7])
    elif mode == "spin":
        spin(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6],
             sys.argv[7], float(sys.argv[8]))
    else:
        sys.exit("usage: fleet.py save|spin ...")


if __name__ == "__main__":
    main()
