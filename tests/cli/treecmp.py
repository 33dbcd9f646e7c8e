#!/usr/bin/env python3
"""treecmp.py A B: exit 0 when two trees hold the same entries: types,
permission bits, file contents, symlink targets, mtimes of files within a
second.  Prints the first differences on stdout (as TAP comments)."""
import hashlib
import os
import stat
import sys


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def scan(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), None, None)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", mode, None, None)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", mode, digest(p), st.st_mtime)
            else:
                out[rel] = ("other", mode, None, None)
    return out


def main():
    a, b = scan(sys.argv[1]), scan(sys.argv[2])
    bad = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            bad.append("%s: only in %s" % (rel, sys.argv[1] if rel in a else sys.argv[2]))
            continue
        x, y = a[rel], b[rel]
        if x[:3] != y[:3]:
            bad.append("%s: %r != %r" % (rel, x[:3], y[:3]))
        elif x[0] == "file" and abs(x[3] - y[3]) > 1.0:
            bad.append("%s: mtime %s != %s" % (rel, x[3], y[3]))
    for line in bad[:20]:
        print("#   " + line)
    return 1 if bad else 0


sys.exit(main())
