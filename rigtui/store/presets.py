"""System-prompt presets: named system prompts, kept in ``presets.json`` in the data directory.

The file is written whole and atomically at each change. A damaged file is reported and never
overwritten (the user may want what is in it): the presets then work for the session only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from rigtui.store.files import read_small, why, write_atomically

FILE_NAME = "presets.json"
FORMAT_VERSION = 1


class PresetBook:
    """The presets by name (``presets``, in the order they were made) and their file."""

    def __init__(self, path: Path | None, presets: dict[str, str] | None = None) -> None:
        self.path = path
        self.presets: dict[str, str] = dict(presets or {})
        self.problem: str | None = None
        """Why the presets are not kept on disk, or None."""
        self._lock = threading.Lock()

    @classmethod
    def load(cls, data_dir: Path | None) -> PresetBook:
        """Never raises: a damaged or unreadable file leaves a book that keeps its presets in
        memory only and says why (``problem``)."""
        book = cls(data_dir / FILE_NAME if data_dir is not None else None)
        if book.path is None:
            return book
        try:
            text = read_small(book.path)
            if text is not None:
                book.presets = _parse(text)
        except (OSError, ValueError) as error:
            reason = why(error) if isinstance(error, OSError) else str(error)
            book.problem = (
                f"the presets file {book.path} cannot be used ({reason}); it is left as it "
                "is, and presets are kept for this session only"
            )
            book.path = None
        return book

    def save(self, name: str, system_prompt: str) -> str | None:
        """Keep ``system_prompt`` as ``name`` (replacing one of that name); None, or why it
        could not be written (it is kept for the session all the same)."""
        with self._lock:
            if not name.strip():
                raise ValueError("a preset needs a name")
            self.presets[name.strip()] = system_prompt
            return self._write()

    def delete(self, name: str) -> str | None:
        with self._lock:
            if self.presets.pop(name, None) is None:
                return None
            return self._write()

    def _write(self) -> str | None:
        if self.path is None:
            return None
        document = {"version": FORMAT_VERSION, "presets": self.presets}
        try:
            write_atomically(self.path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        except OSError as error:
            self.problem = f"cannot save the presets in {self.path.parent}: {why(error)}"
            return self.problem
        return None


def _parse(text: str) -> dict[str, str]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("presets"), dict):
        raise ValueError('expected {"version": 1, "presets": {NAME: TEXT, ...}}')
    version = document.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"written by a newer rigtui (version {version!r})")
    presets = {}
    for name, system_prompt in document["presets"].items():
        if not isinstance(system_prompt, str):
            raise ValueError(f"the preset {name!r} is not text")
        presets[name] = system_prompt
    return presets
