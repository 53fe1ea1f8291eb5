"""The board as Prometheus metric families: a ``prometheus_client`` custom collector.

Every number of ``rigtui snapshot --json`` is a series named in ``names.py``; a value that could
not be read is an absent series, and ``rigtui_gpu_field_unavailable`` says which and why. A scrape
reads only the board; the families of one reading are built once and served to every scrape of
that reading (only the sample's age changes between them).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector, CollectorRegistry

from rigtui.exporter import names
from rigtui.exporter.board import BoardView, MetricsBoard, OllamaState
from rigtui.insight.fits import load_predictions
from rigtui.llm.placement import cpu_share
from rigtui.telemetry.export import unavailable_reasons
from rigtui.telemetry.model import GpuReading, RigSnapshot
from rigtui.telemetry.nvml import CLOCK_EVENT_REASONS

if TYPE_CHECKING:
    from collections.abc import Sequence

KNOWN_CLOCK_EVENT_REASONS = tuple(name for _bit, name in CLOCK_EVENT_REASONS)
STAYS_LOADED_S = 20 * 365 * 24 * 3600
"""An unload further off than this is Ollama's "forever" (keep_alive -1): no unload series."""
MIB = 2**20
MHZ = 1e6


class Families:
    """The metric families of one scrape, made on first use, in ``names.ALL`` order."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}
        self._seen: set[tuple[str, tuple[str, ...]]] = set()

    def add(self, metric: names.Metric, labels: Sequence[str], value: float | None) -> None:
        """One sample; a None (or NaN, or infinite) value is left out: absent, never 0 or NaN.
        So is a negative count (no counter goes below 0: OpenMetrics rejects the scrape)."""
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value) or (value < 0 and metric.kind == "counter"):
            return
        key = (metric.name, tuple(labels))
        if key in self._seen:
            return  # a second series with the same labels would fail the whole scrape
        self._seen.add(key)
        self._family(metric).add_metric(list(labels), value)

    def info(self, metric: names.Metric, labels: Sequence[str], info: dict[str, str]) -> None:
        key = (metric.name, tuple(labels))
        if key not in self._seen:
            self._seen.add(key)
            self._family(metric).add_metric(list(labels), info)

    def _family(self, metric: names.Metric) -> Metric:
        family = self._families.get(metric.name)
        if family is not None:
            return family
        if metric.kind == "counter":
            family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
        elif metric.kind == "info":
            # prometheus_client adds the ``_info`` suffix itself.
            base = metric.name.removesuffix("_info")
            extra = [label for label in metric.labels if label not in _INFO_VALUE_LABELS[metric]]
            family = InfoMetricFamily(base, metric.help, labels=extra)
        else:
            family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
        self._families[metric.name] = family
        return family

    def collected(self) -> list[Metric]:
        order = {metric.name: position for position, metric in enumerate(names.ALL)}
        return sorted(self._families.values(), key=lambda family: order[_contract_name(family)])


def _contract_name(family: Metric) -> str:
    if family.type == "info":
        return family.name + "_info"
    if family.type == "counter":
        return family.name + "_total"
    return family.name


_INFO_VALUE_LABELS: dict[names.Metric, tuple[str, ...]] = {
    names.EXPORTER_INFO: names.EXPORTER_INFO.labels,
    names.NVML_INFO: names.NVML_INFO.labels,
    names.OLLAMA_INFO: names.OLLAMA_INFO.labels,
    names.GPU_INFO: (),
}
"""Of an info metric's labels, those given as its value (the rest identify it, like ``gpu``)."""


def gpu_labels(gpu: GpuReading) -> tuple[str, str, str, str]:
    return (str(gpu.index), gpu.uuid or "", gpu.name or "", gpu.pci_bus_id or "")


def _ratio(percent: float | None) -> float | None:
    return None if percent is None else percent / 100.0


def _mhz(value: int | None) -> float | None:
    return None if value is None else value * MHZ


