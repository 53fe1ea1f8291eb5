from __future__ import annotations

from pathlib import Path

import pytest

from rigtui.config import Settings, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path):
    settings = load_settings({}, {"HOME": str(tmp_path)})
    assert settings == Settings()
    assert settings.history_capacity == 600


def test_file_then_environment_then_flags(tmp_path):
    path = write(tmp_path, 'interval = 2\nhistory_minutes = 30\nollama_host = "box:11434"\n')
    settings = load_settings({}, {}, path)
    assert (settings.interval_s, settings.history_minutes, settings.ollama_host) == (
        2.0,
        30.0,
        "box:11434",
    )
    settings = load_settings({}, {"RIGTUI_INTERVAL": "5", "OLLAMA_HOST": "other"}, path)
    assert (settings.interval_s, settings.ollama_host) == (5.0, "other")
    settings = load_settings({"interval_s": 0.5}, {"RIGTUI_INTERVAL": "5"}, path)
    assert settings.interval_s == 0.5
    assert settings.history_capacity == 3600


def test_the_default_file_is_found_under_xdg_config_home(tmp_path):
    (tmp_path / "rigtui").mkdir()
    (tmp_path / "rigtui" / "config.toml").write_text("interval = 3\n")
    settings = load_settings({}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.interval_s == 3.0
    assert settings.config_path == tmp_path / "rigtui" / "config.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("interval = 0\n", "between 0.25 and 60"),
        ('interval = "fast"\n', "expected a number"),
        ("colour = 1\n", "unknown setting 'colour'"),
        ("interval = \n", "not valid TOML"),
        ("history_minutes = 100000\n", "between 1 and 1440"),
    ],
)
def test_a_bad_file_is_an_error_that_names_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as error:
        load_settings({}, {}, path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_a_bad_environment_variable_is_named(tmp_path):
    with pytest.raises(SettingsError, match="RIGTUI_INTERVAL"):
        load_settings({}, {"HOME": str(tmp_path), "RIGTUI_INTERVAL": "0.01"})


def test_a_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({}, {}, tmp_path / "nope.toml")
