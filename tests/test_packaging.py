"""Packaging contracts: the core is napari-free, the manifest is valid and shipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Importing every core module with napari, Qt and magicgui made unimportable.
_BLOCKED_IMPORT = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        root = name.split('.')[0]
        if root in {'napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'magicgui', 'vispy', 'miss_imaging_napari'}:
            raise ImportError(f'blocked: {name}')
        return None
sys.meta_path.insert(0, Block())
import miss_imaging
for m in pkgutil.iter_modules(miss_imaging.__path__):
    importlib.import_module('miss_imaging.' + m.name)
import types
for name in miss_imaging.__all__:
    # a submodule named like a public function would shadow it once imported
    assert not isinstance(getattr(miss_imaging, name), types.ModuleType), name
print('ok')
"""


def test_core_imports_without_napari_or_qt():
    result = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_src_never_imports_plugins():
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "src" / "miss_imaging").rglob("*.py")
        if any(w in p.read_text() for w in ("import napari", "from napari", "miss_imaging_napari", "from qtpy", "import qtpy"))
    ]
    assert offenders == []


def test_manifest_validates():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManager.instance()
    pm.discover()
    manifest = pm.get_manifest("miss-imaging")
    assert manifest.name == "miss-imaging"
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", "miss-imaging"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifest_commands_resolve():
    """Every python_name in napari.yaml points at an existing attribute."""
    import importlib

    import yaml

    manifest = yaml.safe_load((REPO / "plugins" / "miss_imaging_napari" / "napari.yaml").read_text())
    for command in manifest["contributions"]["commands"]:
        module, attr = command["python_name"].split(":")
        assert hasattr(importlib.import_module(module), attr), command["python_name"]


def test_readme_apt_line_is_the_ci_list():
    """The README's apt line names exactly the packages .ci/run installs (one list: .ci/apt-packages.txt)."""
    import re

    listed = [ln.strip() for ln in (REPO / ".ci" / "apt-packages.txt").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    readme_lines = re.findall(r"`apt install ([^`]+)`", (REPO / "README.md").read_text())
    assert readme_lines and all(line.split() == listed for line in readme_lines), readme_lines
    assert ".ci/apt-packages.txt" in (REPO / ".ci" / "run").read_text()
    assert {"xvfb", "libxcb-cursor0", "libxkbcommon-x11-0"} <= set(listed)


def test_shared_dicom_folder_from_the_environment(tmp_path, monkeypatch):
    """$MISS_SHARED_DICOM points the real-file tests at a folder anywhere; a skip names the variable."""
    import conftest

    monkeypatch.setenv("MISS_SHARED_DICOM", str(tmp_path))
    assert conftest.shared_dicom_dir() == tmp_path
    monkeypatch.setenv("MISS_SHARED_DICOM", str(tmp_path / "absent"))
    with pytest.raises(pytest.skip.Exception, match="MISS_SHARED_DICOM"):
        conftest.shared_dicom.__wrapped__()
