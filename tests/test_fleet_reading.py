"""Reading the fleet from a real Prometheus' answers, recorded (tests/data/fleet-recorded.json) and
replayed by a tiny server, through rigtui's real client: no Prometheus needed.

The recording: four ``rigtui exporter --demo --demo-still`` rigs scraped every second (fits on
:19201, offload on :19202 with a 60 W budget, lost on :19203, gone on :19204, stopped after a
few scrapes; and :19205 in the same job, where nothing ever listened) with
contrib/prometheus/rigtui-rules.yml, read half a minute in: firing for offload (over budget) and
lost (a GPU lost), pending for gone and :19205 (exporter down, waiting out its ``for:``), none
for fits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigtui.fleet.model import FleetError, FleetReading, FleetRig
from rigtui.fleet.prometheus import PrometheusClient
from rigtui.fleet.reading import (
    STALE_AFTER_S,
    fleet_from_answers,
    history_from_answers,
    history_step,
    read_fleet,
    read_history,
)
from tests.fleet_servers import Answer, TinyServer, answer_key, load_recorded, tiny_server

RECORDED = load_recorded()
READ_AT = RECORDED["read_at"]
FITS, OFFLOAD, LOST, GONE, NEVER = (
    f"127.0.0.1:{port}" for port in (19201, 19202, 19203, 19204, 19205)
)
GIB = 2**30


@pytest.fixture
def prometheus() -> Iterator[TinyServer]:
    with tiny_server() as server:
        server.replay(RECORDED)
        yield server


async def fleet(server: TinyServer, now: float = READ_AT) -> FleetReading:
    client = PrometheusClient(server.url)
    try:
        return await read_fleet(client, now=now)
    finally:
        await client.aclose()


def rig(reading: FleetReading, instance: str) -> FleetRig:
    (found,) = [rig for rig in reading.rigs if rig.instance == instance]
    return found


def recorded_value(metric: str, instance: str, **labels: str) -> float:
    """The value Prometheus answered for one series, straight from the recording."""
    for key, answer in RECORDED["answers"].items():
        if not key.startswith("/api/v1/query {"):
            continue
        for result in answer["data"]["result"]:
            labelled = result["metric"]
            if (
                labelled["__name__"] == metric
                and labelled["instance"] == instance
                and all(labelled.get(name) == value for name, value in labels.items())
            ):
                return float(result["value"][1])
    raise AssertionError(f"{metric} {instance} {labels} is not in the recording")


async def test_rigs_with_firing_alerts_come_first_then_pending_then_by_instance(
    prometheus: TinyServer,
) -> None:
    reading = await fleet(prometheus)
    assert [rig.instance for rig in reading.rigs] == [OFFLOAD, LOST, GONE, NEVER, FITS]
    assert reading.server == prometheus.url
    assert reading.read_at == READ_AT
    assert reading.alerts_error is None
    # Four requests for five rigs (and as many for fifty).
    assert len(prometheus.asked) == 4


async def test_each_gpu_has_the_figures_prometheus_holds(prometheus: TinyServer) -> None:
    fits = rig(await fleet(prometheus), FITS)
    assert (fits.job, fits.up, fits.stale, fits.demo, fits.hostname) == (
        "rigtui",
        True,
        False,
        "dual",
        "llmbox",
    )
    assert [gpu.index for gpu in fits.gpus] == ["0", "1"]
    for gpu in fits.gpus:
        labels = {"gpu": gpu.index}
        assert gpu.name == "NVIDIA GeForce RTX 4090"
        assert gpu.uuid is not None and gpu.uuid.startswith("GPU-")
        assert gpu.lost is False
        assert gpu.utilization_ratio == recorded_value(
            "rigtui_gpu_utilization_ratio", FITS, **labels
        )
        assert gpu.memory_used_bytes == recorded_value(
            "rigtui_gpu_memory_used_bytes", FITS, **labels
        )
        assert gpu.memory_total_bytes == 25757220864
        assert gpu.power_draw_watts == recorded_value("rigtui_gpu_power_draw_watts", FITS, **labels)
        assert gpu.power_peak_watts == recorded_value(
            "rigtui_gpu_power_peak_watts", FITS, window="60s", **labels
        )
        assert gpu.power_limit_watts == 450
        assert gpu.temperature_slowdown_celsius == 87
        assert gpu.pcie_generation == gpu.pcie_generation_max == 4
    assert [gpu.pcie_width_lanes for gpu in fits.gpus] == [4, 16]
    # The 70B model fits across both cards: all of it in VRAM.
    (model,) = fits.models
    assert model.name == "llama3.3:70b"
    assert model.cpu_ratio == 0
    assert model.vram_bytes == model.size_bytes
    assert model.size_bytes is not None and model.size_bytes > 40 * GIB
    assert fits.alerts == ()
    assert fits.ollama_up is True
    assert fits.power_budget_watts is None


async def test_the_offload_rig_shows_its_cpu_share_budget_and_alerts(
    prometheus: TinyServer,
) -> None:
    offload = rig(await fleet(prometheus), OFFLOAD)
    (model,) = offload.models
    assert model.cpu_ratio == recorded_value(
        "rigtui_ollama_model_cpu_ratio", OFFLOAD, model="llama3.3:70b"
    )
    assert 0.3 < model.cpu_ratio < 0.6
    assert offload.power_budget_watts == 60
    assert offload.power_total_peak_watts is not None and offload.power_total_peak_watts > 60
    # Firing first, then pending, each by name.
    assert [(alert.name, alert.state, alert.gpu) for alert in offload.alerts] == [
        ("RigtuiPowerOverBudget", "firing", None),
        ("RigtuiGpuMemoryAlmostFull", "pending", "0"),
        ("RigtuiModelSpilledToCpu", "pending", None),
    ]
    assert [alert.name for alert in offload.firing] == ["RigtuiPowerOverBudget"]


async def test_the_lost_gpu_is_lost_and_its_alerts_are_attached_to_its_rig(
    prometheus: TinyServer,
) -> None:
    lost = rig(await fleet(prometheus), LOST)
    hot, gone_gpu = lost.gpus
    assert (gone_gpu.index, gone_gpu.lost, gone_gpu.utilization_ratio) == ("1", True, None)
    assert hot.lost is False
    # Only the reasons at 1, by name.
    assert hot.clock_event_reasons == ("sw_power_cap", "sw_thermal_slowdown")
    assert (hot.pcie_generation, hot.pcie_generation_max) == (2, 4)
    assert [(alert.name, alert.state, alert.gpu) for alert in lost.alerts] == [
        ("RigtuiGpuLost", "firing", "1"),
        ("RigtuiGpuFanNotSpinning", "pending", "0"),
        ("RigtuiGpuThermalSlowdown", "pending", "0"),
        ("RigtuiPcieLinkBelowMaxGeneration", "pending", "0"),
    ]
    gpu_lost = lost.alerts[0]
    assert gpu_lost.severity == "critical"
    # Lost before the exporter started: no name to say.
    assert gpu_lost.summary == f"GPU 1 on {LOST} fell off the bus"
    # "2026-12-06T16:42:34.950378585Z"
    assert gpu_lost.active_since == pytest.approx(1796575354.950378585)


async def test_a_rig_that_stopped_answering_keeps_its_last_values_marked_stale(
    prometheus: TinyServer,
) -> None:
    gone = rig(await fleet(prometheus), GONE)
    assert (gone.up, gone.stale) == (False, True)
    assert gone.last_seen == recorded_value("rigtui_exporter_last_sample_timestamp_seconds", GONE)
    assert READ_AT - gone.last_seen > 5
    (gpu,) = gone.gpus
    assert gpu.utilization_ratio == recorded_value("rigtui_gpu_utilization_ratio", GONE, gpu="0")
    assert [(alert.name, alert.state) for alert in gone.alerts] == [
        ("RigtuiExporterDown", "pending")
    ]


async def test_a_target_of_the_rigs_job_that_never_answered_is_listed_down(
    prometheus: TinyServer,
) -> None:
    never = rig(await fleet(prometheus), NEVER)
    assert (never.job, never.up, never.stale, never.last_seen) == ("rigtui", False, True, None)
    assert (never.hostname, never.gpus, never.models) == (None, (), ())
    assert [(alert.name, alert.state) for alert in never.alerts] == [
        ("RigtuiExporterDown", "pending")
    ]


async def test_a_rig_whose_newest_reading_is_old_is_stale_though_up(
    prometheus: TinyServer,
) -> None:
    fits_last_seen = recorded_value("rigtui_exporter_last_sample_timestamp_seconds", FITS)
    just_fresh = await fleet(prometheus, now=fits_last_seen + STALE_AFTER_S)
    assert rig(just_fresh, FITS).stale is False
    too_old = await fleet(prometheus, now=fits_last_seen + STALE_AFTER_S + 1)
    fits = rig(too_old, FITS)
    assert (fits.up, fits.stale) == (True, True)


async def test_alerts_that_cannot_be_read_leave_the_rigs_read(prometheus: TinyServer) -> None:
    prometheus.answers["/api/v1/alerts"] = Answer(403, "text/plain", b"forbidden")
    reading = await fleet(prometheus)
    assert reading.alerts_error is not None
    assert "refused access to /api/v1/alerts (403)" in reading.alerts_error
    assert [rig.instance for rig in reading.rigs] == [FITS, OFFLOAD, LOST, GONE, NEVER]
    assert all(rig.alerts == () for rig in reading.rigs)


async def test_rigs_that_cannot_be_read_are_a_fleet_error(prometheus: TinyServer) -> None:
    up_key = next(key for key in RECORDED["answers"] if key.startswith("/api/v1/query up "))
    prometheus.answers[up_key] = Answer.of(
        {"status": "error", "errorType": "timeout", "error": "query timed out in expression"},
        status=503,
    )
    with pytest.raises(FleetError) as caught:
        await fleet(prometheus)
    assert "(timeout): query timed out in expression" in str(caught.value)


async def test_a_prometheus_without_rigtui_targets_has_no_rigs(prometheus: TinyServer) -> None:
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    for key in RECORDED["answers"]:
        if key.startswith("/api/v1/query "):
            prometheus.answers[key] = Answer.of(empty)
    prometheus.answers["/api/v1/alerts"] = Answer.of({"status": "success", "data": {"alerts": []}})
    reading = await fleet(prometheus)
    assert reading.rigs == ()
    assert reading.alerts_error is None


async def test_odd_values_are_read_as_none_or_as_they_are(prometheus: TinyServer) -> None:
    """Prometheus writes values as text: NaN (e.g. a division by 0 in a rule) is no value,
    infinities are kept, and anything else that is not a number is no value."""
    key = next(key for key in RECORDED["answers"] if key.startswith("/api/v1/query {"))
    answer = json.loads(json.dumps(RECORDED["answers"][key]))
    odd = {"rigtui_gpu_utilization_ratio": "NaN", "rigtui_gpu_temperature_celsius": "+Inf"}
    for result in answer["data"]["result"]:
        name = result["metric"]["__name__"]
        if result["metric"]["instance"] == FITS and name in odd:
            result["value"][1] = odd[name]
        if result["metric"]["instance"] == FITS and name == "rigtui_gpu_power_draw_watts":
            result["value"] = ["not a time"]
    prometheus.answers[key] = Answer.of(answer)
    fits = rig(await fleet(prometheus), FITS)
    assert [gpu.utilization_ratio for gpu in fits.gpus] == [None, None]
    assert [gpu.temperature_celsius for gpu in fits.gpus] == [math.inf, math.inf]
    assert [gpu.power_draw_watts for gpu in fits.gpus] == [None, None]


# --- one rig's history ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window_s", "points", "step_s"),
    [(600, 120, 5), (3600, 120, 30), (60, 30, 2), (10, 100, 1), (100, 40, 2), (60, 0, 60)],
)
def test_the_step_is_the_window_over_the_points_in_whole_seconds(
    window_s: float, points: int, step_s: int
) -> None:
    assert history_step(window_s, points) == step_s


async def test_history_has_a_line_per_gpu_for_each_chart(prometheus: TinyServer) -> None:
    asked = RECORDED["history"]
    client = PrometheusClient(prometheus.url)
    try:
        history = await read_history(
            client,
            asked["instance"],
            end=asked["end"],
            window_s=asked["window_s"],
            points=asked["points"],
        )
    finally:
        await client.aclose()
    assert history.instance == FITS
    assert history.step_s == 2
    assert history.end == math.floor(asked["end"] / 2) * 2
    assert history.end - history.start == 58
    assert set(history.charts) == {"utilization", "vram", "power", "power_peak", "temperature"}
    for chart, lines in history.charts.items():
        assert [line.label for line in lines] == ["GPU 0", "GPU 1"], chart
        for line in lines:
            times = [at for at, _ in line.points]
            assert times == [history.start + 2 * step for step in range(30)]
    # Prometheus had the rig for the last part of the window only: the rest is None.
    recorded = RECORDED["answers"][
        answer_key(
            "/api/v1/query_range", f'query=rigtui_gpu_utilization_ratio{{instance="{FITS}"}}'
        )
    ]["data"]["result"][0]
    utilization = history.charts["utilization"][0].points
    filled = [(at, value) for at, value in utilization if value is not None]
    assert filled == [(at, float(value)) for at, value in recorded["values"]]
    assert utilization[0][1] is None
    assert history.lines == {"power_limit": 450.0, "temperature_slowdown": 87.0}
    asked = [parse_qs(urlsplit(path).query)["query"][0] for path, _ in prometheus.asked]
    assert len(asked) == 8
    assert all(f'instance="{FITS}"' in expr for expr in asked)
    assert 'rigtui_gpu_power_peak_watts{instance="127.0.0.1:19201", window="1s"}' in asked


# --- whatever the answers hold -------------------------------------------------------------------

_LABEL_VALUES = st.one_of(
    st.sampled_from(["0", "1", "10", FITS, "rigtui", "60s", "1s", "llama3.3:70b", ""]),
    # Digits int() refuses: a superscript (str.isdigit says yes), five thousand of them.
    st.sampled_from(["rig²:1", "1²", "٣", "9" * 5000, "007", "7"]),
    st.text(max_size=8),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
_NAMES = st.one_of(
    st.sampled_from(
        [
            "rigtui_exporter_info",
            "rigtui_exporter_last_sample_timestamp_seconds",
            "rigtui_gpu_info",
            "rigtui_gpu_lost",
            "rigtui_gpu_utilization_ratio",
            "rigtui_gpu_power_peak_watts",
            "rigtui_ollama_model_cpu_ratio",
            "rigtui_power_total_peak_watts",
            "up",
        ]
    ),
    _LABEL_VALUES,
)
_METRICS = st.fixed_dictionaries(
    {"__name__": _NAMES, "instance": st.sampled_from([FITS, OFFLOAD, "", "x:1", "rig²:1"])},
    optional={
        "job": _LABEL_VALUES,
        "gpu": _LABEL_VALUES,
        "model": _LABEL_VALUES,
        "window": _LABEL_VALUES,
        "reason": _LABEL_VALUES,
        "hostname": _LABEL_VALUES,
    },
)
_SAMPLE_VALUES = st.one_of(
    st.sampled_from(["1", "0", "NaN", "+Inf", "-Inf", "1e400", "0.45", "junk", ""]),
    st.floats(allow_nan=True),
    st.none(),
    st.lists(st.integers(), max_size=1),
)
_RESULTS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"metric": _METRICS, "value": st.tuples(st.floats(), _SAMPLE_VALUES).map(list)}
        ),
        st.fixed_dictionaries({"metric": _METRICS, "value": _SAMPLE_VALUES}),
        st.integers(),
    ),
    max_size=12,
)
_ALERTS = st.lists(
    st.fixed_dictionaries(
        {
            "labels": st.fixed_dictionaries(
                {"instance": st.sampled_from([FITS, OFFLOAD, "nowhere"])},
                optional={"alertname": _LABEL_VALUES, "gpu": _LABEL_VALUES, "job": _LABEL_VALUES},
            ),
            "state": st.one_of(st.sampled_from(["firing", "pending", "inactive"]), _LABEL_VALUES),
        },
        optional={
            "activeAt": st.one_of(
                st.sampled_from(["2026-12-06T16:42:34.950378585Z", "2026-12-06T16:42:34+02:00"]),
                _LABEL_VALUES,
            ),
            "annotations": st.dictionaries(st.sampled_from(["summary"]), _LABEL_VALUES),
        },
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(values=_RESULTS, reasons=_RESULTS, up=_RESULTS, alerts=_ALERTS)
def test_any_answers_make_a_fleet_in_order(values, reasons, up, alerts) -> None:
    reading = fleet_from_answers(values, reasons, up, alerts, server="http://p:9090", now=1e9)
    ranks = [0 if rig.firing else 1 if rig.alerts else 2 for rig in reading.rigs]
    assert ranks == sorted(ranks)
    for rig in reading.rigs:
        assert isinstance(rig.instance, str) and isinstance(rig.job, str)
        assert all(alert.state in ("firing", "pending") for alert in rig.alerts)
        for gpu in rig.gpus:
            assert gpu.utilization_ratio is None or not math.isnan(gpu.utilization_ratio)
            assert all(isinstance(reason, str) for reason in gpu.clock_event_reasons)


def test_numbers_in_names_sort_as_numbers_whatever_their_digits() -> None:
    names = ["rig:10430", "rig:9100", "rig²:1", "rig:" + "9" * 5000, "rig:09100", "gpu٣"]
    values = [
        {
            "metric": {"__name__": "rigtui_exporter_info", "instance": name, "job": "j"},
            "value": [1, "1"],
        }
        for name in names
    ]
    reading = fleet_from_answers(values, [], [], [], server="http://p:9090", now=1e9)
    assert [rig.instance for rig in reading.rigs] == [
        "gpu٣",
        "rig:09100",
        "rig:9100",
        "rig:10430",
        "rig:" + "9" * 5000,
        "rig²:1",
    ]


_TIMES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["+Inf", "-Inf", "NaN", "1e400", "junk", 1000.0, 1030.0]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.none(),
)
_RANGE_RESULTS = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {
                "metric": _METRICS,
                "values": st.one_of(
                    st.lists(
                        st.one_of(
                            st.tuples(_TIMES, _SAMPLE_VALUES).map(list),
                            _SAMPLE_VALUES,
                        ),
                        max_size=6,
                    ),
                    _SAMPLE_VALUES,
                ),
            }
        ),
        st.integers(),
        st.none(),
    ),
    max_size=4,
)
_INSTANT_ANSWERS = st.one_of(_RESULTS, st.none(), st.integers())


@settings(max_examples=60, deadline=None)
@given(
    charts=st.lists(st.one_of(_RANGE_RESULTS, st.none()), min_size=5, max_size=5),
    lines=st.lists(_INSTANT_ANSWERS, min_size=3, max_size=3),
)
def test_any_range_answers_make_a_history_on_its_time_axis(charts, lines) -> None:
    history = history_from_answers(
        charts, lines, instance="x:1", start=1000.0, end=1060.0, step_s=30
    )
    assert set(history.charts) == {"utilization", "vram", "power", "power_peak", "temperature"}
    for series in (line for chart in history.charts.values() for line in chart):
        assert [at for at, _ in series.points] == [1000.0, 1030.0, 1060.0]
        assert all(value is None or not math.isnan(value) for _, value in series.points)
    assert all(math.isfinite(value) for value in history.lines.values())
