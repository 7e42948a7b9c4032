#!/usr/bin/env python3
"""Checks the layering of src/: every `crate::` path in a file (a `use` line or a path inside a
function, tests included) is an edge from that file's module to the module it names.

Rules (docs/ARCHITECTURE.md):
1. folders import only folders below them: model < engine < api, export < runtime < lib.rs;
   api/ and export/ never import each other;
2. no import circle between files;
3. only the listed files hold `unsafe`.
Prints the edges that break a rule and exits 1, else prints a summary and exits 0.
"""
import pathlib, re, sys

src = pathlib.Path(__file__).resolve().parent.parent / "src"
RANK = {"model": 0, "engine": 1, "api": 2, "export": 2, "runtime": 3, "lib": 4}
UNSAFE_OK = {"engine/ring.rs", "engine/sys.rs", "engine/record/codec.rs",
             "engine/metrics/fingerprint.rs", "api/future.rs",
             "export/format/hex.rs"}

def module_of(path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts or ["lib"]

files = {}
for p in sorted(src.rglob("*.rs")):
    files[tuple(module_of(p))] = p

def resolve(parts):
    """The longest module prefix of a `crate::` path that is a file of ours."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in files:
            return tuple(parts[:n])
    return None

edges = set()
bad = []
for mod, p in files.items():
    text = p.read_text()
    # Drop comments, so doc links like [`x`](crate::y) are not edges.
    code = "\n".join(l.split("//")[0] for l in text.splitlines())
    for m in re.finditer(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", code):
        target = resolve(m.group(1).split("::"))
        if target is None or target == mod:
            continue
        edges.add((mod, target))
    # `use super::x` inside a folder stays in that folder: same layer, but it is a file edge.
    for m in re.finditer(r"\buse super::([a-z_][a-z0-9_]*)", code):
        base = list(mod[:-1]) if p.name != "mod.rs" else list(mod)
        target = resolve(base + [m.group(1)]) if base else None
        if target and target != mod:
            edges.add((mod, target))
    rel = str(p.relative_to(src))
    if re.search(r"\bunsafe\s*(\{|impl|fn)", code) and rel not in UNSAFE_OK:
        bad.append(f"unsafe outside the allowed files: {rel}")

def folder(mod):
    return mod[0] if mod[0] in RANK else "lib"

for a, b in sorted(edges):
    fa, fb = folder(a), folder(b)
    if fa == fb:
        continue
    if {fa, fb} == {"api", "export"} or RANK[fb] >= RANK[fa]:
        bad.append(f"upward or sideways edge: {'/'.join(a)} -> {'/'.join(b)}")

# Circles between files (a module's mod.rs re-exporting its children is not an import of them
# in the other direction, so parent -> child edges count like any other).
graph = {}
for a, b in edges:
    graph.setdefault(a, set()).add(b)
state, stack = {}, []
def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(graph.get(n, ())):
        if state.get(m) == 1:
            cyc = stack[stack.index(m):] + [m]
            bad.append("circle: " + " -> ".join("/".join(x) for x in cyc))
        elif m not in state:
            visit(m)
    stack.pop()
    state[n] = 2
for n in sorted(files):
    if n not in state:
        visit(n)

if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"layers ok: {len(files)} files, {len(edges)} import edges, no upward edge, no circle")
