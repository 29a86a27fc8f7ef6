#!/usr/bin/env python3
"""Prints every import circle between files of src/, or nothing; exit status 1 when there is one.
CI runs it. A file depends on the files its code names: `use` lines and paths written in full
(`crate::`, `super::`, `self::`, and a child module's name), comments and tests left out. A
module's facade, the `pub use` lines of a mod.rs or lib.rs, is what it offers to others, not
something its own code depends on, so it is left out too."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def file_of(parts):
    """The longest module path that is a file, for a path like ["core", "managed", "X"]."""
    for n in range(len(parts), -1, -1):
        base = os.path.join(ROOT, *parts[:n])
        for f in (base + ".rs", os.path.join(base, "mod.rs")):
            if n and os.path.isfile(f):
                return os.path.normpath(f)
    return None


def resolve(me, head, rest):
    """The module path `head::rest` names, seen from module `me`."""
    if head == "crate":
        return rest
    if head == "self":
        return me + rest
    base = me[:-1]
    while rest and rest[0] == "super":
        rest, base = rest[1:], base[:-1]
    return base + rest


def uses(path, text):
    me = module_of(path)
    # Leave out tests: a test module may use anything.
    text = re.split(r"#\[cfg\(test\)\]", text)[0]
    text = re.sub(r"//.*", "", text)
    facade = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
    if facade:
        text = re.sub(r"(?m)^\s*pub use [^;]*;", "", text)
    children = set(re.findall(r"(?m)^\s*(?:pub(?:\([^)]*\))? )?mod (\w+);", text)) if facade else set()
    found = set()
    targets = []
    for m in re.finditer(r"\buse\s+(\w+)((?:::\w+)*)(::\{([^}]*)\})?", text):
        if m.group(1) not in children:
            continue
        rest = [m.group(1)] + [p for p in m.group(2).split("::") if p]
        if m.group(3):
            for item in m.group(4).split(","):
                item = item.strip().split("::")[0].split(" ")[0]
                if item and item != "self":
                    targets.append(me + rest + [item])
        targets.append(me + rest)
    for m in re.finditer(r"\b(crate|super|self)((?:::\w+)*)(::\{([^}]*)\})?", text):
        head = m.group(1)
        rest = [p for p in m.group(2).split("::") if p]
        if m.group(3):
            for item in m.group(4).split(","):
                item = item.strip().split("::")[0].split(" ")[0]
                if item and item != "self":
                    targets.append(resolve(me, head, rest + [item]))
        if rest:
            targets.append(resolve(me, head, rest))
    for parts in targets:
        f = file_of(parts)
        if f and f != os.path.normpath(path):
            found.add(f)
    return found


def main():
    graph = {}
    for dirpath, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".rs"):
                p = os.path.normpath(os.path.join(dirpath, name))
                with open(p) as fh:
                    graph[p] = uses(p, fh.read())
    # Tarjan's strongly connected components.
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    root = os.path.normpath(os.path.join(ROOT, ".."))
    for comp in out:
        print("import circle: " + " <-> ".join(os.path.relpath(f, root) for f in comp))
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