def add_gpu(families: Families, gpu: GpuReading) -> None:
    """Every series of one GPU."""
    labels = gpu_labels(gpu)
    add = families.add
    families.info(names.GPU_INFO, labels, {})
    add(names.GPU_LOST, labels, 1 if gpu.lost else 0)
    for field, reason in unavailable_reasons(gpu).items():
        add(names.GPU_FIELD_UNAVAILABLE, (*labels, field, reason), 1)
    if gpu.lost:
        return  # every other value is gone with it
    add(names.UTILIZATION, labels, _ratio(gpu.utilization_gpu_pct))
    add(names.MEMORY_BANDWIDTH_UTILIZATION, labels, _ratio(gpu.utilization_memory_pct))
    add(names.MEMORY_USED, labels, gpu.memory_used_bytes)
    add(names.MEMORY_TOTAL, labels, gpu.memory_total_bytes)
    add(names.MEMORY_RESERVED, labels, gpu.memory_reserved_bytes)
    add(names.MEMORY_FREE, labels, gpu.memory_free_bytes)
    add(names.TEMPERATURE, labels, gpu.temperature_c)
    add(names.TEMPERATURE_SLOWDOWN, labels, gpu.temperature_slowdown_c)
    add(names.TEMPERATURE_SHUTDOWN, labels, gpu.temperature_shutdown_c)
    add(names.TEMPERATURE_MAX_OPERATING, labels, gpu.temperature_max_operating_c)
    for fan in gpu.fans:
        fan_labels = (*labels, str(fan.index))
        add(names.FAN_SPEED, fan_labels, _ratio(fan.speed_pct))
        add(names.FAN_RPM, fan_labels, fan.rpm)
    add(names.POWER_DRAW, labels, gpu.power_draw_w)
    add(names.POWER_INSTANT, labels, gpu.power_instant_w)
    second, minute = names.PEAK_WINDOWS
    add(names.POWER_PEAK, (*labels, second), gpu.power_peak_1s_w)
    add(names.POWER_PEAK, (*labels, minute), gpu.power_peak_60s_w)
    if gpu.power_peak_1s_w is not None or gpu.power_peak_60s_w is not None:
        add(names.POWER_PEAKS_INSTANT, labels, 1 if gpu.power_peaks_instant else 0)
    add(names.POWER_LIMIT, labels, gpu.power_limit_w)
    add(names.POWER_DEFAULT_LIMIT, labels, gpu.power_default_limit_w)
    add(names.ENERGY, labels, gpu.energy_total_j)
    add(names.PSTATE, labels, gpu.pstate)
    _add_clocks(families, gpu, labels)
    add(names.PCIE_GENERATION, labels, gpu.pcie_link_gen)
    add(names.PCIE_GENERATION_MAX, labels, gpu.pcie_link_gen_max)
    add(names.PCIE_WIDTH, labels, gpu.pcie_link_width)
    add(names.PCIE_WIDTH_MAX, labels, gpu.pcie_link_width_max)
    add(names.PCIE_RX, labels, gpu.pcie_rx_bytes_per_s)
    add(names.PCIE_TX, labels, gpu.pcie_tx_bytes_per_s)
    _add_processes(families, gpu, labels)


def _add_clocks(families: Families, gpu: GpuReading, labels: tuple[str, ...]) -> None:
    add = families.add
    sm, memory = names.CLOCK_DOMAINS
    add(names.CLOCK, (*labels, sm), _mhz(gpu.clocks_sm_mhz))
    add(names.CLOCK, (*labels, memory), _mhz(gpu.clocks_mem_mhz))
    add(names.CLOCK_MAX, (*labels, sm), _mhz(gpu.clocks_sm_max_mhz))
    add(names.CLOCK_MAX, (*labels, memory), _mhz(gpu.clocks_mem_max_mhz))
    if gpu.clocks_event_reasons is not None:
        holding = set(gpu.clocks_event_reasons)
        for reason in KNOWN_CLOCK_EVENT_REASONS:
            add(names.CLOCK_EVENT_REASON, (*labels, reason), 1 if reason in holding else 0)
        # Bits this rigtui has no name for (``other_0x...``): few, and worth seeing.
        for reason in sorted(holding.difference(KNOWN_CLOCK_EVENT_REASONS)):
            add(names.CLOCK_EVENT_REASON, (*labels, reason), 1)


def _add_processes(families: Families, gpu: GpuReading, labels: tuple[str, ...]) -> None:
    """The processes' VRAM summed by name: a PID label would make a new series per run."""
    add = families.add
    if gpu.processes is None:
        return
    add(names.PROCESSES, labels, len(gpu.processes))
    by_name: dict[str, int] = {}
    for process in gpu.processes:
        if process.used_memory_bytes is None:
            continue
        name = process.name or names.NOT_VISIBLE_PROCESS
        by_name[name] = by_name.get(name, 0) + process.used_memory_bytes
    for name, used in sorted(by_name.items()):
        add(names.PROCESS_MEMORY, (*labels, name), used)


