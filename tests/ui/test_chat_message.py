"""The reply widget: streamed Markdown ends up as a full parse would render it."""

from __future__ import annotations

import pytest
from textual.widgets import Static
from textual.widgets.markdown import MarkdownBlock, MarkdownFence

from rigtui.sim.ollama.models import HOSTILE_REPLY, REPLIES, canned_reply, tokenize
from rigtui.ui.widgets.chat_message import (
    SEGMENT_BLOCKS,
    ChatMessage,
    sanitise,
    segment_start,
    streamed_as_parsed,
)

from .helpers import Hosting, rendered_text


@pytest.mark.parametrize("text", [*REPLIES, HOSTILE_REPLY, canned_reply("[long]")])
async def test_streaming_in_pieces_gives_the_blocks_of_a_full_parse(text):
    app = Hosting(ChatMessage("assistant", model="llama3.1:8b"))
    async with app.run_test(size=(100, 40)) as pilot:
        message = app.query_one(ChatMessage)
        tokens = tokenize(text)
        for start in range(0, len(tokens), 7):
            await message.append("".join(tokens[start : start + 7]), "")
        await message.finish("stats")
        await pilot.pause()
        segments = message.reply_segments
        assert "".join(segment.source for segment in segments) == sanitise(text)
        assert streamed_as_parsed(segments, sanitise(text))
        assert message.content == text  # the conversation keeps what the model sent


async def test_a_document_that_differs_from_its_parse_is_detected():
    app = Hosting(ChatMessage("assistant", model="llama3.1:8b"))
    async with app.run_test(size=(100, 40)) as pilot:
        markdown = app.query_one(ChatMessage).reply_segments[0]
        await markdown.update("# Title\n\nsome text\n")
        await pilot.pause()
        assert streamed_as_parsed([markdown], "# Title\n\nsome text\n")
        assert not streamed_as_parsed([markdown], "# Title\n\nsome text\n\n- an item\n")
        # The same source with other blocks shown (as a broken stream could leave them).
        first = next(iter(markdown.children))
        await first.remove()
        assert not streamed_as_parsed([markdown], "# Title\n\nsome text\n")


def test_a_reply_is_cut_only_where_a_paragraph_begins_after_a_blank_line():
    assert segment_start("Some text.\n", "\nNext paragraph") == 1
    assert segment_start("Some text.\n\n", "Next") == 0
    assert segment_start("Some text.\n\n\n", "Next") == 0
    assert segment_start("Some text.\n\nNext", " paragraph\n") is None  # began before
    assert segment_start("Some text.\n", "\n") is None  # its first letter, then
    for after in ("## A heading", "- an item", "1. an item", "| a | b |", "    code", "> quote"):
        assert segment_start("Some text.\n", "\n" + after) is None, after
    assert segment_start("```python\nx = 1\n", "\nprint(x)\n```\n") is None  # in a fence
    assert segment_start("```\ncode\n```\n", "\nAfter it.") == 1


async def test_a_long_reply_streams_into_segments_laid_out_as_one_document():
    text = canned_reply("[long]")
    tall = (100, 400)  # all of it on the screen, to compare where every block lands
    streamed, whole = (Hosting(ChatMessage("assistant", model="m")) for _ in range(2))
    async with streamed.run_test(size=tall) as pilot:
        message = streamed.query_one(ChatMessage)
        tokens = tokenize(text)
        for start in range(0, len(tokens), 30):  # about what a flush carries at 600 tok/s
            await message.append("".join(tokens[start : start + 30]), "")
            await pilot.pause()
        await message.finish("stats")
        await pilot.pause()
        segments = message.reply_segments
        assert len(segments) >= 3
        assert all(len(segment.children) >= SEGMENT_BLOCKS for segment in segments[:-1])
        assert streamed_as_parsed(segments, sanitise(text))
        placed = [
            (block.name, block.region.y, block.region.height)
            for segment in segments
            for block in segment.children
            if isinstance(block, MarkdownBlock)
        ]
    async with whole.run_test(size=tall) as pilot:
        message = whole.query_one(ChatMessage)
        await message.reply_segments[0].update(sanitise(text))
        await pilot.pause()
        expected = [
            (block.name, block.region.y, block.region.height)
            for block in message.reply_segments[0].children
            if isinstance(block, MarkdownBlock)
        ]
    assert placed == expected


