"""A saved conversation as Markdown (to read, to paste) or JSON (for scripts)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import datetime, timezone

from rigtui.store.chats import Conversation

EXPORT_FORMAT_VERSION = 1

_STATE_NOTE = {
    "streaming": "cut off: rigtui was closed while this reply streamed",
    "stopped": "stopped",
    "failed": "failed",
}


def _when(epoch_s: float) -> str:
    try:
        moment = datetime.fromtimestamp(epoch_s, timezone.utc).astimezone()
    except (OverflowError, OSError, ValueError):
        return "at an unknown time"  # a clock that was far off when it was saved
    return moment.strftime("%Y-%m-%d %H:%M")


def to_markdown(conversation: Conversation) -> str:
    summary = conversation.summary
    lines = [f"# {summary.title or 'Untitled conversation'}", ""]
    facts = [
        f"Model: `{summary.model}`" if summary.model else "",
        f"Started {_when(summary.created_at)}",
    ]
    lines.append(" · ".join(fact for fact in facts if fact))
    if conversation.options.system_prompt:
        lines += ["", "**System prompt**", ""]
        lines += [
            f"> {line}" if line else ">" for line in conversation.options.system_prompt.splitlines()
        ]
    for turn in conversation.turns:
        heading = "You" if turn.role == "user" else (turn.model or summary.model or "Assistant")
        lines += ["", f"## {heading}", ""]
        if turn.thinking:
            lines += [
                "<details><summary>Thinking</summary>",
                "",
                turn.thinking,
                "",
                "</details>",
                "",
            ]
        lines.append(turn.content)
        notes = [note for note in (_STATE_NOTE.get(turn.state, ""), turn.stats) if note]
        if notes:
            lines += ["", f"*{' · '.join(notes)}*"]
    return "\n".join(lines).rstrip() + "\n"


def _number(value: float) -> float | None:
    """JSON has no NaN or infinity: a time that is not a number is null."""
    return value if math.isfinite(value) else None


def to_json(conversation: Conversation) -> str:
    summary = conversation.summary
    document = {
        "format": "rigtui-chat",
        "version": EXPORT_FORMAT_VERSION,
        "id": summary.id,
        "title": summary.title,
        "model": summary.model,
        "created_at": _number(summary.created_at),
        "updated_at": _number(summary.updated_at),
        "options": dataclasses.asdict(conversation.options),
        "turns": [
            {
                **dataclasses.asdict(turn),
                "created_at": _number(turn.created_at),
                "cut_off": turn.cut_off,
            }
            for turn in conversation.turns
        ],
        # What Ollama's /api/chat takes, to replay the conversation elsewhere.
        "messages": (
            [{"role": "system", "content": conversation.options.system_prompt}]
            if conversation.options.system_prompt
            else []
        )
        + conversation.messages(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export_file_name(conversation: Conversation, format: str) -> str:
    """``chat-12-why-is-my-gpu-slow.md``: the saved id (if any) and the title's words."""
    words = re.sub(r"[^a-z0-9]+", "-", conversation.summary.title.lower()).strip("-")[:40]
    number = f"-{conversation.id}" if conversation.id else ""
    return f"chat{number}-{words.rstrip('-') or 'untitled'}.{format}"
