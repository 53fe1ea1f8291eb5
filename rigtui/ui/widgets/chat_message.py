"""One turn of the conversation: the user's prompt, or the model's streamed reply."""

from __future__ import annotations

from markdown_it import MarkdownIt
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets._markdown import MarkdownBlock

from rigtui.ui.render.safe import literal, printable


def sanitise(fragment: str) -> str:
    """Model output is untrusted: control characters and escape sequences become visible text."""
    return printable(fragment, keep_newlines=True).replace("\\t", "\t")


def streamed_as_parsed(markdown: Markdown, source: str) -> bool:
    """Whether the streamed blocks are the blocks a full parse of ``source`` would make.

    Streaming appends re-parse from the last block, so this holds for every reply we have seen;
    the check spares the whole re-render (about half a second for a 2,000-token reply) unless a
    reply really needs it. It compares the parser's top-level tokens with the blocks shown (type
    and source lines), without making widgets of them: a few milliseconds for a long reply.
    """
    if markdown.source != source:
        return False
    parser = (
        MarkdownIt("gfm-like") if markdown._parser_factory is None else (markdown._parser_factory())
    )
    expected = [
        (token.type, (token.map[0], token.map[1]))
        for token in parser.parse(source)
        if token.level == 0 and token.nesting >= 0 and token.map is not None
    ]
    shown = [
        (block.name, tuple(block.source_range))
        for block in markdown.children
        if isinstance(block, MarkdownBlock)
    ]
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
        self._stream = None
        self._thinking_stream = None

    def compose(self) -> ComposeResult:
        if self.role == "user":
            yield Static(literal(self.content), classes="prompt-text")
            return
        yield Static(Text(self.model or "assistant", style="bold"), classes="reply-header")
        with Collapsible(title="Thinking", collapsed=True, classes="thinking"):
            yield Markdown(classes="thinking-text")
        yield Markdown(classes="reply-text")
        yield Static("", classes="reply-stats")

    def on_mount(self) -> None:
        if self.role == "assistant":
            self.query_one(".thinking").display = False

    @property
    def reply_markdown(self) -> Markdown:
        return self.query_one(".reply-text", Markdown)

    async def append(self, content: str, thinking: str) -> None:
        """Add streamed text; Markdown is appended, never re-rendered whole per token."""
        if thinking:
            self.thinking += thinking
            collapsible = self.query_one(".thinking", Collapsible)
            if not collapsible.display:
                collapsible.display = True
            if self._thinking_stream is None:
                self._thinking_stream = Markdown.get_stream(
                    self.query_one(".thinking-text", Markdown)
                )
            await self._thinking_stream.write(sanitise(thinking))
        if content:
            self.content += content
            if self._stream is None:
                self._stream = Markdown.get_stream(self.reply_markdown)
            await self._stream.write(sanitise(content))

    async def finish(self, stats_line: str, *, stopped: bool = False, error: str = "") -> None:
        """Stop the streams, and render the whole reply again only if streaming left it other
        than a full parse would (code highlighting)."""
        for stream in (self._stream, self._thinking_stream):
            if stream is not None:
                await stream.stop()
        self._stream = self._thinking_stream = None
        self.stopped = stopped
        for markdown in self.query(Markdown):
            # stop() leaves the last append running on its own: let it finish first.
            async with markdown.lock:
                pass
        if self.content and not streamed_as_parsed(self.reply_markdown, sanitise(self.content)):
            await self.reply_markdown.update(sanitise(self.content))
        if self.thinking:
            await self.query_one(".thinking-text", Markdown).update(sanitise(self.thinking))
            self.query_one(
                ".thinking", Collapsible
            ).title = f"Thinking ({len(self.thinking.split())} words)"
        line = Text(stats_line, style="dim")
        if stopped:
            line = Text.assemble(("■ stopped  ", "bold"), line)
        if error:
            line = Text.assemble(line, "\n", (error, "bold red"))
        self.query_one(".reply-stats", Static).update(line)
        self.set_class(stopped, "-stopped")
        self.set_class(bool(error), "-failed")
