"""The chat, end to end: the app, the real ollama client, the simulated Ollama server."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from functools import partial

import pytest
from textual import events
from textual.widgets import Markdown, ProgressBar, Select

from rigtui.llm.ollama import ReplyPiece
from rigtui.llm.stats import ReplyStats
from rigtui.llm.watch import OllamaWatch
from rigtui.ui.messages import (
    ModelsRunning,
    PromptSubmitted,
    PullRequested,
    ReplyChunk,
    ReplyFinished,
    ReplyStarted,
    SnapshotTaken,
    TurnToSave,
)
from rigtui.ui.tuning.garbage import HELD_FULL_THRESHOLD
from rigtui.ui.widgets.chat_message import ChatMessage, sanitise
from rigtui.ui.widgets.chat_pane import ChatPane
from rigtui.ui.widgets.live_strip import LiveStrip
from rigtui.ui.widgets.loaded_models import LoadedModels
from rigtui.ui.widgets.prompt_input import PromptInput

from .helpers import (
    Heard,
    Hosting,
    first_reading_shown,
    handled_by,
    next_reading,
    nvml_calls,
    on_stepped_pace,
    rendered_text,
    sampling_started,
    until,
)

POWER_CALL = "nvmlDeviceGetFieldValues"
"""A reading reads its power fields in one call, a power round in one."""


@pytest.fixture
def stepped_chat_app(chat_app):
    """Like ``chat_app``, with a sampling loop that reads only when the test steps its clock:
    ``(app, pace)``."""

    def make(**options):
        return on_stepped_pace(chat_app(**options))

    return make


async def open_chat(pilot) -> ChatPane:
    app = pilot.app
    await first_reading_shown(pilot)
    await until(pilot, lambda: app.ollama_connected and app.running_models, "Ollama connected")
    await pilot.press("4")
    chat = app.screen.query_one(ChatPane)
    await until(pilot, lambda: chat.current_model is not None, "a model picked")
    await until(pilot, lambda: isinstance(app.focused, PromptInput), "the prompt focused")
    return chat


async def send(pilot, chat: ChatPane, text: str) -> None:
    chat.query_one(PromptInput).text = text
    await pilot.press("enter")


def last_reply(chat: ChatPane) -> ChatMessage:
    return list(chat.query(ChatMessage).filter(".-assistant"))[-1]


async def turns_finished(pilot, chat: ChatPane, turns: int) -> None:
    """Until the chat holds ``turns`` turns (the user's and the reply) and nothing streams."""
    await until(
        pilot,
        lambda: len(chat.conversation) == 2 * turns and not chat.streaming,
        f"reply {turns} finished",
    )


async def reply_begun(pilot, chat: ChatPane, more_than: int = 0) -> None:
    """Until the reply streaming now shows ``more_than`` characters and more."""
    await until(
        pilot,
        lambda: chat.reply is not None and len(chat.reply.content) > more_than,
        f"a reply of more than {more_than} characters",
    )


async def stopped(pilot, chat: ChatPane) -> None:
    await until(pilot, lambda: not chat.streaming, "the reply stopped")


def notices(chat: ChatPane) -> str:
    return " ".join(rendered_text(static) for static in chat.query(".chat-notice Static"))


async def test_a_whole_chat_turn_streams_the_reply_and_its_statistics(chat_app):
    app = chat_app()
    server = app.environment.ollama
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        assert chat.current_model == "llama3.1:8b"  # the loaded model is picked first
        await send(pilot, chat, "Why is my GPU slow?")
        await turns_finished(pilot, chat, 1)
        expected = server.reply_for("Why is my GPU slow?")
        assert chat.conversation == [
            {"role": "user", "content": "Why is my GPU slow?"},
            {"role": "assistant", "content": expected},
        ]
        reply = last_reply(chat)
        assert reply.content == expected
        stats = rendered_text(reply.query_one(".reply-stats"))
        assert "first token" in stats and "tok/s" in stats and "total" in stats
        assert chat.query_one(PromptInput).text == ""
        # A second turn sends the whole conversation.
        await send(pilot, chat, "And the fans?")
        await turns_finished(pilot, chat, 2)
        chats = [entry for entry in server.requests if entry["path"] == "/api/chat"]
        assert len(chats) == 2


async def test_the_last_words_are_laid_out_before_the_reply_is_finished(chat_app):
    # Then the frame that shows them comes before the stats line and the parse check.
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        seen_at_finish = []
        finish = chat.reply_finished

        async def spy(stats, error):
            reply = last_reply(chat)
            seen_at_finish.append("".join(md.source for md in reply.reply_segments))
            await finish(stats, error)

        chat.reply_finished = spy
        await send(pilot, chat, "Why is my GPU slow?")
        await turns_finished(pilot, chat, 1)
        assert seen_at_finish == [chat.conversation[-1]["content"]]


async def test_markdown_is_streamed_then_rendered_whole_with_code_highlighting(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "Show me a command")
        await turns_finished(pilot, chat, 1)
        markdown = last_reply(chat).query_one(".reply-text", Markdown)
        assert markdown.source == chat.conversation[-1]["content"]
        assert list(markdown.query("MarkdownFence"))  # the code block became a fenced block


async def test_esc_stops_the_reply_keeps_it_and_closes_the_stream(chat_app):
    app = chat_app()
    server = app.environment.ollama
    server.faults.tokens_per_s = 30
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "Tell me a long story")
        await reply_begun(pilot, chat, 20)
        # The user starts typing the next prompt while the reply streams.
        chat.query_one(PromptInput).text = "next question, half typed"
        await pilot.press("escape")
        await stopped(pilot, chat)
        reply = last_reply(chat)
        assert reply.stopped and reply.has_class("-stopped")
        assert chat.conversation[-1]["role"] == "assistant"
        partial = chat.conversation[-1]["content"]
        assert 20 < len(partial) < len(server.reply_for("Tell me a long story"))
        assert server.reply_for("Tell me a long story").startswith(partial)
        assert "stopped" in rendered_text(reply.query_one(".reply-stats"))
        assert chat.query_one(PromptInput).text == "next question, half typed"
        await until(pilot, lambda: server.cancelled_requests == 1, "the stream closed")


