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
import os
import sys

SOURCES = (".h", ".hpp", ".cc", ".cpp", ".inc")


def count_lines(path):
    with open(path, "rb") as fh:
        data = fh.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def main(argv):
    args = argv[1:]
    if not args:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    root = args.pop(0)
    limit = 700
    if args[:1] == ["--max"]:
        limit = int(args[1])
        args = args[2:]
    dirs = args or ["ring", "membership", "proto", "node", "cli", "examples"]
    violations = 0
    checked = 0
    for d in dirs:
        base = os.path.join(root, d)
        for dirpath, _, files in sorted(os.walk(base)):
            for f in sorted(files):
                if not f.endswith(SOURCES) or ".pb." in f:
                    continue
                path = os.path.join(dirpath, f)
                checked += 1
                lines = count_lines(path)
                if lines > limit:
                    rel = os.path.relpath(path, root)
                    print(f"{rel}: {lines} lines (max {limit})")
                    violations += 1
    if violations:
        return 1
    print(f"file length: {checked} files, none over {limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
