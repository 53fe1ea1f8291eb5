"""The prompt: typing into a long one costs what typing into a short one does."""

from __future__ import annotations

import textual.document._wrapped_document as textual_wrapping
from hypothesis import given, settings
from hypothesis import strategies as st
from textual._wrap import compute_wrap_offsets
from textual.document._wrapped_document import WrappedDocument
from textual.widgets import TextArea

from rigtui.ui.tuning import long_prompt
from rigtui.ui.tuning.long_prompt import IncrementalWrapping
from rigtui.ui.widgets.prompt_input import PromptInput

from .helpers import Hosting

_TEXT = st.text(alphabet=st.sampled_from("ab cd  e漢字😀-.,\u200b"), max_size=400)


@settings(max_examples=400, deadline=None)
@given(
    before=_TEXT,
    at=st.integers(min_value=0, max_value=400),
    removed=st.integers(min_value=0, max_value=5),
    inserted=st.text(alphabet=st.sampled_from("ab  x漢"), max_size=6),
    width=st.integers(min_value=1, max_value=40),
)
def test_wrapping_again_from_before_an_edit_breaks_where_a_whole_wrap_does(
    before, at, removed, inserted, width
):
    at = min(at, len(before))
    after = before[:at] + inserted + before[at + removed :]
    breaks = compute_wrap_offsets(before, width, 4)
    rewrapped = IncrementalWrapping._rewrapped(before, breaks, after, width, 4)
    assert rewrapped == compute_wrap_offsets(after, width, 4)


KEYS = ["a", "space", "b", "backspace", "left", "x", "right", "end", "home", "up", "down", "delete"]


async def typed(widget, keys: list[str]) -> list[tuple[str, list[str]]]:
    app = Hosting(widget)
    seen = []
    async with app.run_test(size=(50, 30)) as pilot:
        widget.text = ("lorem ipsum dolor sit amet, a longerwordthanmost here " * 25).strip()
        widget.focus()
        widget.move_cursor(widget.document.end)
        await pilot.pause()
        for index, key in enumerate(keys):
            await pilot.press(key)
            if index % 10 == 0:
                rows = [widget.render_line(y).text for y in range(widget.size.height)]
                seen.append((widget.text, rows))
    return seen