async def test_full_collections_wait_while_a_reply_streams(chat_app):
    app = chat_app()
    app.environment.ollama.faults.tokens_per_s = 30
    full_threshold = gc.get_threshold()[2]
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "Tell me a long story")
        await reply_begun(pilot, chat, 20)
        assert gc.get_threshold()[2] == HELD_FULL_THRESHOLD
        await pilot.press("escape")
        await until(pilot, lambda: gc.get_threshold()[2] == full_threshold, "collections back")
        assert not chat.streaming
        # Quitting in the middle of a reply gives them back too.
        await send(pilot, chat, "Tell me a long story")
        await reply_begun(pilot, chat, 20)
        assert gc.get_threshold()[2] == HELD_FULL_THRESHOLD
    assert gc.get_threshold()[2] == full_threshold


async def test_power_is_read_ten_times_a_second_from_the_first_token_off_a_resting_gpu(
    stepped_chat_app,
):
    app, pace = stepped_chat_app(at_s=20.0)  # the story's GPU rests, and stands still
    server = app.environment.ollama
    server.faults.tokens_per_s = 20
    heard = Heard()

    async def power_calls_in_two_seconds() -> int:
        before = nvml_calls(app, POWER_CALL)
        await pace.advance(2.0)
        return nvml_calls(app, POWER_CALL) - before

    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await sampling_started(pilot, pace)
        await until(pilot, lambda: app.ollama_connected, "Ollama connected")
        assert not app.power_rounds
        await pilot.press("4")
        chat = app.screen.query_one(ChatPane)
        await until(pilot, lambda: chat.current_model is not None, "a model picked")
        # Enter sends once the prompt has the focus (the tab gives it a hop later).
        await until(pilot, lambda: isinstance(app.focused, PromptInput), "the prompt focused")
        resting = await power_calls_in_two_seconds()
        since = heard.mark()
        await send(pilot, chat, "Tell me a long story")
        await heard.arrival(pilot, ReplyStarted, since=since)
        # The reply woke the loop: a reading at once, without a step of its clock.
        await sampling_started(pilot, pace)
        assert heard.of(SnapshotTaken, since)
        generating = await power_calls_in_two_seconds()
        assert app.generating and not app.power_rounds  # the readings still say it rests
    # Two seconds of the loop's time: two readings at rest; twenty power rounds beside them not.
    assert resting == 2
    assert generating >= 20


async def test_a_stalled_stream_is_reported_and_can_be_stopped(chat_app):
    app = chat_app()
    server = app.environment.ollama
    server.faults.stall_after_tokens = 5
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        chat.stall_after_first_token_s = 0.5
        await send(pilot, chat, "hello")
        strip = chat.query_one(LiveStrip)
        await until(pilot, lambda: "sent nothing" in strip.state, "the stall reported")
        assert strip.warning
        await pilot.press("escape")
        await stopped(pilot, chat)
        assert last_reply(chat).stopped
        await until(pilot, lambda: server.cancelled_requests == 1, "the stream closed")


