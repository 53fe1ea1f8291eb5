"""One turn of the conversation: the user's prompt, or the model's streamed reply."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Sequence

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownStream

from rigtui.text.safe import literal, printable


def sanitise(fragment: str) -> str:
    """Model output is untrusted: control characters and escape sequences become visible text."""
    return printable(fragment, keep_newlines=True).replace("\\t", "\t")


FLAT_DEPTH = 12
"""Blocks nested deeper than this (6 lists, 12 quotes) are shown as plain lines. markdown-it
drops everything after its nesting limit (20: later paragraphs, tables, fences too), and each
level is one more widget inside a widget."""


def _flat_beyond_depth(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """At ``FLAT_DEPTH``, the rest of this container as one paragraph of its lines as sent."""
    if state.level < FLAT_DEPTH:
        return False
    line = start + 1
    while line < end and (state.isEmpty(line) or state.sCount[line] >= state.blkIndent):
        line += 1
    while line > start + 1 and state.isEmpty(line - 1):
        line -= 1
    if silent:
        return True
    state.push("paragraph_open", "p", 1).map = [start, line]
    inline = state.push("inline", "", 0)
    inline.content = state.getLines(start, line, state.blkIndent, False).strip()
    inline.map = [start, line]
    inline.children = []
    inline.meta = {"flat": True}
    state.push("paragraph_close", "p", -1)
    state.line = line
    return True


def _flat_lines_break(state: StateCore) -> None:
    """The flattened text keeps its lines (a paragraph joins them with spaces)."""
    for token in state.tokens:
        if token.type == "inline" and token.meta.get("flat"):
            for child in token.children or ():
                if child.type == "softbreak":
                    child.type = "hardbreak"


def _reply_parser() -> MarkdownIt:
    # HTML is text here: a chat about code is full of std::vector<int>, Vec<String>, <Enter>,
    # and markdown-it's "gfm-like" would make each an HTML tag that Textual does not show.
    parser = MarkdownIt("gfm-like", {"html": False})
    parser.block.ruler.before("table", "flat_beyond_depth", _flat_beyond_depth)
    parser.core.ruler.after("inline", "flat_lines_break", _flat_lines_break)
    return parser


REPLY_PARSER = _reply_parser()
"""One parser for every reply (it keeps no state between parses): Markdown asks for one at each
streamed append."""


def reply_parser() -> MarkdownIt:
    return REPLY_PARSER


def reply_markdown(classes: str) -> Markdown:
    return Markdown(classes=classes, parser_factory=reply_parser)


SEGMENT_BLOCKS = 12
"""A long reply streams into several Markdown widgets of about this many blocks each, so that a
frame lays out the newest one only: every frame of a growing reply laid out all of its blocks
(and their lists' items), a quarter of the frame by the end of a 2,000-token reply."""

_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.MULTILINE)


def segment_start(written: str, fragment: str) -> int | None:
    """Where in ``fragment`` a new segment of the reply may begin (``written`` is what the
    current segment holds): at a paragraph (a letter first) after a blank line, outside code
    fences, decided on its first letter so that nothing waits. A paragraph has no top margin,
    so the reply looks the same cut there (but for the rare paragraph that its next line turns
    into a heading or a table, which gets one blank line more)."""
    text = written + fragment
    position = text.find("\n\n", max(0, len(written) - 2))
    while position != -1:
        start = position + 2
        while start < len(text) and text[start] == "\n":
            start += 1
        if (
            start >= len(written)
            and text[start : start + 1].isalpha()
            and len(_FENCE.findall(text, 0, start)) % 2 == 0
        ):
            return start - len(written)
        position = text.find("\n\n", start)
    return None


def streamed_as_parsed(segments: Sequence[Markdown], source: str) -> bool:
    """Whether the streamed blocks are the blocks a full parse of ``source`` would make.

    Streaming appends re-parse from the last block, and a long reply is cut into segments at
    paragraphs, so this holds for every reply we have seen; the check spares the whole
    re-render (about half a second for a 2,000-token reply) unless a reply really needs it. It
    compares the parser's top-level tokens with the blocks shown (type and source lines, the
    segments' counted on from the lines before them), without making widgets of them: a few
    milliseconds for a long reply.
    """
    if "".join(markdown.source for markdown in segments) != source:
        return False
    factory = segments[0]._parser_factory
    parser = MarkdownIt("gfm-like") if factory is None else factory()
    expected = [
        (token.type, (token.map[0], token.map[1]))
        for token in parser.parse(source)
        if token.level == 0 and token.nesting >= 0 and token.map is not None
    ]
    shown = []
    before = 0  # lines in the segments before this one
    for markdown in segments:
        for block in markdown.children:
            if isinstance(block, MarkdownBlock):
                start, end = block.source_range
                shown.append((block.name, (start + before, end + before)))
        before += markdown.source.count("\n")
    return expected == shown


