"""The chat pane asks the screen that hosts it for its options screen; it never pushes one."""

from __future__ import annotations

from rigtui.ui.widgets.chat_pane import ChatPane


async def test_the_pane_asks_for_its_options_and_takes_them_back():
    from textual.widgets import Static

    from rigtui.llm.ollama import ChatOptions
    from rigtui.ui.messages import ChatOptionsChanged, ChatOptionsRequested

    from .helpers import Hosting

    class Host(Hosting):
        """Records what the pane asks of the screen that hosts it."""

        def __init__(self, widget) -> None:
            super().__init__(widget)
            self.heard: list[type] = []

        def on_chat_options_requested(self, message: ChatOptionsRequested) -> None:
            self.heard.append(type(message))

        def on_chat_options_changed(self, message: ChatOptionsChanged) -> None:
            self.heard.append(type(message))

    chat = ChatPane()
    app = Host(chat)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        chat.action_options()
        await pilot.pause()
        # Asked for, not pushed: opening a screen is the host's business.
        assert app.heard == [ChatOptionsRequested]
        assert len(app.screen_stack) == 1
        chat.apply_options(ChatOptions(num_ctx=16384, temperature=0.3))
        await pilot.pause()
        assert app.heard == [ChatOptionsRequested, ChatOptionsChanged]
        assert chat.options.num_ctx == 16384
        summary = str(chat.query_one("#chat-options-summary", Static).content)
        assert summary == "temp 0.3 · ctx 16384"
