"""A long prompt typed at the speed of a short one: TextArea's wrapping, made incremental.

Measured workarounds over Textual 8.2's TextArea internals (its wrapped document and the way it
draws a wrapped row); tests/ui/test_prompt_input.py checks them against the plain TextArea, so a
Textual that changes them fails there first. benchmarks/chat_typing.py measures the gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import textual.document._wrapped_document as wrapping  # see IncrementalWrapping
from rich.control import strip_control_codes
from rich.text import Span, Text
from textual._wrap import compute_wrap_offsets
from textual.document._wrapped_document import WrappedDocument


class _PlainSection:
    """A section of which only the text is read."""

    __slots__ = ("plain",)

    def __init__(self, plain: str) -> None:
        self.plain = plain


_NO_TABS = _PlainSection("")


class _Sections(Sequence):
    """A wrapped line's sections, each made only when it is asked for.

    TextArea (Textual 8.2) takes the one section it draws, then reads the text of every
    section before it to count their tabs: the first section asked for is the one drawn (a
    Text); the others only need their text."""

    def __init__(self, line: Text, offsets: Sequence[int]) -> None:
        self._line = line
        self._bounds = [0, *offsets, len(line)]
        self._drawn: int | None = None
        self._tabs = "\t" in line.plain

    def __len__(self) -> int:
        return len(self._bounds) - 1

    def __getitem__(self, index):  # type: ignore[override]
        if not self._tabs and self._drawn is not None and index != self._drawn:
            return _NO_TABS  # read only for its tabs
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start, end = self._bounds[index], self._bounds[index + 1]
        line = self._line
        if self._drawn not in (None, index):
            return _PlainSection(line.plain[start:end])  # read only for its tabs
        self._drawn = index
        section = Text(line.plain[start:end], style=line.style, end=line.end, no_wrap=line.no_wrap)
        section.tab_size = line.tab_size
        section.spans[:] = [
            Span(max(span.start, start) - start, min(span.end, end) - start, span.style)
            for span in line.spans
            if span.start < end and span.end > start
        ]
        return section


class WrappedLine(Text):
    """TextArea draws each row of a wrapped line by dividing the WHOLE line into all its
    sections and keeping one (its own TODO says so): every keystroke redrew the prompt's rows
    at O(length) each, 27 ms a row for 50,000 characters. Here only the row drawn is made."""

    def divide(self, offsets):  # type: ignore[override]
        return _Sections(self, list(offsets))


def _common_prefix(first: str, second: str) -> int:
    """How many characters two strings share at their start (halving: compared in C)."""
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[low:middle] == second[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class IncrementalWrapping(WrappedDocument):
    """TextArea re-wraps a whole line of the document at each edit of it: a prompt is one long
    line, so every keystroke wrapped all of it again (64 ms for 50,000 characters). Here the
    breaks before the edit are kept and the line is wrapped again from a little before it.

    Textual 8.2 offers no hook: its wrap_range calls its module's compute_wrap_offsets, which
    is swapped for this one for the length of the call (nothing else runs meanwhile)."""

    def __init__(self, document, width: int = 0, tab_width: int = 4) -> None:
        super().__init__(document, width, tab_width)
        self._last: tuple[str, int, int, list[int]] | None = None

    def get_sections(self, line_index: int) -> list[str]:
        # As Textual's (the line's control codes stripped, as Text does), without making a
        # Text of every section: the cursor's position is looked up this way at each key.
        line = strip_control_codes(self.document[line_index])
        bounds = [0, *self._wrap_offsets[line_index], len(line)]
        return [line[start:end] for start, end in pairwise(bounds)]

    def wrap_range(self, start, old_end, new_end) -> None:
        original = wrapping.compute_wrap_offsets
        wrapping.compute_wrap_offsets = self._offsets
        try:
            super().wrap_range(start, old_end, new_end)
        finally:
            wrapping.compute_wrap_offsets = original

    def _offsets(self, text: str, width: int, tab_size: int, fold: bool = True, **tabs):
        last, self._last = self._last, None
        if "\t" in text or not fold or last is None or last[1:3] != (width, tab_size):
            offsets = compute_wrap_offsets(text, width, tab_size, fold, **tabs)
        else:
            offsets = self._rewrapped(last[0], last[3], text, width, tab_size)
        if "\t" not in text:
            self._last = (text, width, tab_size, offsets)
        return offsets

    @staticmethod
    def _rewrapped(before: str, breaks: list[int], text: str, width: int, tab_size: int):
        """The breaks of ``text``, knowing those of ``before``: a break is where a line starts
        afresh, so wrapping from one gives what follows it; two breaks before the edit, so the
        word the edit touches (and the one ahead of it) is measured again."""
        same = _common_prefix(before, text)
        kept = [offset for offset in breaks if offset < same]
        restart = kept[-3] if len(kept) >= 3 else 0
        kept = [offset for offset in kept if offset <= restart and offset > 0]
        rest = compute_wrap_offsets(text[restart:], width, tab_size)
        return kept + [restart + offset for offset in rest]
