#!/usr/bin/env python3
"""End-to-end tests on real torch.compile caches (TAP).

Each "replica" is a fresh process of tests/e2e/replica.py in the venv that
tools/venv.sh makes (torch 2.13.0+cpu, b10-transfer): it compiles a small
model with Inductor (g++ builds its C++ kernels) and prints its counters.

  e2e.py replicas   A cold, save; B warm through b10t load; a relocated C;
                    another torch version finds nothing
  e2e.py keys       b10t envkey against torch and the reference's key
  e2e.py migrate    the reference's .tar.gz loaded by b10t, and the reverse
                    (root: a private mount namespace with a tmpfs at /cache)

Environment: B10T (the binary), B10T_VENV (the venv; default .venv-e2e in
the source tree), SRCDIR (tests/).  Times are printed, never asserted.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SRCDIR", os.path.dirname(HERE))
B10T = os.environ.get("B10T", "")
VENV = os.environ.get("B10T_VENV") or os.path.join(os.path.dirname(SRCDIR), ".venv-e2e")
VPY = os.path.join(VENV, "bin", "python")
REPLICA = os.path.join(HERE, "replica.py")
# Three shapes, dynamic=False: three FX graphs, three AOT autograd entries.
SHAPES = "1,4,8"
NGRAPHS = 3

n = 0
failed = 0


def ok(cond, desc, detail=None):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (n, desc), flush=True)
    if not cond:
        failed += 1
        if detail:
            diag(detail)
    return cond


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


def skip_all(why):
    print("1..0 # SKIP " + why, flush=True)
    sys.exit(0)


def bail(why):
    print("Bail out! " + why, flush=True)
    sys.exit(1)


def done():
    print("1..%d" % n, flush=True)
    sys.exit(1 if failed else 0)


def base_env(tmp):
    """A clean environment: the venv's python first on PATH (b10t finds
    torch through VIRTUAL_ENV), no b10t overrides inherited."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("B10T_", "TORCHINDUCTOR_", "TORCH_", "B10FS_"))
           and k not in ("BASETEN_FS_ENABLED", "LOCAL_WORK_DIR", "MAX_CACHE_SIZE_MB",
                         "PYTHONPATH", "CONDA_PREFIX")}
    env["PATH"] = os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["VIRTUAL_ENV"] = VENV
    env["HOME"] = os.path.join(tmp, "home")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    os.makedirs(env["HOME"], exist_ok=True)
    return env


def b10t(env, *args):
    """Run b10t ARGS --json; return (exit code, parsed JSON or {}, stderr)."""
    p = subprocess.run([B10T, *args, "--json"], env=env, capture_output=True, text=True)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        out = {"unparsed": p.stdout}
    return p.returncode, out, p.stderr


def replica(env, label):
    """One fresh replica process; returns its JSON result (or bails)."""
    t = time.monotonic()
    p = subprocess.run([VPY, REPLICA, "--shapes", SHAPES], env=env,
                       capture_output=True, text=True)
    wall = time.monotonic() - t
    if p.returncode != 0:
        diag(p.stderr[-3000:])
        bail("replica %s failed (exit %d)" % (label, p.returncode))
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["process_s"] = round(wall, 3)
    diag("replica %s: cache_dir=%s process %.2f s, first output %.2f s, compile %s s (total %.2f), "
         "counters %s, checksum %s" % (label, r["cache_dir"], wall, r["first_output_s"],
                                       r["compile_s"], r["compile_total_s"],
                                       json.dumps(r["counters"], sort_keys=True), r["checksum"][:16]))
    return r


def all_hit(r):
    c = r["counters"]
    return (c["fxgraph_cache_hit"] == NGRAPHS and c["fxgraph_cache_miss"] == 0
            and c["autograd_cache_hit"] == NGRAPHS and c["autograd_cache_miss"] == 0)


