#!/usr/bin/env python3
"""Fails when modules of one crate refer to each other in a circle.

For every `crate::a::b` path (in `use` lines and in code) and every `super::`
path, the referring module and the module referred to are lifted to the two
siblings under their common parent; an edge goes from one sibling to the
other. A cycle among siblings is a module circle: the layout no longer shows
which module builds on which. Parent and child may refer to each other
(a folder's `mod.rs` re-exports its parts, a part uses the folder's types).

Usage: scripts/check-module-cycles.py [--self-test] [CRATE_DIR ...]
(default: every workspace member). `--self-test` first checks that the
checker finds a circle it is shown (and none where there is none).
"""
import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")
GROUP = re.compile(r"\b(crate|super)((?:::\w+)*)::\{([^}]*)\}")


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def references(module: tuple, text: str):
    """Yields absolute paths (tuples) this module's code names."""
    def absolute(root: str, rest: list) -> tuple:
        if root == "crate":
            return tuple(rest)
        # `super` is the parent of the module the file defines.
        base = list(module)[:-1]
        while rest and rest[0] == "super":
            base = base[:-1]
            rest = rest[1:]
        return tuple(base + rest)

    for match in GROUP.finditer(text):
        root, prefix = match.group(1), [p for p in match.group(2).split("::") if p]
        for item in match.group(3).split(","):
            item = item.strip().split(" as ")[0].strip()
            if item and item != "self":
                yield absolute(root, prefix + [p for p in item.split("::") if p])
            elif item == "self":
                yield absolute(root, prefix)
    for match in PATH.finditer(GROUP.sub("", text)):
        yield absolute(match.group(1), [p for p in match.group(2).split("::") if p])


def check(src: Path) -> list:
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    edges = {}
    for module, file in modules.items():
        text = strip_comments(file.read_text(encoding="utf-8"))
        for target in references(module, text):
            # The longest known module the path names.
            while target and target not in modules:
                target = target[:-1]
            if not target or target == module:
                continue
            common = 0
            while common < min(len(module), len(target)) and module[common] == target[common]:
                common += 1
            if common == len(module) or common == len(target):
                continue  # parent and child
            a, b = module[: common + 1], target[: common + 1]
            edges.setdefault(a, set()).add(b)
    cycles = []
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return cycles


def self_test() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        (src / "b").mkdir(parents=True)
        (src / "lib.rs").write_text("mod a;\nmod b;\nmod c;\n")
        (src / "a.rs").write_text("use crate::b::inner::Thing;\n")
        (src / "b" / "mod.rs").write_text("pub mod inner;\n")
        (src / "b" / "inner.rs").write_text("use super::super::c;\npub struct Thing;\n")
        (src / "c.rs").write_text("// crate::a is only named in a comment\nfn f() { crate::a::g() }\n")
        cycles = check(src)
        assert cycles == [[("a",), ("b",), ("c",), ("a",)]], f"expected a -> b -> c -> a, found {cycles}"
        (src / "c.rs").write_text("// crate::a is only named in a comment\n")
        assert check(src) == [], f"no circle expected, found {check(src)}"
    print("self-test: a circle through a folder module and `super` is found; a comment is not a reference")


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--self-test"]:
        self_test()
        args = args[1:]
    root = Path(__file__).resolve().parent.parent
    dirs = [Path(d) for d in args] or sorted(p.parent for p in root.glob("*/Cargo.toml"))
    failed = False
    for crate in dirs:
        src = crate / "src" if (crate / "src").is_dir() else crate
        if not src.is_dir():
            continue
        for cycle in check(src):
            failed = True
            names = " -> ".join("::".join(m) for m in cycle)
            print(f"module circle in {crate.name}: {names}")
    if failed:
        print("break each circle: move what both sides need into a module of its own (docs/development.md \"Layout\")")
        return 1
    print(f"no module circles in {len(dirs)} crate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
