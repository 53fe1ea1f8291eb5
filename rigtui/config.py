"""Settings: defaults < remembered state < config file < environment < command-line flags.

Read once, in ``cli.py``, and passed in; nothing reads the environment or files at import time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

INTERVAL_MIN_S = 0.25
INTERVAL_MAX_S = 60.0
HISTORY_MIN_MINUTES = 1.0
HISTORY_MAX_MINUTES = 24 * 60.0
DEFAULT_OLLAMA_HOST = "127.0.0.1:11434"
DEFAULT_THEME = "textual-dark"
CONFIG_MAX_BYTES = 1024 * 1024


class SettingsError(ValueError):
    """A setting that cannot be used, with a message that says which and why."""


@dataclass(frozen=True)
class Settings:
    interval_s: float = 1.0
    """Seconds between samples."""
    history_minutes: float = 10.0
    """How far back the charts reach."""
    ollama_host: str = DEFAULT_OLLAMA_HOST
    ollama: bool = True
    """Talk to Ollama (the chat and the loaded-model view)."""
    power_budget_w: float | None = None
    """What the PSU or UPS can give the GPUs together: spikes above it are flagged."""
    theme: str = DEFAULT_THEME
    demo: str | None = None
    """A scenario name: run over the simulated rig instead of the real one."""
    demo_speed: float = 1.0
    config_path: Path | None = None
    data_dir: Path | None = None
    """Where chats, prompt history, presets and remembered state are kept. None keeps nothing
    (Settings built in code, as tests do); ``load_settings`` fills in the XDG default."""
    metrics_listen: str | None = None
    """Where the dashboard serves its metrics to Prometheus while it runs (``--metrics
    ADDRESS:PORT``); None serves nothing."""
    prometheus_url: str | None = None
    """The Prometheus server the Fleet tab reads (``--prometheus URL``); None: no Fleet tab."""

    @property
    def history_capacity(self) -> int:
        return max(2, round(self.history_minutes * 60 / self.interval_s))


FILE_KEYS = {
    "interval": ("interval_s", float),
    "history_minutes": ("history_minutes", float),
    "ollama_host": ("ollama_host", str),
    "theme": ("theme", str),
    "power_budget": ("power_budget_w", float),
    "data_dir": ("data_dir", Path),
    "metrics_listen": ("metrics_listen", str),
    "prometheus_url": ("prometheus_url", str),
}

ENVIRONMENT_KEYS = {
    "RIGTUI_INTERVAL": ("interval_s", float),
    "RIGTUI_HISTORY_MINUTES": ("history_minutes", float),
    "OLLAMA_HOST": ("ollama_host", str),
    "RIGTUI_THEME": ("theme", str),
    "RIGTUI_POWER_BUDGET": ("power_budget_w", float),
    "RIGTUI_DATA_DIR": ("data_dir", Path),
    "RIGTUI_METRICS": ("metrics_listen", str),
    "RIGTUI_PROMETHEUS_URL": ("prometheus_url", str),
}


def default_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "rigtui" / "config.toml"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """The XDG data directory: ``$XDG_DATA_HOME/rigtui``, else ``~/.local/share/rigtui``."""
    base = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME", "~")) / ".local" / "share")
    return Path(base).expanduser() / "rigtui"


def validate_interval(value: float, source: str = "--interval") -> float:
    if not INTERVAL_MIN_S <= value <= INTERVAL_MAX_S:
        raise SettingsError(
            f"{source}: the interval must be between {INTERVAL_MIN_S:g} and {INTERVAL_MAX_S:g} "
            f"seconds (got {value:g})"
        )
    return value


def validate_history(value: float, source: str = "--history") -> float:
    if not HISTORY_MIN_MINUTES <= value <= HISTORY_MAX_MINUTES:
        raise SettingsError(
            f"{source}: the history must be between {HISTORY_MIN_MINUTES:g} and "
            f"{HISTORY_MAX_MINUTES:g} minutes (got {value:g})"
        )
    return value


def validate_power_budget(value: float, source: str = "--power-budget") -> float:
    if not 50 <= value <= 20_000:
        raise SettingsError(
            f"{source}: the power budget must be between 50 and 20000 watts (got {value:g})"
        )
    return value


def known_themes() -> list[str]:
    """The themes the dashboard can show: Textual's built-in ones (rigtui registers none)."""
    # Imported only when a theme is named: Textual takes a while to load, and the headless
    # commands never need it.
    from textual.theme import BUILTIN_THEMES

    return sorted(BUILTIN_THEMES)


def validate_theme(value: str, source: str = "--theme") -> str:
    if value == DEFAULT_THEME:
        return value
    themes = known_themes()
    if value not in themes:
        raise SettingsError(
            f"{source}: there is no theme {value!r}; the themes are: {', '.join(themes)}"
        )
    return value


