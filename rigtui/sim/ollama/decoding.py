"""Request bodies read as Ollama's handlers read them, with the same checks in the same order.

A body is bound as gin's ``c.ShouldBindJSON`` binds it into the handler's Go struct: the first
JSON value, fields of the wrong type refused with ``encoding/json``'s texts; then each handler's
own checks (``model is required``, ``keep_alive``, ``think``, raw mode) with the server's texts.
Every refusal is an :class:`~rigtui.sim.ollama.http.HttpError` carrying the status Ollama answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from rigtui.sim.ollama.http import HttpError
from rigtui.sim.ollama.wire import parse_keep_alive


def decode_body(body: bytes, struct_name: str) -> dict:
    """``c.ShouldBindJSON``: the first JSON value of the body, with Go's error texts."""
    text = body.decode("utf-8", "replace")
    stripped = text.lstrip()
    if not stripped:
        raise HttpError(400, "missing request body")
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(stripped.rstrip()):
            raise HttpError(400, "unexpected EOF") from None
        char = stripped[exc.pos]
        quoted = "'\\''" if char == "'" else f"'{char}'"
        context = {
            "Expecting property name enclosed in double quotes": "looking for beginning of "
            "object key string",
            "Expecting ',' delimiter": "after object key:value pair",
            "Expecting ':' delimiter": "after object key",
        }.get(exc.msg, "looking for beginning of value")
        raise HttpError(400, f"invalid character {quoted} {context}") from None
    if not isinstance(value, dict):
        raise HttpError(
            400,
            f"json: cannot unmarshal {json_kind(value)} into Go value of type api.{struct_name}",
        )
    return value


@dataclass(frozen=True)
class Asked:
    """What a chat or generate request asks for, once its body has been checked."""

    model: str
    stream: bool
    options: dict
    keep_alive_s: float | None
    think: bool | str | None
    prompt: str
    """The last user message (chat) or the prompt (generate): what the reply answers."""
    empty: bool
    """No messages / no prompt: a load (or, with ``keep_alive: 0``, an unload)."""


def parse_completion(raw: bytes, *, chat: bool) -> tuple[dict, Asked]:
    """Decode and check a ``ChatRequest`` or ``GenerateRequest`` in the order the server does."""
    struct_name = "ChatRequest" if chat else "GenerateRequest"
    body = decode_body(raw, struct_name)
    schema: dict[str, tuple[type, str]] = {
        "model": (str, "string"),
        "stream": (bool, "*bool"),
        "options": (dict, "map[string]interface {}"),
    }
    if chat:
        schema["messages"] = (list, "[]api.Message")
        schema["tools"] = (list, "api.Tools")
    else:
        schema.update(prompt=(str, "string"), system=(str, "string"), suffix=(str, "string"))
        schema.update(raw=(bool, "bool"), template=(str, "string"))
    check_fields(body, struct_name, schema)
    try:
        keep_alive_s = parse_keep_alive(body.get("keep_alive"))
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    think = body.get("think")
    if think is not None and not isinstance(think, (bool, str)):
        raise HttpError(
            400, 'think must be a boolean or string ("high", "medium", "low", true, or false)'
        )
    model = body.get("model") or ""
    if chat:
        if not model:
            raise HttpError(400, "model is required")
        messages = body.get("messages") or []
        if any(not isinstance(message, dict) for message in messages):
            raise HttpError(
                400,
                "json: cannot unmarshal string into Go struct field ChatRequest.messages "
                "of type api.Message",
            )
        users = [m for m in messages if str(m.get("role", "")).lower() == "user"]
        prompt = str(users[-1].get("content") or "") if users else ""
        empty = not messages
    else:
        prompt = body.get("prompt") or ""
        if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
            raise HttpError(400, "raw mode does not support template, system, or context")
        empty = prompt == ""
    asked = Asked(
        model=model,
        stream=body.get("stream") is not False,
        options=body.get("options") or {},
        keep_alive_s=keep_alive_s,
        think=think,
        prompt=prompt,
        empty=empty,
    )
    return body, asked


def json_kind(value: object) -> str:
    """How ``encoding/json`` names a JSON value's kind in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_fields(body: dict, struct_name: str, schema: Mapping[str, tuple[type, str]]) -> None:
    """Refuse a field whose JSON kind cannot go into its Go type, as ``encoding/json`` does."""
    for name, (kind, go_type) in schema.items():
        value = body.get(name)
        if value is None:
            continue
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if wrong:
            raise HttpError(
                400,
                f"json: cannot unmarshal {json_kind(value)} into Go struct field "
                f"{struct_name}.{name} of type {go_type}",
            )


def int_option(options: Mapping, key: str, default: int) -> int:
    """An integer option; ``default`` when it is absent or not a number."""
    value = options.get(key)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)
