"""The reply widget: streamed Markdown ends up as a full parse would render it."""

from __future__ import annotations

import pytest
from textual.widgets._markdown import MarkdownBlock

from rigtui.sim.ollama.models import HOSTILE_REPLY, REPLIES, canned_reply, tokenize
from rigtui.ui.widgets.chat_message import (
    SEGMENT_BLOCKS,
    ChatMessage,
    sanitise,
    segment_start,
    streamed_as_parsed,
)

from .helpers import Hosting


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


async def test_segments_that_disagree_with_the_parse_become_one_document_again():
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
        last_block = list(message.reply_segments[-1].children)[-1]
        await last_block.remove()
        await message.finish("stats")
        await pilot.pause()
        assert len(message.reply_segments) == 1
        assert len(message.query(".reply-text")) == 1
        assert streamed_as_parsed(message.reply_segments, sanitise(text))