class ChatMessage(Vertical):
    """A prompt (``role`` "user") or a reply (``role`` "assistant") with its thinking and stats."""

    def __init__(self, role: str, text: str = "", *, model: str = "") -> None:
        super().__init__(classes=f"-{role}")
        self.role = role
        self.model = model
        self.content = text
        self.thinking = ""
        self.stopped = False
        self._segments: list[Markdown] = []
        """The reply's Markdown widgets, in order; the last one is streamed into."""
        self._written = ""
        """What the last segment was given."""
        self._streams: list[MarkdownStream] = []
        self._thinking_stream: MarkdownStream | None = None
        self.mounting: Awaitable[object] | None = None
        self.kept_as: tuple[object, int] | None = None
        """Where the reply is saved: (the chat's ``SavedChat``, its position)."""
        """Set by whoever mounts the reply: its pieces wait for its widgets."""

    async def _composed(self) -> None:
        if self.mounting is not None:
            mounting, self.mounting = self.mounting, None
            await mounting

    def compose(self) -> ComposeResult:
        if self.role == "user":
            yield Static(literal(self.content, keep_newlines=True), classes="prompt-text")
            return
        yield Static(Text(self.model or "assistant", style="bold"), classes="reply-header")
        with Collapsible(title="Thinking", collapsed=True, classes="thinking"):
            yield reply_markdown("thinking-text")
        yield reply_markdown("reply-text")
        yield Static("", classes="reply-stats")

    def on_mount(self) -> None:
        if self.role == "assistant":
            self.query_one(".thinking").display = False

    @property
    def reply_segments(self) -> list[Markdown]:
        """The reply's Markdown widgets, the first one from the start (none once removed)."""
        if not self._segments:
            self._segments = list(self.query(".reply-text").results(Markdown))[:1]
        return self._segments

    async def append(self, content: str, thinking: str) -> None:
        """Add streamed text; Markdown is appended, never re-rendered whole per token."""
        await self._composed()
        if not self.is_attached:
            return  # removed (a new chat) while its pieces were on their way
        if thinking:
            self.thinking += thinking
            for collapsible in self.query(".thinking").results(Collapsible):
                collapsible.display = True
            if self._thinking_stream is None:
                for markdown in self.query(".thinking-text").results(Markdown):
                    self._thinking_stream = Markdown.get_stream(markdown)
            if self._thinking_stream is not None:
                await self._thinking_stream.write(sanitise(thinking))
        if content:
            self.content += content
            shown = sanitise(content)
            segments = self.reply_segments
            if not segments:
                return
            if not self._streams:
                self._streams.append(Markdown.get_stream(segments[0]))
            cut = None
            if len(segments[-1].children) >= SEGMENT_BLOCKS:
                cut = segment_start(self._written, shown)
            if cut is not None:
                await self._write(shown[:cut])
                segment = reply_markdown("reply-text")
                await self.mount(segment, after=segments[-1])
                segments.append(segment)
                self._streams.append(Markdown.get_stream(segment))
                self._written = ""
                shown = shown[cut:]
            await self._write(shown)

    async def _write(self, shown: str) -> None:
        self._written += shown
        await self._streams[-1].write(shown)

    async def settle(self) -> None:
        """Stop the streams once all they were given is appended (the reply has ended)."""
        for stream in (*self._streams, self._thinking_stream):
            if stream is not None:
                await stream.stop()
        self._streams, self._thinking_stream = [], None
        for markdown in self.query(Markdown):
            # stop() leaves the last append running on its own: let it finish first.
            async with markdown.lock:
                pass

    async def finish(self, stats_line: str, *, stopped: bool = False, error: str = "") -> None:
        """Settle, write the statistics, then render again only the segments that streaming
        left other than a full parse would (code highlighting). Each segment on its own: a
        segment is at most a few blocks, where the whole of a long reply rendered at once held
        the screen for seconds (and it is the screen that runs this, a frame after the end).

        The message may be removed (a new chat) at any of its waits: then it stops quietly."""
        await self._composed()
        await self.settle()
        self.stopped = stopped
        self.set_class(stopped, "-stopped")
        self.set_class(bool(error), "-failed")
        line = Text(stats_line, style="dim")
        if stopped:
            line = Text.assemble(("■ stopped  ", "bold"), line)
        if error:
            line = Text.assemble(line, "\n", (error, "bold red"))
        for stats in self.query(".reply-stats").results(Static):
            stats.update(line)
        if self.thinking:
            for thinking in self.query(".thinking-text").results(Markdown):
                await thinking.update(sanitise(self.thinking))
            for collapsible in self.query(".thinking").results(Collapsible):
                collapsible.title = f"Thinking ({len(self.thinking.split())} words)"
        if not self.content or not self.is_attached:
            return
        for segment in self.reply_segments:
            if not self.is_attached:
                return
            if not streamed_as_parsed([segment], segment.source):
                await segment.update(segment.source)

    async def show_saved(self, content: str, thinking: str, stats_line: str, state: str) -> None:
        """A reply read back from the saved chats, drawn as it was when it ended: stopped and
        failed as they were marked then, and one still ``streaming`` as cut off."""
        await self.append(content, thinking)
        await self.finish(stats_line, stopped=state == "stopped")
        self.set_class(state == "failed", "-failed")  # its stats line holds the error's words
        if state == "streaming":
            self.add_class("-cut-off")
            for stats in self.query(".reply-stats").results(Static):
                stats.update(Text(CUT_OFF_NOTE, style="bold"))


CUT_OFF_NOTE = "✂ cut off: rigtui was closed while this reply streamed"
