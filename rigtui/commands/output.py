"""What the headless commands print on standard output, and what a failed write becomes."""

from __future__ import annotations

import sys


class OutputError(Exception):
    """Standard output could not be written (a full disk, ``> /dev/full``): the reason."""


def emit(text: str) -> None:
    """Write ``text`` to standard output; a closed pipe stays a ``BrokenPipeError``."""
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(error.strerror or str(error)) from None


def flush() -> None:
    """Push out what is buffered, where a write error otherwise shows first."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise OutputError(error.strerror or str(error)) from None
