"""What the length lints share: their command line and the sources they read.

    ROOT [--max N] [DIR ...]     DIR defaults to the product's directories
"""
import os
import sys

DIRS = ["ring", "membership", "proto", "node", "cli", "examples"]


def parse_args(argv, usage, default_max):
    """(root, limit, dirs) from the command line, or exits 2 with `usage`."""
    args = argv[1:]
    if not args:
        print(usage, file=sys.stderr)
        sys.exit(2)
    root = args.pop(0)
    limit = default_max
    if args[:1] == ["--max"]:
        limit = int(args[1])
        args = args[2:]
    return root, limit, args or DIRS


def sources(root, dirs, suffixes):
    """Every file under root/dir ending in one of `suffixes`, in sorted order,
    generated protobuf code left out: (path, path relative to root)."""
    for d in dirs:
        for dirpath, _, files in sorted(os.walk(os.path.join(root, d))):
            for f in sorted(files):
                if f.endswith(suffixes) and ".pb." not in f:
                    path = os.path.join(dirpath, f)
                    yield path, os.path.relpath(path, root)
