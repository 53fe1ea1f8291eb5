"""Alt with a key, as a real terminal sends it (Escape, then the key), read by rigtui's driver."""

from __future__ import annotations

import pytest

from rigtui.ui.tuning.quiet_driver import _MetaDigitParser


def keys_read(sent: str) -> list[tuple[str, str | None]]:
    parser = _MetaDigitParser()
    # An empty feed is the end of input: a lone Escape pending is decided then.
    read = [*parser.feed(sent), *parser.feed("")]
    return [(event.key, event.character) for event in read]


@pytest.mark.parametrize(
    ("sent", "key"),
    [("\x1bs", "alt+s"), ("\x1b2", "alt+2"), ("\x1bS", "alt+shift+s")],
)
def test_alt_and_a_key_is_a_key_not_text(sent, key):
    # With its character, a focused text field typed it and the binding (Alt+S: export the
    # chat as JSON) never ran.
    assert keys_read(sent) == [(key, None)]


def test_keys_without_alt_keep_their_characters():
    assert keys_read("s") == [("s", "s")]
    assert keys_read("S") == [("S", "S")]
