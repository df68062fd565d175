"""The demo is its own core module; the napari adapter never imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_adapter_never_imports_the_cli():
    files = sorted((ROOT / "plugins" / "miss_imaging_napari").rglob("*.py"))
    assert files
    offenders = {f.name: sorted(m for m in _imported_modules(f) if m == "miss_imaging.cli" or
                                m.startswith("miss_imaging.cli."))
                 for f in files}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_demo_module_does_not_import_the_cli():
    for f in sorted((ROOT / "src" / "miss_imaging" / "demo").glob("*.py")):
        assert not any(m.startswith("miss_imaging.cli") for m in _imported_modules(f)), f.name
