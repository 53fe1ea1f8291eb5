"""``rigtui --metrics``: the dashboard serves its own readings to Prometheus while it runs."""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import socket

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rigtui.exporter import names
from rigtui.sim import uninstall
from rigtui.ui.messages import ModelsRunning, OllamaConnected
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.gpu_card import GpuCard

from .helpers import LONG_S, Heard, first_reading_shown


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def with_metrics(app, listen: str = "127.0.0.1:0"):
    app.settings = dataclasses.replace(app.settings, metrics_listen=listen)
    return app


def scrape_now(port: int) -> dict[tuple[str, frozenset], float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=LONG_S)
    try:
        connection.request("GET", "/metrics")
        body = connection.getresponse().read().decode()
    finally:
        connection.close()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples, metric: names.Metric, **labels) -> float | None:
    matches = [
        found
        for (name, sample_labels), found in samples.items()
        if name == metric.name and set(labels.items()) <= sample_labels
    ]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None


async def test_metrics_serves_what_the_rig_tab_shows(chat_app):
    app = with_metrics(chat_app(345.0, scenario="story"))
    heard = Heard()
    async with app.run_test(size=(120, 40), notifications=True, message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await heard.arrival(pilot, OllamaConnected)
        await heard.arrival(pilot, ModelsRunning, lambda message: message.models)
        server = app.metrics_server
        assert server is not None and server.url.startswith("http://127.0.0.1:")
        assert heard.notified(server.url)
        samples = await asyncio.to_thread(scrape_now, server.port)
        shown = app.screen.query_one("#gpu-card-0", GpuCard).reading
        assert shown.temperature_c is not None and shown.power_draw_w is not None
        assert value(samples, names.TEMPERATURE, gpu="0") == shown.temperature_c
        assert value(samples, names.POWER_DRAW, gpu="0") == shown.power_draw_w
        assert value(samples, names.MEMORY_USED, gpu="0") == shown.memory_used_bytes
        assert value(samples, names.OLLAMA_UP) == 1
        for model in app.running_models:
            assert value(samples, names.MODEL_VRAM, model=model.name) == model.size_vram_bytes
        assert value(samples, names.EXPORTER_INFO, demo="story") == 1
    # The server stops with the dashboard.
    with pytest.raises(OSError):
        await asyncio.to_thread(scrape_now, server.port)


async def test_a_port_in_use_is_a_notice_and_the_dashboard_runs():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = with_metrics(staged_app("story", 45.0), f"127.0.0.1:{port}")
        heard = Heard()
        async with app.run_test(size=(80, 24), notifications=True, message_hook=heard) as pilot:
            await first_reading_shown(pilot)
            assert app.metrics_server is None
            errors = [n for n in heard.notified() if n.severity == "error"]
            assert any("in use" in n.message and str(port) in n.message for n in errors)
            assert any("--metrics ADDRESS:PORT" in n.message for n in errors)
            assert app.snapshot is not None  # the dashboard goes on
