#!/usr/bin/env python3
"""race_writer.py: a cache dir being written while b10t saves it.

  race_writer.py write CACHE TMP LOG SECONDS
      Keeps changing CACHE until CACHE/../stop appears (the test's
      handshake; SECONDS caps it), as a server still warming up does:
      rewrites files in place (one pwrite of a longer version over the old
      one, so each file only ever holds whole versions outside that call),
      replaces files and adds new ones by renaming them in from TMP (same
      filesystem), removes some.  Three "hot" files are rewritten every few
      ms, the others now and then.  Each version is self-describing:
          b"B10TRACE" + 8-byte big-endian length + sha256(payload) + payload
      and the sha256 of every whole version goes to LOG before it can be
      seen in CACHE.  Touches CACHE/../ready once the first files are in.

  race_writer.py check LOG TREE...
      Exit 0 when every file in every TREE is one of the versions in LOG,
      whole; prints the bad ones, then the count of files checked.
"""
import hashlib
import os
import random
import struct
import sys
import time

MAGIC = b"B10TRACE"
HEAD = len(MAGIC) + 8 + 32
CAP = 4 << 20


def version(rng, size):
    # A random block repeated: each version distinct, cheap to make.
    block = rng.randbytes(61)
    payload = (block * (size // 61 + 1))[:size]
    return MAGIC + struct.pack(">Q", size) + hashlib.sha256(payload).digest() + payload


def write(cache, tmp, logpath, seconds):
    rng = random.Random(int.from_bytes(os.urandom(8), "little"))
    log = open(logpath, "a")
    seq = [0]

    def logged(data):
        log.write(hashlib.sha256(data).hexdigest() + "\n")
        log.flush()
        return data

    def rename_in(path, data):
        seq[0] += 1
        t = os.path.join(tmp, "t%d" % seq[0])
        with open(t, "wb") as f:
            f.write(logged(data))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.rename(t, path)

    def rewrite_in_place(path):
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return
        try:
            old = os.fstat(fd).st_size
            new = old - HEAD + rng.randint(1, 64 << 10)
            if new + HEAD > CAP:
                os.close(fd)
                fd = -1
                rename_in(path, version(rng, rng.randint(1 << 20, 2 << 20)))
                return
            data = logged(version(rng, new))
            # One call: outside it the file holds a whole version.
            if os.pwrite(fd, data, 0) != len(data):
                raise SystemExit("short pwrite")
        finally:
            if fd >= 0:
                os.close(fd)

    dirs = ["d%d" % i for i in range(4)] + ["d0/sub"]
    files = [os.path.join(cache, rng.choice(dirs), "f%d" % i) for i in range(40)]
    hot = [os.path.join(cache, "hot%d" % i) for i in range(3)]
    for p in files:
        rename_in(p, version(rng, rng.randint(0, 100 << 10)))
    for p in hot:
        rename_in(p, version(rng, rng.randint(1 << 20, 2 << 20)))
    open(os.path.join(os.path.dirname(cache), "ready"), "w").close()
    stop = os.path.join(os.path.dirname(cache), "stop")
    end = time.monotonic() + seconds
    ops = 0
    while time.monotonic() < end and not os.path.exists(stop):
        rewrite_in_place(rng.choice(hot))
        r = rng.random()
        if r < 0.3:
            rewrite_in_place(rng.choice(files))
        elif r < 0.5:
            rename_in(rng.choice(files), version(rng, rng.randint(0, 100 << 10)))
        elif r < 0.6:
            p = os.path.join(cache, rng.choice(dirs), "new%d" % rng.randint(0, 200))
            rename_in(p, version(rng, rng.randint(0, 100 << 10)))
        elif r < 0.65:
            p = rng.choice(files)
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        ops += 1
        time.sleep(rng.random() * 0.002)
    print(ops)


def check(logpath, trees):
    known = set(open(logpath).read().split())
    n, bad = 0, []
    for dirpath, dirnames, filenames in (w for t in trees for w in os.walk(t)):
        for name in filenames:
            p = os.path.join(dirpath, name)
            data = open(p, "rb").read()
            n += 1
            size = struct.unpack(">Q", data[8:16])[0] if len(data) >= HEAD else -1
            if (data[:8] != MAGIC or size != len(data) - HEAD or
                    hashlib.sha256(data[HEAD:]).digest() != data[16:HEAD]):
                bad.append("%s: torn (%d bytes)" % (p, len(data)))
            elif hashlib.sha256(data).hexdigest() not in known:
                bad.append("%s: a version never written" % p)
    for b in bad[:10]:
        print("#   " + b)
    print(n)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    else:
        sys.exit(check(sys.argv[2], sys.argv[3:]))
