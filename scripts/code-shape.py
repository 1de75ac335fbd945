#!/usr/bin/env python3
"""The shape of podmine's product code: functions over 80 lines, functions
with 7 or more parameters, files over 400 lines (docs/development.md quotes
the counts). Product code is every crate's src/ outside `tests/`, `fuzz/` and
`#[cfg(test)]` modules (inline, or files named `*tests.rs`). `--list` names each one.

    python3 scripts/code-shape.py [--list]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LONG_FUNCTION = 80
MANY_PARAMETERS = 7
LONG_FILE = 400

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def product_files():
    for path in sorted(ROOT.glob("*/src/**/*.rs")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in ("tests", "fuzz", "target"):
            continue
        # A module file that is only a `#[cfg(test)]` module (`tests.rs`, `ranking_tests.rs`).
        if path.name.endswith("tests.rs") or "tests" in parts[2:-1]:
            continue
        yield path


def without_test_modules(lines):
    """The lines with every `#[cfg(test)]` item blanked out (kept as empty lines)."""
    out = list(lines)
    i = 0
    while i < len(out):
        if out[i].strip() == "#[cfg(test)]":
            j, depth, opened = i + 1, 0, False
            while j < len(out):
                depth += out[j].count("{") - out[j].count("}")
                opened = opened or "{" in out[j]
                if opened and depth <= 0 or (not opened and out[j].rstrip().endswith(";")):
                    break
                j += 1
            for k in range(i, min(j + 1, len(out))):
                out[k] = ""
            i = j
        i += 1
    return out


def functions(lines):
    """(name, first line, length in lines, parameters) of every fn with a body."""
    found = []
    for i, line in enumerate(lines):
        match = FN.match(line)
        if not match:
            continue
        # The signature: up to the `{` that opens the body (or `;`: no body).
        signature, j = "", i
        while j < len(lines):
            signature += lines[j] + "\n"
            if "{" in lines[j] or lines[j].rstrip().endswith(";"):
                break
            j += 1
        if "{" not in lines[j]:
            continue
        depth, k = 0, j
        while k < len(lines):
            depth += lines[k].count("{") - lines[k].count("}")
            if depth <= 0 and k >= j:
                break
            k += 1
        found.append((match.group(1), i + 1, k - i + 1, parameters(signature)))
    return found


def parameters(signature):
    start = signature.find("(")
    depth, params, current = 0, [], ""
    for ch in signature[start + 1 :]:
        if ch in "(<[":
            depth += 1
        elif ch in ")>]":
            if depth == 0 and ch == ")":
                break
            depth -= 1
        if ch == "," and depth == 0:
            params.append(current)
            current = ""
        else:
            current += ch
    params.append(current)
    params = [p.strip() for p in params if p.strip()]
    return len([p for p in params if not re.fullmatch(r"&?(mut\s+)?('\w+\s+)?(mut\s+)?self", p)])


def main():
    listing = "--list" in sys.argv
    long_functions, many_parameters, long_files = [], [], []
    for path in product_files():
        lines = without_test_modules(path.read_text().splitlines())
        name = path.relative_to(ROOT)
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) > LONG_FILE:
            long_files.append(f"{name}: {len(lines)} lines")
        for fn, line, length, params in functions(lines):
            if length > LONG_FUNCTION:
                long_functions.append(f"{name}:{line} {fn}: {length} lines")
            if params >= MANY_PARAMETERS:
                many_parameters.append(f"{name}:{line} {fn}: {params} parameters")
    for title, rows in (
        (f"functions over {LONG_FUNCTION} lines", long_functions),
        (f"functions with {MANY_PARAMETERS}+ parameters", many_parameters),
        (f"files over {LONG_FILE} lines", long_files),
    ):
        print(f"{title}: {len(rows)}")
        if listing:
            for row in rows:
                print(f"  {row}")


if __name__ == "__main__":
    main()
