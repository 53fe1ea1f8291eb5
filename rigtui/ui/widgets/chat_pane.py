"""The chat: a model picker, the conversation, a live strip, and the prompt.

The pane holds the conversation and shows what the app tells it; it never calls Ollama itself.
It posts ``PromptSubmitted``, ``StopRequested`` and ``PullRequested`` and the app does the work.
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widget import AwaitMount
from textual.widgets import Button, Select, Static

from rigtui.insight.fit import FitEstimate
from rigtui.llm.ollama import (
    ChatOptions,
    InstalledModel,
    ModelNotFoundError,
    PullStep,
    ReplyPiece,
    RunningModel,
)
from rigtui.llm.placement import processor_split
from rigtui.llm.stats import ReplyStats, TokenRate, describe
from rigtui.store.conversation import Turn
from rigtui.telemetry.model import RigSnapshot
from rigtui.ui.messages import (
    ChatExportRequested,
    ChatOptionsChanged,
    ChatOptionsRequested,
    ConversationPickerRequested,
    ModelChosen,
    PromptKept,
    PromptSubmitted,
    PullRequested,
    SavedChat,
    StopRequested,
    TurnToSave,
)
from rigtui.ui.render.chat_options import describe_options
from rigtui.ui.widgets.live_strip import LiveStrip
from rigtui.ui.widgets.prompt_input import PromptInput
from rigtui.ui.widgets.pull_notice import PullNotice

if TYPE_CHECKING:
    from rigtui.store.conversation import Conversation
    from rigtui.ui.widgets.chat_message import ChatMessage

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)

STALL_AFTER_FIRST_TOKEN_S = 10.0
STALL_BEFORE_FIRST_TOKEN_S = 60.0
"""Before the first token Ollama may be loading a large model from disk: be patient longer."""


def last_code_block(markdown: str) -> str | None:
    blocks = _FENCE.findall(markdown)
    return blocks[-1][1] if blocks else None


def model_label(model: InstalledModel, fit: FitEstimate | None = None) -> str:
    parts = [model.name, f"{model.size_bytes / 1e9:.1f} GB"]
    if model.parameter_size:
        parts.append(model.parameter_size)
    if model.quantization:
        parts.append(model.quantization)
    if fit is not None:
        parts.append(f"{fit.short()} @ {fit.num_ctx // 1024}k")
    return " · ".join(parts)


class ChatPane(Vertical):
    BINDINGS = [
        Binding(
            "escape",
            "stop_or_leave",
            "Stop",
            id="chat-stop",
            tooltip="Stop the reply (while one streams), else cancel a pull, else leave the prompt",
        ),
        Binding(
            "ctrl+o",
            "options",
            "Options",
            id="chat-options",
            tooltip="Chat options: system prompt, temperature, num_ctx, num_gpu, keep_alive",
        ),
        Binding(
            "ctrl+n",
            "new_chat",
            "New chat",
            show=False,
            id="chat-new",
            tooltip="Start a new conversation (the model stays loaded)",
        ),
        Binding(
            "ctrl+r",
            "copy_reply",
            "Copy reply",
            id="chat-copy",
            tooltip="Copy the last reply to the clipboard (OSC 52, works over SSH)",
        ),
        Binding(
            "ctrl+b",
            "copy_code",
            "Copy code",
            show=False,
            id="chat-copy-code",
            tooltip="Copy the last code block of the last reply",
        ),
        # --- saved chats
        Binding(
            "ctrl+f",
            "chat_list",
            "Chats",
            id="chat-list",
            tooltip="The saved conversations: open, rename, delete, search",
        ),
        Binding(
            "ctrl+s",
            "export('md')",
            "Export",
            id="chat-export-markdown",
            tooltip="Export this conversation to a Markdown file (the path is shown)",
        ),
        Binding(
            "alt+s",
            "export('json')",
            "Export JSON",
            show=False,
            id="chat-export-json",
            tooltip="Export this conversation to a JSON file (with Ollama's messages)",
        ),
        Binding(
            "ctrl+g",
            "regenerate",
            "Regenerate",
            show=False,
            id="chat-regenerate",
            tooltip="Regenerate the last reply: drop it and ask again with the same history",
        ),
        Binding(
            "ctrl+l",
            "edit_last",
            "Edit last",
            show=False,
            id="chat-edit-last",
            tooltip="Edit the last prompt: Enter resends it in place of the last exchange",
        ),
    ]

    streaming: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = "chat-pane") -> None:
        super().__init__(id=id)
        self.options = ChatOptions()
        self.conversation: list[dict[str, str]] = []
        self.installed: list[InstalledModel] = []
        self.running: list[RunningModel] = []
        self.reply: ChatMessage | None = None
        """The reply the streamed pieces go to; None once it has ended, or was let go."""
        self._ended: deque[ChatMessage | None] = deque()
        """Replies that ended and wait for their statistics, oldest first (None: let go by a
        new chat). The statistics come a frame later, on the screen's queue, when the next
        reply may already stream: each goes to its own reply, never to the current one."""
        self._replies_open = 0
        """Replies started and not finished: the pane streams while there is one."""
        self.rate = TokenRate()
        self.last_piece_at: float | None = None
        self.reply_started_at: float | None = None
        self.pending_prompt: str | None = None
        self.stall_after_first_token_s = STALL_AFTER_FIRST_TOKEN_S
        self.stall_before_first_token_s = STALL_BEFORE_FIRST_TOKEN_S
        self._pulls: dict[str, PullNotice] = {}
        self.fits: dict[str, FitEstimate] = {}
        self._user_picked = False
        self._app_picks: list[str] = []
        """Models the pane set in the picker whose Changed events have not come yet."""
        self._ready = False
        self.saved = SavedChat()
        """Which saved conversation this is (the app fills in its id once it is made)."""
        self._turn_notes: dict[int, Turn] = {}
        """Each position's turn as last kept (its state and statistics), for an export."""
        self.presets: dict[str, str] = {}
        """System-prompt presets by name, for the options screen (the app keeps them)."""
        self.editing_turn: int | None = None
        """The user turn the prompt replaces when sent (Ctrl+L), or None."""
        self.remembered_model: str | None = None
        """The model chosen in an earlier session: picked when it is installed."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-toolbar"):
            yield Select([], prompt="Pick a model", id="model-picker", allow_blank=True)
            yield Static(describe_options(self.options), id="chat-options-summary")
            yield Static("", id="chat-saving")
            yield Button("Options", id="chat-options-button", compact=True)
        with VerticalScroll(id="chat-log"):
            yield Static(
                "Chat with a local model here and watch, in the strip below, where it runs: "
                "tokens per second next to GPU and CPU load and the model's GPU/CPU split.",
                classes="chat-hint",
            )
        yield LiveStrip(id="live-strip")
        yield PromptInput(id="prompt")

    def on_mount(self) -> None:
        self.query_one("#chat-log", VerticalScroll).anchor()
        # Only while a reply streams: a timer ticking four times a second costs an idle rig too.
        self._stream_watch = self.set_interval(0.25, self._watch_stream, pause=True)
        self._ready = True
        # What the app told the pane before its widgets existed.
        if self.installed:
            self.show_installed(self.installed)
        if self.running:
            self.show_running(self.running)

    # --- what the app tells the pane ---------------------------------------------------------

    def show_installed(self, models: list[InstalledModel]) -> None:
        self.installed = models
        if not self._ready:
            return
        picker = self.query_one("#model-picker", Select)
        current = picker.value
        chat_models = [model for model in models if "embed" not in model.name]
        picker.set_options(
            (model_label(model, self.fits.get(model.name)), model.name) for model in chat_models
        )
        names = [model.name for model in chat_models]
        if current in names and self._user_picked:
            self._pick(picker, current)
        elif self.remembered_model in names and not self._user_picked:
            self._user_picked = True  # as if picked again: a loaded model does not displace it
            self._pick(picker, self.remembered_model)
        elif names:
            self._pick(picker, self._preferred(chat_models))

    def _preferred(self, models: list[InstalledModel]) -> str:
        """What to chat with until the user chooses: the loaded model (no load to wait for),
        else the largest that fits in VRAM, else (none fits) the one that spills least."""
        names = [model.name for model in models]
        loaded = [model.name for model in self.running if model.name in names]
        if loaded:
            return loaded[0]
        estimated = [model for model in models if model.name in self.fits]
        fitting = [model for model in estimated if self.fits[model.name].placement == "fits"]
        if fitting:
            return max(fitting, key=lambda model: model.size_bytes).name
        if estimated:
            return min(estimated, key=lambda model: self.fits[model.name].cpu_share).name
        return names[0]

    def _pick(self, picker: Select, model: str) -> None:
        """Choose for the user (what is loaded, else the first model). The Changed event comes
        later, after a refresh or before one: it is told from the user's own pick by its value."""
        if picker.value != model:
            self._app_picks.append(model)
            picker.value = model

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "model-picker" or event.value == Select.NULL:
            return  # new options empty the picker for a moment
        if event.value in self._app_picks:
            self._app_picks.remove(event.value)
            return
        self._user_picked = True
        self.post_message(ModelChosen(str(event.value)))

    def show_fits(self, fits: dict[str, FitEstimate]) -> None:
        """The fit estimate of each installed model, shown in the picker before loading."""
        if fits == self.fits:
            return
        self.fits = fits
        if self._ready and self.installed and not self.query_one("#model-picker", Select).expanded:
            self.show_installed(self.installed)

    @property
    def live_strip(self) -> LiveStrip:
        """Looked up once: it is updated with every reading and every streamed piece."""
        strip = getattr(self, "_live_strip", None)
        if strip is None:
            strip = self._live_strip = self.query_one(LiveStrip)
        return strip

    def show_running(self, models: list[RunningModel]) -> None:
        self.running = models
        if not self._ready:
            return
        if not self._user_picked and not self.streaming:
            # Until the user chooses, follow what is loaded: chatting with it needs no load.
            picker = self.query_one("#model-picker", Select)
            names = {value for _, value in picker._options}
            loaded = [model.name for model in models if model.name in names]
            if loaded:
                self._pick(picker, loaded[0])
        strip = self.live_strip
        model = self.current_model
        for running in models:
            if running.name == model:
                strip.split = processor_split(running.size_bytes, running.size_vram_bytes)
                break
        else:
            strip.split = "not loaded" if model else ""

    def show_snapshot(self, snapshot: RigSnapshot) -> None:
        if not self._ready:
            return
        strip = self.live_strip
        utilizations = [
            g.utilization_gpu_pct for g in snapshot.gpus if g.utilization_gpu_pct is not None
        ]
        strip.gpu_pct = max(utilizations) if utilizations else None
        strip.cpu_pct = snapshot.cpu.percent

    def show_connection(self, message: str) -> None:
        if not self._ready:
            return
        strip = self.live_strip
        if message:
            strip.say(message, warning=True)
        elif strip.warning and not self.streaming:
            strip.say("")

    @property
    def current_model(self) -> str | None:
        if not self._ready:
            return None
        value = self.query_one("#model-picker", Select).value
        return None if value == Select.NULL else str(value)

    # --- sending ------------------------------------------------------------------------------

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        text = event.text
        if text.startswith("/"):
            self._command(text, event.prompt_input)
            return
        if self.streaming:
            self.app.bell()
            self.notify(
                "A reply is still streaming: wait for it or press Esc to stop it.",
                severity="warning",
            )
            return
        model = self.current_model
        if model is None:
            self.notify("Pick a model first (the list at the top of the chat).", severity="warning")
            return
        if self._still_editing():
            self._drop_turns_from(self.editing_turn)
        self._stop_editing()
        self._send(model, text)
        self._keep(event.prompt_input, text)
        event.prompt_input.clear()

    def _send(self, model: str, text: str) -> None:
        self.pending_prompt = text
        self.conversation.append({"role": "user", "content": text})
        from rigtui.ui.widgets.chat_message import ChatMessage  # Markdown: loaded when needed

        message = ChatMessage("user", text)
        message.turn = len(self.conversation) - 1  # which turn it shows: see _turn_widget
        self._log_mount(message)
        self._keep_turn(self.saved, len(self.conversation) - 1, Turn("user", text, model=model))
        self.post_message(PromptSubmitted(model, list(self.conversation), self.options))

    def _command(self, text: str, prompt: PromptInput) -> None:
        command, _, argument = text.partition(" ")
        argument = argument.strip()
        if command == "/clear" or (command == "/pull" and argument):
            self._keep(prompt, text)
        if command == "/pull" and argument:
            prompt.clear()
            self.post_message(PullRequested(argument))
        elif command == "/clear":
            prompt.clear()
            self.call_later(self.action_new_chat)
        else:
            self.notify(
                "Commands: /pull NAME (download a model), /clear (new conversation).",
                severity="warning",
            )

    def _keep(self, prompt: PromptInput, text: str) -> None:
        """↑ recalls it from now on; the app keeps it across restarts."""
        prompt.keep(text)
        self.post_message(PromptKept(text))

    # --- the reply -----------------------------------------------------------------------------

    def reply_started(self, model: str) -> None:
        self._replies_open += 1
        self.streaming = True
        self._stream_watch.resume()
        from rigtui.ui.widgets.chat_message import ChatMessage

        self.reply = ChatMessage("assistant", model=model)
        self.reply.mounting = self._log_mount(self.reply)
        self._keep_reply_started(self.reply)
        self.rate.clear()
        self.reply_started_at = time.monotonic()
        self.last_piece_at = None
        strip = self.live_strip
        strip.clear_rates()
        strip.say("waiting for the first token…", "waiting…")

    async def reply_pieces(self, pieces: list[ReplyPiece]) -> None:
        reply = self.reply
        if reply is None or not pieces:
            return
        content = "".join(piece.content for piece in pieces)
        thinking = "".join(piece.thinking for piece in pieces)
        for piece in pieces:
            self.rate.add(piece.arrived_at)
        self.last_piece_at = pieces[-1].arrived_at
        await reply.append(content, thinking)
        if reply is not self.reply:
            return  # a new chat let go of it while it waited for its Markdown: kept as it was
        self._keep_reply(reply, "streaming")
        strip = self.live_strip
        strip.record_rate(self.rate.rate(time.monotonic()))
        if strip.state:
            strip.say("thinking…" if thinking and not reply.content else "")

    async def reply_written(self) -> None:
        """The reply has ended: no more pieces go to it; wait until everything streamed is in
        its Markdown. Its statistics follow (:meth:`reply_finished`)."""
        reply, self.reply = self.reply, None
        self._ended.append(reply)
        if reply is not None:
            await reply.settle()

    async def reply_finished(self, stats: ReplyStats, error: Exception | None) -> None:
        """The statistics of the oldest reply that ended (:meth:`reply_written`)."""
        if self._ended:
            reply = self._ended.popleft()
        else:
            reply, self.reply = self.reply, None
        self._replies_open = max(0, self._replies_open - 1)
        strip = self.live_strip
        if not self._replies_open:
            self.streaming = False
            self._stream_watch.pause()
            strip.say("")
            if stats.generated_tokens_per_s:
                strip.tokens_per_s = stats.generated_tokens_per_s
        if reply is None:
            return  # let go by a new chat
        self.pending_prompt = None
        # The conversation first: the next prompt may be sent while the reply is finishing.
        if reply.content:
            # A stopped or broken-off reply is kept, so the conversation can go on from it.
            self.conversation.append({"role": "assistant", "content": reply.content})
            self._keep_finished(reply, stats, error)
            reply.turn = len(self.conversation) - 1
        elif error is not None:
            self._keep_dropped(reply)
            self._failed_turn(stats.model, error)
            await reply.remove()
            return
        message = str(error) if error else ""
        await reply.finish(describe(stats), stopped=stats.stopped, error=message)

    def _failed_turn(self, model: str, error: Exception) -> None:
        """Nothing came back: drop the turn, say why inline, and give the prompt back."""
        failed = self.conversation.pop() if self.conversation else None
        prompt = self.query_one(PromptInput)
        if failed and not prompt.text.strip():
            prompt.text = failed["content"]
            prompt.select_all()  # typing replaces it; Enter sends it again
        parts: list = [Static(Text(str(error), style="bold"))]
        if isinstance(error, ModelNotFoundError):
            parts.append(
                Static(
                    "Pull it now (a progress bar follows), or pick another model above. "
                    "Your prompt is back in the input: press Enter to send it again."
                )
            )
            parts.append(
                Button(
                    f"Pull {model}", id="pull-offer", variant="primary", compact=True, name=model
                )
            )
        else:
            parts.append(Static("Your prompt is back in the input: press Enter to try again."))
        self._log_mount(Vertical(*parts, classes="chat-notice -error"))

    def _watch_stream(self) -> None:
        """Say so when Ollama goes quiet, so the user knows Esc will stop it."""
        if not self.streaming or self.reply_started_at is None:
            return
        now = time.monotonic()
        strip = self.live_strip
        if self.last_piece_at is None:
            waited = now - self.reply_started_at
            if waited > self.stall_before_first_token_s:
                strip.say(
                    f"no token for {waited:.0f} s (loading a big model?) — Esc stops",
                    f"no token for {waited:.0f} s — Esc stops",
                    warning=True,
                )
            elif waited > 2:
                strip.say(
                    f"waiting for the first token… {waited:.0f} s (loading the model?)",
                    f"waiting… {waited:.0f} s",
                )
            return
        quiet = now - self.last_piece_at
        strip.record_rate(self.rate.rate(now))
        if quiet > self.stall_after_first_token_s:
            strip.say(
                f"Ollama has sent nothing for {quiet:.0f} s — Esc stops the reply",
                f"nothing for {quiet:.0f} s — Esc stops",
                warning=True,
            )

    # --- pulling ------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pull-offer" and event.button.name:
            event.button.disabled = True
            self.post_message(PullRequested(event.button.name))
        elif event.button.id == "chat-options-button":
            self.action_options()

    def pull_progressed(self, model: str, step: PullStep) -> None:
        if model not in self._pulls:
            self._pulls[model] = PullNotice(model)
            self._log_mount(self._pulls[model])
        self._pulls[model].progressed(step)

    def pull_finished(self, model: str, error: Exception | None, cancelled: bool = False) -> None:
        notice = self._pulls.pop(model, None)
        if notice is None:
            notice = PullNotice(model)
            self._log_mount(notice)
        notice.finished(error, cancelled=cancelled)

    # --- actions ------------------------------------------------------------------------------

    def action_stop_or_leave(self) -> None:
        if self.streaming:
            self.post_message(StopRequested())
        elif self.editing_turn is not None:
            self._stop_editing()
            self.notify("Not editing any more: Enter sends the prompt as a new one.")
        elif not any(notice.cancel() for notice in reversed(self._pulls.values())):
            self.query_one("#chat-log").focus()  # no pull going on to cancel either

    def action_options(self) -> None:
        # The options screen is the hosting screen's to open: a widget never pushes screens.
        # It hands the result back through apply_options.
        self.post_message(ChatOptionsRequested())

    def apply_options(self, options: ChatOptions) -> None:
        """Options the user saved: sent with the next prompt, summed up above the chat."""
        self.options = options
        self.query_one("#chat-options-summary", Static).update(describe_options(options))
        # Called back by the screen that asked: sent as the pane's own, or Textual would stop
        # it below that screen (a message never bubbles up to its sender) and the app, which
        # remembers the options, would never hear of it.
        self.post_message(ChatOptionsChanged().set_sender(self))

    async def action_new_chat(self) -> None:
        if self.streaming:
            self.post_message(StopRequested())
        self._keep_let_go()
        # Let go of the replies on their way: what still comes for them is dropped quietly.
        streaming, self.reply = self.reply, None
        self._ended = deque(None for _ in self._ended)
        self._pulls.clear()  # a pull going on gets a new notice
        self.conversation.clear()
        self._keep_new()
        self.pending_prompt = None
        self._stop_editing()
        if streaming is not None:
            await streaming.settle()
        log = self.query_one("#chat-log", VerticalScroll)
        await log.remove_children(
            [child for child in log.children if "chat-hint" not in child.classes]
        )

    def action_copy_reply(self) -> None:
        reply = self._last_reply()
        if reply is None:
            self.notify("No reply to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(reply)
        self.notify(f"Copied the last reply ({len(reply):,} characters).")

    def action_copy_code(self) -> None:
        reply = self._last_reply()
        code = last_code_block(reply) if reply else None
        if code is None:
            self.notify("The last reply has no code block.", severity="warning")
            return
        self.app.copy_to_clipboard(code)
        self.notify(f"Copied the last code block ({len(code.splitlines())} lines).")

    def _last_reply(self) -> str | None:
        """The last reply as the screen shows it: a control character copied raw would run in
        the terminal it is pasted into (an escape sequence, a bidi override)."""
        from rigtui.ui.widgets.chat_message import sanitise

        for turn in reversed(self.conversation):
            if turn["role"] == "assistant":
                return sanitise(turn["content"])
        return None

    def _log_mount(self, widget) -> AwaitMount:
        return self.query_one("#chat-log", VerticalScroll).mount(widget)

    # --- saved chats ---------------------------------------------------------------------------
    # The pane says what to keep (``TurnToSave``, by position: ``conversation`` is the truth);
    # the app hands it to the store's keeper thread.

    def _keep_turn(self, saved: SavedChat, position: int, turn: Turn | None) -> None:
        if turn is not None:
            self._turn_notes[position] = turn
        self.post_message(
            TurnToSave(saved, position, turn, turn.model if turn else "", self.options)
        )

    def _reply_turn(self, reply: ChatMessage, state: str, stats: str = "") -> Turn:
        return Turn(
            "assistant", reply.content, reply.thinking, reply.model, state=state, stats=stats
        )

    def _keep_reply_started(self, reply: ChatMessage) -> None:
        reply.kept_as = (self.saved, len(self.conversation))
        self._keep_turn(self.saved, len(self.conversation), self._reply_turn(reply, "streaming"))

    def _keep_reply(self, reply: ChatMessage, state: str, stats: str = "") -> None:
        kept_as = reply.kept_as
        if kept_as is not None:
            saved, position = kept_as
            self._keep_turn(saved, position, self._reply_turn(reply, state, stats))

    def _keep_finished(
        self, reply: ChatMessage, stats: ReplyStats, error: Exception | None
    ) -> None:
        line = describe(stats)
        if error is not None:
            line = f"{line} · {error}" if line else str(error)
        state = "failed" if error is not None else "stopped" if stats.stopped else "done"
        self._keep_reply(reply, state, line)

    def _keep_dropped(self, reply: ChatMessage) -> None:
        """Nothing came back: the prompt goes back to the input, and out of the saved chat."""
        kept_as = reply.kept_as
        if kept_as is not None:
            saved, position = kept_as
            self._keep_turn(saved, max(0, position - 1), None)

    def _keep_let_go(self) -> None:
        """A new chat lets go of the replies on their way: each is kept as it stands."""
        if self.reply is not None:
            self._keep_reply(self.reply, "stopped")
        for reply in self._ended:
            if reply is not None:
                self._keep_reply(reply, "done")

    def streaming_now(self) -> tuple[SavedChat, int, Turn] | None:
        """The reply streaming now as it stands, for the app to write as it quits (the
        messages saying so last are dropped at quitting)."""
        reply = self.reply
        if reply is None or reply.kept_as is None:
            return None
        saved, position = reply.kept_as
        return saved, position, self._reply_turn(reply, "streaming")

    def _keep_new(self) -> None:
        self.saved = SavedChat()
        self._turn_notes.clear()

    def show_saving(self, problem: str, words: str = "") -> None:
        """``problem``: why nothing is saved, in a word or two (empty: saved); ``words``: the
        whole reason, as the notification said it."""
        if not self._ready:
            return
        state = self.query_one("#chat-saving", Static)
        state.update(f"not saved: {problem}" if problem else "")
        state.tooltip = words or None
        state.set_class(bool(problem), "-problem")

    async def open_conversation(self, conversation: Conversation, installed: bool) -> None:
        """A saved conversation, as it was: its model (if installed), options and every turn.
        The next prompt continues it, with the whole history sent."""
        await self.action_new_chat()
        self.saved = SavedChat(conversation.id, conversation.model, conversation.options)
        self.saved.title = conversation.summary.title
        turns = list(conversation.turns)
        while turns and not turns[-1].content:
            turns.pop()  # cut off before its first word: the next turn takes its place
        from rigtui.ui.widgets.chat_message import ChatMessage

        log = self.query_one("#chat-log", VerticalScroll)
        messages = [
            ChatMessage(
                turn.role,
                turn.content if turn.role == "user" else "",
                model=turn.model or conversation.model,
            )
            for turn in turns
        ]
        await log.mount_all(messages)
        for position, (turn, message) in enumerate(zip(turns, messages, strict=True)):
            self.conversation.append(turn.message())
            self._turn_notes[position] = Turn(
                turn.role, turn.content, turn.thinking, turn.model, turn.state, turn.stats
            )
            if turn.role == "assistant":
                await message.show_saved(turn.content, turn.thinking, turn.stats, turn.state)
        self.options = conversation.options
        self.query_one("#chat-options-summary", Static).update(describe_options(self.options))
        self.post_message(ChatOptionsChanged())
        picker = self.query_one("#model-picker", Select)
        if installed and conversation.model:
            self._pick(picker, conversation.model)
            self._user_picked = True
        elif conversation.model:
            self.notify(
                f"{conversation.model} is not installed here: pick another model to go on "
                f"(/pull {conversation.model} downloads it).",
                severity="warning",
            )
        log.scroll_end(animate=False)

    def action_chat_list(self) -> None:
        self.post_message(ConversationPickerRequested())

    def turns_now(self) -> list[Turn]:
        """The chat on screen, turn by turn (a reply streaming now too), for an export."""
        turns = []
        for position, message in enumerate(self.conversation):
            note = self._turn_notes.get(position)
            if note is None or note.content != message["content"]:
                note = Turn(message["role"], message["content"])
            turns.append(note)
        if self.reply is not None and self.reply.content:
            turns.append(self._reply_turn(self.reply, "streaming"))
        return turns

    def action_export(self, format: str) -> None:
        if not self.conversation and self.reply is None:
            self.notify("Nothing to export yet: the conversation is empty.", severity="warning")
            return
        model = self.current_model or self.saved.model
        self.post_message(
            ChatExportRequested(self.saved, model, self.options, self.turns_now(), format)
        )

    # --- regenerate, edit and resend ---------------------------------------------------------

    def action_regenerate(self) -> None:
        """Drop the last reply and ask again, with the same history (the model picked now)."""
        if self._busy("regenerate"):
            return
        turns = self.conversation
        # Stopped before its first word, a reply is not a turn: nothing to drop, ask again.
        replied = bool(turns) and turns[-1]["role"] == "assistant"
        last_user = len(turns) - 2 if replied else len(turns) - 1
        if last_user < 0 or turns[last_user]["role"] != "user":
            self.notify("No prompt to answer again yet.", severity="warning")
            return
        model = self.current_model
        if model is None:
            self.notify("Pick a model first (the list at the top of the chat).", severity="warning")
            return
        self._stop_editing()
        self._drop_turns_from(last_user + 1, keep_widget=last_user)
        self.pending_prompt = turns[last_user]["content"]
        self.post_message(PromptSubmitted(model, list(turns), self.options))

    def action_edit_last(self) -> None:
        """The last prompt back in the input: sent, it replaces the last exchange."""
        if self._busy("edit the last prompt"):
            return
        users = [i for i, turn in enumerate(self.conversation) if turn["role"] == "user"]
        if not users:
            self.notify("No prompt to edit yet.", severity="warning")
            return
        last = self.conversation[users[-1]]["content"]
        prompt = self.query_one(PromptInput)
        if prompt.text.strip() and prompt.text != last:
            self.notify(
                "The prompt holds text you typed: send it or clear it first.", severity="warning"
            )
            return
        self.editing_turn = users[-1]
        prompt.text = last
        prompt.move_cursor(prompt.document.end)
        prompt.add_class("-editing")
        prompt.focus()
        self.live_strip.say(
            "editing the last prompt: Enter resends it in place of the last exchange, Esc cancels",
            "editing: Enter resends · Esc cancels",
        )

    def _still_editing(self) -> bool:
        """Editing a turn the conversation still holds (a chat opened since drops it)."""
        turn = self.editing_turn
        return (
            turn is not None
            and turn < len(self.conversation)
            and self.conversation[turn]["role"] == "user"
        )

    def _busy(self, what: str) -> bool:
        if self.streaming:
            self.app.bell()
            self.notify(
                f"A reply is streaming: wait for it or press Esc to stop it, then {what}.",
                severity="warning",
            )
        return self.streaming

    def _stop_editing(self) -> None:
        if self.editing_turn is None:
            return
        self.editing_turn = None
        if self._ready:
            self.query_one(PromptInput).remove_class("-editing")
            self.live_strip.say("")

    def _drop_turns_from(self, index: int, keep_widget: int | None = None) -> None:
        """Drop the turns from ``index`` on, from the conversation (what is saved) and from
        the log: the widget of that turn and everything after it (statistics, notices)."""
        del self.conversation[index:]
        anchor = self._turn_widget(index) if keep_widget is None else None
        log = self.query_one("#chat-log", VerticalScroll)
        children = list(log.children)
        if anchor is not None:
            start = children.index(anchor)
        else:
            kept = self._turn_widget(keep_widget) if keep_widget is not None else None
            start = children.index(kept) + 1 if kept is not None else len(children)
        if children[start:]:
            log.remove_children(children[start:])

    def _turn_widget(self, index: int):
        """The log's widget that shows turn ``index`` of the conversation: tagged as it was
        sent or finished; else (a conversation shown some other way) the index-th message."""
        from rigtui.ui.widgets.chat_message import ChatMessage

        messages = list(self.query_one("#chat-log").query_children(ChatMessage))
        tagged = [message for message in messages if getattr(message, "turn", None) == index]
        if tagged:
            return tagged[-1]
        untagged = [message for message in messages if not hasattr(message, "turn")]
        return untagged[index] if index < len(untagged) else None
