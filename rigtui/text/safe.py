"""Untrusted text (process names, command lines, model output) shown literally and safely."""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except tab and newline, DEL, C1 controls, and bidi overrides that could reorder
# what the user sees.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def without_credentials(url: str) -> str:
    """The URL as a message or the screen may show it: without the ``user:password@`` it may
    carry (the screen is seen by others, and ends up in screenshots)."""
    return re.sub(r"//[^/@]*@", "//", url)


def printable(value: str, *, keep_newlines: bool = False) -> str:
    """``value`` with every control character written out as an escape (``\\x1b``)."""
    if not keep_newlines:
        value = value.replace("\n", "\\n")
    value = value.replace("\r", "\\r")
    return _UNSAFE.sub(_escape, value)


def literal(
    value: str | None, style: str = "", *, placeholder: str = "", keep_newlines: bool = False
) -> Text:
    """A Rich ``Text`` that never interprets markup such as ``[bold]`` or ``[link=…]``;
    ``keep_newlines`` for text whose lines are meant (a prompt), not a one-line field."""
    if value is None:
        return Text.styled(placeholder, style=style)
    return Text.styled(printable(value, keep_newlines=keep_newlines), style=style)
