#!/usr/bin/env python3
"""File-length lint, run by ctest.

    tests/lint/file_length.py ROOT [--max N] [DIR ...]

No C++ source (.h, .hpp, .cc, .cpp, .inc) under DIR (default: ring
membership proto node cli examples) may be longer than N lines (default
700). A file that long holds more than one mechanism: split it where the
code shows the seam, each part opening with what it holds. Prints each
violation as FILE: L lines (max N), and exits 1 if there is any.

Lines are counted as wc -l does, plus a last line without a newline.
"""
import sys

import lintlib

SOURCES = (".h", ".hpp", ".cc", ".cpp", ".inc")


def count_lines(path):
    with open(path, "rb") as fh:
        data = fh.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def main(argv):
    root, limit, dirs = lintlib.parse_args(argv, __doc__.strip().splitlines()[2].strip(), 700)
    violations = 0
    checked = 0
    for path, rel in lintlib.sources(root, dirs, SOURCES):
        checked += 1
        lines = count_lines(path)
        if lines > limit:
            print(f"{rel}: {lines} lines (max {limit})")
            violations += 1
    if violations:
        return 1
    print(f"file length: {checked} files, none over {limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
