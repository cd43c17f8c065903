"""The project's import graph, read from the source (every ``import`` and ``from ...
import``, including those inside functions), so rules hold for lazy imports too."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("auth", "edge", "flows", "models", "pipelines", "senim", "serving")


@cache
def modules() -> dict[str, Path]:
    """Every module of the product (not tests, bench or scripts): dotted name -> file."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts and path.name != "__init__.py":
                parts = path.relative_to(ROOT).with_suffix("").parts
            else:
                parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(name: str) -> str | None:
    """The product module an imported name lives in (``a.b.c`` may be a name in ``a.b``)."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports_of(module: str) -> frozenset[str]:
    """Product modules ``module`` imports anywhere in its file."""
    path = modules()[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            resolved = _resolve(name)
            if resolved and resolved != module:
                targets.add(resolved)
    return frozenset(targets)


def closure(*roots: str) -> set[str]:
    """Every product module reachable from ``roots`` (the roots included)."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend(imports_of(module) - seen)
    return seen
