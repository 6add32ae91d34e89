"""The layout's rules, checked: imports point one way, and every ranker and retrieval-mode
name is declared in one place (see ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a package may import only packages before it in this order
STAGES = [
    "core",
    "defaults",
    "catalog",
    "events",
    "history",
    "search",
    "ranking",
    "recommend",
    "evaluation",
    "experiments",
    "service",
]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, function-local imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_library_packages_import_only_earlier_stages() -> None:
    problems = []
    for path in python_files("recsys"):
        parts = path.relative_to(ROOT / "recsys").with_suffix("").parts
        if parts == ("__init__",):
            continue
        stage = STAGES.index(parts[0])
        for module in imported_modules(path):
            top, _, rest = module.partition(".")
            if top in ("api", "pipelines"):
                problems.append(f"{path.relative_to(ROOT)} imports {module}")
            elif top == "recsys" and rest:
                other = rest.split(".")[0]
                if other in STAGES and STAGES.index(other) > stage:
                    problems.append(f"{path.relative_to(ROOT)} ({parts[0]}) imports {module}")
    assert problems == []


def test_api_never_imports_pipelines() -> None:
    problems = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files("api")
        for module in imported_modules(path)
        if module.split(".")[0] == "pipelines"
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("literal", "homes"),
    [
        ('"lightgbm"', ["recsys/ranking/rankers.py"]),
        ('"noop"', ["recsys/ranking/rankers.py"]),
        ('"dense"', ["recsys/search/options.py"]),
        ('"hybrid"', ["recsys/search/options.py"]),
        # the build's "lexical" is a timing stage (lexical_s in the manifest), not the mode
        ('"lexical"', ["recsys/search/options.py", "pipelines/build.py"]),
    ],
)
def test_names_are_declared_once(literal: str, homes: list[str]) -> None:
    where = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("recsys", "api", "pipelines")
        for path in python_files(package)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(re.escape(literal), line) and not line.lstrip().startswith("#")
    ]
    assert [w.rsplit(":", 1)[0] for w in where] == homes, where