def add_rig(families: Families, snapshot: RigSnapshot) -> None:
    """The rig's reading: NVML, every GPU, the power budget, the host."""
    add = families.add
    nvml = snapshot.nvml
    add(names.NVML_UP, (), 1 if nvml.available else 0)
    if nvml.available:
        families.info(
            names.NVML_INFO,
            (),
            {
                "driver_version": nvml.driver_version or "",
                "cuda_version": nvml.cuda_version or "",
                "nvml_version": nvml.nvml_version or "",
            },
        )
    add(names.GPUS, (), len(snapshot.gpus))
    for gpu in snapshot.gpus:
        add_gpu(families, gpu)
    power = snapshot.power
    if power is not None:
        add(names.POWER_BUDGET, (), power.budget_w)
        add(names.POWER_TOTAL_PEAK, (names.PEAK_WINDOWS[1],), power.peak_60s_w)
        add(names.POWER_ROUNDS, (), power.rounds)
        add(names.POWER_ROUNDS_OVER_BUDGET, (), power.rounds_over_budget)
    cpu = snapshot.cpu
    add(names.CPU_UTILIZATION, (), _ratio(cpu.percent))
    for core, percent in enumerate(cpu.per_core_pct):
        add(names.CPU_CORE_UTILIZATION, (str(core),), _ratio(percent))
    add(names.CPU_CORES, (), cpu.logical_count or None)
    if cpu.load_average is not None:
        for window, load in zip(names.LOAD_WINDOWS, cpu.load_average, strict=False):
            add(names.LOAD_AVERAGE, (window,), load)
    memory = snapshot.memory
    add(names.MEMORY_HOST_USED, (), memory.used_bytes)
    add(names.MEMORY_HOST_TOTAL, (), memory.total_bytes)
    add(names.MEMORY_HOST_AVAILABLE, (), memory.available_bytes)
    add(names.SWAP_USED, (), memory.swap_used_bytes)
    add(names.SWAP_TOTAL, (), memory.swap_total_bytes)


def add_ollama(families: Families, ollama: OllamaState, snapshot: RigSnapshot | None) -> None:
    """Ollama: up, its version, what is installed, and each loaded model beside its prediction.

    Seconds until unload count from the reading's time: the simulated Ollama keeps the rig's
    clock, and on a real rig the two are one sampling interval apart at most.
    """
    add = families.add
    add(names.OLLAMA_UP, (), 1 if ollama.up else 0)
    if not ollama.up:
        return
    if ollama.version is not None:
        families.info(names.OLLAMA_INFO, (), {"version": ollama.version})
    add(names.OLLAMA_MODELS_INSTALLED, (), ollama.installed)
    gpus = snapshot.gpus if snapshot is not None else ()
    predictions = load_predictions(gpus, ollama.running, ollama.facts) if ollama.facts else {}
    for model in ollama.running:
        labels = (model.name,)
        add(names.MODEL_SIZE, labels, model.size_bytes)
        add(names.MODEL_VRAM, labels, model.size_vram_bytes)
        add(names.MODEL_CPU, labels, cpu_share(model.size_bytes, model.size_vram_bytes))
        add(names.MODEL_CONTEXT, labels, model.context_length)
        expires = model.expires_at_s
        if expires is not None and snapshot is not None:
            left = expires - snapshot.taken_at
            if left <= STAYS_LOADED_S:
                add(names.MODEL_UNLOAD, labels, max(0.0, left))
        prediction = predictions.get(model.name)
        if prediction is not None:
            add(
                names.MODEL_PREDICTED_CPU,
                labels,
                cpu_share(prediction.size_bytes, prediction.size_vram_bytes),
            )


def build(view: BoardView, *, version: str = "", demo: str = "") -> Families:
    """Everything of one board view but the sample's age (which changes with every scrape)."""
    families = Families()
    snapshot = view.snapshot
    families.info(
        names.EXPORTER_INFO,
        (),
        {
            "version": version,
            "hostname": snapshot.hostname if snapshot is not None else "",
            "demo": demo,
        },
    )
    if view.received_at is not None:
        families.add(names.LAST_SAMPLE, (), view.received_at)
    families.add(names.SAMPLING_FAILURES, (), view.sampling_failures)
    if snapshot is not None:
        add_rig(families, snapshot)
    if view.ollama is not None:
        add_ollama(families, view.ollama, snapshot)
    return families