async def test_a_dropped_connection_keeps_the_partial_reply_and_the_chat_goes_on(chat_app):
    app = chat_app()
    server = app.environment.ollama
    server.faults.drop_after_tokens = 12
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "hello")
        await turns_finished(pilot, chat, 1)
        reply = last_reply(chat)
        assert reply.has_class("-failed")
        assert "connection to Ollama dropped" in rendered_text(reply.query_one(".reply-stats"))
        assert reply.content and len(reply.content) < len(server.reply_for("hello"))
        server.faults.clear()
        await send(pilot, chat, "again")
        await turns_finished(pilot, chat, 2)
        assert chat.conversation[-1]["content"] == server.reply_for("again")


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (
            {"error_status": (500, "llama runner process has terminated: exit status 2")},
            "Ollama answered 500: llama runner process has terminated: exit status 2",
        ),
        ({"error_after_tokens": 0}, "Ollama reported an error while replying"),
        ({"malformed_after_tokens": 0}, "a line that is not JSON"),
        ({"drop_after_tokens": 0}, "dropped before any of the reply arrived"),
    ],
)
async def test_an_error_before_any_text_gives_the_prompt_back(chat_app, fault, words):
    app = chat_app()
    server = app.environment.ollama
    for name, value in fault.items():
        setattr(server.faults, name, value)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "what went wrong?")
        await until(
            pilot, lambda: not chat.streaming and list(chat.query(".chat-notice")), "the error told"
        )
        notice = chat.query_one(".chat-notice")
        text = " ".join(rendered_text(part) for part in notice.query("Static"))
        assert words in text
        assert "What arrived is kept" not in text and "in the middle" not in text
        assert chat.conversation == []
        prompt = chat.query_one(PromptInput)
        assert prompt.text == "what went wrong?"
        assert prompt.selected_text == "what went wrong?"  # typing replaces it
        await pilot.press("w", "h", "y")
        await until(pilot, lambda: prompt.text == "why", "typed over")
        prompt.text = "what went wrong?"
        server.faults.clear()
        await pilot.press("enter")  # try again: the same prompt
        await turns_finished(pilot, chat, 1)


async def test_a_missing_model_offers_a_pull_with_progress(chat_app):
    app = chat_app(speed=100.0)  # a 4 GB download, quickly
    server = app.environment.ollama
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        chat.post_message(
            PromptSubmitted("mistral:7b", [{"role": "user", "content": "hi"}], chat.options)
        )
        chat.conversation.append({"role": "user", "content": "hi"})
        await until(pilot, lambda: list(chat.query("#pull-offer")), "the pull offered")
        notice = chat.query_one(".chat-notice")
        assert "'mistral:7b' is not installed" in rendered_text(notice.query("Static").first())
        button = chat.query_one("#pull-offer")
        await until(pilot, lambda: button.region.area > 0, "the offer laid out")
        await pilot.pause()
        assert await pilot.click("#pull-offer")  # the click landed on the button
        await heard.arrival(pilot, PullRequested, lambda pull: pull.model == "mistral:7b")
        await until(pilot, lambda: "mistral:7b" in server.installed, "mistral:7b installed")
        await until(pilot, lambda: "Pulled mistral:7b" in notices(chat), "the pull reported")
        assert chat.query(ProgressBar).last().percentage == 1.0
        picker = chat.query_one("#model-picker", Select)
        await until(
            pilot, lambda: any(v == "mistral:7b" for _, v in picker._options), "mistral:7b listed"
        )


async def test_the_picker_follows_the_loaded_model_until_the_user_picks_one(chat_app):
    from dataclasses import replace

    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        loaded = app.running_models[0]
        picker = chat.query_one("#model-picker", Select)
        other = next(name for _, name in picker._options if name not in (loaded.name, Select.NULL))
        # Another model loads: the pane follows it. Its own choice is not the user's, even when
        # the picker's Changed event reaches the pane only after a frame or two (held back here,
        # as a busy app delays it: the screenshots script caught that one run in three).
        held = []
        post_message = picker.post_message

        def hold_changes(message):
            if isinstance(message, Select.Changed):
                held.append(message)
                return True
            return post_message(message)

        picker.post_message = hold_changes
        chat.show_running([replace(loaded, name=other)])
        assert chat.current_model == other
        await pilot.pause()  # the app goes on; the change waits
        picker.post_message = post_message
        assert held
        changes = handled_by(chat, Select.Changed)

        def handled(value: str) -> bool:
            return any(change.value == value for change in changes)

        for message in held:
            post_message(message)
        await until(pilot, lambda: all(m in changes for m in held), "the held change handled")
        chat.show_running([loaded])
        assert chat.current_model == loaded.name
        await until(pilot, lambda: handled(loaded.name), "the pane's own pick handled")
        # The user picks: from then on the pane keeps the user's choice.
        changes.clear()
        picker.value = other
        await until(pilot, lambda: handled(other), "the user's pick handled")
        chat.show_running([loaded])
        assert chat.current_model == other