def _address_problem(text: str) -> str | None:
    """What is wrong with an Ollama address (``[http[s]://]host[:port][/path]``), or None.

    Only the shape: the scheme and the defaults are ``llm.ollama.parse_ollama_host``'s. Each
    mistake gets its own words, where ``urllib`` would blame the port for most of them.
    """
    if not text.strip():
        return "the address is empty"
    if any(char.isspace() or not char.isprintable() for char in text.strip()):
        return "the address holds a space or a control character"
    _, separator, rest = text.strip().partition("://")
    if not separator:
        rest = text.strip()
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        host, closed, after = authority[1:].partition("]")
        if not closed:
            return "the URL is malformed: an IPv6 address opened with '[' is never closed with ']'"
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return f"{host!r} (in brackets) is not an IPv6 address"
        if after and not after.startswith(":"):
            return f"the URL is malformed: {after!r} after the IPv6 address's ']'"
        port = after[1:] if after else None
    else:
        if "]" in authority:
            return "the URL is malformed: a ']' without its '['"
        if authority.count(":") > 1:
            return "an IPv6 address goes in brackets, like http://[::1]:11434"
        _, colon, port = authority.partition(":")
        port = port if colon else None
    valid_port = port and port.isascii() and port.isdigit() and 0 < int(port) < 65536
    if port and not valid_port:
        return f"the port must be a number 1-65535, not {port!r}"
    return None


def validate_ollama_host(value: str, source: str = "--ollama-host") -> str:
    problem = _address_problem(value)
    if problem:
        raise SettingsError(f"{source}: Ollama address {value!r}: {problem}")
    return value


