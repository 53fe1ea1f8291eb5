"""Remembered settings: the theme, the interval, the last tab, the model and the chat options.

Kept in ``state.json`` in the data directory, never in the user's config file: the config file,
the environment and the command line all win over what is remembered (``config.load_settings``).
Written whole and atomically, and only when something changed. A damaged file is ignored (with a
notice), and replaced the next time something is remembered: it holds nothing but these choices.
"""

from __future__ import annotations

import json
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

from rigtui.llm.ollama import ChatOptions
from rigtui.store.files import read_small, why, write_atomically

FILE_NAME = "state.json"
FORMAT_VERSION = 1
SETTINGS_KEYS = ("theme", "interval_s")
"""What ``config.load_settings`` takes from the state (as ``Settings`` fields)."""
_KINDS: dict[str, tuple[type, ...]] = {
    "theme": (str,),
    "interval_s": (int, float),
    "tab": (str,),
    "model": (str,),
    "chat_options": (dict,),
}
_OPTION_KINDS: dict[str, tuple[type, ...]] = {
    "system_prompt": (str,),
    "temperature": (int, float),
    "num_ctx": (int,),
    "num_gpu": (int,),
    "keep_alive": (str,),
    "think": (bool,),
}


def options_to_state(options: ChatOptions) -> dict[str, Any]:
    """The options worth remembering: those set (``extra`` is the code's, not the user's)."""
    return {
        name: getattr(options, name)
        for name in _OPTION_KINDS
        if getattr(options, name) not in (None, "")
    }


def options_from_state(values: dict[str, Any]) -> ChatOptions:
    """ChatOptions from remembered values; a value of the wrong kind is left at its default."""
    known = {field.name for field in fields(ChatOptions)}
    chosen = {}
    for name, kinds in _OPTION_KINDS.items():
        value = values.get(name)
        if name in known and _is(value, kinds):
            chosen[name] = float(value) if name == "temperature" else value
    return ChatOptions(**chosen)


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    # A bool is an int to Python, never a number here (true is not a temperature).
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


class RememberedState:
    """What is remembered (``values``), and whether it changed since it was written."""

    def __init__(self, path: Path | None, values: dict[str, Any] | None = None) -> None:
        self.path = path
        self.values: dict[str, Any] = dict(values or {})
        self.problem: str | None = None
        """Why the state file was ignored or cannot be written, or None."""
        self._written = dict(self.values)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, data_dir: Path | None) -> RememberedState:
        """Never raises: a damaged file is ignored (``problem`` says so)."""
        state = cls(data_dir / FILE_NAME if data_dir is not None else None)
        if state.path is None:
            return state
        try:
            text = read_small(state.path)
            values = _parse(text) if text is not None else {}
        except (OSError, ValueError) as error:
            reason = why(error) if isinstance(error, OSError) else str(error)
            state.problem = f"remembered settings ignored: {state.path} {reason}"
            return state
        state.values = values
        state._written = dict(values)
        return state

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def remember(self, **values: Any) -> bool:
        """Note new values (None forgets one); True if that changed anything unwritten."""
        with self._lock:
            before = dict(self.values)
            for key, value in values.items():
                if value is None:
                    self.values.pop(key, None)
                else:
                    self.values[key] = value
            return self.values != before and self.values != self._written

    def save(self) -> str | None:
        """Write what changed since the last write; None, or why it could not be written.
        Safe from worker threads: the newest values are written, once."""
        with self._lock:
            if self.path is None or self.values == self._written:
                return None
            document = {"version": FORMAT_VERSION, **self.values}
            try:
                write_atomically(self.path, json.dumps(document, indent=2) + "\n")
            except OSError as error:
                self.problem = f"cannot remember settings in {self.path.parent}: {why(error)}"
                return self.problem
            self._written = dict(self.values)
            return None


def _parse(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError("is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("is not a JSON object")
    values = {}
    for key, kinds in _KINDS.items():
        value = document.get(key)
        if _is(value, kinds):
            values[key] = value
    return values


def remembered_settings(data_dir: Path) -> dict[str, Any]:
    """What ``config.load_settings`` takes from the state, as ``Settings`` fields; nothing
    from a damaged file (the dashboard says why when it opens)."""
    state = RememberedState.load(data_dir)
    return {key: state.values[key] for key in SETTINGS_KEYS if key in state.values}
