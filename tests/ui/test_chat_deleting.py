"""Deleting the chat that is open, with another chat's opening already on its way."""

from __future__ import annotations

from rigtui.store.chats import ChatStore
from rigtui.ui.messages import ConversationDeleteRequested, ConversationLoaded
from rigtui.ui.staging import fill_saved_chats

from .helpers import Heard, until
from .test_chat import open_chat
from .test_saved_chats import store_open, with_data_dir


async def test_deleting_the_open_chat_as_another_opens_leaves_the_other_open(chat_app, tmp_path):
    """Enter on chat B in the list, then Del on chat A, the one open: the delete started a new
    chat a turn later, after B had opened, and B was cleared off the screen."""
    fill_saved_chats(tmp_path)
    store = ChatStore.open(tmp_path)
    first, second = (store.load(summary.id) for summary in store.conversations()[:2])
    store.close()
    app = with_data_dir(chat_app(), tmp_path)
    heard = Heard()
    async with app.run_test(size=(160, 50), message_hook=heard) as pilot:
        await store_open(pilot, heard)
        chat = await open_chat(pilot)
        app.post_message(ConversationLoaded(first))
        await until(pilot, lambda: chat.saved.id == first.summary.id, "the first chat open")
        since = heard.mark()
        app.post_message(ConversationDeleteRequested(first.summary.id, first.summary.title))
        app.post_message(ConversationLoaded(second))  # read before the delete's new chat
        await heard.arrival(pilot, ConversationDeleteRequested, since=since)
        await until(pilot, lambda: chat.saved.id == second.summary.id, "the second chat open")
        await pilot.pause()
        await pilot.pause()
        assert chat.saved.id == second.summary.id
        assert len(chat.conversation) == len(second.turns)
