"""Shared fixtures: the bundled phantoms, their truth, and ../shared/dicom."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# No test, module fixture or subprocess (the CLI tests inherit the environment) may touch the user's real
# settings (~/.config/miss-imaging): a temporary folder for the whole session, set before anything is imported
os.environ["MISS_IMAGING_CONFIG_DIR"] = tempfile.mkdtemp(prefix="miss-imaging-test-config-")
os.environ["NAPARI_CONFIG"] = str(Path(os.environ["MISS_IMAGING_CONFIG_DIR"]) / "napari.yaml")
_USER_SETTINGS = Path.home() / ".config" / "miss-imaging" / "settings.json"


def _user_settings_state() -> tuple[float, bytes] | None:
    try:
        return _USER_SETTINGS.stat().st_mtime, _USER_SETTINGS.read_bytes()
    except OSError:
        return None


@pytest.fixture(scope="session", autouse=True)
def _user_settings_untouched():
    """Fail the run when anything wrote the user's real settings file during the tests."""
    before = _user_settings_state()
    yield
    assert _user_settings_state() == before, f"a test wrote the user's settings {_USER_SETTINGS}"
SAMPLES = REPO / "sample_dicoms"
SHARED_DICOM_ENV = "MISS_SHARED_DICOM"


def shared_dicom_dir() -> Path:
    """``$MISS_SHARED_DICOM``, else ``../shared/dicom`` beside the clone."""
    return Path(os.environ.get(SHARED_DICOM_ENV) or REPO.parent / "shared" / "dicom")
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
    """Real DICOM files: ``$MISS_SHARED_DICOM`` or ``../shared/dicom``; skip, saying how to point to them, when absent."""
    folder = shared_dicom_dir()
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (real DICOM files from other projects' test suites): "
                    f"set {SHARED_DICOM_ENV} to that folder")
    return folder


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Keep napari and miss-imaging settings out of the user's home during tests."""
    cfg = tmp_path_factory.getbasetemp() / "config"
    cfg.mkdir(exist_ok=True)
    monkeypatch.setenv("NAPARI_CONFIG", str(cfg / "napari.yaml"))
    monkeypatch.setenv("MISS_IMAGING_CONFIG_DIR", str(cfg))
    from miss_imaging.redact import forget_case_paths

    forget_case_paths()  # the case folders opened by one test are not another test's
    yield


def has_display() -> bool:
    """True when Qt can render (an X server, or Xvfb that pytest-xvfb can start)."""
    import shutil

    return bool(os.environ.get("DISPLAY")) or shutil.which("Xvfb") is not None


_QT_FIXTURES = {"make_napari_viewer", "qtbot", "make_napari_viewer_proxy"}


def pytest_collection_modifyitems(config, items):
    """Skip viewer tests with a reason when no X server can be had.

    On a machine without Xvfb (``apt install`` the packages of
    ``.ci/apt-packages.txt``, as ``.ci/run`` does) Qt would abort the whole run.
    """
    if has_display():
        return
    skip = pytest.mark.skip(reason="needs an X display: install xvfb (see .ci/run) so pytest-xvfb can start one")
    for item in items:
        if _QT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)
