"""Property-based renders: every value that reaches the screen can be missing, zero, negative,
NaN, infinite, huge or of the other numeric kind, and nothing that draws or judges it may raise.

Each test draws readings, reply statistics, loaded models, fit inputs or whole recordings with
every field free, and runs them through the real code at the widths and heights a card, panel,
chart and line get at 80x24, 120x40 and 160x50: the renderers (``ui/render``), the insight that
is handed to them (``insight/*``, ``llm/placement``), the statistics lines (``llm/stats``) and the
replay (a recording written as JSON, read back, stepped through frame by frame and drawn).
"""

from __future__ import annotations

import json
import math
from datetime import timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rigtui.insight.diagnosis import why_slow
from rigtui.insight.fit import estimate, shape_from
from rigtui.insight.fits import fit_estimates, load_predictions
from rigtui.insight.pcie import link_state
from rigtui.insight.rig import RigInsight
from rigtui.llm.ollama import ChatOptions, ModelFacts, ReplyEnd, RunningModel
from rigtui.llm.placement import cpu_share, cross_check, offload_advice, processor_split
from rigtui.llm.stats import ReplyStats, describe, describe_energy, measured
from rigtui.recording import RecordingError, ReplayCursor, read_recording
from rigtui.telemetry.export import snapshot_to_dict
from rigtui.telemetry.history import History, gpu_key
from rigtui.telemetry.model import (
    CpuReading,
    FanReading,
    GpuProcess,
    GpuReading,
    MemoryReading,
    NvmlStatus,
    PowerBudgetReading,
    RigSnapshot,
)
from rigtui.telemetry.nvml import CLOCK_EVENT_REASONS
from rigtui.telemetry.power import EnergyReading
from rigtui.ui.render.chart import ChartData, ChartLine, ChartSeries, chart_rows
from rigtui.ui.render.chat_options import describe_options
from rigtui.ui.render.cpu import cpu_panel_lines, cpu_title
from rigtui.ui.render.gpu import gpu_card_compact_lines, gpu_card_lines, gpu_subtitle, gpu_title

TERMINALS = ((80, 24), (120, 40), (160, 50))
CARD_WIDTHS = (36, 56, 76, 116, 156)
"""A card's width at 80x24, 120x40 and 160x50: full width, or half beside another."""
CHART_SIZES = ((76, 8), (58, 13), (156, 16))

