"""Ollama's ``keep_alive`` as a person types it: seconds or a Go duration, checked as Go checks it.

Shared by the chat options and the model-control screens (both send what they accept to
Ollama, which answers 400 for what Go's ``time.ParseDuration`` refuses). Pure: no Textual.
"""

from __future__ import annotations

import re


class FieldError(ValueError):
    """A typed value that cannot be used; the message says what would do."""


_GO_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µ, micro sign
    "\u03bcs": 1_000,  # μ, Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GO_COMPONENT = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")
_DECIMAL = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)$")
_GO_MAX_NS = (1 << 63) - 1
FOREVER_AT_MOST = "2562047h (about 292 years)"


def go_duration_ns(text: str) -> int:
    """Nanoseconds, as Go's ``time.ParseDuration`` reads ``text`` (Ollama parses keep_alive
    with it): a sign, then one or more number-unit pairs (``1h30m``, ``1.5s``, ``300ms``), or
    ``0``; no exponent, no spaces, no ``inf``; more than int64 nanoseconds is an error."""
    sign = -1 if text.startswith("-") else 1
    rest = text[1:] if text[:1] in "+-" else text
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    position = 0
    while position < len(rest):
        part = _GO_COMPONENT.match(rest, position)
        if part is None or not (part.group(1) or part.group(2)):
            raise ValueError(f"invalid duration {text!r}")
        whole, fraction, unit = part.group(1), part.group(2) or "", part.group(3)
        if unit not in _GO_UNITS_NS:
            raise ValueError(f"unknown unit {unit!r} in duration {text!r}")
        scale = _GO_UNITS_NS[unit]
        # Exact in integers, as Go's: a fraction finer than a nanosecond is dropped.
        total += int(whole or "0") * scale + int(fraction or "0") * scale // 10 ** len(fraction)
        if total > _GO_MAX_NS + (sign < 0):
            raise OverflowError(f"invalid duration {text!r}")
        position = part.end()
    return sign * total


def parse_keep_alive(text: str) -> str | None:
    """Ollama's keep_alive: seconds, or a Go duration (5m, 1h30m); negative keeps it forever.

    Sent as a Go duration: a bare number gets the unit ``s`` (Ollama refuses the *string* "10"
    for a missing unit). What Go's ``time.ParseDuration`` would refuse (``inf``, ``nan``,
    ``1e3``, more than 292 years) is refused here, or every request would fail with a 400.
    """
    text = text.strip()
    if not text:
        return None
    duration = f"{text}s" if _DECIMAL.match(text) else text
    try:
        nanoseconds = go_duration_ns(duration)
    except OverflowError:
        raise FieldError(f"at most {FOREVER_AT_MOST}; -1 = forever") from None
    except ValueError:
        raise FieldError("seconds, or a duration such as 5m, 1h or 30s; -1 = forever") from None
    return "-1s" if nanoseconds < 0 else duration


KEEP_ALIVE_CHOICES = (
    ("5 minutes", "5m"),
    ("30 minutes", "30m"),
    ("1 hour", "1h"),
    ("forever", "-1s"),
)
"""The keep-alives offered before a typed one: Ollama's default, longer, and never unload."""


def describe_keep_alive(keep_alive: str) -> str:
    """``-1s`` reads "forever"; a duration reads as typed."""
    try:
        forever = go_duration_ns(keep_alive) < 0
    except ValueError:
        forever = False
    return "forever" if forever else keep_alive