async def test_pulling_an_unknown_model_says_so(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "/pull no-such-model")
        await until(pilot, lambda: "Could not pull" in notices(chat), "the failed pull reported")
        text = notices(chat)
        assert "'no-such-model' does not exist in the Ollama library" in text
        assert "not installed" not in text
        await until(pilot, lambda: not chat.query(ProgressBar), "no bar left at 0%")


async def test_ollama_down_is_explained_and_rigtui_reconnects(chat_app):
    app = chat_app()
    server = app.environment.ollama
    server.faults.refuse = True
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        models = app.screen.query_one("#rig-models", LoadedModels)
        await until(pilot, lambda: "Cannot reach Ollama" in models.status, "Ollama reported away")
        assert f"127.0.0.1:{server.port}" in models.status
        assert "ollama serve" in models.status
        assert app.snapshots_shown >= 1  # the dashboard keeps working
        server.faults.refuse = False
        await until(pilot, lambda: app.ollama_connected, "Ollama connected again")
        await until(pilot, lambda: models.status == "" and models.models, "models listed again")


class WatchWaits:
    """The Ollama watch's ways to wait, handed in (``OllamaWatch(sleep=..., wait=...)``): its
    sleeps pass at once, its waits for the GPUs' memory to move last until it moves (the quiet
    poll's time never comes). Each wait is kept, with the time the watch asked for."""

    def __init__(self) -> None:
        self.asked_s: list[float] = []
        self.cut_short = 0
        """Waits that ended because the memory moved."""

    async def sleep(self, _seconds: float) -> None:
        await asyncio.sleep(0)

    async def wait(self, moved: asyncio.Event, timeout_s: float) -> None:
        self.asked_s.append(timeout_s)
        await moved.wait()
        self.cut_short += 1


async def test_ollama_is_asked_again_when_the_gpus_memory_moves(stepped_chat_app):
    watch_waits = WatchWaits()
    watch = partial(OllamaWatch, sleep=watch_waits.sleep, wait=watch_waits.wait)
    app, pace = stepped_chat_app(ollama_watch=watch)
    server = app.environment.ollama
    clock = app.environment.clock
    heard = Heard()

    def polls() -> int:
        return sum(1 for entry in server.requests if entry["path"] == "/api/ps")

    def running(name: str):
        return lambda message: name in [model.name for model in message.models]

    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await sampling_started(pilot, pace)
        await heard.arrival(pilot, ModelsRunning)
        await until(pilot, lambda: watch_waits.asked_s, "the watch waiting after its poll")
        # Nothing moves on the rig: the next poll is the quiet one...
        assert watch_waits.asked_s == [app.watch.quiet_poll_s - app.watch.poll_s]
        before = polls()
        for _ in range(3):
            await next_reading(pilot, pace, heard)
        # ...however many readings come.
        assert watch_waits.cut_short == 0 and polls() == before
        server.load("deepseek-r1:14b")
        clock.advance(30.0)  # the load goes on, and its memory shows on the GPU
        since = heard.mark()
        await next_reading(pilot, pace, heard)
        await heard.arrival(pilot, ModelsRunning, running("deepseek-r1:14b"), since=since)
        assert watch_waits.cut_short == 1  # the reading cut the watch's wait short
        assert polls() > before


async def test_ollama_restarting_between_replies(chat_app):
    app = chat_app()
    server = app.environment.ollama
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "first")
        await turns_finished(pilot, chat, 1)
        server.restart()
        await send(pilot, chat, "second")
        await turns_finished(pilot, chat, 2)
        assert chat.conversation[-1]["content"] == server.reply_for("second")


async def test_model_output_is_shown_literally(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "[hostile] please")
        await turns_finished(pilot, chat, 1)
        markdown = last_reply(chat).query_one(".reply-text", Markdown)
        assert "\x1b" not in markdown.source and "\x07" not in markdown.source
        assert "\\x1b[2J" in markdown.source and "\\u202e" in markdown.source
        shown_text = "\n".join(
            rendered_text(block) for block in markdown.query("MarkdownParagraph")
        )
        assert "[bold red]that must not turn bold[/]" in shown_text
        assert "漢字テスト" in shown_text
        # The conversation keeps what the model really sent.
        assert "\x1b[2J" in chat.conversation[-1]["content"]