async def test_the_prompt_edits_and_draws_as_textual_s_own_text_area_does():
    keys = [KEYS[(index * 7 + index // 5) % len(KEYS)] for index in range(120)]
    plain = TextArea(soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
    assert await typed(PromptInput(), keys) == await typed(plain, keys)


async def test_a_keystroke_into_a_long_prompt_wraps_only_its_end(monkeypatch):
    wrapped: list[int] = []

    def counting(text, *arguments, **options):
        wrapped.append(len(text))
        return compute_wrap_offsets(text, *arguments, **options)

    # Textual's wrapping, where TextArea calls it and where the prompt does.
    monkeypatch.setattr(textual_wrapping, "compute_wrap_offsets", counting)
    monkeypatch.setattr(long_prompt, "compute_wrap_offsets", counting, raising=False)
    prompt = PromptInput()
    app = Hosting(prompt)
    async with app.run_test(size=(100, 20)) as pilot:
        prompt.text = "the quick brown fox jumps over the lazy dog " * 1200  # 52,800
        prompt.focus()
        prompt.move_cursor(prompt.document.end)
        await pilot.press("a")  # the first edit wraps the whole line once
        wrapped.clear()
        for key in "bcd efg":
            await pilot.press(key if key != " " else "space")
        assert len(prompt.text) == 52_808
        assert wrapped and max(wrapped) < 500  # three lines of the prompt, not 52,800 characters


@given(text=st.text(alphabet=st.sampled_from("ab \t\x07\x1b\r漢😀"), max_size=300))
def test_a_line_is_cut_into_the_sections_textual_cuts(text):
    from textual.document._document import Document

    ours = IncrementalWrapping(Document(text), width=13)
    theirs = WrappedDocument(Document(text), width=13)
    assert ours.get_sections(0) == theirs.get_sections(0)


# --- prompt history: ↑ and ↓ ------------------------------------------------------------------


async def test_up_and_down_recall_earlier_prompts_and_bring_back_what_was_typed():
    prompt = PromptInput()
    async with Hosting(prompt).run_test(size=(60, 12)) as pilot:
        prompt.recall_from(["oldest", "middle", "newest"])
        prompt.focus()
        await pilot.press(*"draft")
        await pilot.press("up")
        assert prompt.text == "newest" and prompt.recalling
        assert prompt.cursor_location == prompt.document.end  # typing goes on at its end
        await pilot.press("up", "up")
        assert prompt.text == "oldest"
        await pilot.press("up")  # nothing older: it stays
        assert prompt.text == "oldest"
        await pilot.press("down", "down")
        assert prompt.text == "newest"
        await pilot.press("down")
        assert prompt.text == "draft" and not prompt.recalling
        await pilot.press("down")  # past the newest, ↓ is a plain ↓
        assert prompt.text == "draft"


async def test_an_edited_recalled_prompt_is_kept_until_one_is_sent():
    prompt = PromptInput()
    app = Hosting(prompt)
    async with app.run_test(size=(60, 12)) as pilot:
        prompt.recall_from(["first", "second"])
        prompt.focus()
        await pilot.press("up", "exclamation_mark")
        assert prompt.text == "second!"
        await pilot.press("up")
        assert prompt.text == "first"
        await pilot.press("down")
        assert prompt.text == "second!"  # the edit is still there
        prompt.keep("second!")
        assert prompt.prompts_sent == ["first", "second", "second!"]
        prompt.clear()
        await pilot.press("up", "up")
        assert prompt.text == "second"  # edits are dropped once a prompt is sent


async def test_inside_a_prompt_of_several_lines_the_arrows_move_between_its_lines():
    prompt = PromptInput()
    async with Hosting(prompt).run_test(size=(60, 12)) as pilot:
        prompt.recall_from(["earlier"])
        prompt.focus()
        prompt.text = "line one\nline two\nline three"
        prompt.move_cursor((2, 4))
        await pilot.press("up")
        assert prompt.cursor_location == (1, 4) and prompt.text.startswith("line one")
        await pilot.press("up")
        assert prompt.cursor_location == (0, 4) and not prompt.recalling
        await pilot.press("down", "down")
        assert prompt.cursor_location == (2, 4)
        await pilot.press("up", "up", "up")  # from the first line: the earlier prompt
        assert prompt.text == "earlier"
        await pilot.press("down")
        assert prompt.text == "line one\nline two\nline three"
        # Shift+↑ selects, as ever; a selection is never swapped for a recalled prompt.
        prompt.move_cursor((0, 4))
        await pilot.press("shift+up")
        assert prompt.text.startswith("line one") and prompt.selected_text == "line"


async def test_a_long_wrapped_line_moves_by_rows_before_recalling():
    prompt = PromptInput()
    async with Hosting(prompt).run_test(size=(30, 12)) as pilot:
        prompt.recall_from(["earlier"])
        prompt.focus()
        prompt.text = "word " * 20  # wraps over several rows of one line
        prompt.move_cursor(prompt.document.end)
        await pilot.press("up")
        assert prompt.text == "word " * 20  # one row up, inside the prompt
        for _ in range(10):
            if prompt.recalling:
                break
            await pilot.press("up")
        assert prompt.text == "earlier"


def test_a_prompt_sent_twice_is_kept_once_and_the_recall_list_is_bounded():
    from rigtui.ui.widgets.prompt_input import MAX_RECALLED

    prompt = PromptInput()
    prompt.keep("same")
    prompt.keep("same")
    assert prompt.prompts_sent == ["same"]
    prompt.recall_from([f"p{n}" for n in range(MAX_RECALLED + 5)])
    assert len(prompt.prompts_sent) == MAX_RECALLED
    assert prompt.prompts_sent[-1] == "same"  # sent this session: after the earlier ones
