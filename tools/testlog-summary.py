#!/usr/bin/env python3
"""Count meson's testlog.json files into 'N passed, N failed, N skipped'.

Also repeats the counts the reliability and fuzz tests print (trials,
processes, executions), so they show in CI's output.  Exit 1 when any test
failed."""
import json
import re
import sys

COUNTS = re.compile(r"^# (crash trials|corruption trials|storm|fuzz executions):")
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            test = json.loads(line)
            result = test["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
            for out in test.get("stdout", "").splitlines():
                if COUNTS.match(out):
                    print(f"{test['name']}: {out[2:]}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