async def test_only_the_segment_that_disagrees_with_the_parse_is_rendered_again():
    text = canned_reply("[long]")
    app = Hosting(ChatMessage("assistant", model="m"))
    async with app.run_test(size=(100, 40)) as pilot:
        message = app.query_one(ChatMessage)
        tokens = tokenize(text)
        for start in range(0, len(tokens), 30):  # about what a flush carries at 600 tok/s
            await message.append("".join(tokens[start : start + 30]), "")
            await pilot.pause()
        await pilot.pause()
        assert len(message.reply_segments) > 1
        # As a stream that went wrong could leave it: a block missing in the last segment.
        segments = list(message.reply_segments)
        kept = [list(segment.children) for segment in segments[:-1]]
        last_block = list(segments[-1].children)[-1]
        await last_block.remove()
        await message.finish("stats")
        await pilot.pause()
        assert streamed_as_parsed(message.reply_segments, sanitise(text))
        # The others keep their widgets: a long reply is not rendered whole again at its end.
        assert message.reply_segments == segments
        assert [list(segment.children) for segment in segments[:-1]] == kept


def shown_text(message: ChatMessage) -> str:
    """Every piece of text the reply's Markdown widgets show, in order."""
    texts = []
    for widget in message.query("Markdown *"):
        if isinstance(widget, MarkdownFence):
            texts.append(widget.code)
        elif isinstance(widget, Static):
            texts.append(str(widget.visual))
    return "\n".join(texts)


async def show_reply(pilot, text: str, *, stream: bool) -> ChatMessage:
    message = pilot.app.query_one(ChatMessage)
    if stream:
        tokens = tokenize(text)
        for start in range(0, len(tokens), 5):
            await message.append("".join(tokens[start : start + 5]), "")
    else:
        await message.append(text, "")
    await message.finish("stats")
    await pilot.pause()
    return message


ANGLE_BRACKETS = (
    "Use std::vector<int> here; a Vec<String> holds text; press <Enter> to go.\n\n"
    "<div>\nA block that looks like HTML\n</div>\n\n"
    "<!-- a comment --> and <br/> and </p> stay too.\n"
)


@pytest.mark.parametrize("stream", [False, True])
async def test_what_looks_like_html_is_shown_as_text(stream):
    app = Hosting(ChatMessage("assistant", model="llama3.1:8b"))
    async with app.run_test(size=(100, 40)) as pilot:
        text = shown_text(await show_reply(pilot, ANGLE_BRACKETS, stream=stream))
        assert "Use std::vector<int> here; a Vec<String> holds text; press <Enter> to go." in text
        assert "<div>" in text and "A block that looks like HTML" in text and "</div>" in text
        assert "<!-- a comment --> and <br/> and </p> stay too." in text


def deeply_nested(levels: int) -> str:
    lists = "".join("  " * level + f"- level {level}\n" for level in range(levels))
    quotes = "".join(">" * level + f" quoted {level}\n" for level in range(1, levels + 1))
    return (
        "Before the deep part.\n\n"
        + lists
        + "\nAfter the lists.\n\n"
        + quotes
        + "\nAfter the quotes.\n\n"
        + "| col a | col b |\n|---|---|\n| cell 1 | cell 2 |\n\n"
        + "```python\nprint('the fence')\n```\n\nThe last paragraph.\n"
    )


@pytest.mark.parametrize("levels", [8, 15, 40])
@pytest.mark.parametrize("stream", [False, True])
async def test_deeply_nested_markdown_hides_nothing_that_comes_after(levels, stream):
    app = Hosting(ChatMessage("assistant", model="llama3.1:8b"))
    async with app.run_test(size=(100, 40)) as pilot:
        text = shown_text(await show_reply(pilot, deeply_nested(levels), stream=stream))
        for level in range(levels):
            assert f"level {level}" in text
        for level in range(1, levels + 1):
            assert f"quoted {level}" in text
        for after in ("After the lists.", "After the quotes.", "cell 1", "cell 2"):
            assert after in text
        assert "print('the fence')" in text and "The last paragraph." in text


async def test_a_prompt_of_several_lines_is_shown_as_lines():
    app = Hosting(ChatMessage("user", "first line\nsecond line\n\x1b[2J third"))
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        shown = rendered_text(app.query_one(".prompt-text"), width=90)
        assert shown.splitlines()[:2] == ["first line", "second line"]
        assert "\\n" not in shown and "\\x1b[2J third" in shown  # controls stay escaped
