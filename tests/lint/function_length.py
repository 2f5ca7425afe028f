#!/usr/bin/env python3
"""Function-length lint, run by ctest.

    tests/lint/function_length.py ROOT [--max N] [DIR ...]

Every function body in the C++ sources under DIR (default: ring membership
proto node cli) may span at most N lines (default 80), from the line of its
opening brace to the line of its closing one. Prints each violation as
FILE:LINE: function NAME is L lines (max N), and exits 1 if there is any.

A brace opens a function body when it appears at namespace or class scope,
outside parentheses, after a parameter list ")" (with qualifiers or a
constructor's initializer list in between). Comments, string and character
literals and preprocessor lines are blanked first, so braces in them do not
count. Lambdas inside a function are part of it.
"""
import re
import sys

import lintlib

CONTROL = re.compile(r"\b(if|for|while|switch|catch|do|else|return)\b")
SCOPE = re.compile(r"\b(namespace|class|struct|union|enum)\b")


def blank(text):
    """Comments, literals and preprocessor lines become spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            # A preprocessor line, with its backslash continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "/" and text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
            continue
        if c == "R" and text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if m:
                close = ")" + m.group(1) + '"'
                end = text.find(close, i + len(m.group(0)))
                end = n if end < 0 else end + len(close)
                out.append(re.sub(r"[^\n]", " ", text[i:end]))
                i = end
                continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
            continue
        if not c.isspace():
            at_line_start = False
        if c == "\n":
            at_line_start = True
        out.append(c)
        i += 1
    return "".join(out)


def functions(text):
    """Yields (name, first line, last line) of each function body."""
    code = blank(text)
    stack = []  # scope kinds: namespace, class, function, other
    parens = 0
    last_boundary = 0  # index after the last ; { or } at the current level
    line = 1
    opened = []  # (kind, name, line) parallel to stack
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c == "(":
            parens += 1
        elif c == ")":
            parens = max(0, parens - 1)
        elif c == ";" and parens == 0:
            last_boundary = i + 1
        elif c == "{" and parens == 0:
            head = code[last_boundary:i]
            inside_function = any(k in ("function", "other") for k in stack)
            kind, name = "other", ""
            if not inside_function:
                if SCOPE.search(head) and ")" not in head:
                    kind = "namespace" if "namespace" in head else "class"
                elif ")" in head and not CONTROL.search(head.split("(")[0]):
                    kind = "function"
                    m = re.search(r"([~\w:]+(?:\s*operator\s*[^\s(]+)?)\s*\(", head)
                    name = m.group(1) if m else "?"
                elif "extern" in head:
                    kind = "namespace"
            stack.append(kind)
            opened.append((kind, name, line))
            last_boundary = i + 1
        elif c == "}" and parens == 0:
            if stack:
                kind = stack.pop()
                _, name, first = opened.pop()
                if kind == "function":
                    yield name, first, line
            last_boundary = i + 1


def main(argv):
    root, limit, dirs = lintlib.parse_args(argv, __doc__.strip().splitlines()[2].strip(), 80)
    violations = 0
    checked = 0
    for path, rel in lintlib.sources(root, dirs, (".h", ".cc", ".hpp", ".cpp")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for name, first, last in functions(text):
            checked += 1
            length = last - first + 1
            if length > limit:
                print(f"{rel}:{first}: function {name} is {length} lines (max {limit})")
                violations += 1
    if violations:
        return 1
    print(f"function length: {checked} functions, none over {limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
