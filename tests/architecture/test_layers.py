"""The house rules of docs/ARCHITECTURE.md, checked on every import in the source
(lazy ones inside functions included)."""

from __future__ import annotations

import pytest

from tests.architecture.import_graph import ROOT, imports_of, modules

FOUNDATION_EXCLUDES = ("senim.cli",)


def _in(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(sources: tuple[str, ...], forbidden: tuple[str, ...], allowed=()) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module in modules()
        if _in(module, *sources) and not _in(module, *allowed)
        for target in imports_of(module)
        if _in(target, *forbidden) and not _in(target, *sources)
    )


def _foundation() -> tuple[str, ...]:
    return tuple(m for m in modules() if _in(m, "senim") and not _in(m, *FOUNDATION_EXCLUDES))


def test_given_the_product_then_no_import_circle():
    graph = {module: imports_of(module) for module in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == []


@pytest.mark.parametrize(
    ("family", "other"),
    [("pipelines.credit", "pipelines.fer"), ("pipelines.fer", "pipelines.credit")],
)
def test_given_a_family_then_it_never_imports_the_other(family, other):
    assert _violations((family,), (other,)) == []


def test_given_what_both_families_share_then_it_imports_neither_family():
    shared = ("pipelines.common", "pipelines.release")
    assert _violations(shared, ("pipelines.credit", "pipelines.fer")) == []
    assert _violations(("pipelines.common",), ("pipelines.release",)) == []


def test_given_model_definitions_then_they_import_nothing_from_pipelines():
    assert _violations(("models",), ("pipelines", "serving", "flows", "auth")) == []


def test_given_auth_then_it_imports_nothing_above_it():
    above = ("pipelines", "serving", "flows", "models", "edge", "senim.cli")
    assert _violations(("auth",), above) == []


def test_given_the_foundation_then_it_imports_none_of_the_layers_above():
    above = ("auth", "pipelines", "serving", "flows", "models", "edge", "senim.cli")
    foundation = _foundation()
    assert "senim.config" in foundation and "senim.cli.app" not in foundation
    assert (
        sorted(
            f"{module} imports {target}"
            for module in foundation
            for target in imports_of(module)
            if _in(target, *above)
        )
        == []
    )


def test_given_the_command_line_then_nothing_imports_it():
    assert _violations(tuple(m for m in modules() if not _in(m, "senim.cli")), ("senim.cli",)) == []


@pytest.mark.parametrize(
    ("service", "other_family"),
    [("serving.credit_service", "pipelines.fer"), ("serving.emotion_service", "pipelines.credit")],
)
def test_given_a_service_then_nothing_it_loads_belongs_to_the_other_family(service, other_family):
    from tests.architecture.import_graph import closure

    assert sorted(m for m in closure(service) if _in(m, other_family)) == []


def test_given_the_mlflow_folder_then_it_is_no_python_package():
    assert not (ROOT / "mlflow" / "__init__.py").exists()
    assert not list((ROOT / "mlflow").glob("*.py"))