def listen_address(value: str, source: str = "--listen") -> tuple[str, int]:
    """``ADDRESS:PORT``, ``:PORT`` (loopback), ``[IPv6]:PORT`` or ``PORT`` alone (loopback) as a
    host and a port (0 asks the system for a free one). Raises SettingsError in words."""
    text = value.strip()
    if not text:
        raise SettingsError(f"{source}: the address is empty (expected ADDRESS:PORT)")
    if text.isdigit():
        host, port = "", text
    elif text.startswith("["):
        inside, closed, after = text[1:].partition("]")
        if not closed or not after.startswith(":"):
            raise SettingsError(
                f"{source}: {value!r}: an IPv6 address goes in brackets with a port after, "
                "like [::1]:9999"
            )
        host, port = inside, after[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SettingsError(
                f"{source}: {host!r} (in brackets) is not an IPv6 address"
            ) from None
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            raise SettingsError(f"{source}: {value!r} has no port (expected ADDRESS:PORT)")
        if ":" in host:
            raise SettingsError(
                f"{source}: {value!r}: an IPv6 address goes in brackets, like [::1]:9999"
            )
    if any(char.isspace() or not char.isprintable() for char in host):
        raise SettingsError(f"{source}: the address holds a space or a control character")
    if not (port.isascii() and port.isdigit() and 0 <= int(port) < 65536):
        raise SettingsError(f"{source}: the port must be a number 0-65535, not {port!r}")
    return host or "127.0.0.1", int(port)


def validate_listen(value: str, source: str = "--listen") -> str:
    listen_address(value, source)
    return value


def validate_prometheus_url(value: str, source: str = "--prometheus") -> str:
    """An ``http://`` or ``https://`` URL with a host (a path is kept: Prometheus behind a
    reverse proxy); no scheme means http."""
    text = value.strip()
    if not text:
        raise SettingsError(f"{source}: the Prometheus URL is empty")
    if any(char.isspace() or not char.isprintable() for char in text):
        raise SettingsError(f"{source}: the URL holds a space or a control character")
    shown = repr(_without_password(text))
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "http", text
    if scheme.lower() not in ("http", "https"):
        raise SettingsError(
            f"{source}: {shown}: Prometheus is reached over http:// or https://, not {scheme}://"
        )
    problem = _address_problem(rest)
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if problem is not None and "@" in rest and "@" not in authority:
        # The authority ends at the first '/': one in the password cut it there, and what
        # was blamed (the port) is a piece of the password, not to be shown.
        problem = "a '/', '?' or '#' in the user or password is written %2F, %3F or %23"
    elif problem is None and not urlsplit(f"//{rest}").hostname:
        problem = "there is no host"
    elif problem is None and re.search(r"[?#]", rest):
        problem = "the URL takes no ?query or #fragment: give Prometheus' root (and any prefix)"
    if problem:
        raise SettingsError(f"{source}: Prometheus URL {shown}: {problem}")
    return text if separator else f"http://{text}"


def _without_password(url: str) -> str:
    """The URL as a message may show it: ``user:***@`` for ``user:password@``."""
    return re.sub(r"^((?:[^:/?#]+://)?[^/?#@:]*:)[^@]*@", r"\1***@", url)


_VALIDATORS = {
    "interval_s": validate_interval,
    "history_minutes": validate_history,
    "power_budget_w": validate_power_budget,
    "theme": validate_theme,
    "ollama_host": validate_ollama_host,
    "metrics_listen": lambda value, source="--metrics": validate_listen(value, source),
    "prometheus_url": validate_prometheus_url,
}

REMEMBERED_FIELDS = ("theme", "interval_s")
"""What the dashboard may remember of the settings (changed in it by the palette, + and -)."""

FLAG_NAMES = {
    "theme": "--theme",
    "ollama_host": "--ollama-host",
    "metrics_listen": "--metrics",
    "prometheus_url": "--prometheus",
}
"""The flags that arrive unchecked (the others are checked as argparse reads them)."""


def _convert(raw: Any, kind: type, source: str) -> Any:
    if kind is float:
        if isinstance(raw, bool):
            raise SettingsError(f"{source}: expected a number, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError, OverflowError):
            raise SettingsError(f"{source}: expected a number, got {raw!r}") from None
    if isinstance(raw, str) and not raw.strip():
        raise SettingsError(f"{source}: is empty: give a value, or leave the setting out")
    if not isinstance(raw, str):
        raise SettingsError(f"{source}: expected text, got {raw!r}")
    if kind is Path:
        return Path(raw.strip()).expanduser()
    return raw.strip()


def _apply(values: dict[str, Any], name: str, raw: Any, kind: type, source: str) -> None:
    value = _convert(raw, kind, source)
    validator = _VALIDATORS.get(name)
    values[name] = validator(value, source) if validator else value


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings in a TOML file; an unknown key or a bad value is an error, not ignored."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(CONFIG_MAX_BYTES + 1)
    except OSError as error:
        raise SettingsError(f"cannot read the config file {path}: {error.strerror}") from None
    if len(raw) > CONFIG_MAX_BYTES:  # /dev/zero, or a recording given by mistake
        raise SettingsError(
            f"config file {path} is over {CONFIG_MAX_BYTES // 1024} KiB: not a config file"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise SettingsError(
            f"config file {path} is not valid TOML: it is not UTF-8 text "
            f"(byte 0x{raw[error.start]:02x} on line {line})"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path} is not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in FILE_KEYS:
            known = ", ".join(sorted(FILE_KEYS))
            raise SettingsError(f"config file {path}: unknown setting {key!r} (known: {known})")
        name, kind = FILE_KEYS[key]
        _apply(values, name, raw, kind, f"config file {path}: {key}")
    return values


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config_path: Path | None = None,
    remembered: Callable[[Path], Mapping[str, Any]] | None = None,
) -> Settings:
    """Merge the layers. ``flags`` holds only the options given on the command line.

    ``remembered`` reads what the dashboard remembered in the data directory (``Settings``
    fields: the theme chosen in the palette, the interval): the lowest layer above the
    defaults. A remembered value that is no longer valid (a theme gone) is passed over.
    """
    values: dict[str, Any] = {}
    explicit = config_path is not None
    if config_path is None and environ.get("RIGTUI_CONFIG"):
        config_path = Path(environ["RIGTUI_CONFIG"]).expanduser()
        explicit = True
    path = config_path or default_config_path(environ)
    if path.exists() or explicit:
        values.update(read_config_file(path))
        values["config_path"] = path
    for variable, (name, kind) in ENVIRONMENT_KEYS.items():
        if environ.get(variable):
            _apply(values, name, environ[variable], kind, f"environment variable {variable}")
    for name, value in flags.items():
        if value is None:
            continue
        validator = _VALIDATORS.get(name) if name in FLAG_NAMES else None
        values[name] = validator(value, FLAG_NAMES[name]) if validator else value
    values.setdefault("data_dir", default_data_dir(environ))
    if remembered is not None and values["data_dir"] is not None:
        values = {**_valid_remembered(remembered(values["data_dir"])), **values}
    known = {f.name for f in dataclasses.fields(Settings)}
    return Settings(**{name: value for name, value in values.items() if name in known})


def _valid_remembered(remembered: Mapping[str, Any]) -> dict[str, Any]:
    valid = {}
    for name, value in remembered.items():
        validator = _VALIDATORS.get(name)
        if name not in REMEMBERED_FIELDS or validator is None:
            continue
        try:
            if name == "interval_s":
                value = float(value)
            valid[name] = validator(value, "remembered")
        except (SettingsError, TypeError):
            continue
    return valid
