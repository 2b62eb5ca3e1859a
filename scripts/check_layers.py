#!/usr/bin/env python3
"""The layer guard (run by scripts/check-layers.sh, which .ci/run calls).

Fails when
  1. the core's source text (comments included) names something the sans-IO core must never touch
     (files named tests.rs, *_tests.rs or props.rs hold tests that may, and are skipped);
  2. core/Cargo.toml depends on an async runtime or channel crate;
  3. a workspace crate depends on a crate of a higher layer (LAYERS below: lower numbers sit lower);
  4. the file-level `use crate::...` graph of any crate has a cycle.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Crate directory -> (package name, layer). A crate may depend only on crates of a strictly lower layer.
LAYERS = {
    "core": ("plue-http-core", 0),
    "sim": ("plue-http-sim", 1),
    "os": ("plue-http-os", 1),
    "driver": ("plue-http-driver", 2),
    "opencode": ("plue-opencode", 3),
    "runtime-tokio": ("plue-http-tokio", 4),
    "runtime-smol": ("plue-http-smol", 4),
    "runtime-mio": ("plue-http-mio", 4),
    ".": ("plue-http", 5),
    "cli": ("plue-cli", 6),
    "tests": ("plue-http-tests", 7),
    "benches": ("plue-http-benches", 7),
}

FORBIDDEN_TEXT = [
    "std::process",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::net::UdpSocket",
    "std::thread",
    "Instant::now(",
    "SystemTime::now(",
]
# `std::net::{TcpStream, ...}` written as a group.
FORBIDDEN_GROUP = re.compile(r"std::net::\{[^}]*\b(TcpStream|TcpListener|UdpSocket)\b")
FORBIDDEN_CORE_DEPS = ["tokio", "smol", "async-io", "mio", "async-channel", "futures", "futures-lite",
                       "futures-util", "futures-core", "async-std", "crossbeam-channel", "flume"]


def is_test_file(name):
    return name in ("tests.rs", "props.rs") or name.endswith("_tests.rs")


def rust_files(src):
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def check_core_text(errors):
    src = os.path.join(ROOT, "core", "src")
    for path in rust_files(src):
        if is_test_file(os.path.basename(path)):
            continue
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                for needle in FORBIDDEN_TEXT:
                    if needle in line:
                        errors.append(f"{os.path.relpath(path, ROOT)}:{lineno}: the core names `{needle}`")
                m = FORBIDDEN_GROUP.search(line)
                if m:
                    errors.append(f"{os.path.relpath(path, ROOT)}:{lineno}: the core names `std::net::{m.group(1)}`")


def dependency_tables(toml_text):
    """(table name, dependency names) for [dependencies]-like tables, dev-dependencies excluded."""
    out = {}
    table = None
    for raw in toml_text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            table = m.group(1).strip()
            # [dependencies.foo] form
            m2 = re.match(r"^((?:target\..+\.)?(?:build-)?dependencies)\.(.+)$", table)
            if m2:
                out.setdefault(m2.group(1), set()).add(m2.group(2).strip('"'))
                table = None
            continue
        if table is None:
            continue
        if re.match(r"^(target\..+\.)?(build-)?dependencies$", table):
            name = re.match(r"^([A-Za-z0-9_\-\"]+)\s*(\.|=)", line)
            if name:
                out.setdefault(table, set()).add(name.group(1).strip('"'))
    return out


def check_manifests(errors):
    by_package = {pkg: (d, layer) for d, (pkg, layer) in LAYERS.items()}
    for d, (pkg, layer) in LAYERS.items():
        manifest = os.path.join(ROOT, d, "Cargo.toml")
        if not os.path.exists(manifest):
            continue
        with open(manifest, encoding="utf-8") as fh:
            text = fh.read()
        if d == ".":
            # The root manifest is also the workspace: only its [package]'s own tables count.
            text = text.split("[workspace.dependencies]", 1)[0] + "\n" + text.split("[package]", 1)[-1]
        for table, deps in dependency_tables(text).items():
            for dep in deps:
                if d == "core" and dep in FORBIDDEN_CORE_DEPS:
                    errors.append(f"core/Cargo.toml: [{table}] depends on `{dep}`: the core is sans-IO")
                if dep in by_package:
                    dep_dir, dep_layer = by_package[dep]
                    if dep_layer >= layer and dep != pkg:
                        errors.append(
                            f"{d}/Cargo.toml: {pkg} (layer {layer}) depends on {dep} (layer {dep_layer}):"
                            " a crate may depend only on crates below it")


def module_map(src):
    """module path ('' for the crate root) -> file."""
    mods = {}
    for path in rust_files(src):
        rel = os.path.relpath(path, src)[:-3].split(os.sep)
        if rel[-1] in ("lib", "main") and len(rel) == 1:
            mods[""] = path
            continue
        if rel[-1] == "mod":
            rel = rel[:-1]
        if rel and rel[0] == "bin":
            continue
        mods["::".join(rel)] = path
    return mods


USE_RE = re.compile(r"\buse\s+((?:crate|super|self)(?:::super)*)::(.*?);", re.S)


def expand(tree):
    """Expand a use tree (`a::{b, c::{d}}`) into paths."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def go(prefix, t):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(t):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(t[start:i])
                start = i + 1
        parts.append(t[start:])
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, rest = p.split("{", 1)
                go(prefix + head, rest[: rest.rfind("}")])
            else:
                out.append(prefix + p.split("as")[0] if "::" not in p and p.endswith("self") else prefix + p)

    go("", tree)
    return [re.sub(r"\bas\b.*$", "", p) for p in out]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def file_graph(src):
    mods = module_map(src)
    graph = {f: set() for f in mods.values()}
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as fh:
            text = strip_comments(fh.read())
        here = mod.split("::") if mod else []
        for m in USE_RE.finditer(text):
            anchor = m.group(1).split("::")
            if anchor[0] == "crate":
                base = []
            else:
                # `self` is this module; each `super` goes one module up.
                base = list(here)
                for a in anchor:
                    if a == "super":
                        base = base[:-1]
            for p in expand(m.group(2)):
                segs = base + [s for s in p.split("::") if s and s not in ("self", "*")]
                target = None
                for n in range(len(segs), -1, -1):
                    key = "::".join(segs[:n])
                    if key in mods:
                        target = mods[key]
                        break
                if target and target != path:
                    graph[path].add(target)
    return graph


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def check_cycles(errors):
    srcs = []
    for d in LAYERS:
        src = os.path.join(ROOT, d, "src")
        if os.path.isdir(src):
            srcs.append(src)
    fuzz = os.path.join(ROOT, "fuzz", "src")
    if os.path.isdir(fuzz):
        srcs.append(fuzz)
    for src in srcs:
        for comp in cycles(file_graph(src)):
            errors.append("import cycle: " + " -> ".join(os.path.relpath(f, ROOT) for f in comp))


def main():
    errors = []
    check_core_text(errors)
    check_manifests(errors)
    check_cycles(errors)
    for e in errors:
        print("check-layers:", e)
    if errors:
        print(f"check-layers: {len(errors)} problem(s)")
        return 1
    print("check-layers: ok (core text, manifests, layers, no import cycles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
