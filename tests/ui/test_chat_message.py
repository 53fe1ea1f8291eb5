"""The reply widget: streamed Markdown ends up as a full parse would render it."""

from __future__ import annotations

import pytest

from rigtui.sim.ollama_models import HOSTILE_REPLY, REPLIES, canned_reply, tokenize
from rigtui.ui.widgets.chat_message import ChatMessage, sanitise, streamed_as_parsed

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
        markdown = message.reply_markdown
        assert markdown.source == sanitise(text)
        assert streamed_as_parsed(markdown, sanitise(text))
        assert message.content == text  # the conversation keeps what the model sent


async def test_a_document_that_differs_from_its_parse_is_detected():
    app = Hosting(ChatMessage("assistant", model="llama3.1:8b"))
    async with app.run_test(size=(100, 40)) as pilot:
        markdown = app.query_one(ChatMessage).reply_markdown
        await markdown.update("# Title\n\nsome text\n")
        await pilot.pause()
        assert streamed_as_parsed(markdown, "# Title\n\nsome text\n")
        assert not streamed_as_parsed(markdown, "# Title\n\nsome text\n\n- an item\n")
        # The same source with other blocks shown (as a broken stream could leave them).
        first = next(iter(markdown.children))
        await first.remove()
        assert not streamed_as_parsed(markdown, "# Title\n\nsome text\n")
