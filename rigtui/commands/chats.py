"""``rigtui chats``: the saved conversations, listed (a table or JSON) or exported (Markdown, JSON).

Reads the same database the dashboard writes (``data_dir/chats.db``); a running rigtui may go on
writing meanwhile (WAL: readers do not wait). A file written with ``--output`` appears whole or
not at all, and never replaces an existing one without ``--force``.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rigtui.commands.output import emit
from rigtui.config import Settings
from rigtui.store.chats import DATABASE_NAME, ChatStore, ConversationSummary, StoreError
from rigtui.store.export import to_json, to_markdown
from rigtui.store.files import write_atomically, write_new_file
from rigtui.text.safe import printable

TITLE_WIDTH = 40
MODEL_WIDTH = 20


@dataclass(frozen=True)
class ChatsOptions:
    action: str = "list"
    """``list`` or ``export``."""
    as_json: bool = False
    search: str = ""
    conversation: int | None = None
    format: str = "md"
    output: Path | None = None
    force: bool = False


class ChatsError(Exception):
    """What the user is told, in words; the command exits 1."""


def run(settings: Settings, options: ChatsOptions) -> int:
    try:
        if options.action == "export":
            return _export(settings, options)
        return _list(settings, options)
    except (ChatsError, StoreError) as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 1


def _open(settings: Settings) -> ChatStore | None:
    """The store, or None where nothing was ever saved (opening would create it)."""
    if settings.data_dir is None:
        raise ChatsError("no data directory: this rigtui keeps nothing")
    if not (settings.data_dir / DATABASE_NAME).exists():
        return None
    return ChatStore.open(settings.data_dir)


def _list(settings: Settings, options: ChatsOptions) -> int:
    store = _open(settings)
    if store is None:
        emit("[]\n" if options.as_json else f"no saved chats yet in {settings.data_dir}\n")
        return 0
    try:
        summaries = store.conversations(options.search)
    finally:
        store.close()
    if options.as_json:
        emit(format_json(summaries))
    elif not summaries and options.search.strip():
        emit(f"no saved chat mentions {options.search.strip()!r}\n")
    elif not summaries:
        emit(f"no saved chats yet in {settings.data_dir}\n")
    else:
        emit(format_table(summaries))
    return 0


def format_json(summaries: list[ConversationSummary]) -> str:
    return (
        json.dumps(
            [
                {
                    "id": summary.id,
                    "title": summary.title,
                    "model": summary.model,
                    "created_at": summary.created_at,
                    "updated_at": summary.updated_at,
                    "turns": summary.turns,
                    "characters": summary.characters,
                }
                for summary in summaries
            ],
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _cell(text: str, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(summaries: list[ConversationSummary]) -> str:
    """Plain text, safe to pipe: a title is the user's text and is shown escaped."""
    id_width = max(2, *(len(str(summary.id)) for summary in summaries))
    lines = [
        f"{'ID':>{id_width}}  {'TITLE':<{TITLE_WIDTH}}  {'MODEL':<{MODEL_WIDTH}}  "
        f"{'UPDATED':<16}  TURNS"
    ]
    for summary in summaries:
        updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated_at))
        title = _cell(summary.title or "(untitled)", TITLE_WIDTH)
        model = _cell(summary.model or "-", MODEL_WIDTH)
        lines.append(
            f"{summary.id:>{id_width}}  {title:<{TITLE_WIDTH}}  {model:<{MODEL_WIDTH}}"
            f"  {updated:<16}  {summary.turns:>5}"
        )
    return "\n".join(lines) + "\n"


def _export(settings: Settings, options: ChatsOptions) -> int:
    if options.output is not None and options.output.exists() and not options.force:
        raise ChatsError(f"{options.output} exists: use --force to replace it")
    store = _open(settings)
    if store is None:
        raise ChatsError(
            f"no saved chat with id {options.conversation}: "
            f"no saved chats yet in {settings.data_dir}"
        )
    try:
        conversation = store.load(options.conversation)
    except KeyError:
        raise ChatsError(
            f"no saved chat with id {options.conversation} in {settings.data_dir} "
            "(rigtui chats list shows them)"
        ) from None
    finally:
        store.close()
    text = to_json(conversation) if options.format == "json" else to_markdown(conversation)
    if options.output is None:
        # Model output is untrusted: on a terminal its escape sequences are shown, not obeyed.
        emit(printable(text, keep_newlines=True) if sys.stdout.isatty() else text)
    else:
        write_file(options.output, text, replace=options.force)
        print(f"wrote chat {conversation.id} to {options.output}", file=sys.stderr)
    return 0


def write_file(path: Path, text: str, *, replace: bool) -> None:
    """``text`` in ``path`` whole or not at all; an existing file is replaced only with
    ``replace`` (the move is then the only change)."""
    if path.is_dir():
        raise ChatsError(f"{path} is a directory")
    if not path.parent.is_dir():  # written beside it: the folder must be there already
        raise ChatsError(f"cannot write {path}: {os.strerror(errno.ENOENT)}")
    try:
        if replace:
            write_atomically(path, text)
        else:
            write_new_file(path, text)
    except FileExistsError:
        raise ChatsError(f"{path} exists: use --force to replace it") from None
    except OSError as error:
        raise ChatsError(f"cannot write {path}: {error.strerror or error}") from None
