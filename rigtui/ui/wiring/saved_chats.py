"""Saved chats: the store opened on a thread, every turn handed to the keeper, the picker,
rename, delete and export.

A part of :class:`rigtui.ui.app.RigApp` (a mixin: ``self`` is the app), kept apart so the app
stays the place that binds keys and owns lifetimes, and each feature's routing reads on its own.
"""

from __future__ import annotations

import time
from datetime import date
from functools import partial
from pathlib import Path

from textual import work
from textual.app import SystemCommand

from rigtui.ui import messages as said


class SavedChatsWiring:
    # --- saved chats ----------------------------------------------------------------------------
    # The store opens on a thread; every write and every read after it runs on the keeper's
    # thread, in order, so a listing or a load sees the writes asked for before it.

    def _open_saved_chats(self) -> None:
        if self.source.ollama_address is None:
            return  # no chat
        if self.settings.data_dir is None:
            self.chats_off = "Chats are not kept: no data directory (--data-dir) is set."
            return
        self._open_chat_store(self.settings.data_dir)

    @work(thread=True, group="chat-store", name="chat-store")
    def _open_chat_store(self, data_dir) -> None:
        from rigtui.store.chats import ChatStore, StoreError

        try:
            store = ChatStore.open(data_dir)
        except StoreError as error:
            self.post_message(said.ChatStoreOpened(None, str(error), getattr(error, "kind", "")))
            return
        self.post_message(said.ChatStoreOpened(store))

    def on_chat_store_opened(self, message: said.ChatStoreOpened) -> None:
        if message.store is None:
            self._chats_failed(message.error, message.kind)
            return
        from rigtui.store.keeper import ChatKeeper

        def failed(error) -> None:  # on the keeper's thread
            self.post_message(said.ChatStoreFailed(str(error), getattr(error, "kind", "")))

        self.keeper = ChatKeeper(message.store, failed)
        # Held here: at quitting, the screen's widgets are gone before the last write.
        self._saving_chat = self.dashboard.chat
        self._list_all_chats()

    def on_chat_store_failed(self, message: said.ChatStoreFailed) -> None:
        self._chats_failed(message.error, message.kind)

    def _chats_failed(self, error: str, kind: str = "") -> None:
        from rigtui.ui.render.conversations import short_reason

        first = not self.chats_off
        self.chats_off = f"Chats are not saved: {error}"
        if first:
            self.notify(
                f"{error}. The chat goes on, but this session is not saved.",
                title="Chats not saved",
                severity="error",
                timeout=12,
            )
        self.dashboard.chat.show_saving(short_reason(error, kind), error)
        for listing in self._chat_listings():
            listing.show_problem(self.chats_off)

    def _close_saved_chats(self) -> None:
        keeper, self.keeper = self.keeper, None
        if keeper is not None:
            streaming = self._saving_chat.streaming_now()
            if streaming is not None and streaming[0].id is not None:
                saved, position, turn = streaming
                keeper.streaming(saved.id, position, turn)
            # Deleted chats go for good on quitting (until then ctrl+z in the list undoes).
            keeper.submit(keeper.store.purge)
            keeper.close()

    def _chat_listings(self) -> list:
        from rigtui.ui.widgets.conversation_list import ConversationList

        return [
            listing for screen in self.screen_stack for listing in screen.query(ConversationList)
        ]

    def on_turn_to_save(self, message: said.TurnToSave) -> None:
        keeper = self.keeper
        if keeper is None:
            return

        store, saved, position = keeper.store, message.saved, message.position
        turn = message.turn
        if saved.id is None and not saved.starting:
            if turn is None or turn.role != "user":
                return
            saved.starting = True
            saved.model, saved.options = message.model, message.options

            def start() -> None:
                saved.id = store.start(message.model, message.options)

            keeper.submit(start)

        def when_saved(write) -> None:
            keeper.submit(lambda: saved.id is not None and write(saved.id))

        def truncate() -> None:
            # Through the keeper once the chat has its id: a turn still waiting to be written
            # (streaming, or retried after a failure) would otherwise come back after it.
            if saved.id is not None:
                keeper.truncate(saved.id, position)
            else:
                when_saved(lambda chat: store.truncate(chat, position))

        if turn is None:
            truncate()
            self._list_all_chats()
            return
        if turn.role == "user":
            if (message.model, message.options) != (saved.model, saved.options):
                saved.model, saved.options = message.model, message.options
                model, options = message.model, message.options
                when_saved(lambda chat: store.set_model(chat, model, options))

            truncate()
            when_saved(lambda chat: store.put_turn(chat, position, turn))
            self._list_all_chats()
            return
        if turn.state == "streaming":
            if saved.streaming_position != position:
                saved.streaming_position = position
                # A regenerated reply, or one after an edited prompt: what followed goes.
                truncate()
            if saved.id is not None:
                keeper.streaming(saved.id, position, turn)
            return
        saved.streaming_position = None
        if saved.id is not None:
            keeper.finished(saved.id, position, turn)
        else:
            when_saved(lambda chat: store.put_turn(chat, position, turn))
        self._list_all_chats()

    def _list_all_chats(self) -> None:
        for listing in self._chat_listings():
            self._list_chats(listing, listing.search)

    def _list_chats(self, listing, search: str) -> None:
        keeper = self.keeper
        if keeper is None:
            if self.chats_off:
                listing.show_problem(self.chats_off)
            return
        store = keeper.store

        def read() -> None:
            summaries = store.conversations(search)
            self.post_message(said.ConversationsListed(listing, search, summaries))

        keeper.submit(read)

    def on_conversations_wanted(self, message: said.ConversationsWanted) -> None:
        self._list_chats(message.listing, message.search)

    def on_conversations_listed(self, message: said.ConversationsListed) -> None:
        if message.listing.is_attached:
            open_id = self.dashboard.chat.saved.id
            message.listing.show(message.summaries, message.search, date.today(), open_id)

    def on_conversation_open_requested(self, message: said.ConversationOpenRequested) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        store, wanted = keeper.store, message.conversation_id

        def load() -> None:
            try:
                conversation = store.load(wanted)
            except KeyError:
                conversation = None  # deleted for good by another rigtui
            self.post_message(said.ConversationLoaded(conversation))

        keeper.submit(load)

    async def on_conversation_loaded(self, message: said.ConversationLoaded) -> None:
        chat = self.dashboard.chat
        conversation = message.conversation
        if conversation is None:
            self.notify("That chat is not there any more.", severity="warning")
            self._list_all_chats()
            return
        installed = any(model.name == conversation.model for model in chat.installed)
        self.action_show_tab("chat-tab")
        await chat.open_conversation(conversation, installed)
        self.notify(f"Opened “{conversation.summary.title or 'Untitled'}”.", timeout=3)

    def on_conversation_picker_requested(self, _message: said.ConversationPickerRequested) -> None:
        from rigtui.ui.screens.conversation_picker import ConversationPickerScreen

        if not isinstance(self.screen, ConversationPickerScreen):
            self.push_screen(ConversationPickerScreen())

    def on_new_chat_requested(self, _message: said.NewChatRequested) -> None:
        self._new_chat()

    def on_conversation_rename_requested(self, message: said.ConversationRenameRequested) -> None:
        if self.keeper is None:
            return
        if message.title is None:
            from rigtui.ui.screens.rename_chat import RenameChatScreen

            def renamed(title: str | None) -> None:
                if title is not None and title != message.current:
                    self.post_message(
                        said.ConversationRenameRequested(
                            message.conversation_id, message.current, title
                        )
                    )

            self.push_screen(RenameChatScreen(message.current), renamed)
            return
        store, wanted, title = self.keeper.store, message.conversation_id, message.title
        self.keeper.submit(lambda: store.rename(wanted, title))
        chat = self.dashboard.chat
        if chat.saved.id == wanted:
            chat.saved.title = title
        self._list_all_chats()

    async def _leave_deleted_chat(self, deleted: int) -> None:
        # Unless another chat opened in between (Enter on it, then Del on this one).
        if self.dashboard.chat.saved.id == deleted:
            await self.dashboard.chat.action_new_chat()

    def on_conversation_delete_requested(self, message: said.ConversationDeleteRequested) -> None:
        if self.keeper is None:
            return
        store, wanted = self.keeper.store, message.conversation_id
        self.keeper.submit(lambda: store.delete(wanted))
        self._deleted_chats.append((wanted, message.title))
        if self.dashboard.chat.saved.id == wanted:
            # Going on in it would write into a chat that goes for good on quitting.
            self.call_later(self._leave_deleted_chat, wanted)
        self._list_all_chats()
        self.notify(
            f"Deleted “{message.title or 'Untitled'}”. Ctrl+Z in the chat list brings it back "
            "(until rigtui quits).",
            title="Chat deleted",
            timeout=10,
        )

    def on_conversation_restore_requested(
        self, _message: said.ConversationRestoreRequested
    ) -> None:
        if self.keeper is None or not self._deleted_chats:
            self.bell()
            self.notify("No deleted chat to bring back.", severity="warning", timeout=3)
            return
        wanted, title = self._deleted_chats.pop()
        store = self.keeper.store
        self.keeper.submit(lambda: store.restore(wanted))
        self._list_all_chats()
        self.notify(f"Brought back “{title or 'Untitled'}”.", timeout=4)

    def on_chat_export_requested(self, message: said.ChatExportRequested) -> None:
        from rigtui.store.conversation import Conversation, ConversationSummary, title_from

        turns = tuple(message.turns)
        first = next((turn.content for turn in turns if turn.role == "user"), "")
        now = time.time()
        summary = ConversationSummary(
            message.saved.id or 0,
            message.saved.title or title_from(first),
            message.model,
            now,
            now,
            len(turns),
            sum(len(turn.content) for turn in turns),
        )
        conversation = Conversation(summary, message.options, turns)
        data_dir = self.settings.data_dir
        folder = data_dir / "exports" if data_dir is not None else Path.cwd()
        self._export_chat(conversation, message.format, folder)

    @work(thread=True, group="chat-export", name="chat-export")
    def _export_chat(self, conversation, format: str, folder: Path) -> None:
        from rigtui.store.export import export_file_name, to_json, to_markdown
        from rigtui.store.files import write_new_file

        text = to_markdown(conversation) if format == "md" else to_json(conversation)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            name = export_file_name(conversation, format)
            path = write_new_file(folder / name, text, numbered=True)
        except OSError as error:
            self.post_message(said.ChatExported(None, f"Could not export the chat: {error}"))
            return
        self.post_message(said.ChatExported(path))

    def on_chat_exported(self, message: said.ChatExported) -> None:
        if message.path is None:
            self.notify(message.error, title="Not exported", severity="error", timeout=10)
        else:
            self.notify(f"Exported to {message.path}", title="Chat exported", timeout=10)

    def _saved_chat_commands(self):
        yield SystemCommand(
            "Saved chats", "Open, rename, delete or search saved chats (ctrl+f)", self._chat_list
        )
        yield SystemCommand(
            "Export chat as Markdown",
            "Write this chat to a new .md file (ctrl+s)",
            partial(self._export_from_palette, "md"),
        )
        yield SystemCommand(
            "Export chat as JSON",
            "Write this chat to a new .json file (alt+s)",
            partial(self._export_from_palette, "json"),
        )
        if self._deleted_chats:
            yield SystemCommand(
                "Undo delete",
                "Bring back the chat deleted last (ctrl+z in the chat list)",
                lambda: self.post_message(said.ConversationRestoreRequested()),
            )

    def _chat_list(self) -> None:
        self.action_show_tab("chat-tab")
        self.dashboard.chat.action_chat_list()

    def _export_from_palette(self, format: str) -> None:
        self.action_show_tab("chat-tab")
        self.dashboard.chat.action_export(format)
