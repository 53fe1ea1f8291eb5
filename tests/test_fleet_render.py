"""The Fleet tab's words and charts, over hand-built readings (no Prometheus)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rigtui.fleet.model import (
    FleetAlert,
    FleetGpu,
    FleetModel,
    FleetReading,
    FleetRig,
    HistorySeries,
    RigHistory,
)
from rigtui.text import units
from rigtui.text.safe import without_credentials
from rigtui.ui.render.chart import draw_chart, plan_chart
from rigtui.ui.render.fleet import (
    ago,
    fleet_status,
    gpu_line,
    history_charts,
    history_points,
    last_seen,
    model_text,
    rig_block,
    rig_title,
    window_words,
)
from rigtui.ui.render.palette import DEFAULT_PALETTE as P

GIB = units.GIB
NOW = 1_800_000_000.0

HOT = FleetGpu(
    "0",
    name="NVIDIA GeForce RTX 4090",
    utilization_ratio=0.97,
    memory_used_bytes=21.4 * GIB,
    memory_total_bytes=24 * GIB,
    power_draw_watts=320.4,
    power_peak_watts=412.0,
    power_limit_watts=450.0,
    temperature_celsius=88.0,
    temperature_slowdown_celsius=90.0,
    clock_event_reasons=("sw_thermal_slowdown", "hw_slowdown", "hw_thermal_slowdown"),
    pcie_generation=2,
    pcie_generation_max=4,
    pcie_width_lanes=16,
    pcie_width_max_lanes=16,
)
LOST = FleetGpu("1", name="NVIDIA GeForce RTX 4090", lost=True)
RIG = FleetRig(
    "10.0.0.7:9860",
    "rigtui",
    up=True,
    hostname="gpubox",
    last_seen=NOW - 2,
    gpus=(HOT, LOST),
    models=(
        FleetModel("llama3.1:70b", size_bytes=42.5 * GIB, vram_bytes=26 * GIB, cpu_ratio=0.38),
    ),
    alerts=(
        FleetAlert("GpuLost", "firing", "critical", "GPU 1 fell off the bus", gpu="1"),
        FleetAlert("VramAlmostFull", "pending", "warning", "VRAM at 95%", gpu="0"),
    ),
    ollama_up=True,
    power_budget_watts=600.0,
    power_total_peak_watts=720.0,
)


def test_a_gpu_line_says_every_figure_with_its_unit():
    line = gpu_line(HOT, P).plain
    assert line.startswith("  GPU 0 RTX 4090")  # the vendor's words left out
    assert " 97% " in line
    assert "21.4/24.0 GiB" in line
    assert "320/450 W peak 412" in line
    assert "88/90 °C" in line
    # The specific cause, not the generic HW slowdown beside it (text/units).
    assert "thermal (SW), thermal (HW)" in line
    assert "HW slowdown" not in line
    assert "PCIe Gen2 x16" in line  # working below the link's Gen4


def test_an_idle_gpu_with_a_slow_link_is_not_blamed():
    idle = FleetGpu("0", utilization_ratio=0.0, pcie_generation=1, pcie_generation_max=4)
    assert "PCIe" not in gpu_line(idle, P).plain


def test_a_lost_gpu_says_lost_in_red_and_nothing_else():
    line = gpu_line(LOST, P)
    assert "LOST" in line.plain and "%" not in line.plain
    lost = next(span for span in line.spans if line.plain[span.start : span.end].strip() == "LOST")
    assert P.error in str(lost.style)


def test_a_gpu_with_nothing_read_says_na():
    line = gpu_line(FleetGpu("3"), P).plain
    assert line.split() == ["GPU", "3", "N/A", "N/A/N/A", "GiB", "N/A/N/A", "W", "N/A", "°C"]


def test_the_split_is_said_as_ollama_ps_says_it():
    assert model_text(RIG.models[0], P).plain == "llama3.1:70b 42.5 GiB 38% CPU"
    on_gpu = FleetModel("qwen2.5:7b", size_bytes=5.1 * GIB, cpu_ratio=0.0)
    assert model_text(on_gpu, P).plain == "qwen2.5:7b 5.1 GiB 100% GPU"
    assert model_text(FleetModel("x"), P).plain == "x"


def test_the_title_says_state_ollama_budget_and_firing_alerts():
    title = rig_title(RIG, NOW, P).plain
    assert title == ("10.0.0.7:9860 · gpubox (rigtui) · UP · Ollama up · peak 720/600 W · 1 firing")


def test_down_and_stale_rigs_say_when_they_were_last_seen():
    down = FleetRig("b:9860", "rigtui", up=False, last_seen=NOW - 185, stale=True)
    assert "DOWN last seen 3m ago" in rig_title(down, NOW, P).plain
    stale = FleetRig("c:9860", "rigtui", up=True, last_seen=NOW - 45, stale=True)
    assert "STALE last seen 45s ago" in rig_title(stale, NOW, P).plain
    never = FleetRig("d:9860", "rigtui", up=False)
    assert last_seen(never, NOW) == "never seen"


def test_ago_words():
    assert ago(0.2) == "just now"
    assert ago(-30) == "just now"  # a clock a little ahead of Prometheus'
    assert ago(59) == "59s ago"
    assert ago(3 * 3600 + 5) == "3h ago"
    assert ago(5 * 86400) == "5d ago"
    assert ago(float("nan")) == "at an unknown time"
    assert window_words(900) == "15m" and window_words(6 * 3600) == "6h"


def test_a_rig_block_has_title_gpus_models_and_alerts_in_order():
    lines = rig_block(RIG, NOW, P).plain.split("\n")
    assert lines[0].startswith("10.0.0.7:9860")
    assert lines[1].startswith("  GPU 0") and lines[2].startswith("  GPU 1")
    assert lines[3] == "  models llama3.1:70b 42.5 GiB 38% CPU"
    assert lines[4] == "  ▲ GpuLost GPU 1: GPU 1 fell off the bus"
    assert lines[5] == "  △ VramAlmostFull GPU 0 (pending): VRAM at 95%"


def test_untrusted_labels_are_shown_literally():
    rig = FleetRig("[bold]x\x1b[2J", "job[/]", up=True, hostname="\x1b]0;pwned\x07")
    text = rig_title(rig, NOW, P).plain
    assert "\x1b" not in text and "\\x1b" in text and "[bold]x" in text


def test_the_status_says_the_error_and_keeps_the_last_reading():
    reading = FleetReading("http://prom:9090", read_at=NOW - 90, rigs=(RIG,))
    ok = fleet_status(reading, None, None, NOW - 90, P).plain
    assert ok == "1 rig · 1 with firing alerts from http://prom:9090 · read just now"
    failed = fleet_status(reading, "is Prometheus running?", 20.0, NOW, P).plain
    assert "read 1m ago" in failed
    # What it means before the error's own words, which may be long and cut.
    assert failed.endswith(
        "\n⚠ showing the last good reading, trying again in 20s: is Prometheus running?"
    )
    due = fleet_status(reading, "is Prometheus running?", 0.4, NOW, P).plain
    assert due.endswith("⚠ showing the last good reading, trying again now: is Prometheus running?")
    first = fleet_status(None, None, None, NOW, P, server="http://prom:9090").plain
    assert first == "Prometheus http://prom:9090 · reading…"
    never = fleet_status(None, "connection refused", 5.0, NOW, P, server="http://prom:9090").plain
    assert never == "Prometheus http://prom:9090\n⚠ Trying again in 5s: connection refused"


def test_a_password_in_the_url_is_not_shown():
    assert (
        without_credentials("https://me:s3cret@prom.lan:9090/prom") == "https://prom.lan:9090/prom"
    )
    reading = FleetReading("http://u:p@h:9090", read_at=NOW)
    assert "u:p" not in fleet_status(reading, None, None, NOW, P).plain


def _history() -> RigHistory:
    start, step = NOW - 900, 60.0
    times = [start + i * step for i in range(16)]

    def line(label, values):
        return HistorySeries(label, tuple(zip(times, values, strict=True)))

    return RigHistory(
        "10.0.0.7:9860",
        start,
        NOW,
        step,
        charts={
            "utilization": (line("GPU 0", [0.5] * 16), line("GPU 1", [None] * 8 + [1.0] * 8)),
            "vram": (line("GPU 0", [20 * GIB] * 16),),
            "power": (line("GPU 0", [300.0] * 16),),
            "power_peak": (line("GPU 0", [410.0] * 16),),
            "temperature": (line("GPU 0", [70.0 + i for i in range(16)]),),
        },
        lines={"power_limit": 450.0, "temperature_slowdown": 90.0, "power_budget": 600.0},
    )


def test_history_becomes_the_charts_tab_charts():
    charts = history_charts(_history(), P)
    assert set(charts) == {"utilization", "vram", "power", "temperature"}
    utilization = charts["utilization"]
    assert utilization.window_s == 900 and utilization.now == NOW and utilization.y_max == 100
    assert [s.label for s in utilization.series] == ["GPU 0", "GPU 1"]
    assert utilization.series[1].values[:8] == (None,) * 8
    power = charts["power"]
    assert [s.label for s in power.series] == ["peak", "GPU 0"]  # peaks under the average
    assert {(line.label, line.value) for line in power.lines} == {
        ("limit", 450.0),
        ("budget", 600.0),
    }
    assert [(line.label, line.value) for line in charts["temperature"].lines] == [
        ("slowdown", 90.0)
    ]
    assert history_points(_history()) == 16 * 6 - 8
    # Drawn by the Charts tab's renderer: data reaches the plot.
    plan = plan_chart(utilization, "GPU utilization %", 40, 8, scale=0.01)
    rows = draw_chart(plan, _style())
    plotted = "".join(text for row in rows for text, _ in row)
    assert any(0x2800 < ord(char) <= 0x28FF for char in plotted)


def _style():
    from rigtui.ui.render.chart import ChartStyle

    return ChartStyle()


# --- anything Prometheus may hand back -------------------------------------------------------

NUMBERS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, 1e308, -1e308, 1e-308]),
)
TEXTS = st.one_of(st.none(), st.text(max_size=12))
GPUS = st.builds(
    FleetGpu,
    index=st.text(max_size=40),
    name=st.one_of(st.none(), st.text(max_size=200)),
    lost=st.booleans(),
    utilization_ratio=NUMBERS,
    memory_used_bytes=NUMBERS,
    memory_total_bytes=NUMBERS,
    power_draw_watts=NUMBERS,
    power_peak_watts=NUMBERS,
    power_limit_watts=NUMBERS,
    temperature_celsius=NUMBERS,
    temperature_slowdown_celsius=NUMBERS,
    clock_event_reasons=st.lists(st.text(max_size=200), max_size=6).map(tuple),
    pcie_generation=NUMBERS,
    pcie_generation_max=NUMBERS,
    pcie_width_lanes=NUMBERS,
    pcie_width_max_lanes=NUMBERS,
)
RIGS = st.builds(
    FleetRig,
    instance=st.text(max_size=20),
    job=st.text(max_size=8),
    up=st.booleans(),
    hostname=TEXTS,
    last_seen=NUMBERS,
    stale=st.booleans(),
    gpus=st.lists(GPUS, max_size=3).map(tuple),
    models=st.lists(
        st.builds(FleetModel, st.text(max_size=10), NUMBERS, NUMBERS, NUMBERS), max_size=2
    ).map(tuple),
    alerts=st.lists(
        st.builds(
            FleetAlert,
            st.text(max_size=8),
            st.sampled_from(["firing", "pending"]),
            TEXTS,
            TEXTS,
            TEXTS,
        ),
        max_size=2,
    ).map(tuple),
    ollama_up=st.one_of(st.none(), st.booleans()),
    power_budget_watts=NUMBERS,
    power_total_peak_watts=NUMBERS,
)


@settings(max_examples=150, deadline=None)
@given(RIGS, NUMBERS)
def test_a_rig_block_never_raises_and_always_names_its_gpus(rig, now):
    text = rig_block(rig, now if now is not None else NOW, P).plain
    assert text.count("\n") >= len(rig.gpus)
    for gpu in rig.gpus:
        assert ("LOST" in text) or not gpu.lost
    assert "\x1b" not in text
    # Whatever the numbers and the labels, a GPU's line stays a line: no 300-digit figure, and
    # no long name or reason (a label of a remote exporter's), pushes the rest off.
    for line in text.splitlines()[1 : 1 + len(rig.gpus)]:
        assert len(line) <= 130, line


def test_figures_no_gpu_reads_are_na_not_digits_across_the_line():
    gpu = FleetGpu(
        "0",
        name="NVIDIA GeForce RTX 4090",
        utilization_ratio=1e20,
        memory_used_bytes=-5.0,
        memory_total_bytes=1e299,
        power_draw_watts=-300.0,
        power_peak_watts=1e20,
        power_limit_watts=450.0,
        temperature_celsius=1e12,
        temperature_slowdown_celsius=90.0,
    )
    assert gpu_line(gpu, P).plain == "  GPU 0 RTX 4090  N/A  N/A/N/A GiB  N/A/450 W  N/A/90 °C"
    assert model_text(FleetModel("m", -1.0, None, 0.4), P).plain == "m 40% CPU"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(NUMBERS, NUMBERS), max_size=20),
    NUMBERS,
    NUMBERS,
    st.dictionaries(
        st.sampled_from(["power_limit", "temperature_slowdown", "vram_total"]),
        NUMBERS.filter(lambda v: v is not None),
    ),
)
def test_history_charts_never_raise_over_any_points(points, start, end, lines):
    points = tuple((t if t is not None else NOW, v) for t, v in points)
    history = RigHistory(
        "x",
        start if start is not None else 0.0,
        end if end is not None else 0.0,
        1.0,
        charts={
            key: (HistorySeries("GPU 0", points),) for key in ("utilization", "power", "power_peak")
        },
        lines=lines,
    )
    charts = history_charts(history, P)
    for data in charts.values():
        assert math.isfinite(data.window_s) and data.window_s > 0
        for series in data.series:
            assert len(series.values) == len(data.times)
        plan = plan_chart(data, "t", 30, 8)
        assert len(draw_chart(plan, _style())) == 8
