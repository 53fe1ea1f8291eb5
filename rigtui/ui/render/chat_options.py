"""The chat's options in a few words, for the line above the conversation."""

from __future__ import annotations

from rigtui.llm.ollama import ChatOptions


def describe_options(options: ChatOptions) -> str:
    parts = []
    if options.system_prompt:
        parts.append("system prompt")
    if options.temperature is not None:
        parts.append(f"temp {options.temperature:g}")
    parts.append(f"ctx {options.num_ctx}" if options.num_ctx else "ctx default")
    if options.num_gpu is not None:
        parts.append(f"num_gpu {options.num_gpu}")
    if options.keep_alive:
        parts.append(f"keep {options.keep_alive}")
    if options.think is not None:
        parts.append("thinking on" if options.think else "thinking off")
    return " · ".join(parts)
