"""The layout rules of the code (the layout issue): modules and functions of a readable size,
one audit writer, the README's map of the packages matching the tree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import ROOT

LIBRARY = ("geo", "api", "maps")
MODULE_LINES = 500
FUNCTION_LINES = 80
# numba kernels read best as one loop each; the migrations are history, not code to read
EXEMPT_DIRS = ("geo/store/migrations/",)
EXEMPT_MODULES = {"geo/core/kernels.py"}


def _modules() -> list[Path]:
    out = []
    for top in LIBRARY:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "node_modules" in rel or rel.startswith(EXEMPT_DIRS):
                continue
            out.append(path)
    return out


MODULES = _modules()
IDS = [p.relative_to(ROOT).as_posix() for p in MODULES]


def _is_kernel(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A function compiled by numba (``@njit`` / ``@numba.njit(...)``)."""
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"njit", "jit", "vectorize", "guvectorize"}:
            return True
    return False


SIZED = [p for p in MODULES if p.relative_to(ROOT).as_posix() not in EXEMPT_MODULES]


@pytest.mark.parametrize("path", SIZED, ids=[p.relative_to(ROOT).as_posix() for p in SIZED])
def test_module_is_not_too_long(path: Path):
    rel = path.relative_to(ROOT).as_posix()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MODULE_LINES, f"{rel} has {lines} lines (at most {MODULE_LINES})"


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_functions_are_not_too_long(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > FUNCTION_LINES
        and not _is_kernel(node)
    ]
    assert long == [], f"functions over {FUNCTION_LINES} lines: {long}"


def test_one_audit_writer():
    """Every audit row goes through geo.store.audit (one place to read what is recorded)."""
    writers = [
        p.relative_to(ROOT).as_posix()
        for p in MODULES
        if re.search(r"INSERT\s+INTO\s+audit_log", p.read_text(encoding="utf-8"), re.I)
    ]
    assert writers == []


def test_no_band_literal_defaults():
    """The default size band comes from the settings (geo.settings.band), not literals."""
    pattern = re.compile(r"(min_households|max_households|\"min\"|\"max\")[^\n]{0,40}\b(30|50)\b")
    found = [
        f"{p.relative_to(ROOT).as_posix()}:{i}"
        for p in MODULES
        if p.name != "settings.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def _readme_map() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    entries = re.findall(r"^\s*((?:geo|api|maps)/[\w/]*?)/?\s{2,}", section, re.M)
    return {e.rstrip("/") for e in entries}


def test_readme_map_matches_the_packages():
    """Every package of the library is in the README's map, and every entry exists."""
    packages = {
        p.parent.relative_to(ROOT).as_posix()
        for p in MODULES
        if p.name == "__init__.py" and not p.parent.relative_to(ROOT).as_posix().count("routes/")
    }
    listed = _readme_map()
    assert (
        sorted(packages - listed) == []
        and sorted(e for e in listed if not (ROOT / e).exists()) == []
    )
