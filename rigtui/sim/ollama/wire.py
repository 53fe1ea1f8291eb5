"""Go-flavoured encoding: what Ollama's Go server writes and how it reads durations.

JSON as ``json.Marshal`` writes it, times as Go's RFC 3339 with nanoseconds, durations as
``time.ParseDuration`` reads them and ``keep_alive`` as ``api.Duration`` decodes it, each with
the server's own error texts, so a client sees the same bytes it would see from ``ollama serve``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

FOREVER_S = (2**63 - 1) / 1e9
"""A negative keep_alive is Go's ``MaxInt64`` nanoseconds: about 292 years."""


def go_json(value: object) -> bytes:
    """``json.Marshal``: compact, raw UTF-8, ``<`` ``>`` ``&`` U+2028 U+2029 escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text.encode("utf-8", "replace")


def rfc3339(epoch_ns: int, *, local: bool) -> str:
    """Go's RFC 3339 with nanoseconds, trailing zeros trimmed; ``Z`` for a zero offset."""
    seconds, fraction = divmod(epoch_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    if local:
        moment = moment.astimezone()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    if not minutes:
        return text + "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string, as the server's error texts quote names."""
    return json.dumps(text, ensure_ascii=False)


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?")
_DURATION_UNIT = re.compile(r"[^0-9.]*")


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration``, in seconds, with its error texts (``ValueError``)."""
    original = go_quote(text)
    rest = text
    negative = False
    if rest[:1] in ("+", "-"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {original}")
    total = 0.0
    while rest:
        number = _DURATION_NUMBER.match(rest)
        whole, fraction = number.group(1), number.group(2)
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {original}")
        rest = rest[number.end() :]
        unit = _DURATION_UNIT.match(rest).group(0)
        if not unit:
            raise ValueError(f"time: missing unit in duration {original}")
        if unit not in _DURATION_UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {original}")
        total += float(f"{whole or 0}.{fraction or 0}") * _DURATION_UNITS[unit]
        rest = rest[len(unit) :]
    return -total if negative else total


def parse_keep_alive(value: object) -> float | None:
    """``keep_alive`` as ``api.Duration`` decodes it: seconds, ``None`` when not given.

    A number is seconds, a string a Go duration, a negative value forever
    (:data:`FOREVER_S`). Raises ``ValueError`` with the server's text otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("Unsupported type: 'bool'")
    if isinstance(value, (int, float)):
        return FOREVER_S if value < 0 else float(value)
    if isinstance(value, str):
        seconds = parse_go_duration(value)
        return FOREVER_S if seconds < 0 else seconds
    kind = "[]interface {}" if isinstance(value, list) else "map[string]interface {}"
    raise ValueError(f"Unsupported type: '{kind}'")
