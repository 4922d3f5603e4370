"""The platform (pipeline/, flows/) never depends on its local stand-ins (sandbox/): the call
graph runs sandbox -> flows -> pipeline -> tools, never back."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from pipeline.settings import REPO_ROOT

PLATFORM = ("pipeline", "flows")


def _modules() -> list[Path]:
    return sorted(p for package in PLATFORM for p in (REPO_ROOT / package).rglob("*.py"))


def test_no_platform_module_imports_the_sandbox() -> None:
    offending = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):  # function-local imports too
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offending += [
                f"{path.relative_to(REPO_ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name == "sandbox" or name.startswith("sandbox.")
            ]
    assert _modules(), "no platform modules found"
    assert offending == []


def test_importing_the_whole_platform_loads_no_sandbox_module() -> None:
    modules = [
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in _modules()
    ]
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'sandbox' or m.startswith('sandbox.'))\n"
        "print(','.join(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
