"""A saved conversation as Markdown and JSON, over any text and any times a database can hold."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from rigtui.llm.ollama import ChatOptions
from rigtui.store.chats import Conversation, ConversationSummary, Turn
from rigtui.store.export import to_json, to_markdown

texts = st.text(max_size=80)
times = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(0.0),
    st.just(1e300),
    st.just(-1e12),
)
turns = st.builds(
    Turn,
    role=st.sampled_from(["system", "user", "assistant"]),
    content=texts,
    thinking=texts,
    model=texts,
    state=st.sampled_from(["streaming", "done", "stopped", "failed"]),
    stats=texts,
    created_at=times,
)


@st.composite
def conversations(draw) -> Conversation:
    made = tuple(draw(st.lists(turns, max_size=6)))
    summary = ConversationSummary(
        id=draw(st.integers(1, 2**62)),
        title=draw(texts),
        model=draw(texts),
        created_at=draw(times),
        updated_at=draw(times),
        turns=len(made),
        characters=sum(len(turn.content) for turn in made),
    )
    options = ChatOptions(system_prompt=draw(texts), temperature=draw(st.none() | st.floats(0, 2)))
    return Conversation(summary, options, made)


@given(conversations())
def test_markdown_holds_every_turn_and_never_raises(conversation):
    text = to_markdown(conversation)
    assert text.endswith("\n") and text.startswith("# ")
    for turn in conversation.turns:
        assert turn.content.rstrip() in text
    assert text.count("cut off: rigtui was closed") == sum(t.cut_off for t in conversation.turns)


def _not_json(name: str) -> None:
    raise AssertionError(f"{name} is not JSON")


@given(conversations())
def test_json_replays_as_ollamas_messages(conversation):
    document = json.loads(to_json(conversation), parse_constant=_not_json)
    assert (document["format"], document["id"]) == ("rigtui-chat", conversation.id)
    system = conversation.options.system_prompt
    expected = ([{"role": "system", "content": system}] if system else []) + [
        {"role": turn.role, "content": turn.content} for turn in conversation.turns if turn.content
    ]
    assert document["messages"] == expected
    assert [turn["cut_off"] for turn in document["turns"]] == [
        turn.state == "streaming" for turn in conversation.turns
    ]


def test_a_start_time_out_of_range_is_said_not_raised():
    summary = ConversationSummary(1, "t", "m", math.inf, 0.0, 0, 0)
    assert "Started at an unknown time" in to_markdown(Conversation(summary, ChatOptions()))
