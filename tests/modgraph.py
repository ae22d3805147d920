#!/usr/bin/env python3
"""Import circles among jinit's modules (README.md, "Architecture").

    python3 tests/modgraph.py [SRC] [-v]

Every file is a module; a module depends on another when it names it: `crate::a::b` paths,
`use crate::{..}` groups, `super::` paths and groups, `use super::*` outside its own tests,
and a parent's uses of its children (`fields::Fields` in spec/mod.rs). Prints the strongly
connected components of that graph (with -v also every module's dependencies) and exits 1
when there is one."""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else "src"
mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith(".rs"): continue
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel[-1] == "mod": rel = rel[:-1]
        if rel == ["main"]: rel = []
        mods["::".join(rel) or "main"] = open(p).read()
names = set(mods)
def resolve(path):
    parts = path.split("::")
    for i in range(len(parts), 0, -1):
        cand = "::".join(parts[:i])
        if cand in names: return cand
    return None
def expand(prefix, body):
    # split a brace group at top level
    out, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{": depth += 1
        if ch == "}": depth -= 1
        if ch == "," and depth == 0: out.append(cur.strip()); cur = ""
        else: cur += ch
    if cur.strip(): out.append(cur.strip())
    res = []
    for item in out:
        m = re.match(r"([\w:]*?)::?\{(.*)\}$", item, re.S)
        if m: res += expand(prefix + [m.group(1)] if m.group(1) else prefix, m.group(2))
        else: res.append("::".join(prefix + [item.split(" as ")[0].strip()]))
    return res
edges = {}
for m, text in mods.items():
    text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S) if "--no-tests" in sys.argv else text
    deps = set()
    for g in re.finditer(r"crate::\{([^;]*)\}", text):
        for p in expand([], g.group(1)):
            r = resolve(p)
            if r: deps.add(r)
    for p in re.findall(r"crate::((?:\w+::)*\w+)", text):
        r = resolve(p)
        if r: deps.add(r)
    # super:: paths
    base = m.split("::")[:-1] if m != "main" else []
    for p in re.findall(r"\bsuper::((?:\w+::)*\w+)", text):
        r = resolve("::".join(base + p.split("::")))
        if r: deps.add(r)
    for g in re.finditer(r"\bsuper::\{([^;]*)\}", text):
        for p in expand([], g.group(1)):
            r = resolve("::".join(base + p.split("::")))
            if r: deps.add(r)
    if re.search(r"\bsuper::\*", text):
        # `use super::*` in a module's own tests is not a dependency of the module
        body = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
        if re.search(r"\bsuper::\*", body):
            r = resolve("::".join(base)) if base else "main"
            if r: deps.add(r)
    # uses of a child module by its own parent (`use fields::Fields`, `order::sort(..)`)
    for child in [n for n in names if n.startswith(m + "::") and n.count("::") == m.count("::") + 1] if m != "main" else []:
        short = child.rsplit("::", 1)[1]
        body = re.sub(r"pub mod \w+;|mod \w+;", "", text)
        if re.search(r"(?<![\w:])" + short + r"::", body): deps.add(child)
    deps.discard(m)
    # a module depending on its own parent (mod.rs declares children) is not a real dep of structure; keep
    edges[m] = deps
# Tarjan
index, low, stack, on, sccs, i = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def sc(v):
    index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for v in edges:
    if v not in index: sc(v)
if "-v" in sys.argv:
    for m in sorted(edges): print(f"{m}: {' '.join(sorted(edges[m]))}")
print(f"{len(sccs)} import circle(s)")
for c in sccs: print("  circle:", " <-> ".join(c))
sys.exit(1 if sccs else 0)
