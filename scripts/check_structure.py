"""Import circles and long functions in ``salmap/``, read from the source (nothing is imported).

Every ``import`` counts, at module level or inside a function: a lazy import that hides a
circle is still a circle. ``importlib.import_module("salmap.x")`` with a literal name counts
too; names built at run time (``f"salmap.models.{name}"``) cannot be read and are listed.
Importing ``salmap.a.b`` counts as depending on ``salmap.a.b`` only, not on the packages
above it. Prints each circle (a strongly connected set of modules, with the import lines that
tie them) and each function longer than ``--max-lines`` (decorators and docstring included);
exits 1 when there is either.

    python scripts/check_structure.py [--max-lines 60] [--root salmap]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def target(name: str, modules: set[str]) -> str | None:
    """The longest known module that ``name`` (a module or module.attribute) names."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(tree: ast.AST, here: str, is_package: bool, modules: set[str]):
    """(line, module imported) for every import in ``tree``, and the dynamic ones not read."""
    found, dynamic = [], []
    package = here if is_package else here.rpartition(".")[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
        ):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names = [arg.value]
            else:
                dynamic.append((node.lineno, ast.unparse(arg)))
        for name in names:
            t = target(name, modules)
            if t and t != here:
                found.append((node.lineno, t))
    return found, dynamic


def circles(graph: dict[str, dict[str, list[int]]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def long_functions(tree: ast.AST, limit: int) -> list[tuple[int, str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - start + 1
            if length > limit:
                found.append((node.lineno, node.name, length))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="salmap", type=Path)
    parser.add_argument("--max-lines", type=int, default=60)
    args = parser.parse_args()
    files = sorted(args.root.rglob("*.py"))
    names = {f: module_name(f, args.root) for f in files}
    modules = set(names.values())
    graph: dict[str, dict[str, list[int]]] = {m: {} for m in modules}
    dynamic, long = [], []
    for f, here in names.items():
        tree = ast.parse(f.read_text(), str(f))
        found, dyn = imports(tree, here, f.name == "__init__.py", modules)
        for line, t in found:
            graph[here].setdefault(t, []).append(line)
        dynamic += [(f, line, text) for line, text in dyn]
        long += [(f, line, name, n) for line, name, n in long_functions(tree, args.max_lines)]
    groups = circles(graph)
    print(f"import circles: {len(groups)}")
    for group in groups:
        print(f"  {' <-> '.join(group)}")
        for m in group:
            for t, lines in sorted(graph[m].items()):
                if t in group:
                    print(f"    {m} imports {t} (line {', '.join(map(str, sorted(set(lines))))})")
    print(f"functions over {args.max_lines} lines: {len(long)}")
    for f, line, name, n in sorted(long, key=lambda x: -x[3]):
        print(f"  {f}:{line} {name} ({n} lines)")
    print(f"dynamic imports not followed: {len(dynamic)}")
    for f, line, text in dynamic:
        print(f"  {f}:{line} import_module({text})")
    return 1 if groups or long else 0


if __name__ == "__main__":
    sys.exit(main())