QUICK = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""Tuned so that the file runs in well under 30 s on two shared cores; whole snapshots cost
the most to draw and to generate, so their tests take fewer examples (``FEWER``)."""
FEWER = settings(QUICK, max_examples=30)


# --- values at their worst --------------------------------------------------------------------

EXTREME_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, -1.0, 1e-12, 1e300, -1e300, math.nan, math.inf, -math.inf]),
    st.floats(allow_nan=True, allow_infinity=True),
)
EXTREME_INTS = st.one_of(
    st.sampled_from([0, -1, 1, 2**63, 2**64 + 1, -(2**63)]),
    st.integers(min_value=-(2**70), max_value=2**70),
)
NUMBERS = st.one_of(EXTREME_INTS, EXTREME_FLOATS)
"""A number of either kind: an ``int`` field may hold a float (a computed or replayed value)."""


def maybe(strategy):
    return st.one_of(st.none(), strategy)


TEXT = st.text(max_size=60)
REASONS = st.lists(
    # Every reason NVML names, and one it does not (a bit rigtui has no name for).
    st.sampled_from([*(name for _bit, name in CLOCK_EVENT_REASONS), "other_0x8000"]),
    max_size=5,
).map(tuple)
FANS = st.lists(
    st.builds(
        FanReading,
        index=st.integers(0, 7),
        speed_pct=maybe(NUMBERS),
        rpm=maybe(NUMBERS),
        reason=maybe(TEXT),
        rpm_reason=maybe(TEXT),
    ),
    max_size=4,
).map(tuple)
PROCESSES = st.lists(
    st.builds(
        GpuProcess,
        pid=st.integers(0, 2**22),
        name=maybe(st.sampled_from(["ollama", "ollama_llama_server", "python3", ""]) | TEXT),
        used_memory_bytes=maybe(NUMBERS),
        kind=st.sampled_from(["C", "G", "C+G"]),
        command=maybe(st.sampled_from(["/usr/bin/ollama runner --model x", ""]) | TEXT),
    ),
    max_size=3,
).map(tuple)

_GPU_NUMBER_FIELDS = [
    name
    for name, kind in GpuReading.__annotations__.items()
    if kind in ("int | None", "float | None") and name != "index"
]


@st.composite
def gpu_readings(draw, index=None):
    numbers = {name: draw(maybe(NUMBERS)) for name in _GPU_NUMBER_FIELDS}
    return GpuReading(
        index=draw(st.integers(-1, 9)) if index is None else index,
        name=draw(maybe(TEXT)),
        uuid=draw(maybe(st.sampled_from(["GPU-5a1f0c2e-0000-4000-8000-000000000000"]) | TEXT)),
        pci_bus_id=draw(maybe(st.sampled_from(["00000000:01:00.0", ":", "0000"]) | TEXT)),
        lost=draw(st.booleans()) and draw(st.booleans()),
        fans=draw(FANS),
        power_peaks_instant=draw(st.booleans()),
        clocks_event_reasons=draw(maybe(REASONS)),
        processes=draw(maybe(PROCESSES)),
        unavailable=draw(st.dictionaries(st.sampled_from(_GPU_NUMBER_FIELDS), TEXT, max_size=4)),
        **numbers,
    )


CPUS = st.builds(
    CpuReading,
    percent=EXTREME_FLOATS,
    per_core_pct=st.lists(EXTREME_FLOATS, max_size=40).map(tuple),
    load_average=maybe(st.tuples(EXTREME_FLOATS, EXTREME_FLOATS, EXTREME_FLOATS)),
    logical_count=EXTREME_INTS,
    physical_count=maybe(EXTREME_INTS),
)
MEMORIES = st.builds(
    MemoryReading,
    used_bytes=NUMBERS,
    total_bytes=NUMBERS,
    available_bytes=NUMBERS,
    swap_used_bytes=NUMBERS,
    swap_total_bytes=NUMBERS,
)
POWER = maybe(
    st.builds(
        PowerBudgetReading,
        budget_w=maybe(EXTREME_FLOATS),
        peak_60s_w=maybe(EXTREME_FLOATS),
        over_budget_w=maybe(EXTREME_FLOATS),
        over_budget_at=maybe(EXTREME_FLOATS),
        rounds=st.integers(0, 2**40),
        rounds_over_budget=st.integers(0, 2**40),
    )
)


@st.composite
def snapshots(draw, taken_at=None):
    count = draw(st.integers(0, 3))
    return RigSnapshot(
        taken_at=draw(st.floats(0, 4e9)) if taken_at is None else taken_at,
        hostname=draw(TEXT),
        nvml=NvmlStatus(available=draw(st.booleans()), error=draw(maybe(TEXT))),
        gpus=tuple(draw(gpu_readings(index=i)) for i in range(count)),
        cpu=draw(CPUS),
        memory=draw(MEMORIES),
        power=draw(POWER),
    )


RUNNING = st.lists(
    st.builds(
        RunningModel,
        name=st.sampled_from(["llama3.1:8b", "llama3.3:70b"]) | TEXT,
        size_bytes=EXTREME_INTS,
        size_vram_bytes=EXTREME_INTS,
        context_length=maybe(EXTREME_INTS),
        expires_at=maybe(st.datetimes(timezones=st.just(timezone.utc))),
    ),
    max_size=3,
)
SHAPE_INTS = st.one_of(EXTREME_INTS, st.integers(1, 200_000), st.sampled_from([1, 2, 7, 8, 128]))
"""Mostly plausible (so an estimate is made), sometimes at its worst."""
FACTS = st.builds(
    ModelFacts,
    name=st.sampled_from(["llama3.1:8b", "llama3.3:70b"]),
    architecture=maybe(TEXT),
    parameter_count=maybe(SHAPE_INTS),
    quantization=st.sampled_from(["Q4_K_M", "Q8_0", "F16", "", "weird"]),
    context_length=maybe(SHAPE_INTS),
    block_count=maybe(SHAPE_INTS),
    embedding_length=maybe(SHAPE_INTS),
    head_count=maybe(SHAPE_INTS),
    head_count_kv=maybe(SHAPE_INTS),
    key_length=maybe(SHAPE_INTS),
    value_length=maybe(SHAPE_INTS),
    size_bytes=maybe(SHAPE_INTS),
    vocab_size=maybe(SHAPE_INTS),
)


def _plain(lines) -> str:
    return "\n".join(line.plain for line in lines)


# --- cards, panels, charts ------------------------------------------------------------------


@FEWER
@given(snapshots(), st.lists(snapshots(), max_size=3), RUNNING)
def test_gpu_cards_and_their_insight_never_raise(snapshot, earlier, running):
    insight = RigInsight()
    for before in sorted(earlier, key=lambda one: one.taken_at):
        insight.update(before, running)
    insights = insight.update(snapshot, running)
    for gpu in snapshot.gpus:
        assert gpu_title(gpu).startswith("GPU ")
        gpu_subtitle(gpu)
        why_slow(gpu, draw_share(running))
        link_state(gpu)
        assert gpu_card_lines(gpu, 76, insight=None)  # before the first insight arrives
        for width in CARD_WIDTHS:
            full = gpu_card_lines(gpu, width, insight=insights.get(gpu.index))
            assert full and all(line.cell_len <= width for line in full)
            assert gpu_card_compact_lines(gpu, width, insight=insights.get(gpu.index))


def draw_share(running) -> float | None:
    for model in running:
        return cpu_share(model.size_bytes, model.size_vram_bytes)
    return None


@QUICK
@given(CPUS, MEMORIES)
def test_the_cpu_panel_never_raises(cpu, memory):
    assert cpu_title(cpu).startswith("CPU")
    for width, height in TERMINALS:
        for panel_width in (width - 4, width // 2 - 2):
            lines = cpu_panel_lines(cpu, memory, panel_width, height // 3)
            assert len(lines) >= 3


def _chart_data(history: History, snapshot: RigSnapshot, metric: str) -> ChartData:
    """As the dashboard builds a chart: a series per GPU, the power limits as lines."""
    times = history.timestamps()
    series = tuple(
        ChartSeries(f"GPU {gpu.index}", history.series(gpu_key(gpu.index, metric)), "#ffffff")
        for gpu in snapshot.gpus
    )
    lines = tuple(
        ChartLine(f"GPU {gpu.index} limit", gpu.power_limit_w, "#ff0000")
        for gpu in snapshot.gpus
        if gpu.power_limit_w
    )
    budget = snapshot.power.budget_w if snapshot.power is not None else None
    if budget:
        lines += (ChartLine("budget", budget, "#ff0000"),)
    return ChartData(times, snapshot.taken_at, 600.0, series, lines, spans=((times[0], times[-1]),))


@FEWER
@given(st.lists(snapshots(), min_size=1, max_size=6))
def test_charts_never_raise(taken):
    history = History(120)
    for snapshot in sorted(taken, key=lambda one: one.taken_at):
        history.add_snapshot(snapshot)
    latest = max(taken, key=lambda one: one.taken_at)
    for metric in ("memory_used_bytes", "power_draw_w"):
        data = _chart_data(history, latest, metric)
        for width, height in CHART_SIZES:
            rows = chart_rows(data, metric, width, height, scale=1024**3)
            assert len(rows) == height
    cpu = ChartData(
        history.timestamps(),
        latest.taken_at,
        600.0,
        (ChartSeries("CPU", history.series("cpu.percent"), "#ffffff"),),
        y_max=100.0,
    )
    for width, height in CHART_SIZES:
        assert len(chart_rows(cpu, "CPU", width, height)) == height


# --- loaded models, fit estimates ----------------------------------------------------------------


@QUICK
@given(RUNNING, st.lists(gpu_readings(), max_size=3), st.booleans())
def test_the_loaded_models_and_the_cross_check_never_raise(running, gpus, loading):
    check = cross_check(running, gpus, loading=loading)
    assert check.explain()
    for model in running:
        split = processor_split(model.size_bytes, model.size_vram_bytes)
        assert split.endswith(("CPU", "GPU", "CPU/GPU", "Unknown"))
        advice = offload_advice(model)
        assert advice is None or model.name in advice


@QUICK
@given(
    st.lists(gpu_readings(), max_size=3),
    st.dictionaries(st.sampled_from(["llama3.1:8b", "llama3.3:70b"]), FACTS, max_size=2),
    maybe(EXTREME_INTS),
    RUNNING,
    maybe(st.sampled_from(["0.6.6", "0.12.3", "0.15.5", "nonsense", ""])),
)
def test_fit_estimates_never_raise(gpus, facts, num_ctx, running, version):
    for result in fit_estimates(gpus, facts, version, num_ctx).values():
        assert result.words() and result.short()
        assert 0.0 <= result.cpu_share <= 1.0
    for prediction in load_predictions(gpus, running, facts).values():
        assert prediction.words()


@QUICK
@given(
    FACTS,
    st.one_of(EXTREME_INTS, st.integers(1, 2**40)),
    st.one_of(EXTREME_INTS, st.integers(1, 2**20)),
    st.lists(st.one_of(EXTREME_INTS, st.integers(0, 2**36)), max_size=3),
)
def test_a_fit_input_at_its_worst_is_refused_or_estimated(facts, size, num_ctx, available):
    shape = shape_from(facts, size)
    if shape is None:
        return
    assert min(shape.block_count, shape.embedding_length, shape.head_count) > 0
    assert shape.head_count_kv > 0 and shape.weights_bytes > 0
    result = estimate(shape, num_ctx, available)
    assert result.placement in ("fits", "partial", "cpu")
    assert 0.0 <= result.cpu_share <= 1.0
    assert result.words() and result.short()


# --- statistics lines, chat options ---------------------------------------------------------------

ENDS = maybe(
    st.builds(
        ReplyEnd,
        done_reason=maybe(st.sampled_from(["stop", "length", "load"]) | TEXT),
        total_duration_ns=maybe(NUMBERS),
        load_duration_ns=maybe(NUMBERS),
        prompt_eval_count=maybe(NUMBERS),
        prompt_eval_duration_ns=maybe(NUMBERS),
        eval_count=maybe(NUMBERS),
        eval_duration_ns=maybe(NUMBERS),
    )
)
ENERGY = maybe(
    st.builds(
        EnergyReading,
        joules=EXTREME_FLOATS,
        seconds=EXTREME_FLOATS,
        method=st.sampled_from(["counter", "integrated"]),
        average_w=EXTREME_FLOATS,
        peak_w=maybe(EXTREME_FLOATS),
        peak_is_average=st.booleans(),
    )
)


@QUICK
@given(
    st.builds(
        ReplyStats,
        model=TEXT,
        time_to_first_token_s=maybe(EXTREME_FLOATS),
        wall_time_s=EXTREME_FLOATS,
        pieces=EXTREME_INTS,
        end=ENDS,
        stopped=st.booleans(),
        energy=ENERGY,
    )
)
def test_the_statistics_lines_never_raise(stats):
    line = describe(stats)
    assert " tok" in line  # the count is always said; absurd figures beside it are left out
    energy = describe_energy(stats)
    joules = None if stats.energy is None else measured(stats.energy.joules)
    assert (energy != "") == (joules is not None and joules >= 0)
    if energy:
        assert energy.startswith(f"{joules:,.0f} J")


@QUICK
@given(
    st.builds(
        ChatOptions,
        system_prompt=TEXT,
        temperature=maybe(EXTREME_FLOATS),
        num_ctx=maybe(EXTREME_INTS),
        num_gpu=maybe(EXTREME_INTS),
        keep_alive=maybe(TEXT),
        think=maybe(st.booleans()),
    )
)
def test_the_chat_options_line_never_raises(options):
    assert "ctx" in describe_options(options)


# --- replaying what a recording holds, whatever it holds ---------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | NUMBERS.filter(lambda number: not isinstance(number, int) or abs(number) < 2**80)
    | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)


@st.composite
def recorded_lines(draw):
    """A recording's lines: real samples, with any of their values replaced by anything."""
    start = draw(st.floats(0, 4e9))
    lines = []
    for step in range(draw(st.integers(1, 4))):
        snapshot = draw(snapshots(taken_at=start + step * draw(st.sampled_from([0.0, 1.0, 30.0]))))
        record = json.loads(json.dumps(snapshot_to_dict(snapshot), default=str))
        for gpu in record["gpus"]:
            for key in draw(st.lists(st.sampled_from(sorted(gpu)), max_size=4)):
                gpu[key] = draw(JSON_VALUES)
        for part in ("cpu", "memory"):
            for key in draw(st.lists(st.sampled_from(sorted(record[part])), max_size=2)):
                record[part][key] = draw(JSON_VALUES)
        record["ollama"] = {
            "models": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "name": JSON_VALUES,
                            "size_bytes": JSON_VALUES,
                            "size_vram_bytes": JSON_VALUES,
                            "context_length": JSON_VALUES,
                            "expires_at": st.sampled_from(
                                [None, "2026-11-18T11:20:00+00:00", "soon", 5]
                            ),
                        }
                    ),
                    max_size=2,
                )
            ),
            "error": None,
        }
        lines.append(json.dumps(record) + "\n")  # NaN and Infinity as Python writes them
    return lines