async def test_the_live_strip_shows_rate_gpu_cpu_and_split_while_streaming(chat_app):
    app = chat_app()
    app.environment.ollama.faults.tokens_per_s = 60
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "stream slowly")
        strip = chat.query_one(LiveStrip)
        await until(pilot, lambda: (strip.tokens_per_s or 0) > 20, "a rate over 20 tokens/s")
        assert strip.gpu_pct is not None and strip.cpu_pct is not None
        assert strip.split in ("100% GPU", "not loaded")
        await pilot.press("escape")
        await stopped(pilot, chat)


async def test_copy_reply_and_code_block_use_the_clipboard(chat_app):
    app = chat_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "[hostile] give me code")
        await turns_finished(pilot, chat, 1)
        await pilot.press("ctrl+r")
        # What the screen shows: the escapes written out, not run by the terminal pasted into.
        await until(pilot, lambda: app.clipboard, "the reply copied")
        assert app.clipboard == sanitise(chat.conversation[-1]["content"])
        assert "\\x1b[2J" in app.clipboard and "\\u202e" in app.clipboard
        assert not UNSAFE.search(app.clipboard)
        copied = app.clipboard
        await pilot.press("ctrl+b")
        await until(pilot, lambda: app.clipboard != copied, "the code block copied")
        assert app.clipboard == "print('[bold]code stays code[/bold]')\n"


CONTROLS = "\x00\x07\x1b\x7f\x9b\u202a\u202e\u2066\u2069\r"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def test_copied_text_holds_no_control_characters():
    chat = ChatPane()
    app = Hosting(chat)
    reply = f"Text {CONTROLS} and\tmore\n\n```sh\necho {CONTROLS}\n```\n"
    async with app.run_test(size=(120, 40)):
        chat.conversation = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": reply},
        ]
        chat.action_copy_reply()
        assert app.clipboard.startswith("Text \\x00\\x07\\x1b\\x7f\\x9b\\u202a\\u202e")
        assert "and\tmore\n" in app.clipboard  # tab and newline stay
        assert not UNSAFE.search(app.clipboard)
        chat.action_copy_code()
        assert app.clipboard.startswith("echo \\x00\\x07\\x1b")
        assert not UNSAFE.search(app.clipboard)


async def test_generating_spans_are_recorded_in_the_history(stepped_chat_app):
    app, pace = stepped_chat_app()
    app.environment.ollama.faults.stall_after_tokens = 5  # the reply goes on until stopped
    clock = app.environment.clock
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await sampling_started(pilot, pace)
        await send(pilot, chat, "mark me")
        await reply_begun(pilot, chat)
        assert chat.streaming and app.generating
        clock.set(346.0)
        await next_reading(pilot, pace, heard)
        await pilot.press("escape")
        assert app.history.series("llm.generating")[-1] == 1.0
        assert app.history.spans("llm.generating")


async def test_options_are_checked_as_typed_and_sent_with_the_next_request(chat_app):
    from textual.widgets import Button, Input

    from rigtui.ui.screens.chat_options import ChatOptionsScreen

    app = chat_app()
    server = app.environment.ollama
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ChatOptionsScreen), "the options open")
        screen = app.screen
        screen.query_one("#field-temperature", Input).value = "hot"
        screen.query_one("#field-num_ctx", Input).value = "8192"
        screen.query_one("#field-keep_alive", Input).value = "10"
        # Each field is checked as the screen hears it change.
        await until(
            pilot,
            lambda: "a number such as 0.7" in rendered_text(screen.query_one("#error-temperature")),
            "the temperature refused",
        )
        assert screen.query_one("#save", Button).disabled
        screen.action_save()  # refused: nothing is lost, the screen stays
        await pilot.pause()
        assert isinstance(app.screen, ChatOptionsScreen)
        assert screen.query_one("#field-num_ctx", Input).value == "8192"
        screen.query_one("#field-temperature", Input).value = "0.2"
        await until(pilot, lambda: not screen.query_one("#save", Button).disabled, "save allowed")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, ChatOptionsScreen), "options saved")
        assert (chat.options.temperature, chat.options.num_ctx) == (0.2, 8192)
        assert chat.options.keep_alive == "10s"  # a bare number is seconds, as Ollama reads it
        assert "ctx 8192" in str(chat.query_one("#chat-options-summary").content)
        await send(pilot, chat, "with options")
        await turns_finished(pilot, chat, 1)
        (loaded,) = server.loaded()
        assert loaded.num_ctx == 8192  # the model was reloaded with the new context
        assert loaded.keep_alive_s == 10.0


