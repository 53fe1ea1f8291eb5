"""The conversation list's entries and the short words for a store that cannot be used."""

from __future__ import annotations

import math
from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from rigtui.store.chats import ConversationSummary
from rigtui.ui.render.conversations import conversation_entry, short_reason, when

TODAY = date(2026, 12, 6)


def summary(title: str = "Why is my GPU slow?", updated_at: float = 0.0, turns: int = 4):
    return ConversationSummary(1, title, "llama3.1:8b", updated_at, updated_at, turns, 900)


def test_today_shows_the_time_and_another_day_the_date():
    noon = datetime(2026, 12, 6, 12, 30).timestamp()
    assert when(noon, TODAY) == "12:30"
    assert when(datetime(2026, 11, 30, 9, 0).timestamp(), TODAY) == "2026-11-30"


def test_an_entry_is_its_title_then_date_length_and_model_cut_to_the_width():
    noon = datetime(2026, 12, 6, 12, 30).timestamp()
    text = conversation_entry(summary(updated_at=noon), TODAY).plain
    assert text == "Why is my GPU slow?\n12:30 · 4 turns · llama3.1:8b"
    narrow = conversation_entry(summary(updated_at=noon), TODAY, width=16).plain.split("\n")
    assert all(len(line) <= 16 for line in narrow)
    assert narrow[1].startswith("12:30 · 4 turns")
    assert (
        conversation_entry(summary(turns=1), TODAY)
        .plain.split("\n")[1]
        .endswith("1 turn · llama3.1:8b")
    )


@given(
    title=st.text(),
    updated_at=st.floats(allow_nan=True, allow_infinity=True),
    turns=st.integers(min_value=0, max_value=10**9),
    width=st.integers(min_value=0, max_value=200),
)
def test_any_entry_renders_literally_in_two_lines(title, updated_at, turns, width):
    text = conversation_entry(summary(title, updated_at, turns), TODAY, width).plain
    lines = text.split("\n")
    assert len(lines) == 2
    assert "\x1b" not in text
    if width:
        assert all(cell_len(line) <= width for line in lines)  # columns, not characters
    if math.isnan(updated_at):
        assert lines[1].startswith("?")


def test_the_toolbar_words_fit_80_columns():
    cases = {
        ("x is locked by another program", "locked"): "locked",
        ("the disk that holds x is full", "full"): "disk full",
        ("x is damaged (file is not a database)", ""): "damaged",
        ("x was written by a newer rigtui (schema 99)", ""): "newer schema",
        ("cannot create /nope: Not a directory", ""): "cannot create",
        ("something else", ""): "store error",
    }
    for (error, kind), words in cases.items():
        assert short_reason(error, kind) == words
        assert len(f"not saved: {words}") <= 24
