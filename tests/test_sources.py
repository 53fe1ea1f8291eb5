"""rigtui.sources: the one place that chooses live, demo or replay, and opens them."""

from __future__ import annotations

import json
import time
import urllib.request

import pynvml
import pytest

from rigtui.config import Settings
from rigtui.llm.ollama import OllamaAddress, parse_ollama_host
from rigtui.recording import RecordingError, RecordingWriter
from rigtui.sim import ManualClock
from rigtui.sim.clock import ScaledClock
from rigtui.sources import (
    DEMO_START_S,
    DemoOptions,
    dashboard_source,
    demo_options,
    open_rig,
)
from rigtui.telemetry.nvml import NvmlSource
from rigtui.telemetry.system import SystemSource

ELSEWHERE = "10.0.0.5:11500"


@pytest.fixture(autouse=True)
def _forget_the_simulated_nvml():
    yield
    pynvml.nvmlLib = None
    pynvml._nvmlGetFunctionPointer_cache.clear()


def _version(address: OllamaAddress) -> str:
    with urllib.request.urlopen(f"{address.url}/api/version", timeout=5) as response:
        return json.load(response)["version"]


def test_the_settings_choose_the_demo_and_its_defaults():
    assert demo_options(Settings()) is None
    assert demo_options(Settings(), at_s=10.0, driver="r470") is None  # --demo-at alone: live
    assert demo_options(Settings(demo="dual", demo_speed=3.0)) == DemoOptions(
        scenario="dual", at_s=DEMO_START_S, driver="r580", speed=3.0
    )
    chosen = demo_options(
        Settings(demo="faults"), at_s=70.0, driver="r470", ollama_host="127.0.0.1:11500"
    )
    assert chosen == DemoOptions("faults", 70.0, "r470", 1.0, ollama_host="127.0.0.1:11500")
    assert DEMO_START_S == 325.0


def test_live_reads_this_machine_and_the_configured_ollama():
    settings = Settings(ollama_host=ELSEWHERE, power_budget_w=600.0)
    with open_rig(settings, None) as rig:
        assert rig.environment is None
        assert isinstance(rig.sampler.nvml, NvmlSource)
        assert isinstance(rig.sampler.system, SystemSource)
        assert rig.sampler.clock is time.time
        assert rig.ollama_address == OllamaAddress("http", "10.0.0.5", 11500)
        assert rig.sampler.power_watch.budget_w == 600.0
    with open_rig(settings, None, ollama=False) as rig:
        assert rig.ollama_address is None


def test_a_demo_serves_its_own_ollama_and_closing_stops_it():
    # A headless demo serves its own Ollama even where one was named (as before sources.py).
    settings = Settings(ollama_host=ELSEWHERE, demo="dual", power_budget_w=900.0)
    demo = DemoOptions("dual", at_s=140.0, speed=5.0, ollama_host=ELSEWHERE)
    with open_rig(settings, demo) as rig:
        environment = rig.environment
        assert environment.scenario.name == "dual"
        assert rig.ollama_address.host == "127.0.0.1"
        assert rig.ollama_address == parse_ollama_host(environment.ollama.url)
        assert environment.ollama.running
        assert _version(rig.ollama_address)
        # It plays on at five times the pace, from 140 s, and reads as today.
        assert isinstance(environment.clock, ScaledClock) and environment.clock.speed == 5.0
        assert 140.0 <= environment.clock.now() < 160.0
        assert abs(environment.rig.epoch_time() - time.time()) < 20.0
        assert rig.sampler.hostname == environment.rig.hostname
        assert rig.sampler.power_watch is environment.power_watch
        assert environment.power_watch.budget_w == 900.0
        assert environment.nvml_library.emulate_latency
    assert not environment.ollama.running
    with pytest.raises(OSError):
        _version(rig.ollama_address)


def test_a_still_demo_stands_at_its_moment_and_without_ollama_serves_none():
    demo = DemoOptions("story", at_s=45.0)
    with open_rig(Settings(demo="story"), demo, ollama=False, still=True) as rig:
        environment = rig.environment
        assert rig.ollama_address is None
        assert not environment.ollama.running
        assert isinstance(environment.clock, ManualClock)
        assert environment.clock.now() == 45.0
        rig.sampler.open()
        try:
            (gpu,) = rig.sampler.sample().gpus
        finally:
            rig.sampler.close()
        assert gpu.name == "NVIDIA GeForce RTX 4090"
        assert gpu.utilization_gpu_pct >= 90  # 45 s into the story: a reply at full GPU


