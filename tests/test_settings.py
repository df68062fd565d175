"""Teaching-mode setting: privacy by default, persisted, robust to bad files."""

from __future__ import annotations

import json
import warnings

import pytest

from miss_imaging import settings
from miss_imaging.errors import MissImagingWarning


@pytest.fixture()
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.CONFIG_ENV, str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_default_is_on_without_a_file(cfg):
    assert not (cfg / "settings.json").exists()
    assert settings.get_teaching_mode() is True


def test_set_persists_to_json(cfg):
    settings.set_teaching_mode(False)
    assert settings.get_teaching_mode() is False
    data = json.loads((cfg / "settings.json").read_text())
    assert data["teaching_mode"] is False
    settings.set_teaching_mode(True)
    assert json.loads((cfg / "settings.json").read_text())["teaching_mode"] is True


def test_home_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.CONFIG_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings.settings_path() == tmp_path / ".config" / "miss-imaging" / "settings.json"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "", "\x00\xff"])
def test_corrupt_file_means_on_with_warning(cfg, content):
    cfg.mkdir(parents=True)
    (cfg / "settings.json").write_text(content, encoding="latin-1")
    with pytest.warns(MissImagingWarning, match="settings.json"):
        assert settings.get_teaching_mode() is True
    # and it can be repaired by setting the mode again
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissImagingWarning)
        settings.set_teaching_mode(False)
    assert settings.get_teaching_mode() is False


def test_non_boolean_value_counts_as_on(cfg):
    cfg.mkdir(parents=True)
    (cfg / "settings.json").write_text(json.dumps({"teaching_mode": "no"}))
    assert settings.get_teaching_mode() is True


def test_other_keys_are_kept(cfg):
    cfg.mkdir(parents=True)
    (cfg / "settings.json").write_text(json.dumps({"teaching_mode": True, "other": 3}))
    settings.set_teaching_mode(False)
    assert json.loads((cfg / "settings.json").read_text())["other"] == 3


def test_listeners_are_called_once_each(cfg):
    seen: list[bool] = []

    def listener(on: bool) -> None:
        seen.append(on)

    settings.add_listener(listener)
    settings.add_listener(listener)
    try:
        settings.set_teaching_mode(False)
        settings.set_teaching_mode(True)
    finally:
        settings.remove_listener(listener)
    settings.set_teaching_mode(False)
    assert seen == [False, True]
