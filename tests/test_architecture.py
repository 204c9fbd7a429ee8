"""The layering of the package, as the README draws it, held by reading every import (function-level ones too).

    manifests   contracts, config, output layout, storage, releases      imports nothing of ours
    model       sampler, data, trainer                                  over manifests
    corpus      adapters, audio codecs, community intake and register   over manifests
    quality     gate and report                                         over manifests, model
    pipelines   stages, engine, jobs; entry points (cli, tasks, ...)   over everything below
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BELOW: dict[str, set[str]] = {
    "manifests": set(),
    "model": {"manifests"},
    "corpus": {"manifests"},
    "quality": {"manifests", "model"},
    "pipelines": {"manifests", "model", "corpus", "quality"},
    "airflow_dags": {"pipelines"},
}
#: The entry points inside pipelines: nothing of the library imports them.
ENTRY_POINTS = {"cli", "cli_cluster", "tasks", "dags", "submit"}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.startswith("omnicorpus.")]


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(BELOW))
def test_each_package_imports_only_the_layers_below_it(package):
    wrong = []
    for path in _modules(package):
        for line, name in _imports(path):
            other = name.split(".")[1]
            if other != package and other not in BELOW[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_layers_have_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in BELOW.get(start, ()))

    assert not [p for p in BELOW if reaches(p, p)]


def test_no_library_module_imports_an_entry_point():
    wrong = []
    for package in BELOW:
        for path in _modules(package):
            if package == "pipelines" and path.stem in ENTRY_POINTS:
                continue
            for line, name in _imports(path):
                parts = name.split(".")
                if parts[1] == "pipelines" and len(parts) > 2 and parts[2] in ENTRY_POINTS \
                        and package != "airflow_dags":
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)