def test_a_staged_dashboard_is_frozen_and_left_for_the_worker_to_open():
    settings = Settings(history_minutes=2.0, demo="story", ollama=False, power_budget_w=600.0)
    source = dashboard_source(settings, DemoOptions("story", at_s=45.0, staged=True))
    try:
        environment = source.environment
        assert source.label == "demo: story"
        assert source.replay is None and source.ollama_address is None
        assert not environment.ollama.running
        assert isinstance(environment.clock, ManualClock) and environment.clock.now() == 45.0
        assert not environment.nvml_library.emulate_latency
        assert environment.power_watch.budget_w == 600.0
        assert not source.opening.ready  # not started: the sampling worker opens it
        opened = source.opening.result()
        assert opened.error == ""
        assert len(opened.history) == 45  # the story from 0 s, one a second
        assert opened.first.taken_at == environment.rig.epoch_time()
    finally:
        source.close()


def test_the_demo_dashboard_opens_early_and_serves_its_ollama_until_closed():
    settings = Settings(history_minutes=1.0, demo="story")
    source = dashboard_source(settings, DemoOptions("story", at_s=100.0, speed=2.0))
    environment = source.environment
    try:
        opened = source.opening.result(timeout_s=30.0)  # started already, on its own thread
        assert opened is not None and opened.sampler is not None
        assert len(opened.history) == 60
        assert isinstance(environment.clock, ScaledClock) and environment.clock.speed == 2.0
        assert source.ollama_address == parse_ollama_host(environment.ollama.url)
        assert environment.ollama.running
    finally:
        source.close()
    assert not environment.ollama.running


def test_the_demo_dashboard_talks_to_an_ollama_named_on_the_command_line():
    settings = Settings(history_minutes=1.0, demo="story", ollama_host=ELSEWHERE)
    demo = DemoOptions("story", at_s=30.0, ollama_host=ELSEWHERE)
    source = dashboard_source(settings, demo)
    try:
        assert source.ollama_address == OllamaAddress("http", "10.0.0.5", 11500)
        assert not source.environment.ollama.running
        assert source.opening.result(timeout_s=30.0) is not None
    finally:
        source.close()
    no_ollama = dashboard_source(
        Settings(history_minutes=1.0, demo="story", ollama=False), DemoOptions(at_s=30.0)
    )
    try:
        assert no_ollama.ollama_address is None
        assert not no_ollama.environment.ollama.running
        assert no_ollama.opening.result(timeout_s=30.0) is not None
    finally:
        no_ollama.close()


def test_the_live_dashboard_opens_this_machine_early():
    source = dashboard_source(Settings(ollama_host=ELSEWHERE, power_budget_w=700.0))
    opened = source.opening.result(timeout_s=30.0)  # started already, on its own thread
    try:
        assert opened is not None and opened.sampler is not None
        assert isinstance(opened.sampler.nvml, NvmlSource)
        assert opened.sampler.clock is time.time
        assert opened.sampler.power_watch.budget_w == 700.0
        assert source.environment is None and source.label == ""
        assert source.ollama_address == OllamaAddress("http", "10.0.0.5", 11500)
    finally:
        opened.sampler.close()
        source.close()
    without = dashboard_source(Settings(ollama=False))
    assert without.ollama_address is None
    without.opening.result(timeout_s=30.0).sampler.close()


def test_a_replay_reads_the_recording(tmp_path, sim, clock):
    sampler = sim.sampler()
    sampler.open()
    writer = RecordingWriter(tmp_path / "rig.jsonl", "jsonl")
    for second in (10, 11, 12):
        clock.set(second)
        writer.write(sampler.sample())
    writer.close()
    sampler.close()
    source = dashboard_source(Settings(), replay=tmp_path / "rig.jsonl")
    assert source.opening is None and source.environment is None
    assert source.ollama_address is None and source.label == ""
    assert len(source.replay.snapshots) == 3
    (tmp_path / "x.jsonl").write_text("not json at all\n")
    with pytest.raises(RecordingError, match="not a rigtui recording"):
        dashboard_source(Settings(), replay=tmp_path / "x.jsonl")