def all_miss(r):
    c = r["counters"]
    return c["fxgraph_cache_miss"] == NGRAPHS and c["fxgraph_cache_hit"] == 0


def files_naming(root, needle):
    """Files under ROOT whose bytes contain NEEDLE (an absolute path)."""
    hits = []
    nb = needle.encode()
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            try:
                with open(p, "rb") as fh:
                    if nb in fh.read():
                        hits.append(os.path.relpath(p, root))
            except OSError:
                pass
    return sorted(hits)


def written_since(root, t):
    """Regular files under ROOT created or changed after time T (ctime)."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.lstat(p).st_ctime > t:
                out.append(os.path.relpath(p, root))
    return sorted(out)


def need_venv():
    if not B10T or not os.access(B10T, os.X_OK):
        bail("B10T must point at the built binary")
    if not os.access(VPY, os.X_OK):
        skip_all("no venv at %s: run tools/venv.sh (torch==2.13.0, b10-transfer)" % VENV)
    p = subprocess.run([VPY, "-c", "import torch, b10_transfer"], capture_output=True, text=True)
    if p.returncode != 0:
        skip_all("the venv %s lacks torch or b10_transfer: run tools/venv.sh" % VENV)
    if not shutil.which("g++"):
        skip_all("no g++: Inductor needs it for CPU kernels")


# ---------------------------------------------------------------- replicas

def t_replicas(tmp):
    env = base_env(tmp)
    store = os.path.join(tmp, "store")
    cache = os.path.join(tmp, "cache")
    os.makedirs(store)
    env.update(B10FS_CACHE_DIR=store, LOCAL_WORK_DIR=os.path.join(tmp, "work"),
               TORCHINDUCTOR_CACHE_DIR=cache)

    # Replica A: cold.
    rc, out, err = b10t(env, "load")
    ok(rc == 3 and out.get("status") == "DOES_NOT_EXIST",
       "A: load on an empty store answers DOES_NOT_EXIST (exit 3)", (rc, out, err))
    a = replica(env, "A (cold)")
    ok(all_miss(a), "A: every FX graph compiled (%d misses, 0 hits)" % NGRAPHS, a["counters"])
    rc, out, err = b10t(env, "save")
    ok(rc == 0 and out.get("status") == "SUCCESS", "A: save publishes the real cache",
       (rc, out, err))
    diag("save: %s files, %s bytes, archive %s bytes, %s s" % (
        out.get("files"), out.get("bytes"), out.get("archive_bytes"), out.get("elapsed_s")))
    embed = files_naming(cache, cache)
    diag("%d files of the saved tree contain its absolute path %s, e.g. %s" % (
        len(embed), cache, ", ".join(embed[:4])))

    # Replica B: a fresh empty cache dir at the same path, warm through b10t.
    shutil.rmtree(cache)
    rc, out, err = b10t(env, "load")
    ok(rc == 0 and out.get("status") == "SUCCESS", "B: load restores the archive", (rc, out, err))
    diag("load: %s files, %s bytes, %s s" % (out.get("files"), out.get("bytes"), out.get("elapsed_s")))
    t = time.time()
    time.sleep(0.01)
    b = replica(env, "B (b10t load)")
    ok(all_hit(b), "B: every FX graph and autograd entry hits, 0 misses", b["counters"])
    ok(b["checksum"] == a["checksum"], "B: outputs bitwise identical to A's",
       (a["checksum"], b["checksum"]))
    w = written_since(cache, t)
    ok(not w, "B: nothing recompiled (no file written in the cache dir)", w)
    diag("compile time A %.2f s, B %.2f s (ratio %.1fx); first output A %.2f s, B %.2f s" % (
        a["compile_total_s"], b["compile_total_s"],
        a["compile_total_s"] / max(b["compile_total_s"], 1e-3),
        a["first_output_s"], b["first_output_s"]))

    # Relocation: the same archive loaded under another cache dir.
    moved = os.path.join(tmp, "elsewhere", "inductor")
    env_c = dict(env, TORCHINDUCTOR_CACHE_DIR=moved)
    rc, out, err = b10t(env_c, "load")
    ok(rc == 0 and out.get("status") == "SUCCESS", "C: load into another path succeeds",
       (rc, out, err))
    ok(out.get("saved_cache_dir") == cache and "saved from" in err,
       "C: load says the archive was saved from another dir (--json saved_cache_dir, stderr)",
       (out, err))
    if err.strip():
        diag("load at another path, stderr: " + err.strip())
    left = files_naming(moved, cache)
    diag("%d restored files still name the saving path %s" % (len(left), cache))
    t = time.time()
    time.sleep(0.01)
    c = replica(env_c, "C (relocated)")
    # Measured with torch 2.13.0+cpu: the embedded path is inert (a comment
    # in the pickled graph, debug strings in the .so), so a moved cache hits.
    ok(all_hit(c), "C: a relocated cache still hits every graph (torch %s, CPU)" % c["torch_version"],
       c["counters"])
    ok(c["checksum"] == a["checksum"], "C: outputs bitwise identical to A's")
    w = written_since(moved, t)
    ok(not w, "C: nothing recompiled at the new path", w)

    # Another torch version: no archive, never an incompatible one.
    env_v = dict(env, B10T_TORCH_VERSION="2.12.0+cpu",
                 TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "other-torch"))
    rc, out, err = b10t(env_v, "load")
    ok(rc == 3 and out.get("status") == "DOES_NOT_EXIST",
       "another torch version (B10T_TORCH_VERSION=2.12.0+cpu) finds no archive", (rc, out, err))
    ok(not os.path.exists(env_v["TORCHINDUCTOR_CACHE_DIR"]),
       "another torch version: nothing written in its cache dir")


# ------------------------------------------------------------------ layers

def replica_shapes(env, label, shapes):
    """A replica compiling SHAPES (one graph each: dynamic=False)."""
    global SHAPES
    saved, SHAPES = SHAPES, shapes
    try:
        return replica(env, label)
    finally:
        SHAPES = saved


def t_layers(tmp):
    """Two replicas compile different shapes and each publishes a layer
    (b10t update); a third loads base + layers and hits every graph of both."""
    env = base_env(tmp)
    store = os.path.join(tmp, "store")
    os.makedirs(store)
    env.update(B10FS_CACHE_DIR=store, LOCAL_WORK_DIR=os.path.join(tmp, "work"))
    env_a = dict(env, TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "a"))
    env_b = dict(env, TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "b"))
    env_c = dict(env, TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "c"))

    a = replica_shapes(env_a, "A (shapes 1,4)", "1,4")
    ok(a["counters"]["fxgraph_cache_miss"] == 2, "A: compiles its 2 graphs", a["counters"])
    rc, out, err = b10t(env_a, "update")
    ok(rc == 0 and out.get("generation") == 1, "A: update publishes generation 1", (rc, out, err))

    # B starts after A published: it loads A's cache, then compiles new shapes.
    rc, out, err = b10t(env_b, "load")
    ok(rc == 0, "B: loads A's generation", (rc, out, err))
    b = replica_shapes(env_b, "B (shapes 8,16)", "8,16")
    ok(b["counters"]["fxgraph_cache_miss"] == 2, "B: compiles its own 2 graphs", b["counters"])
    rc, out, err = b10t(env_b, "update")
    ok(rc == 0 and out.get("generation") == 2, "B: update publishes a layer, generation 2",
       (rc, out, err))
    diag("B's layer: %s files, %s bytes, archive %s bytes" % (
        out.get("files"), out.get("bytes"), out.get("archive_bytes")))
    rc, out2, err = b10t(env_a, "update")
    ok(rc == 4, "A again: nothing new (SKIPPED)", (rc, out2, err))

    rc, out, err = b10t(env_c, "load")
    ok(rc == 0, "C: loads base + layer", (rc, out, err))
    c = replica_shapes(env_c, "C (shapes 1,4,8,16)", "1,4,8,16")
    cc = c["counters"]
    ok(cc["fxgraph_cache_hit"] == 4 and cc["fxgraph_cache_miss"] == 0 and
       cc["autograd_cache_hit"] == 4 and cc["autograd_cache_miss"] == 0,
       "C: hits every graph of both replicas (4 hits, 0 misses)", cc)
    ok(c["checksum"] != a["checksum"], "C ran more shapes than A (sanity)")


# -------------------------------------------------------------------- keys

def t_keys(tmp):
    env = base_env(tmp)
    # A python3 first on PATH that records each call: b10t must read torch's
    # version from its files, never by running Python (import torch: seconds).
    shim = os.path.join(tmp, "shim")
    os.makedirs(shim)
    log = os.path.join(tmp, "python-calls")
    for name in ("python3", "python"):
        with open(os.path.join(shim, name), "w") as f:
            f.write("#!/bin/sh\necho \"$0 $*\" >>'%s'\nexec '%s' \"$@\"\n" % (log, VPY))
        os.chmod(os.path.join(shim, name), 0o755)
    env_s = dict(env, PATH=shim + os.pathsep + env["PATH"])
    t = time.monotonic()
    rc, out, err = b10t(env_s, "envkey")
    dt = time.monotonic() - t
    comp = out.get("components", {})
    src = out.get("sources", {})
    p = subprocess.run([VPY, "-c", "import torch; print(torch.__version__)"], env=env,
                       capture_output=True, text=True)
    tv = p.stdout.strip()
    diag("b10t envkey: %.3f s, torch_version %r from %s; torch.__version__ %r" % (
        dt, comp.get("torch_version"), src.get("torch_version"), tv))
    ok(rc == 0 and comp.get("torch_version") == tv and tv.startswith("2.13.0"),
       "envkey's torch_version equals torch.__version__", (rc, comp, tv))
    ok(str(src.get("torch_version", "")).startswith(VENV),
       "envkey read torch's version from the venv's files", src)
    calls = open(log).read() if os.path.exists(log) else ""
    if calls:
        # Step 8 of docs/envkey.md: triton is not installed and the shim is
        # no venv, so b10t asks this python3 for its sys.path; it never
        # imports torch.
        diag("python3 calls by envkey: " + calls.replace("\n", " | "))
    ok("torch" not in calls, "envkey never ran Python to import torch", calls)

    # The b10-transfer scheme against the reference's own key function.
    rc, out, err = b10t(dict(env, B10T_KEY_SCHEME="b10-transfer"), "envkey")
    p = subprocess.run([VPY, "-c", "import b10_transfer, b10_transfer.environment as e;"
                        "print(b10_transfer.__version__, e.get_environment_key())"],
                       env=env, capture_output=True, text=True)
    ver, _, ref = p.stdout.strip().partition(" ")
    diag("b10-transfer %s: get_environment_key() = %s; b10t --key-scheme b10-transfer = %s" % (
        ver, ref, out.get("environment_key")))
    ok(rc == 0 and ref and out.get("environment_key") == ref,
       "the b10-transfer scheme's key equals b10_transfer's get_environment_key()",
       (out, p.stdout, p.stderr[-2000:]))
    p = subprocess.run([VPY, "-c", "import b10_transfer, json;"
                        "print(json.dumps(b10_transfer.get_cache_info(), default=str))"],
                       env=dict(env, BASETEN_FS_ENABLED="0"), capture_output=True, text=True)
    try:
        info = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        info = {}
    ok(info.get("environment_key") == ref, "get_cache_info()'s key is the same",
       (p.stdout, p.stderr[-2000:]))
    rc, out, err = b10t(env, "envkey")
    ok(out.get("environment_key") not in (None, ref),
       "the default scheme's key differs (it adds the torch version)", out)
    rc2, out2, _ = b10t(dict(env, B10T_TORCH_VERSION="2.12.0+cpu"), "envkey")
    ok(out2.get("environment_key") not in (None, out.get("environment_key")),
       "another torch version gives another default key", (out, out2))
    diag("GPU checks (device name, compute capability, CUDA version, envkey's "
         "CUDA init time): no GPU on this machine, not run")


# ----------------------------------------------------------------- migrate

MNT = "/cache"


def in_namespace():
    """Re-run this test in a private mount namespace with a large tmpfs on
    /cache: the reference wants B10FS_CACHE_DIR under /cache/model,
    LOCAL_WORK_DIR under /app or /cache, 50 GB free locally and 100 GB in
    the store.  tmpfs allocates lazily, so size=1t costs nothing; the
    namespace keeps the mount from everyone else on the machine."""
    if os.environ.get("B10T_E2E_NS") == "1":
        return True
    if os.geteuid() != 0:
        skip_all("not root: the reference needs /cache/model and 100 GB free (a tmpfs mount)")
    if not shutil.which("unshare"):
        skip_all("no unshare(1) for a private mount namespace")
    try:
        os.makedirs(MNT, exist_ok=True)
    except OSError as e:
        skip_all("cannot create the mount point %s: %s" % (MNT, e))
    script = ("mount --make-rprivate / && mount -t tmpfs -o size=1t,mode=755 b10t-e2e %s "
              "&& exec \"$@\"" % MNT)
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        skip_all("cannot mount a tmpfs in a private namespace: " + probe.stderr.strip()[:200])
    env = dict(os.environ, B10T_E2E_NS="1")
    p = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh",
                        sys.executable, os.path.abspath(__file__), "migrate"], env=env)
    sys.exit(p.returncode)


REF_SAVE = ("import b10_transfer, sys; s = b10_transfer.save_compile_cache();"
            "print(s.name); sys.exit(0 if s.name == 'SUCCESS' else 1)")
REF_LOAD = ("import b10_transfer; print(b10_transfer.load_compile_cache().name)")
REF_LIST = ("import b10_transfer, json;"
            "print(json.dumps(b10_transfer.list_available_caches(), default=str))")


def ref(env, code):
    p = subprocess.run([VPY, "-c", code], env=env, capture_output=True, text=True)
    lines = p.stdout.strip().splitlines()
    return p.returncode, (lines[-1] if lines else ""), p.stderr


def t_migrate(tmp):
    in_namespace()
    tmp = tempfile.mkdtemp(prefix="b10t-e2e.", dir=MNT)
    env = base_env(tmp)
    store = os.path.join(MNT, "model", "compile_cache")
    cache = os.path.join(tmp, "torch")
    os.makedirs(store)
    env.update(BASETEN_FS_ENABLED="1", B10FS_CACHE_DIR=store,
               LOCAL_WORK_DIR=os.path.join(tmp, "work"), TORCHINDUCTOR_CACHE_DIR=cache)
    os.makedirs(env["LOCAL_WORK_DIR"])
    env_k = dict(env, B10T_KEY_SCHEME="b10-transfer")

    cold = replica(env, "cold (for the reference)")
    ok(all_miss(cold), "cold replica compiled every graph")
    rc, line, err = ref(env, REF_SAVE)
    ok(rc == 0 and line == "SUCCESS", "b10_transfer.save_compile_cache() publishes its .tar.gz",
       (rc, line, err[-2000:]))
    gz = sorted(f for f in os.listdir(store) if f.endswith(".tar.gz"))
    diag("store after the reference's save: %s" % os.listdir(store))
    rc, out, err = b10t(env_k, "list")
    kinds = {c.get("filename"): c.get("format") for c in out.get("caches", [])}
    ok(any(k in gz for k in kinds) and out.get("current_cache_exists") is True,
       "b10t list (b10-transfer scheme) sees the reference's archive as current", out)

    # b10t loads it; a new process hits every graph.
    shutil.rmtree(cache)
    rc, out, err = b10t(env_k, "load")
    ok(rc == 0 and out.get("status") == "SUCCESS" and str(out.get("archive", "")).endswith(".tar.gz"),
       "b10t load (B10T_KEY_SCHEME=b10-transfer) restores the reference's .tar.gz", (rc, out, err))
    w = replica(env, "warm from the reference's archive")
    ok(all_hit(w), "a new process hits every graph from the migrated cache", w["counters"])
    ok(w["checksum"] == cold["checksum"], "outputs bitwise identical to the cold replica's")

    # b10t saves under the same key: the reference's .tar.gz is the key's
    # published base (generation 0, docs/store-protocol.md), so a plain
    # save answers SKIPPED and leaves it; new kernels would go in layers.
    rc, out, err = b10t(env_k, "save")
    ok(rc == 4 and out.get("status") == "SKIPPED" and str(out.get("archive", "")) == os.path.join(store, gz[0]),
       "b10t save beside the reference's .tar.gz: SKIPPED, it names the .tar.gz", (rc, out, err))
    names = sorted(os.listdir(store))
    diag("store of a mixed fleet: %s" % names)
    ok(gz[0] in names and not any(".g1" in n for n in names),
       "b10t left the reference's .tar.gz in place and published no generation", names)

    # The reference in the mixed store: it sees only its own .tar.gz.
    rc, line, err = ref(env, REF_LIST)
    try:
        listed = [c["filename"] for c in json.loads(line)["caches"]]
    except (ValueError, KeyError, TypeError):
        listed = None
    diag("b10_transfer.list_available_caches() in the mixed store: %s" % listed)
    ok(listed is not None and all(f.endswith(".tar.gz") for f in listed) and gz[0] in listed,
       "the reference lists only its .tar.gz", (line, err[-1500:]))
    shutil.rmtree(cache)
    rc, line, err = ref(env, REF_LOAD)
    ok(line == "SUCCESS", "the reference still loads its .tar.gz in the mixed store",
       (rc, line, err[-1500:]))
    r = replica(env, "Python replica in a mixed fleet")
    ok(all_hit(r) and r["checksum"] == cold["checksum"], "its replica hits every graph",
       r["counters"])

    # The reverse: a store holding only b10t's archive (the .tar.gz gone).
    for f in names:
        if f.endswith(".tar.gz"):
            os.unlink(os.path.join(store, f))
    rc, out, err = b10t(env_k, "save")
    ok(rc == 0 and re.search(r"\.g1\.[a-z0-9-]+\.tar\.lz4$", str(out.get("archive", ""))),
       "with the .tar.gz gone, b10t save publishes its own generation 1", (rc, out, err))
    shutil.rmtree(cache)
    rc, out, err = b10t(env_k, "load")
    ok(rc == 0 and re.search(r"\.g1\.[a-z0-9-]+\.tar\.lz4$", str(out.get("archive", ""))),
       "b10t loads its own .tar.lz4", out)
    shutil.rmtree(cache)
    rc, line, err = ref(env, REF_LOAD)
    ok(line == "DOES_NOT_EXIST",
       "the reference ignores b10t's .tar.lz4: load_compile_cache() answers DOES_NOT_EXIST",
       (rc, line, err[-1500:]))
    ok(not os.path.exists(cache) or not os.listdir(cache), "and writes nothing in the cache dir")
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("replicas", "keys", "migrate", "layers"):
        print("usage: e2e.py replicas|keys|migrate", file=sys.stderr)
        sys.exit(2)
    need_venv()
    tmp = tempfile.mkdtemp(prefix="b10t-e2e.")
    try:
        {"replicas": t_replicas, "keys": t_keys, "migrate": t_migrate,
         "layers": t_layers}[sys.argv[1]](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