async def test_thinking_streams_apart_and_stays_collapsed(chat_app):
    from textual.widgets import Collapsible

    app = chat_app()
    server = app.environment.ollama
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        picker = chat.query_one("#model-picker", Select)
        picks = handled_by(chat, Select.Changed)
        picker.value = "deepseek-r1:14b"
        await until(pilot, lambda: picks, "the pick handled")
        assert chat.current_model == "deepseek-r1:14b"
        await send(pilot, chat, "think first")
        await turns_finished(pilot, chat, 1)
        reply = last_reply(chat)
        assert reply.thinking == server.thinking_for("think first")
        assert reply.content == server.reply_for("think first")
        thinking = reply.query_one(".thinking", Collapsible)
        assert thinking.display and thinking.collapsed
        # Titled with its length when the reply is finished, a frame after it stops streaming.
        await until(pilot, lambda: thinking.title.startswith("Thinking ("), "the thinking titled")
        assert thinking.collapsed
        assert chat.conversation[-1]["content"] == reply.content  # thinking is not sent back


async def test_scrolling_up_holds_the_view_while_the_reply_streams(chat_app):
    app = chat_app()
    app.environment.ollama.faults.tokens_per_s = 80
    heard = Heard()
    async with app.run_test(size=(100, 24), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "[long] a long one")
        log = chat.query_one("#chat-log")
        await until(pilot, lambda: log.max_scroll_y > 5, "the reply taller than the log")
        await heard.arrival(pilot, ReplyChunk, since=heard.mark())  # and more of it came
        # Following the stream (scrolled after the log is laid out again).
        await until(pilot, lambda: log.scroll_y == log.max_scroll_y, "the end of the reply")
        log.scroll_to(y=0, animate=False)
        await until(pilot, lambda: log.scroll_y == 0, "the reader at the top")
        grown = log.max_scroll_y
        await until(pilot, lambda: log.max_scroll_y > grown + 3, "the reply grown")
        assert log.scroll_y == 0  # the reader's place is kept
        await pilot.press("escape")
        await stopped(pilot, chat)


async def test_each_reply_reports_its_energy(stepped_chat_app):
    app, pace = stepped_chat_app()
    server = app.environment.ollama
    server.faults.tokens_per_s = 20
    clock = app.environment.clock
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await sampling_started(pilot, pace)
        await send(pilot, chat, "measure me")
        await reply_begun(pilot, chat)
        # The rig's clock moves on while the reply streams, so the GPU's energy counter does:
        # three seconds, with the loop's power round every tenth of one.
        for _ in range(30):
            clock.advance(0.1)
            await pace.step()
        # A token that arrives after that ends the stretch the reply is measured over.
        stepped_at = time.monotonic()
        await heard.arrival(
            pilot, ReplyChunk, lambda chunk: any(p.arrived_at > stepped_at for p in chunk.pieces)
        )
        await pilot.press("escape")
        await stopped(pilot, chat)
        stats = rendered_text(last_reply(chat).query_one(".reply-stats"), width=200)
        assert "J/token" in stats and "tokens/J" in stats
        assert "by NVML energy counter" in stats
        assert "peak" in stats and "(instant)" in stats


async def test_the_model_picker_says_what_fits_before_loading(chat_app):
    app = chat_app()
    async with app.run_test(size=(160, 50)) as pilot:
        chat = await open_chat(pilot)
        await until(pilot, lambda: "llama3.3:70b" in chat.fits, "the fits estimated")
        assert chat.fits["llama3.1:8b"].placement == "fits"
        assert chat.fits["llama3.3:70b"].placement == "partial"
        labels = {value: str(label) for label, value in chat.query_one("#model-picker")._options}
        assert "fits @ 4k" in labels["llama3.1:8b"]
        assert "% CPU @ 4k" in labels["llama3.3:70b"]


async def test_a_loaded_model_shows_the_prediction_next_to_what_ollama_did(chat_app):
    app = chat_app(at_s=440.0)
    async with app.run_test(size=(160, 50)) as pilot:
        await first_reading_shown(pilot)
        models = app.screen.query_one("#rig-models", LoadedModels)
        await until(
            pilot, lambda: models.predictions.get("llama3.3:70b") is not None, "the prediction"
        )
        text = rendered_text(models, width=150)
        assert "rigtui predicted ~4" in text and "Ollama: 45%/55% CPU/GPU" in text


