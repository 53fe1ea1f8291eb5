"""Small files written whole, atomically: a temporary file beside the target, then os.replace.

A kill at any moment leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

SMALL_FILE_MAX_BYTES = 4 * 1024 * 1024
"""Presets and state are a few KiB: anything far larger is not ours (or not to be loaded)."""


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole; raises OSError (nothing changed) if it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_small(path: Path) -> str | None:
    """The text of a small file, or None when there is none; OSError and ValueError (not
    UTF-8, too large) say why it cannot be read."""
    try:
        with path.open("rb") as file:
            raw = file.read(SMALL_FILE_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(raw) > SMALL_FILE_MAX_BYTES:
        raise ValueError(f"it is over {SMALL_FILE_MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None


def why(error: OSError) -> str:
    return error.strerror or str(error)
