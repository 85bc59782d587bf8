#!/usr/bin/python3
"""test-summary.py - count every test case in one or more meson test logs.

Reads meson's testlog.json files (one JSON object per test) and counts the
cases inside each test from its output: cmocka's "[  PASSED  ] N test(s)"
and "[  FAILED  ] N test(s)" lines, pytest's "N passed in Xs" line, or a
"N passed, M failed" line (the
conformance runner, the fuzz corpus replays, the differential test, the
interop test).  A test whose output has no count counts as one case,
failed unless it exited 0; a skipped one (exit 77) counts nothing.
Extra "N passed, M failed" counts can be given as files with -x.
Prints one line per test and ends with "N passed, M failed".
"""
import json
import re
import sys

PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed", re.M)
CM_PASS = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
CM_FAIL = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)
# pytest's last line: "3 passed in 0.1s", "1 failed, 2 passed, 1 error in 0.2s"
PYTEST = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s", re.M)


def count(text, ok):
    m = PLAIN.findall(text)
    if m:
        p, f = m[-1]
        return int(p), int(f)
    m = PYTEST.findall(text)
    if m:
        counts = dict((w, int(n)) for n, w in re.findall(r"(\d+) (\w+)", m[-1]))
        return (counts.get("passed", 0),
                counts.get("failed", 0) + counts.get("error", 0) +
                counts.get("errors", 0))
    p = CM_PASS.findall(text)
    f = CM_FAIL.findall(text)
    if p or f:
        return (int(p[-1]) if p else 0), (int(f[-1]) if f else 0)
    return (1, 0) if ok else (0, 1)


def main(argv):
    total_p = total_f = 0
    extra = []
    logs = []
    it = iter(argv)
    for a in it:
        if a == "-x":
            extra.append(next(it))
        else:
            logs.append(a)
    for path in logs:
        with open(path, encoding="utf-8", errors="replace") as fp:
            for line in fp:
                t = json.loads(line)
                if t.get("result") == "SKIP":
                    # exit 77: what it needs is missing, and it said so
                    print(f"  {t.get('name')}: skipped")
                    continue
                ok = t.get("result") == "OK"
                out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
                p, f = count(out, ok)
                if not ok and f == 0:
                    f = 1   # the test failed even if its counts did not say
                total_p += p
                total_f += f
                print(f"  {t.get('name')}: {p} passed, {f} failed")
    for path in extra:
        try:
            with open(path, encoding="utf-8", errors="replace") as fp:
                text = fp.read()
        except OSError:
            text = ""
        p, f = count(text, False)
        total_p += p
        total_f += f
        print(f"  {path}: {p} passed, {f} failed")
    print(f"{total_p} passed, {total_f} failed")
    return 0 if total_f == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
