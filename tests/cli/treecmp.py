#!/usr/bin/env python3
"""treecmp.py A B [B2...]: exit 0 when tree A and every tree B hold the same
entries: types, permission bits, file contents, symlink targets, mtimes of
files within a second.  Prints the first differences on stdout (as TAP
comments).  Also a module: scan() is the tree walk the reliability tests use."""
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


def shape(tree):
    """A scan() with only names, types, file bytes and link targets: for
    trees whose modes and mtimes come from someone else's archiver."""
    return {k: (v[0], v[2] if v[0] == "file" else v[1] if v[0] == "link" else None)
            for k, v in tree.items()}


def compare(a, b, name_a, name_b):
    bad = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            bad.append("%s: only in %s" % (rel, name_a if rel in a else name_b))
            continue
        x, y = a[rel], b[rel]
        if x[:3] != y[:3]:
            bad.append("%s: %r != %r" % (rel, x[:3], y[:3]))
        elif x[0] == "file" and abs(x[3] - y[3]) > 1.0:
            bad.append("%s: mtime %s != %s" % (rel, x[3], y[3]))
    for line in bad[:20]:
        print("#   " + line)
    return bad


def main():
    a = scan(sys.argv[1])
    failed = 0
    for other in sys.argv[2:]:
        if compare(a, scan(other), sys.argv[1], other):
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