@pytest.mark.parametrize("how", ["ctrl+n", "/clear"])
async def test_a_new_chat_while_a_reply_streams_drops_what_still_comes_for_it(chat_app, how):
    app = chat_app()
    app.environment.ollama.faults.tokens_per_s = 60
    heard = Heard()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat = await open_chat(pilot)
        await send(pilot, chat, "Why is my GPU slow?")
        await reply_begun(pilot, chat, 20)
        if how == "ctrl+n":
            await pilot.press("ctrl+n")
        else:
            await send(pilot, chat, "/clear")
        await heard.arrival(pilot, ReplyFinished)
        await stopped(pilot, chat)
        await until(pilot, lambda: not chat.query(ChatMessage), "the old turns removed")
        assert chat.conversation == [] and chat.reply is None
        # The chat goes on, from nothing.
        app.environment.ollama.faults.clear()
        await send(pilot, chat, "And the fans?")
        await turns_finished(pilot, chat, 1)
        assert chat.conversation[0] == {"role": "user", "content": "And the fans?"}
        assert "tok" in rendered_text(last_reply(chat).query_one(".reply-stats"))
    assert app.return_code in (None, 0)


def _piece(text: str, at: float) -> ReplyPiece:
    return ReplyPiece(content=text, thinking="", arrived_at=at)


async def test_each_reply_gets_its_own_statistics_when_the_next_one_starts_first():
    """The statistics of a reply reach the pane a frame after its end (on the screen's queue),
    so the next reply can start in between: under load, Esc near the end of a long reply and
    a quick next prompt did. The next reply took the first one's statistics and was then let
    go: it never appeared, and the first one never got its statistics."""
    chat = ChatPane()
    app = Hosting(chat)
    async with app.run_test(size=(120, 40)) as pilot:
        chat.conversation.append({"role": "user", "content": "first?"})
        chat.reply_started("m")
        await chat.reply_pieces([_piece("The first ", 1.0), _piece("reply.", 1.1)])
        await chat.reply_written()
        # The next reply starts before the first one's statistics arrive.
        chat.reply_started("m")
        await chat.reply_pieces([_piece("The second ", 2.0)])
        await chat.reply_finished(ReplyStats("m", 0.1, 1.0, pieces=2, stopped=True), None)
        assert chat.streaming  # the second reply still streams
        assert chat.conversation[-1] == {"role": "assistant", "content": "The first reply."}
        await chat.reply_pieces([_piece("reply.", 2.1)])
        await chat.reply_written()
        await chat.reply_finished(ReplyStats("m", 0.1, 1.0, pieces=222), None)
        assert not chat.streaming
        await pilot.pause()
        first, second = chat.query(ChatMessage).filter(".-assistant")
        assert (first.content, second.content) == ("The first reply.", "The second reply.")
        first_stats = rendered_text(first.query_one(".reply-stats"))
        second_stats = rendered_text(second.query_one(".reply-stats"))
        assert "■ stopped" in first_stats and "2 tok" in first_stats
        assert "222 tok" in second_stats and "stopped" not in second_stats
        assert chat.conversation[-1] == {"role": "assistant", "content": "The second reply."}


async def test_a_new_chat_while_pieces_are_appended_keeps_the_reply_as_it_was_let_go():
    """Pieces of a reply wait for its Markdown; a new chat (Ctrl+N, /clear) in that moment let
    go of the reply, and the pane went on to keep the reply it no longer had: an
    AttributeError on None (CI, under load), or else the old chat's reply saved "streaming"
    after it was saved "stopped"."""
    chat = ChatPane()
    heard = Heard()
    app = Hosting(chat)
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        chat.conversation.append({"role": "user", "content": "Why is my GPU slow?"})
        chat.reply_started("m")
        first_chat = chat.saved
        waiting = asyncio.Event()

        async def pieces() -> None:
            waiting.set()
            await chat.reply_pieces([_piece("The power cap", 1.0)])

        appending = asyncio.create_task(pieces())
        await waiting.wait()  # the pieces now wait for the reply's Markdown
        await chat.action_new_chat()
        await appending
        assert chat.reply is None and chat.conversation == []
        await pilot.pause()
        kept = {id(m): m for m in heard.of(TurnToSave) if m.saved is first_chat}.values()
        states = [m.turn.state for m in kept if m.position == 1 and m.turn is not None]
        assert states[-1] == "stopped", states


@pytest.mark.parametrize("start", [(160, 50), (120, 40)])
async def test_the_chat_survives_any_terminal_size(chat_app, start):
    app = chat_app()
    async with app.run_test(size=start) as pilot:
        chat = await open_chat(pilot)
        prompt = chat.query_one(PromptInput)
        sizes = [(40, 12), (50, 15), (30, 8), (20, 6), (10, 5), (4, 3), (1, 1), start]
        for text in ("", "a prompt long enough to wrap " * 4):
            prompt.text = text
            for size in sizes:
                await pilot.resize_terminal(*size)
                await until(pilot, lambda size=size: app.size == size, f"{size}")
                await pilot.pause()
                assert app.is_running and prompt.text == text
        # Drawn again at the size it started at (laid out after the resize, a frame later).
        await until(pilot, lambda: prompt.region.width > 40, "laid out at the first size")