@settings(
    FEWER,
    max_examples=20,
    suppress_health_check=[*FEWER.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@given(recorded_lines())
def test_a_recording_of_anything_replays_frame_by_frame(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("replay") / "anything.jsonl"
    path.write_text("".join(lines))
    try:
        recording = read_recording(path)
    except RecordingError:
        return  # nothing in it could be read: refused with a message, as the CLI shows it
    cursor = ReplayCursor(recording)
    history = History(120)
    insight = RigInsight()
    shown = -1
    for _ in range(len(recording.snapshots) + 1):
        assert cursor.describe().startswith("replay anything.jsonl")
        frame = cursor.frame(shown, 600.0)
        if frame is not None:
            if frame.restart:
                history, insight = History(120), RigInsight()
            for earlier in frame.earlier:
                history.add_snapshot(earlier)
                insight.update(earlier)
            history.add_snapshot(frame.snapshot)
            insights = insight.update(frame.snapshot, frame.models or ())
            shown = frame.index
            for gpu in frame.snapshot.gpus:
                gpu_card_lines(gpu, CARD_WIDTHS[-1], insight=insights.get(gpu.index))
                gpu_card_compact_lines(gpu, CARD_WIDTHS[0], insight=insights.get(gpu.index))
            cpu_panel_lines(frame.snapshot.cpu, frame.snapshot.memory, 76, 8)
            cross_check(frame.models or (), frame.snapshot.gpus).explain()
            data = _chart_data(history, frame.snapshot, "power_draw_w")
            chart_rows(data, "power", 76, 10)
        cursor.playing = True
        cursor.advance(30.0)
    assert cursor.index() == len(recording.snapshots) - 1
