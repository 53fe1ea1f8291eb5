"""The simulated Ollama server, heard through the real ollama-python client and raw httpx.

Every test runs a fresh server on an ephemeral port over a one-RTX-4090 rig whose clock does not
move. Pacing is sped up (``speed``) so that a reply streams in a fraction of a second; the only
waits are polls with generous deadlines, never assertions on how long something took.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import ollama
import pytest

from rigtui.sim.clock import ManualClock
from rigtui.sim.ollama import (
    FOREVER_S,
    SimulatedOllama,
    parse_go_duration,
    parse_keep_alive,
)
from rigtui.sim.ollama.models import DEFAULT_INSTALLED, REPLIES, THOUGHTS, tokenize
from rigtui.sim.rig import MIB, GpuSlot, SimulatedRig
from rigtui.sim.scenario import DESKTOP_4090, OCULINK_4090

FAST = 1000.0
"""Pacing for tests that do not look at rates: an 8B reply in well under a second."""
TIMEOUT_S = 30.0
PROMPT = [{"role": "user", "content": "Why is my model slow?"}]


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def rig() -> SimulatedRig:
    return SimulatedRig(ManualClock(), (GpuSlot(),))


@pytest.fixture
def server(rig) -> Iterator[SimulatedOllama]:
    sim = SimulatedOllama(rig, speed=FAST)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def client(server) -> Iterator[ollama.Client]:
    with ollama.Client(host=server.url, timeout=TIMEOUT_S) as made:
        yield made


@pytest.fixture
def raw(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as made:
        yield made


# --- transport and listings --------------------------------------------------------------------


def test_root_head_unknown_route_and_version(raw):
    root = raw.get("/")
    assert (root.status_code, root.text) == (200, "Ollama is running")
    assert root.headers["content-type"].startswith("text/plain")
    head = raw.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len("Ollama is running"))
    for missing in (raw.get("/api/nope"), raw.post("/api/tags"), raw.get("/api/chat")):
        assert (missing.status_code, missing.text) == (404, "404 page not found")
        assert missing.headers["content-type"].startswith("text/plain")
    version = raw.get("/api/version")
    assert version.json() == {"version": "0.12.6"}
    assert version.headers["content-type"] == "application/json; charset=utf-8"


def test_connections_are_kept_alive(server, raw):
    for _ in range(5):
        assert raw.get("/api/version").status_code == 200
    assert raw.post("/api/chat", json={"model": "llama3.1:8b", "messages": PROMPT}).is_success
    assert raw.get("/api/nope").status_code == 404
    assert raw.post("/api/chat", json={"model": "nosuch", "messages": PROMPT}).status_code == 404
    assert raw.get("/api/ps").is_success
    assert server.accepted_connections == 1  # httpx reused one connection for all of them
    wait_until(lambda: len(server.requests) == 9)
    assert [entry["status"] for entry in server.requests[-4:]] == [200, 404, 404, 200]
    assert server.requests[5]["model"] == "llama3.1:8b" and server.requests[5]["tokens_sent"] > 0


def test_tags_lists_the_installed_models_newest_first(client, raw):
    listing = client.list()
    assert [model.model for model in listing.models] == list(DEFAULT_INSTALLED)
    first = raw.get("/api/tags").json()["models"][0]
    assert list(first) == ["name", "model", "modified_at", "size", "digest", "details"]
    assert first["name"] == first["model"] == "llama3.1:8b"
    assert len(first["digest"]) == 64 and int(first["digest"], 16) >= 0
    assert first["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "8.0B",
        "quantization_level": "Q4_K_M",
    }
    sizes = {model.model: model.size for model in listing.models}
    assert 4.8e9 < sizes["llama3.1:8b"] < 5.0e9
    assert 42e9 < sizes["llama3.3:70b"] < 43e9
    modified = [model.modified_at for model in listing.models]
    assert modified == sorted(modified, reverse=True)
    assert all(moment.tzinfo is not None for moment in modified)


def test_show_gives_model_info_and_capabilities(client):
    shown = client.show("llama3.1:8b")
    info = shown.modelinfo
    assert info["general.architecture"] == "llama"
    assert info["general.parameter_count"] == 8_030_261_312
    assert info["general.file_type"] == 15
    assert info["llama.context_length"] == 131_072
    assert info["llama.embedding_length"] == 4096
    assert info["llama.block_count"] == 32
    assert info["llama.attention.head_count"] == 32
    assert info["llama.attention.head_count_kv"] == 8
    assert list(info) == sorted(info)
    assert shown.details.quantization_level == "Q4_K_M"
    assert shown.capabilities == ["completion", "tools"]
    assert 'stop                           "<|eot_id|>"' in shown.parameters
    qwen = client.show("qwen2.5-coder:32b").modelinfo
    assert (qwen["qwen2.block_count"], qwen["qwen2.context_length"]) == (64, 32_768)
    assert "thinking" in client.show("deepseek-r1:14b").capabilities
    assert client.show("nomic-embed-text").capabilities == ["embedding"]
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("nosuch")
    assert (caught.value.status_code, caught.value.error) == (
        404,
        "model 'nosuch:latest' not found",
    )


def test_json_is_encoded_the_way_go_encodes_it(raw):
    body = raw.post("/api/show", json={"model": "llama3.1:8b"}).content
    assert b"\\u003c|eot_id|\\u003e" in body
    assert b"<" not in body and body.startswith(b'{"license":"LLAMA 3.1')
    assert b'"modelfile":"# Modelfile generated by \\"ollama show\\"' in body  # compact


# --- chat and generate ---------------------------------------------------------------------------


def test_chat_streams_the_canned_reply_at_the_rate_it_reports(rig):
    # Speed 8: llama3.1:8b's modelled ~143 tok/s becomes ~1150 tok/s, slow enough for the
    # client to keep up, so what it measures is what the server paced.
    sim = SimulatedOllama(rig, speed=8)
    sim.start()
    try:
        with ollama.Client(host=sim.url, timeout=TIMEOUT_S) as client:
            arrivals = []
            parts = []
            for chunk in client.chat("llama3.1:8b", messages=PROMPT, stream=True):
                if not chunk.done:
                    arrivals.append(time.perf_counter())
                    parts.append(chunk.message.content)
                final = chunk
            again = client.chat("llama3.1:8b", messages=PROMPT)
    finally:
        sim.stop()
    assert "".join(parts) == sim.reply_for(PROMPT[0]["content"])
    assert len(parts) == final.eval_count == len(tokenize("".join(parts)))
    assert final.done_reason == "stop" and final.message.content == ""
    assert final.model == "llama3.1:8b"
    for metric in (
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
    ):
        assert isinstance(final[metric], int) and final[metric] > 0, metric
    assert final.total_duration > final.load_duration + final.eval_duration
    reported = final.eval_count / final.eval_duration * 1e9
    measured = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert reported == pytest.approx(measured, rel=0.15)
    # The second reply found the model loaded.
    assert again.message.content == "".join(parts)
    assert again.load_duration < final.load_duration


def test_final_chunk_and_created_at_as_the_server_writes_them(raw):
    lines = []
    with raw.stream("POST", "/api/chat", json={"model": "llama3.1:8b", "messages": PROMPT}) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in r.iter_lines()]
    first, last = lines[0], lines[-1]
    assert list(first) == ["model", "created_at", "message", "done"]
    assert first["message"]["role"] == "assistant" and first["created_at"].endswith("Z")
    assert list(last)[:5] == ["model", "created_at", "message", "done", "done_reason"]
    assert last["message"] == {"role": "assistant", "content": ""}
    assert all(not line["done"] for line in lines[:-1])


def test_thinking_model_thinks_first(client, server):
    chunks = list(client.chat("deepseek-r1:14b", messages=PROMPT, stream=True))
    thinking = [c.message.thinking for c in chunks if c.message.thinking]
    kinds = ["thinking" if c.message.thinking else "content" for c in chunks[:-1]]
    assert kinds == sorted(kinds, key=lambda kind: kind != "thinking")
    assert "".join(thinking) == server.thinking_for(PROMPT[0]["content"])
    assert "".join(c.message.content for c in chunks) == server.reply_for(PROMPT[0]["content"])
    assert chunks[-1].eval_count == len(chunks) - 1  # thinking tokens count too
    quiet = client.chat("deepseek-r1:14b", messages=PROMPT, think=False)
    assert quiet.message.thinking is None
    whole = client.chat("deepseek-r1:14b", messages=PROMPT, think=True)
    assert whole.message.thinking == "".join(thinking)


def test_think_on_a_model_that_cannot_is_refused(client):
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat("llama3.1:8b", messages=PROMPT, think=True)
    assert caught.value.status_code == 400
    assert caught.value.error == '"llama3.1:8b" does not support thinking'


def test_an_embedding_model_cannot_chat(client):
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat("nomic-embed-text", messages=PROMPT)
    assert (caught.value.status_code, caught.value.error) == (
        400,
        '"nomic-embed-text" does not support chat',
    )


def test_unknown_model_is_404_with_the_request_string(client):
    for call in (
        lambda: client.chat("nosuch", messages=PROMPT),
        lambda: client.generate("nosuch", "hi"),
        lambda: list(client.chat("nosuch", messages=PROMPT, stream=True)),
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            call()
        assert (caught.value.status_code, caught.value.error) == (404, "model 'nosuch' not found")


def test_bad_requests_get_go_error_texts(client, raw):
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat("llama3.1:8b", messages=PROMPT, keep_alive="10")
    assert (caught.value.status_code, caught.value.error) == (
        400,
        'time: missing unit in duration "10"',
    )
    answers = {
        b"": "missing request body",
        b"xyz": "invalid character 'x' looking for beginning of value",
        b'{"model": "llama3.1:8b"': "unexpected EOF",
        b'{"model": "llama3.1:8b", "keep_alive": true}': "Unsupported type: 'bool'",
        b'{"messages": []}': "model is required",
    }
    for body, error in answers.items():
        reply = raw.post("/api/chat", content=body)
        assert (reply.status_code, reply.json()) == (400, {"error": error}), body


def test_generate_streams_and_ends_with_a_context(client, server):
    chunks = list(client.generate("llama3.1:8b", "Tell me about quantization", stream=True))
    text = "".join(chunk.response for chunk in chunks)
    assert text == server.reply_for("Tell me about quantization")
    assert chunks[-1].done and chunks[-1].context and chunks[-1].eval_count == len(chunks) - 1
    whole = client.generate("llama3.1:8b", "Tell me about quantization")
    assert whole.response == text and whole.done_reason == "stop"


def test_num_predict_cuts_the_reply_with_done_reason_length(client, server):
    reply = client.chat("llama3.1:8b", messages=PROMPT, options={"num_predict": 7})
    assert (reply.done_reason, reply.eval_count) == ("length", 7)
    assert reply.message.content == "".join(tokenize(server.reply_for(PROMPT[0]["content"]))[:7])
    other = client.chat("llama3.1:8b", messages=PROMPT, options={"seed": 3, "temperature": 0.2})
    assert other.message.content == server.reply_for(PROMPT[0]["content"], seed=3)


def test_concurrent_requests_to_one_model_take_turns(server):
    async def ask(client: ollama.AsyncClient) -> str:
        reply = await client.chat("llama3.1:8b", messages=PROMPT)
        return reply.message.content

    async def main() -> list[str]:
        client = ollama.AsyncClient(host=server.url, timeout=TIMEOUT_S)
        return await asyncio.gather(*(ask(client) for _ in range(3)))

    assert set(asyncio.run(main())) == {server.reply_for(PROMPT[0]["content"])}
    assert len(server.loaded()) == 1
    wait_until(lambda: server.loaded()[0].in_flight == 0)  # the last one ends after its reply


# --- loading, keep_alive and placement -----------------------------------------------------------


def test_empty_messages_load_and_keep_alive_zero_unloads(client, server, rig):
    loaded = client.chat("llama3.1:8b", messages=[])
    assert (loaded.done, loaded.done_reason, loaded.message.content) == (True, "load", "")
    assert loaded.eval_count is None  # omitempty: no metrics on a load
    (model,) = client.ps().models
    pid = server.loaded()[0].runner_pid
    assert model.model == "llama3.1:8b" and pid in rig.processes
    assert rig.processes[pid].cmdline[:2] == ("/usr/local/bin/ollama", "runner")
    gone = client.chat("llama3.1:8b", messages=[], keep_alive=0)
    assert gone.done_reason == "unload"
    assert client.ps().models == [] and pid not in rig.processes
    assert client.generate("llama3.1:8b", "", keep_alive=0).done_reason == "unload"


def test_keep_alive_zero_with_a_prompt_unloads_after_the_reply(client, server):
    reply = client.chat("llama3.1:8b", messages=PROMPT, keep_alive=0)
    assert reply.message.content == server.reply_for(PROMPT[0]["content"])
    assert client.ps().models == []


def test_ps_for_a_model_that_fits(client, server, rig):
    client.chat("llama3.1:8b", messages=[], keep_alive="10m")
    (model,) = client.ps().models
    assert model.size == model.size_vram
    assert 5e9 < model.size < 7e9  # weights + KV cache at 4096 + graph
    assert model.context_length == 4096
    assert model.details.parameter_size == "8.0B"
    remaining = model.expires_at.timestamp() - time.time()
    assert 590 < remaining <= 600
    (state,) = server.loaded()
    assert (state.layers_on_gpu, state.layers_total, state.gpus) == (33, 33, (0,))
    work = rig.processes[state.runner_pid].gpu[0]
    assert work.vram_target_bytes == model.size_vram
    assert 120 < state.generation_tokens_per_s < 170  # memory-bandwidth bound on a 4090


def test_ps_for_a_70b_model_split_between_gpu_and_cpu(client, server, rig):
    client.generate("llama3.3:70b", "")
    (model,) = client.ps().models
    assert 0 < model.size_vram < model.size
    cpu_share = (model.size - model.size_vram) / model.size
    assert 0.3 < cpu_share < 0.6  # `ollama ps` would say about 45%/55% CPU/GPU
    (state,) = server.loaded()
    assert 0 < state.layers_on_gpu < state.layers_total == 81
    process = rig.processes[state.runner_pid]
    assert process.gpu[0].vram_target_bytes == pytest.approx(model.size_vram, rel=0.01)
    assert process.rss_bytes >= model.size - model.size_vram
    assert process.rss_bytes == pytest.approx(model.size - model.size_vram + 180 * MIB, rel=0.01)
    flags = dict(zip(process.cmdline[2::2], process.cmdline[3::2], strict=False))
    assert flags["--n-gpu-layers"] == str(state.layers_on_gpu) and flags["--ctx-size"] == "4096"
    assert 1.5 < state.generation_tokens_per_s < 2.5
    assert 40 < state.prompt_tokens_per_s < 80


def test_the_split_model_works_the_cpu_and_idles_the_gpu(client, server, rig):
    server.faults.stall_after_tokens = 2  # hold the runner mid-reply while we look
    stream = client.chat("llama3.3:70b", messages=PROMPT, stream=True)
    next(stream)
    next(stream)
    (state,) = server.loaded()
    process = rig.processes[state.runner_pid]
    assert state.phase == "generate" and state.in_flight == 1
    assert process.cpu_cores == rig.cpu.physical_cores
    assert process.gpu[0].sm_util_pct == 17.0 and process.gpu[0].jitter_pct == 16.0
    stream.close()
    wait_until(lambda: server.loaded()[0].phase == "idle")
    assert process.cpu_cores == 0.01 and process.gpu[0].sm_util_pct == 0.0


def test_num_gpu_zero_is_cpu_only_and_new_options_reload(client, server, rig):
    client.chat("llama3.1:8b", messages=[], options={"num_gpu": 0})
    (model,) = client.ps().models
    assert model.size_vram == 0 and model.size > 0
    first = server.loaded()[0].runner_pid
    assert rig.processes[first].gpu == {}
    client.chat("llama3.1:8b", messages=[], options={"num_ctx": 8192})
    (model,) = client.ps().models
    second = server.loaded()[0].runner_pid
    assert second != first and first not in rig.processes
    assert model.context_length == 8192 and model.size == model.size_vram
    client.chat("llama3.1:8b", messages=[], options={"num_gpu": 10})
    assert server.loaded()[0].layers_on_gpu == 10


def test_a_model_that_does_not_fit_beside_another_evicts_it(client, server):
    client.chat("qwen2.5-coder:32b", messages=[])
    client.chat("llama3.1:8b", messages=[])
    assert [model.model for model in client.ps().models] == ["llama3.1:8b"]
    client.chat("deepseek-r1:14b", messages=[])
    assert {model.model for model in client.ps().models} == {"llama3.1:8b", "deepseek-r1:14b"}
    assert all(model.size == model.size_vram for model in client.ps().models)


def test_two_gpus_hold_the_70b_model_whole():
    rig = SimulatedRig(ManualClock(), (OCULINK_4090, DESKTOP_4090))
    with SimulatedOllama(rig, speed=FAST) as sim:
        state = sim.load("llama3.3:70b")
        assert state.gpus == (0, 1) and state.size_vram_bytes == state.size_bytes
        for gpu, size in zip(state.gpus, state.vram_by_gpu_bytes, strict=True):
            assert rig.processes[state.runner_pid].gpu[gpu].vram_target_bytes == size
        with ollama.Client(host=sim.url) as client:
            (model,) = client.ps().models
        assert model.size_vram == model.size


def test_keep_alive_expires_on_the_servers_clock(rig):
    now = [1_795_000_000.0]
    with SimulatedOllama(rig, speed=FAST, clock=lambda: now[0]) as sim:
        with ollama.Client(host=sim.url) as client:
            client.chat("llama3.1:8b", messages=[], keep_alive="1m")
            (model,) = client.ps().models
            assert model.expires_at.timestamp() == pytest.approx(now[0] + 60)
            client.chat("llama3.1:8b", messages=PROMPT)  # no keep_alive: keeps the 1m
            assert client.ps().models[0].expires_at.timestamp() == pytest.approx(now[0] + 60)
            now[0] += 61
            assert client.ps().models == []
            client.chat("llama3.1:8b", messages=[], keep_alive=-1)
            assert client.ps().models[0].expires_at.year > 2300
            raw = httpx.get(f"{sim.url}/api/ps").json()["models"][0]
            assert raw["expires_at"].startswith("23")


def test_keep_alive_and_durations_parse_like_go():
    assert parse_go_duration("5m") == 300
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("300ms") == pytest.approx(0.3)
    assert parse_go_duration("0") == 0
    assert parse_go_duration("-1.5s") == -1.5
    for text, error in (
        ("10", 'time: missing unit in duration "10"'),
        ("", 'time: invalid duration ""'),
        ("abc", 'time: invalid duration "abc"'),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
    ):
        with pytest.raises(ValueError, match=error):
            parse_go_duration(text)
    assert parse_keep_alive(None) is None
    assert parse_keep_alive(90) == 90.0
    assert parse_keep_alive("-1m") == parse_keep_alive(-5) == FOREVER_S


# --- pull ----------------------------------------------------------------------------------------


def test_pull_reports_progress_then_installs(client):
    updates = list(client.pull("mistral:7b", stream=True))
    statuses = [update.status for update in updates]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    by_digest: dict[str, list[int]] = {}
    for update in updates:
        if update.digest:
            assert update.status == f"pulling {update.digest.removeprefix('sha256:')[:12]}"
            by_digest.setdefault(update.digest, []).append(update.completed or 0)
    model_layer = max(by_digest.values(), key=len)
    assert len(model_layer) > 10 and model_layer == sorted(model_layer)
    assert sum(progress[-1] for progress in by_digest.values()) == 4_372_824_384
    assert client.list().models[0].model == "mistral:7b"
    assert client.chat("mistral:7b", messages=PROMPT).done


def test_pull_of_an_unknown_model(client):
    stream = client.pull("nosuch:1b", stream=True)
    assert next(stream).status == "pulling manifest"
    with pytest.raises(ollama.ResponseError) as caught:
        next(stream)
    assert (caught.value.status_code, caught.value.error) == (
        -1,
        "pull model manifest: file does not exist",
    )
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull("nosuch:1b")
    assert caught.value.status_code == 500


# --- faults --------------------------------------------------------------------------------------


def test_error_status_before_streaming(client, server):
    server.faults.error_status = (500, "llama runner process has terminated: exit status 2")
    with pytest.raises(ollama.ResponseError) as caught:
        list(client.chat("llama3.1:8b", messages=PROMPT, stream=True))
    assert (caught.value.status_code, caught.value.error) == (
        500,
        "llama runner process has terminated: exit status 2",
    )
    server.faults.clear()
    assert client.chat("llama3.1:8b", messages=PROMPT).done


def test_error_line_after_some_tokens(client, server):
    server.faults.error_after_tokens = 5
    seen = []
    with pytest.raises(ollama.ResponseError) as caught:
        for chunk in client.chat("llama3.1:8b", messages=PROMPT, stream=True):
            seen.append(chunk)
    assert (caught.value.status_code, caught.value.error) == (-1, server.faults.error_message)
    assert len(seen) == 5
    wait_until(lambda: len(server.requests) == 1)
    assert server.requests[-1]["status"] == 200 and server.requests[-1]["fault"] == "error"


@pytest.mark.parametrize(
    ("reset", "raised"), [(False, httpx.RemoteProtocolError), (True, httpx.ReadError)]
)
def test_dropped_connection_mid_stream(client, server, reset, raised):
    server.faults.drop_after_tokens = 5
    server.faults.drop_with_reset = reset
    seen = []
    with pytest.raises(raised):
        for chunk in client.chat("llama3.1:8b", messages=PROMPT, stream=True):
            seen.append(chunk)
    assert len(seen) == 5 and not seen[-1].done
    server.faults.clear()
    assert client.chat("llama3.1:8b", messages=PROMPT).done  # a fresh connection works


def test_malformed_line(client, server):
    server.faults.malformed_after_tokens = 3
    with pytest.raises(json.JSONDecodeError):
        list(client.chat("llama3.1:8b", messages=PROMPT, stream=True))


def test_stall_is_abandoned_by_a_client_timeout(server):
    server.faults.stall_after_tokens = 3
    seen = []
    with ollama.Client(host=server.url, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            for chunk in client.chat("llama3.1:8b", messages=PROMPT, stream=True):
                seen.append(chunk)
    assert len(seen) == 3
    wait_until(lambda: server.cancelled_requests == 1)
    assert server.requests[-1]["cancelled"] and server.requests[-1]["tokens_sent"] == 3


def test_stopping_the_server_ends_a_stalled_stream(client, server, rig):
    server.faults.stall_after_tokens = 1
    stream = client.chat("llama3.1:8b", messages=PROMPT, stream=True)
    next(stream)
    pid = server.loaded()[0].runner_pid
    server.stop()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        next(stream)
    assert server.cancelled_requests == 1
    assert server.loaded() == [] and pid not in rig.processes


def test_tokens_per_s_override(client, server):
    server.faults.tokens_per_s = 2000
    reply = client.chat("llama3.1:8b", messages=PROMPT)
    assert reply.eval_count / reply.eval_duration * 1e9 == pytest.approx(2000, rel=0.15)


def test_refused_and_stopped_server_look_like_ollama_not_running(client, server):
    server.faults.refuse = True
    with pytest.raises(ConnectionError):
        client.list()
    server.faults.refuse = False
    assert client.list().models
    client.chat("llama3.1:8b", messages=[])
    port = server.port
    server.stop()
    with pytest.raises(ConnectionError):
        client.list()
    assert server.restart() == f"http://127.0.0.1:{port}"
    assert client.ps().models == []  # a restarted ollama has nothing loaded


# --- cancellation --------------------------------------------------------------------------------


async def test_closing_the_stream_early_cancels_and_idles_the_runner(server, rig):
    server.faults.tokens_per_s = 200  # a reply of ~270 tokens takes over a second
    client = ollama.AsyncClient(host=server.url, timeout=TIMEOUT_S)
    stream = await client.chat("llama3.1:8b", messages=PROMPT, stream=True)
    received = 0
    async for _ in stream:
        received += 1
        if received == 5:
            break
    await stream.aclose()
    deadline = time.monotonic() + 10
    while server.cancelled_requests == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert server.cancelled_requests == 1
    entry = server.requests[-1]
    assert entry["cancelled"] and entry["path"] == "/api/chat"
    assert 5 <= entry["tokens_sent"] < len(tokenize(server.reply_for(PROMPT[0]["content"])))
    (state,) = server.loaded()
    assert state.phase == "idle" and state.in_flight == 0
    process = rig.processes[state.runner_pid]
    assert process.cpu_cores == 0.01 and process.gpu[0].sm_util_pct == 0.0


# --- the in-process API, driven from the rig's own schedule --------------------------------------


def test_rig_actions_drive_the_server_from_another_thread(server, rig):
    clock = rig.clock
    rig.at(1.0, lambda _: server.load("llama3.1:8b", keep_alive_s=-1))
    rig.at(5.0, lambda _: server.set_phase("llama3.1:8b", "generate"))
    rig.at(9.0, lambda _: server.unload("llama3.1:8b"))

    def advance_to(seconds: float) -> None:
        clock.set(seconds)
        worker = threading.Thread(target=rig.advance)
        worker.start()
        worker.join()

    advance_to(2.0)
    (state,) = server.loaded()
    assert state.phase == "loading" and rig.gpus[0].pcie_rx_bytes_per_s > 1e9
    advance_to(4.0)  # the load took ~2.3 s of rig time (cold read at 2.4 GB/s)
    (state,) = server.loaded()
    work = rig.processes[state.runner_pid].gpu[0]
    assert state.phase == "idle" and work.vram_bytes == work.vram_target_bytes
    advance_to(8.0)
    assert server.loaded()[0].phase == "generate" and rig.gpus[0].utilization_gpu_pct > 90
    with ollama.Client(host=server.url) as client:
        assert client.ps().models[0].size_vram == state.size_vram_bytes
        advance_to(10.0)
        assert client.ps().models == [] and state.runner_pid not in rig.processes


def test_replies_and_tokens_are_well_formed():
    for text in REPLIES + THOUGHTS:
        tokens = tokenize(text)
        assert "".join(tokens) == text
        assert 2.5 < len(text) / len(tokens) < 4.5
    assert all("```" in reply and "\n- " in reply for reply in REPLIES)
    assert all(200 < len(tokenize(reply)) < 400 for reply in REPLIES)


# --- model control: unload, load, delete (what `ollama stop`, `run` and `rm` send) ---------------


def test_generate_without_a_prompt_loads_and_with_keep_alive_zero_unloads(client, server):
    loaded = client.generate("llama3.1:8b", keep_alive="30m")
    assert (loaded.done, loaded.done_reason, loaded.response) == (True, "load", "")
    (model,) = client.ps().models
    assert 29 * 60 < model.expires_at.timestamp() - time.time() <= 30 * 60
    # An installed model that is not loaded unloads all the same: 200, "unload".
    assert client.generate("deepseek-r1:14b", keep_alive=0).done_reason == "unload"
    assert [m.model for m in client.ps().models] == ["llama3.1:8b"]
    assert client.generate("llama3.1:8b", keep_alive=0).done_reason == "unload"
    assert client.ps().models == []
    with pytest.raises(ollama.ResponseError) as caught:
        client.generate("nosuch:1b", keep_alive=0)
    assert (caught.value.status_code, caught.value.error) == (404, "model 'nosuch:1b' not found")


def test_delete_removes_an_installed_model_and_answers_404_for_one_that_is_not(client, raw):
    assert "deepseek-r1:14b" in [m.model for m in client.list().models]
    answer = raw.request("DELETE", "/api/delete", json={"model": "deepseek-r1:14b"})
    assert (answer.status_code, answer.content) == (200, b"")  # Ollama writes no body
    assert "deepseek-r1:14b" not in [m.model for m in client.list().models]
    again = raw.request("DELETE", "/api/delete", json={"model": "deepseek-r1:14b"})
    assert (again.status_code, again.json()) == (
        404,
        {"error": "model 'deepseek-r1:14b' not found"},
    )
    with pytest.raises(ollama.ResponseError) as caught:
        client.delete("nosuch:1b")
    assert caught.value.status_code == 404
    empty = raw.request("DELETE", "/api/delete", json={"model": ""})
    assert (empty.status_code, empty.json()) == (400, {"error": 'name "" is invalid'})
    nothing = raw.request("DELETE", "/api/delete")
    assert (nothing.status_code, nothing.json()) == (400, {"error": "missing request body"})


def test_a_deleted_model_that_is_loaded_keeps_running_until_unloaded(client, server):
    """The server removes the files only; ``ollama rm`` unloads first for that reason."""
    client.generate("llama3.1:8b", keep_alive="10m")
    assert client.delete("llama3.1:8b").status == "success"
    assert [m.model for m in client.ps().models] == ["llama3.1:8b"]
    assert "llama3.1:8b" not in [m.model for m in client.list().models]
    with pytest.raises(ollama.ResponseError):  # no longer installed: no unload by name
        client.generate("llama3.1:8b", keep_alive=0)
    server.unload("llama3.1:8b")
    assert client.ps().models == []


def test_pull_reports_progress_every_60_ms_of_the_modelled_download(client, server):
    from rigtui.sim.ollama.routes import PULL_PROGRESS_S
    from rigtui.sim.ollama.speed import DOWNLOAD_BYTES_PER_S

    spec = server.catalogue["mistral:7b"]
    _, digest, size = max(spec.layers(), key=lambda layer: layer[2])
    lines = [
        update
        for update in client.pull("mistral:7b", stream=True)
        if update.digest == f"sha256:{digest}"
    ]
    ticks = size / DOWNLOAD_BYTES_PER_S / PULL_PROGRESS_S
    assert lines[0].completed is None  # absent until bytes arrive
    assert abs(len(lines) - 1 - ticks) <= 1  # as many lines at any speed
    steps = {b.completed - a.completed for a, b in itertools.pairwise(lines[1:])}
    assert max(steps) - min(steps) <= 1  # an even pace
    assert lines[-1].completed == size


def test_a_cancelled_pull_goes_on_from_what_it_had(server):
    spec = server.catalogue["mistral:7b"]
    _, digest, size = max(spec.layers(), key=lambda layer: layer[2])
    server.speed = 20.0  # slow enough to leave in the middle
    with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as raw:
        with raw.stream("POST", "/api/pull", json={"model": "mistral:7b"}) as response:
            for line in response.iter_lines():
                if json.loads(line).get("completed", 0) > size // 4:
                    break  # the client goes away: Ollama stops, keeping the bytes
    wait_until(lambda: server.cancelled_requests == 1)
    assert "mistral:7b" not in server.installed
    server.speed = FAST
    with ollama.Client(host=server.url, timeout=TIMEOUT_S) as client:
        updates = list(client.pull("mistral:7b", stream=True))
    first = next(update for update in updates if update.digest == f"sha256:{digest}")
    assert size // 4 < first.completed < size
    assert "mistral:7b" in server.installed
