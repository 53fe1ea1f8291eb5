from __future__ import annotations

from pathlib import Path

import pytest

from rigtui.config import (
    Settings,
    SettingsError,
    listen_address,
    load_settings,
    validate_prometheus_url,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path):
    settings = load_settings({}, {"HOME": str(tmp_path)})
    assert settings == Settings(data_dir=tmp_path / ".local" / "share" / "rigtui")
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


@pytest.mark.parametrize(
    ("flags", "environ", "text", "source"),
    [
        ({"theme": "nope"}, {}, "", "--theme"),
        ({}, {"RIGTUI_THEME": "nope"}, "", "environment variable RIGTUI_THEME"),
        ({}, {}, 'theme = "nope"\n', "config file"),
    ],
)
def test_an_unknown_theme_is_named_with_the_themes_there_are(
    tmp_path, flags, environ, text, source
):
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as error:
        load_settings(flags, environ, path)
    message = str(error.value)
    assert message.startswith(source)
    assert "no theme 'nope'" in message
    assert "textual-dark" in message and "dracula" in message and "nord" in message


def test_a_known_theme_is_kept(tmp_path):
    assert load_settings({"theme": "dracula"}, {"HOME": str(tmp_path)}).theme == "dracula"


def test_a_binary_config_file_is_named(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_bytes(b"interval = 2\n\xc3\x28\x00\xff binary")
    with pytest.raises(SettingsError) as error:
        load_settings({}, {}, path)
    assert str(error.value) == (
        f"config file {path} is not valid TOML: it is not UTF-8 text (byte 0xc3 on line 2)"
    )


def test_a_toml_error_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, 'interval = 2\ntheme = "dracula\n')
    with pytest.raises(SettingsError) as error:
        load_settings({}, {}, path)
    assert str(path) in str(error.value) and "line 2" in str(error.value)


def test_a_number_too_large_for_a_float_is_an_error(tmp_path):
    path = write(tmp_path, f"interval = {10**400}\n")
    with pytest.raises(SettingsError, match="interval: expected a number"):
        load_settings({}, {}, path)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        (
            "http://[::1",
            "the URL is malformed: an IPv6 address opened with '[' is never closed with ']'",
        ),
        (
            "[::1:11434",
            "the URL is malformed: an IPv6 address opened with '[' is never closed with ']'",
        ),
        ("http://::1:11434", "an IPv6 address goes in brackets, like http://[::1]:11434"),
        ("http://host]:80", "the URL is malformed: a ']' without its '['"),
        ("http://[zz]:80", "'zz' (in brackets) is not an IPv6 address"),
        ("http://[::1]x", "the URL is malformed: 'x' after the IPv6 address's ']'"),
        ("http://host:abc", "the port must be a number 1-65535, not 'abc'"),
        ("http://host:-1", "the port must be a number 1-65535, not '-1'"),
        ("host:0", "the port must be a number 1-65535, not '0'"),
        ("host:99999", "the port must be a number 1-65535, not '99999'"),
        ("", "the address is empty"),
        ("   ", "the address is empty"),
        ("http://my host:11434", "the address holds a space or a control character"),
        ("host\x1b[31m", "the address holds a space or a control character"),
    ],
)
def test_a_malformed_ollama_address_says_what_is_wrong(address, problem):
    with pytest.raises(SettingsError) as error:
        load_settings({"ollama_host": address}, {})
    assert str(error.value) == f"--ollama-host: Ollama address {address!r}: {problem}"


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "box:11434", "http://[::1]:11434", "https://[fe80::1%eth0]/ollama", "http://h:"],
)
def test_a_good_ollama_address_is_kept(tmp_path, address):
    assert load_settings({"ollama_host": address}, {"HOME": str(tmp_path)}).ollama_host == address


def test_the_data_directory_follows_xdg_and_the_layers_above_it(tmp_path):
    assert load_settings({}, {"HOME": "/home/ada"}).data_dir == Path(
        "/home/ada/.local/share/rigtui"
    )
    assert load_settings({}, {"HOME": "/h", "XDG_DATA_HOME": str(tmp_path)}).data_dir == (
        tmp_path / "rigtui"
    )
    config = tmp_path / "config.toml"
    config.write_text('data_dir = "~/chats"\n')
    from_file = load_settings({}, {"HOME": "/h", "RIGTUI_CONFIG": str(config)})
    assert from_file.data_dir == Path("~/chats").expanduser()
    environ = {"HOME": "/h", "RIGTUI_CONFIG": str(config), "RIGTUI_DATA_DIR": "/srv/rig"}
    assert load_settings({}, environ).data_dir == Path("/srv/rig")
    assert load_settings({"data_dir": tmp_path}, environ).data_dir == tmp_path
    assert Settings().data_dir is None  # built in code: nothing is kept


# --- remembered settings: the lowest layer above the defaults -------------------------------------


