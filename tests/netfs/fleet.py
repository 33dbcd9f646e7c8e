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

  fleet.py kill POINT TRACE B10T VERB [ARG...]
      Runs b10t VERB under strace (the syscalls of TRACED, into TRACE,
      wall-clock stamps) with the caller's environment and kills b10t with
      SIGKILL at POINT: "t:MS", MS milliseconds after the start (from
      outside); "NAME:K", at the entry of its K-th NAME call (strace
      injects the signal); "none", never.  Prints "killed ELAPSED_MS" or
      "exited RC ELAPSED_MS".

  fleet.py plan save|load TRACE
      From the trace of an uninterrupted run (kill -1), the kill points
      spread over its phases, one "POINT LABEL" line each: two in the bulk
      (save's pack writes, load's files unpacked), one by time (60% of the
      run), then the entry of each step after it (fsync, rename, link,
      unlink, utimens, exit; of a run of utimens, as load sets its dirs'
      times, the last only).

  fleet.py phase save|load TRACE
      Where a killed run was: the phase of the last syscall in TRACE.

The processes are released together by closing a pipe, so the saves race
and the loads span the moment of the publish.
"""
import os
import re
import signal
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


# What the kill runs trace: enough to place each kill in its phase.
TRACED = ("openat,mkdirat,fsync,fdatasync,rename,renameat,renameat2,link,linkat,"
          "unlink,unlinkat,utimensat,writev,exit_group")
# The calls after which the store (save) or the cache dir (load) changes:
# a kill is placed at the entry of each of them in turn.
STEPS = ("fsync", "fdatasync", "rename", "renameat", "renameat2", "link", "linkat",
         "unlink", "unlinkat", "utimensat", "exit_group")
LINE = re.compile(r"^(\d+) +(\d+\.\d+) (?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


def kill(point, trace, b10t, args):
    """b10t under strace, killed with SIGKILL at POINT.

    POINT "t:MS": from outside, MS milliseconds after the start.  POINT
    "NAME:K": by strace, at the entry of b10t's K-th NAME call (per thread:
    strace counts per tracee), so the kill lands exactly between two steps.
    """
    # No --seccomp-bpf: with it, strace 6.1 misses injections (when=K)
    opts = ["-f", "-ttt", "-qq", "-e", "trace=" + TRACED]
    ms = -1
    if point.startswith("t:"):
        ms = float(point[2:])
    elif point != "none":
        name, k = point.split(":")
        opts += ["-e", "inject=%s:signal=SIGKILL:when=%s" % (name, k)]
    # b10t's pid is the shell's, which says it on a pipe before its exec.
    r, w = os.pipe()
    t0 = time.time()
    p = subprocess.Popen(["strace"] + opts + ["-o", trace, "sh", "-c",
                          'echo $$ >&%d; exec %d>&-; exec "$0" "$@"' % (w, w), b10t] + args,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as f:
        pid = f.readline().strip()
    with open(trace + ".t0", "w") as f:
        f.write("%.6f\n" % t0)
    if ms >= 0 and pid:
        try:
            p.wait(timeout=max(t0 + ms / 1000.0 - time.time(), 0))
        except subprocess.TimeoutExpired:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        rc = p.wait(timeout=120)
    except subprocess.TimeoutExpired:	# never hang: end it and say so
        os.kill(int(pid), signal.SIGKILL)
        p.kill()
        rc = p.wait()
        print("hung %.0f" % ((time.time() - t0) * 1000))
        return
    # strace exits as its tracee did: 128+9 (or -9) for the SIGKILL.
    if rc in (137, -9):
        print("killed %.0f" % ((time.time() - t0) * 1000))
    else:
        print("exited %d %.0f" % (rc, (time.time() - t0) * 1000))


def events(trace):
    """(ms since the start, tid, syscall, args, finished) per call, in order."""
    with open(trace + ".t0") as f:
        t0 = float(f.read())
    out = []
    with open(trace) as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            if m.group(3):	# "<... fsync resumed>": the call ended
                for i in range(len(out) - 1, -1, -1):
                    if out[i][1] == m.group(1) and out[i][2] == m.group(3):
                        out[i] = out[i][:4] + (True,)
                        break
                continue
            rest = m.group(5)
            done = not rest.endswith("<unfinished ...>") and not rest.endswith("= ?")
            out.append(((float(m.group(2)) - t0) * 1000, m.group(1), m.group(4), rest, done))
    return out


def started(verb, name, args):
    """The call that starts the part worth killing: save's upload, load's archive."""
    if name != "openat" or "cache_" not in args:
        return False
    return "O_EXCL" in args if verb == "save" else "O_NOFOLLOW" in args


def plan(verb, trace):
    """Kill points from the trace of an uninterrupted run."""
    ev = events(trace)
    # A load's steps are those after its last file made (unpack sets each
    # file's times: utimensat is bulk there); the use marker is in the store.
    last = max([i for i, e in enumerate(ev) if e[2] == "openat" and "O_CREAT" in e[3]
                and "cache_" not in e[3]] or [0]) if verb == "load" else 0
    count = {}	# (tid, name) -> calls so far
    on = False
    pts = []
    made = []	# load: the openat creating a file, as (name:K)
    writes = []
    end = 0
    for i, (t, tid, name, args, done) in enumerate(ev):
        k = count[(tid, name)] = count.get((tid, name), 0) + 1
        if not on:
            on = started(verb, name, args)
            continue
        end = t
        if name == "writev":
            writes.append("writev:%d" % k)
        elif name == "openat" and "O_CREAT" in args:
            made.append("openat:%d" % k)
        elif name in STEPS and i > last:
            pts.append(("%s:%d" % (name, k), "at %s#%d" % (name, k)))
    if not on:
        sys.exit("fleet.py plan: no %s in the trace" % ("upload" if verb == "save" else "archive open"))
    # Two points through the bulk of the work (pack's writes, the files
    # unpacked), one from outside by time, then one at each step; of a run
    # of one step (a load sets each dir's times), the last only.
    bulk = writes if verb == "save" else made
    what = "pack" if verb == "save" else "unpack"
    picks = sorted({int(len(bulk) * f) for f in (0.3, 0.8)}) if bulk else []
    out = [(bulk[i], "%s (%s %d of %d)" % (what, bulk[i].split(":")[0], i + 1, len(bulk)))
           for i in picks]
    out.append(("t:%.0f" % (end * 0.6), "%.0f ms (60%% of the run)" % (end * 0.6)))
    steps = [p for i, p in enumerate(pts) if not p[0].startswith("utimensat:") or
             i + 1 == len(pts) or not pts[i + 1][0].startswith("utimensat:")]
    seen = set()
    for p, label in out + steps:
        if p not in seen:
            seen.add(p)
            print(p, label.replace(" ", "_"))


def phase(verb, trace):
    """Where the run was when it died: after which step, or in which."""
    ev = events(trace)
    count = {}
    on = False
    label = "before the %s" % ("upload" if verb == "save" else "archive open")
    made = 0
    for t, tid, name, args, done in ev:
        k = count[(tid, name)] = count.get((tid, name), 0) + 1
        if not on:
            on = started(verb, name, args)
            if on:
                label = "pack" if verb == "save" else "unpack"
            continue
        if name == "exit_group":
            return "exited"
        if name == "openat" and "O_CREAT" in args and verb == "load":
            made += 1
            label = "unpack (%d made)" % made
        elif name in STEPS:
            label = "%s %s#%d" % ("after" if done else "in", name, k)
    return label


def main():
    mode = sys.argv[1]
    if mode == "save":
        save(int(sys.argv[2]), *sys.argv[3:7])
    elif mode == "spin":
        spin(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6],
             sys.argv[7], float(sys.argv[8]))
    elif mode == "kill":
        kill(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif mode == "plan":
        plan(sys.argv[2], sys.argv[3])
    elif mode == "phase":
        print(phase(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("usage: fleet.py save|spin|kill|plan|phase ...")


if __name__ == "__main__":
    main()
