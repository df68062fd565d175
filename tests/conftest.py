"""Shared fixtures: the bundled phantoms, their truth, and ../shared/dicom."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_dicoms"
SHARED_DICOM = REPO.parent / "shared" / "dicom"
# the one DICOM data set builder (sample_dicoms/dicom_builder.py), shared with the phantoms and benchmarks
if str(SAMPLES) not in sys.path:
    sys.path.append(str(SAMPLES))


@pytest.fixture(scope="session")
def samples() -> Path:
    """The committed phantom DICOM folder (``sample_dicoms/``)."""
    return SAMPLES


@pytest.fixture(scope="session")
def truth() -> dict:
    """``sample_dicoms/truth.json``: the phantoms' exact geometry and landmarks."""
    return json.loads((SAMPLES / "truth.json").read_text())


@pytest.fixture(scope="session")
def shared_dicom() -> Path:
    """Real DICOM files beside the repo (``../shared/dicom``); skip when absent."""
    if not SHARED_DICOM.is_dir():
        pytest.skip(f"{SHARED_DICOM} is absent (real DICOM files from other projects' test suites)")
    return SHARED_DICOM


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Keep napari and miss-imaging settings out of the user's home during tests."""
    cfg = tmp_path_factory.getbasetemp() / "config"
    cfg.mkdir(exist_ok=True)
    monkeypatch.setenv("NAPARI_CONFIG", str(cfg / "napari.yaml"))
    monkeypatch.setenv("MISS_IMAGING_CONFIG_DIR", str(cfg))
    yield


def has_display() -> bool:
    """True when Qt can render (an X server, or Xvfb that pytest-xvfb can start)."""
    import shutil

    return bool(os.environ.get("DISPLAY")) or shutil.which("Xvfb") is not None


_QT_FIXTURES = {"make_napari_viewer", "qtbot", "make_napari_viewer_proxy"}


def pytest_collection_modifyitems(config, items):
    """Skip viewer tests with a reason when no X server can be had.

    On a machine without Xvfb (``apt install xvfb libxcb-icccm4
    libxcb-keysyms1``, which ``.ci/run`` does) Qt would abort the whole run.
    """
    if has_display():
        return
    skip = pytest.mark.skip(reason="needs an X display: install xvfb (see .ci/run) so pytest-xvfb can start one")
    for item in items:
        if _QT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)