async def test_esc_in_the_prompt_leaves_it_and_esc_during_a_reply_stops_it(chat_app):
    app = chat_app()
    app.environment.ollama.faults.tokens_per_s = 60
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        prompt = chat.query_one(PromptInput)
        await pilot.press("escape")
        await until(
            pilot, lambda: app.focused is not prompt and app.focused is not None, "the prompt left"
        )
        keys = handled_by(app, events.Key)
        await pilot.press("x")  # a key now is not typed into the prompt
        # Back from the focused widget to the app, which found no binding: done with.
        await until(pilot, lambda: sum(key.key == "x" for key in keys) == 2, "x handled")
        assert prompt.text == ""
        prompt.focus()
        await send(pilot, chat, "Why is my GPU slow?")
        await reply_begun(pilot, chat)
        assert app.focused is prompt
        await pilot.press("escape")  # stops the reply, and the prompt keeps the focus
        await stopped(pilot, chat)
        assert app.focused is prompt
        assert last_reply(chat).stopped


async def test_with_nothing_loaded_the_picker_takes_the_largest_model_that_fits(chat_app):
    app = chat_app(at_s=0.0)  # the story's start: nothing loaded yet
    async with app.run_test(size=(120, 40)) as pilot:
        await first_reading_shown(pilot)
        await until(pilot, lambda: app.ollama_connected, "Ollama connected")
        await pilot.press("4")
        chat = app.screen.query_one(ChatPane)
        await until(pilot, lambda: "llama3.3:70b" in chat.fits, "the fits estimated")
        await until(pilot, lambda: chat.current_model is not None, "a model picked")
        assert app.running_models == []
        fitting = [model for model in chat.installed if chat.fits[model.name].placement == "fits"]
        largest = max(fitting, key=lambda model: model.size_bytes)
        assert chat.current_model == largest.name == "qwen2.5-coder:32b"


STALL_LONG = "Ollama has sent nothing for 12 s — Esc stops the reply"
STALL_SHORT = "nothing for 12 s — Esc stops"


async def test_the_live_strip_drops_parts_whole_and_never_cuts_a_figure_or_a_word():
    strip = LiveStrip()
    app = Hosting(strip)
    async with app.run_test(size=(160, 3)) as pilot:
        for rate in (30.0, 42.5, 12.25):
            strip.record_rate(rate)
        strip.gpu_pct, strip.cpu_pct, strip.split = 97.0, 412.0, "48%/52% CPU/GPU"
        strip.say(STALL_LONG, STALL_SHORT, warning=True)
        await pilot.pause()
        whole = set(strip.render().plain.split())
        for width in (160, 120, 100, 90, 80, 70, 60, 50, 40, 30):
            await pilot.resize_terminal(width, 3)
            await until(pilot, lambda width=width: strip.content_size.width == width)
            line = strip.render().plain
            assert len(line) <= width, (width, line)
            # Nothing cut mid-word (below 60 columns the state ends in "…" after a whole word).
            assert set(line.replace("…", "").split()) <= whole, (width, line)
            if width < 60:
                continue
            assert "12.2 tok/s" in line and "48%/52% CPU/GPU" in line, (width, line)
            assert STALL_LONG in line or STALL_SHORT in line, (width, line)
            if width >= 120:
                assert STALL_LONG in line and "GPU  97%" in line and "CPU 412%" in line


async def test_a_stall_warning_at_120x40_keeps_its_seconds_and_what_to_do(chat_app):
    app = chat_app(at_s=440.0)  # the model half on the CPU: the longest split
    server = app.environment.ollama
    server.faults.stall_after_tokens = 5
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot)
        chat.stall_after_first_token_s = 0.5
        await send(pilot, chat, "hello")
        strip = chat.query_one(LiveStrip)
        await until(pilot, lambda: "sent nothing" in strip.state, "the stall reported")
        await until(pilot, lambda: "CPU/GPU" in strip.split, "the split shown")
        line = strip.render().plain
        assert len(line) <= strip.content_size.width
        assert re.search(r"nothing for \d+ s — Esc stops", line), line
        assert strip.split in line and "tok/s" in line
        await pilot.press("escape")
        await stopped(pilot, chat)