class BoardCollector(Collector):
    """Serves the board. ``collect`` runs on the scrape's thread and never reads a source."""

    def __init__(self, board: MetricsBoard, *, version: str = "", demo: str = "") -> None:
        self.board = board
        self.version = version
        self.demo = demo
        self._lock = threading.Lock()
        self._built: tuple[int, list[Metric]] | None = None

    def of_reading(self, view: BoardView) -> list[Metric]:
        """The families of ``view`` but the sample's age: built once per reading."""
        with self._lock:
            if self._built is None or self._built[0] != view.generation:
                built = build(view, version=self.version, demo=self.demo).collected()
                self._built = (view.generation, built)
            return self._built[1]

    def of_now(self, view: BoardView) -> list[Metric]:
        """What changes with every scrape: the sample's age."""
        if view.received_at is None:
            return []
        age = Families()
        age.add(names.SAMPLE_AGE, (), max(0.0, self.board.clock() - view.received_at))
        return age.collected()

    def collect(self) -> Iterator[Metric]:
        view = self.board.view()
        yield from self.of_reading(view)
        yield from self.of_now(view)


class _Served:
    """Families as a registry for ``prometheus_client``'s encoders."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


OPENMETRICS_END = b"# EOF\n"


def wants_openmetrics(accept: str) -> bool:
    """Whether an ``Accept`` header prefers OpenMetrics 1.0.0 to the text format 0.0.4, the
    two formats served (by their ``q``; on a tie, OpenMetrics, as Prometheus asks first).

    Ours, not ``prometheus_client``'s ``choose_encoder``: that one echoes the client's
    ``version=`` into the content type (so a scraper could grow the rendered-text cache, one
    entry per version it made up, and be told a version that was not served) and raises on a
    version it cannot parse (a 500 where the text format would do).
    """
    best = {"openmetrics": -1.0, "text": -1.0}
    for media_range in accept.split(","):
        kind, *parameters = (part.strip() for part in media_range.split(";"))
        values = {}
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(values.get("q", "1"))
        except ValueError:
            quality = 1.0
        if not 0 < quality <= 1:
            continue  # q=0: not acceptable
        kind = kind.lower()
        if kind == "application/openmetrics-text" and values.get("version", "1.0.0") == "1.0.0":
            best["openmetrics"] = max(best["openmetrics"], quality)
        elif kind in ("text/plain", "text/*", "*/*"):
            best["text"] = max(best["text"], quality)
    return best["openmetrics"] >= 0 and best["openmetrics"] >= best["text"]


class Exposition:
    """The board as a scrape's answer, in the format its ``Accept`` header asks for.

    Rendering ~130 series is most of a scrape's cost (about a millisecond): the text of one
    reading is rendered once per format and served to every scrape of it, with only the
    sample's age rendered anew. So ten scrapers cost what one does.
    """

    def __init__(self, board: MetricsBoard, *, version: str = "", demo: str = "") -> None:
        self.board = board
        self.collector = BoardCollector(board, version=version, demo=demo)
        self.registry = CollectorRegistry(auto_describe=False)
        """The same families as a registry (no process or platform collectors: the Python
        process's own figures are not the rig's, and node_exporter has the host's)."""
        self.registry.register(self.collector)
        self._lock = threading.Lock()
        self._rendered: dict[str, tuple[int, bytes]] = {}

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The body and its content type."""
        use_openmetrics = wants_openmetrics(accept)
        if use_openmetrics:
            encoder, content_type = openmetrics.generate_latest, openmetrics.CONTENT_TYPE_LATEST
        else:
            encoder, content_type = generate_latest, CONTENT_TYPE_PLAIN_0_0_4
        view = self.board.view()
        with self._lock:
            rendered = self._rendered.get(content_type)
        if rendered is None or rendered[0] != view.generation:
            body = encoder(_Served(self.collector.of_reading(view)))
            if use_openmetrics:
                body = body.removesuffix(OPENMETRICS_END)
            rendered = (view.generation, body)
            with self._lock:
                self._rendered[content_type] = rendered
        now = self.collector.of_now(view)
        tail = encoder(_Served(now)) if now else b""
        if use_openmetrics:
            tail = tail.removesuffix(OPENMETRICS_END) + OPENMETRICS_END
        return rendered[1] + tail, content_type


def registry_for(board: MetricsBoard, *, version: str = "", demo: str = "") -> CollectorRegistry:
    """A registry of our own with only the board on it."""
    return Exposition(board, version=version, demo=demo).registry