def test_remembered_settings_sit_below_the_file_the_environment_and_the_flags(tmp_path):
    data = tmp_path / "data"
    remembered = {"theme": "nord", "interval_s": 5.0}
    asked: list[Path] = []

    def reader(data_dir: Path) -> dict:
        asked.append(data_dir)
        return remembered

    environ = {"RIGTUI_DATA_DIR": str(data)}
    missing = tmp_path / "none.toml"
    settings = load_settings({}, environ, None, reader)
    assert asked == [data]  # read from the data directory the layers chose
    assert (settings.theme, settings.interval_s) == ("nord", 5.0)
    config = tmp_path / "config.toml"
    config.write_text('theme = "gruvbox"\n')
    settings = load_settings({}, environ, config, reader)
    assert (settings.theme, settings.interval_s) == ("gruvbox", 5.0)
    settings = load_settings({}, {**environ, "RIGTUI_INTERVAL": "2"}, config, reader)
    assert (settings.theme, settings.interval_s) == ("gruvbox", 2.0)
    settings = load_settings({"interval_s": 0.5, "theme": "dracula"}, environ, config, reader)
    assert (settings.theme, settings.interval_s) == ("dracula", 0.5)
    assert not missing.exists()


def test_a_remembered_value_no_longer_valid_is_passed_over(tmp_path):
    def reader(_data_dir: Path) -> dict:
        return {"theme": "a-theme-long-gone", "interval_s": 99999.0, "ollama_host": "x:1"}

    settings = load_settings({}, {"RIGTUI_DATA_DIR": str(tmp_path)}, None, reader)
    assert settings.theme == Settings().theme
    assert settings.interval_s == Settings().interval_s
    assert settings.ollama_host == Settings().ollama_host  # never taken from the state


def test_the_state_file_feeds_the_settings_through_the_store(tmp_path):
    from rigtui.store.state import RememberedState, remembered_settings

    state = RememberedState.load(tmp_path)
    state.remember(theme="nord", interval_s=10.0, tab="chat-tab")
    assert state.save() is None
    settings = load_settings({}, {"RIGTUI_DATA_DIR": str(tmp_path)}, None, remembered_settings)
    assert (settings.theme, settings.interval_s) == ("nord", 10.0)
    (tmp_path / "state.json").write_text("{damaged")
    settings = load_settings({}, {"RIGTUI_DATA_DIR": str(tmp_path)}, None, remembered_settings)
    assert (settings.theme, settings.interval_s) == (Settings().theme, Settings().interval_s)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("prometheus.lan:9090", "http://prometheus.lan:9090"),
        ("https://user:secret@host/prometheus", "https://user:secret@host/prometheus"),
        ("http://[::1]:9090", "http://[::1]:9090"),  # an IPv6 address with a port
        ("http://127.0.0.1:9090/", "http://127.0.0.1:9090/"),
    ],
)
def test_a_good_prometheus_url_is_kept(url, kept):
    assert validate_prometheus_url(url) == kept


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "the Prometheus URL is empty"),
        ("ftp://host", "over http:// or https://, not ftp://"),
        ("http://:9090", "there is no host"),
        ("http://user@:9090", "there is no host"),
        ("http://host:port", "the port must be a number"),
        ("http://pro metheus", "a space or a control character"),
        ("http://127.0.0.1:9090?x=1", "takes no ?query or #fragment"),
        ("http://prom:9090/#graph", "takes no ?query or #fragment"),
        ("http://u:p/w@prom:9090", "a '/', '?' or '#' in the user or password is written %2F"),
    ],
)
def test_a_bad_prometheus_url_says_what_is_wrong(url, problem):
    with pytest.raises(SettingsError, match="--prometheus") as caught:
        validate_prometheus_url(url)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("10430", ("127.0.0.1", 10430)),
        (":10430", ("127.0.0.1", 10430)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:10430", ("::1", 10430)),
    ],
)
def test_a_listen_address_is_a_host_and_a_port(text, address):
    assert listen_address(text) == address


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("host", "has no port"),
        ("::1:10430", "an IPv6 address goes in brackets"),
        ("[::1]", "an IPv6 address goes in brackets with a port after"),
        ("[nope]:1", "is not an IPv6 address"),
        ("host:65536", "the port must be a number 0-65535"),
    ],
)
def test_a_bad_listen_address_says_what_is_wrong(text, problem):
    with pytest.raises(SettingsError) as caught:
        listen_address(text, "--metrics")
    assert str(caught.value).startswith("--metrics: ") and problem in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["http://admin:hunter2@prom:99999", "ftp://admin:hunter2@prom", "http://admin:hun/ter2@prom"],
)
def test_a_bad_prometheus_url_never_shows_its_password(tmp_path, url):
    with pytest.raises(SettingsError) as caught:
        validate_prometheus_url(url)
    assert "hun" not in str(caught.value) and "admin:***@prom" in str(caught.value)
    # Nor from the file or the environment.
    path = write(tmp_path, f'prometheus_url = "{url}"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings({}, {}, path)
    assert "hun" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings({}, {"HOME": str(tmp_path), "RIGTUI_PROMETHEUS_URL": url})
    assert "hun" not in str(caught.value)


def test_an_empty_setting_in_the_file_says_it_is_empty(tmp_path):
    path = write(tmp_path, 'prometheus_url = ""\n')
    with pytest.raises(SettingsError) as caught:
        load_settings({}, {}, path)
    assert "prometheus_url: is empty: give a value, or leave the setting out" in str(caught.value)
