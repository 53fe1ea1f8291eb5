"""Files written whole, atomically: a temporary file beside the target, then moved into place
(``os.replace`` over the old file, or a hard link to a name that must be free).

A kill at any moment leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import errno
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


def write_new_file(path: Path, text: str, *, numbered: bool = False) -> Path:
    """Write ``text`` whole to ``path``, which must not exist (FileExistsError if it does);
    with ``numbered``, to the first free of ``path``, ``name-2.ext``, ``name-3.ext``... The
    path written. Never over another file: a hard link to the name fails if it is taken,
    even when it was taken a moment ago; OSError (nothing written) for anything else, a
    missing folder too."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        last = 999 if numbered else 1
        for attempt in range(1, last + 1):
            name = path if attempt == 1 else path.with_name(f"{path.stem}-{attempt}{path.suffix}")
            try:
                _link_new(temporary, name)
            except FileExistsError:
                continue
            return name
        taken = "it exists" if last == 1 else f"it and {last - 1} more exist"
        raise FileExistsError(errno.EEXIST, taken, str(path))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _link_new(temporary: str, path: Path) -> None:
    try:
        os.link(temporary, path)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # A file system without hard links: the same, with a window for a race.
        if path.exists():
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
        os.replace(temporary, path)


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
