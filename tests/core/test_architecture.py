"""The core's wings import one way (docs/ARCHITECTURE.md): a wing may import only the wings below it.

Read from the source with ``ast``, lazy imports inside functions included, so a new import that points up the
stack fails here instead of growing a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "vision_core"

# What each part of the core may import from the project (besides itself).
ALLOWED = {
    "config": set(),
    "limits": set(),
    "data": {"config", "limits"},
    "models": {"config"},
    "analysis": set(),
    "runs": {"config", "models"},
    "training": {"config", "limits", "data", "models", "runs", "analysis"},
    "lessons": {"config", "limits", "data", "models", "training", "analysis"},
    "figures": {"lessons", "analysis"},
    "classroom": {"config", "limits", "data", "models", "runs", "training"},
    "code_export": {"config", "data", "models", "runs"},
    "cli": {"config", "limits", "data", "models", "runs", "training", "classroom", "analysis", "lessons",
            "code_export"},
}


def part_of(path: Path) -> str:
    relative = path.relative_to(CORE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def project_imports(path: Path) -> set[str]:
    """The parts of vision_core that ``path`` imports, at any depth of the file."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            names = module.split(".")
            if names[0] == "vision_core" and len(names) > 1:
                parts.add(names[1])
    return parts


MODULES = sorted(p for p in CORE.rglob("*.py") if p.name != "__init__.py")


def test_the_top_holds_few_modules_and_every_wing_says_what_it_holds():
    top = sorted(p.stem for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 6, top
    wings = [p for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"]
    assert {w.name for w in wings} == set(ALLOWED) - set(top)
    for wing in wings:
        docstring = ast.get_docstring(ast.parse((wing / "__init__.py").read_text()))
        assert docstring and "import" in docstring.lower(), f"{wing.name}/__init__.py should say what it holds and imports"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_imports_point_down_the_stack(path):
    part = part_of(path)
    assert part in ALLOWED, f"{part} is not in the architecture map"
    upward = project_imports(path) - ALLOWED[part] - {part}
    assert not upward, f"{path.relative_to(CORE)} imports {sorted(upward)}, above {part} in the stack"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_the_core_never_imports_streamlit(path):
    assert "streamlit" not in {m.split(".")[0] for m in _all_imports(path)}


def _all_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found
