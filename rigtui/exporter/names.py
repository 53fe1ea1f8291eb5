"""The metrics rigtui exports: names, types, labels and help, in one table.

This is a contract. The collector serves exactly these; the alert rules and the Grafana
dashboard in ``contrib/`` and the Fleet tab query them by these names. Renaming one is a
breaking change for every user's dashboards and alerts.

Naming follows Prometheus' conventions: one ``rigtui_`` prefix, the unit in the name as a base
unit (``_bytes``, ``_seconds``, ``_watts``, ``_joules``, ``_celsius``, ``_hertz``), ratios 0-1 as
``_ratio``, counters ending in ``_total``. A value that could not be read is an absent series,
never 0 or NaN; ``rigtui_gpu_field_unavailable`` says which and why.

Fan speed in rpm keeps node_exporter's ``node_hwmon_fan_rpm`` precedent (``_rpm``) rather than
hertz: every fan curve, datasheet and ``nvidia-smi`` speaks rpm.
"""

from __future__ import annotations

from dataclasses import dataclass

GPU_LABELS = ("gpu", "uuid", "name", "pci_bus_id")
"""On every per-GPU series: the NVML index, the UUID (stable across reboots and slots), the
product name and the PCI bus id. ``instance`` and ``job`` come from Prometheus."""


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    """``gauge``, ``counter`` or ``info`` (an info metric's name ends in ``_info`` and is 1)."""
    help: str
    labels: tuple[str, ...] = ()


def _gpu(name: str, help: str, *extra: str, kind: str = "gauge") -> Metric:
    return Metric(name, kind, help, (*GPU_LABELS, *extra))


# --- the exporter itself -------------------------------------------------------------------------
EXPORTER_INFO = Metric(
    "rigtui_exporter_info",
    "info",
    "The rigtui exporter: its version, the host's name, and the simulated scenario under --demo "
    "(empty on a real rig).",
    ("version", "hostname", "demo"),
)
LAST_SAMPLE = Metric(
    "rigtui_exporter_last_sample_timestamp_seconds",
    "gauge",
    "When the newest reading served was taken (Unix time).",
)
SAMPLE_AGE = Metric(
    "rigtui_exporter_sample_age_seconds",
    "gauge",
    "How old the newest reading was when this scrape was served.",
)
SAMPLING_FAILURES = Metric(
    "rigtui_exporter_sampling_failures_total",
    "counter",
    "Readings of the rig that failed (the last good one is served meanwhile).",
)
NVML_UP = Metric("rigtui_nvml_up", "gauge", "1 if NVML answered, 0 if it could not be opened.")
NVML_INFO = Metric(
    "rigtui_nvml_info",
    "info",
    "The NVIDIA driver, CUDA and NVML versions.",
    ("driver_version", "cuda_version", "nvml_version"),
)
GPUS = Metric("rigtui_gpus", "gauge", "How many GPUs NVML shows (lost ones included).")

# --- each GPU ------------------------------------------------------------------------------------
GPU_INFO = _gpu("rigtui_gpu_info", "A GPU NVML shows (1).", kind="info")
GPU_LOST = _gpu("rigtui_gpu_lost", "1 if the GPU fell off the bus (GPU_IS_LOST), else 0.")
GPU_FIELD_UNAVAILABLE = _gpu(
    "rigtui_gpu_field_unavailable",
    "1 for each reading this GPU could not give (its series is absent), with why.",
    "field",
    "reason",
)
UTILIZATION = _gpu(
    "rigtui_gpu_utilization_ratio", "Share of the last sample period a kernel ran (0-1)."
)
MEMORY_BANDWIDTH_UTILIZATION = _gpu(
    "rigtui_gpu_memory_bandwidth_utilization_ratio",
    "Share of the last sample period the memory was read or written (0-1).",
)
MEMORY_USED = _gpu("rigtui_gpu_memory_used_bytes", "VRAM in use.")
MEMORY_TOTAL = _gpu("rigtui_gpu_memory_total_bytes", "VRAM on the card.")
MEMORY_RESERVED = _gpu("rigtui_gpu_memory_reserved_bytes", "VRAM the driver reserves.")
MEMORY_FREE = _gpu("rigtui_gpu_memory_free_bytes", "VRAM free.")
TEMPERATURE = _gpu("rigtui_gpu_temperature_celsius", "GPU core temperature.")
TEMPERATURE_SLOWDOWN = _gpu(
    "rigtui_gpu_temperature_slowdown_celsius", "Temperature at which the GPU slows itself down."
)
TEMPERATURE_SHUTDOWN = _gpu(
    "rigtui_gpu_temperature_shutdown_celsius", "Temperature at which the GPU shuts down."
)
TEMPERATURE_MAX_OPERATING = _gpu(
    "rigtui_gpu_temperature_max_operating_celsius", "Highest temperature for normal operation."
)
FAN_SPEED = _gpu(
    "rigtui_gpu_fan_speed_ratio",
    "The speed the driver asks of a fan (0 during fan-stop; may exceed 1).",
    "fan",
)
FAN_RPM = _gpu("rigtui_gpu_fan_rpm", "A fan's measured speed in revolutions per minute.", "fan")
POWER_DRAW = _gpu("rigtui_gpu_power_draw_watts", "Power draw (NVML's one-second average).")
POWER_INSTANT = _gpu(
    "rigtui_gpu_power_instant_watts", "Instantaneous power, where the driver offers it."
)
POWER_PEAK = _gpu(
    "rigtui_gpu_power_peak_watts",
    "Highest power sampled (ten times a second where the driver offers instantaneous power) "
    "over the last window: the spike a one-second average hides.",
    "window",
)
POWER_PEAKS_INSTANT = _gpu(
    "rigtui_gpu_power_peaks_instant",
    "1 if the peaks are of instantaneous readings, 0 if of one-second averages.",
)
POWER_LIMIT = _gpu("rigtui_gpu_power_limit_watts", "The power limit enforced now.")
POWER_DEFAULT_LIMIT = _gpu("rigtui_gpu_power_default_limit_watts", "The default power limit.")
ENERGY = _gpu(
    "rigtui_gpu_energy_joules_total",
    "Energy used since the driver loaded (NVML's counter; resets on a driver reload).",
    kind="counter",
)
PSTATE = _gpu("rigtui_gpu_performance_state", "Performance state: 0 (P0, fastest) to 15.")
CLOCK = _gpu("rigtui_gpu_clock_hertz", "Clock speed now.", "clock")
CLOCK_MAX = _gpu("rigtui_gpu_clock_max_hertz", "Highest clock speed.", "clock")
CLOCK_EVENT_REASON = _gpu(
    "rigtui_gpu_clock_event_reason",
    "1 if this reason holds the clocks down now, else 0 (nvidia-smi's names).",
    "reason",
)
PCIE_GENERATION = _gpu("rigtui_gpu_pcie_link_generation", "PCIe generation the link runs at.")
PCIE_GENERATION_MAX = _gpu(
    "rigtui_gpu_pcie_link_generation_max", "Highest PCIe generation the GPU and slot allow."
)
PCIE_WIDTH = _gpu("rigtui_gpu_pcie_link_width_lanes", "PCIe lanes the link runs at.")
PCIE_WIDTH_MAX = _gpu("rigtui_gpu_pcie_link_width_max_lanes", "Most PCIe lanes the link allows.")
PCIE_RX = _gpu("rigtui_gpu_pcie_rx_bytes_per_second", "PCIe receive throughput.")
PCIE_TX = _gpu("rigtui_gpu_pcie_tx_bytes_per_second", "PCIe transmit throughput.")
PROCESS_MEMORY = _gpu(
    "rigtui_gpu_process_memory_used_bytes",
    "VRAM used by the processes of one name on this GPU (summed: no PID labels).",
    "process",
)
PROCESSES = _gpu("rigtui_gpu_processes", "Processes using this GPU.")

# --- the power budget ----------------------------------------------------------------------------
POWER_BUDGET = Metric(
    "rigtui_power_budget_watts",
    "gauge",
    "What the PSU or UPS can give the GPUs together (--power-budget); absent if not set.",
)
POWER_TOTAL_PEAK = Metric(
    "rigtui_power_total_peak_watts",
    "gauge",
    "Highest all-GPU total of one sampling round over the last window.",
    ("window",),
)
POWER_ROUNDS = Metric(
    "rigtui_power_rounds_total", "counter", "Power sampling rounds (all GPUs read together)."
)
POWER_ROUNDS_OVER_BUDGET = Metric(
    "rigtui_power_rounds_over_budget_total",
    "counter",
    "Power sampling rounds whose all-GPU total was above the budget.",
)

# --- Ollama --------------------------------------------------------------------------------------
OLLAMA_UP = Metric("rigtui_ollama_up", "gauge", "1 if Ollama answered the last poll, else 0.")
OLLAMA_INFO = Metric("rigtui_ollama_info", "info", "The Ollama server's version.", ("version",))
OLLAMA_MODELS_INSTALLED = Metric(
    "rigtui_ollama_models_installed", "gauge", "Models Ollama has on disk (/api/tags)."
)
MODEL_LABELS = ("model",)
MODEL_SIZE = Metric(
    "rigtui_ollama_model_size_bytes", "gauge", "A loaded model's size in memory.", MODEL_LABELS
)
MODEL_VRAM = Metric(
    "rigtui_ollama_model_vram_bytes",
    "gauge",
    "How much of a loaded model is in VRAM.",
    MODEL_LABELS,
)
MODEL_CPU = Metric(
    "rigtui_ollama_model_cpu_ratio",
    "gauge",
    "The share of a loaded model in system RAM, run by the CPU, as `ollama ps` computes it.",
    MODEL_LABELS,
)
MODEL_CONTEXT = Metric(
    "rigtui_ollama_model_context_length_tokens",
    "gauge",
    "The context a model was loaded with.",
    MODEL_LABELS,
)
MODEL_UNLOAD = Metric(
    "rigtui_ollama_model_unload_seconds",
    "gauge",
    "Seconds until Ollama unloads the model (absent if it stays loaded).",
    MODEL_LABELS,
)
MODEL_PREDICTED_CPU = Metric(
    "rigtui_ollama_model_predicted_cpu_ratio",
    "gauge",
    "rigtui's fit estimate of the CPU share, for the model alone at its context, beside Ollama's.",
    MODEL_LABELS,
)

# --- the host ------------------------------------------------------------------------------------
CPU_UTILIZATION = Metric("rigtui_cpu_utilization_ratio", "gauge", "All CPU cores busy (0-1).")
CPU_CORE_UTILIZATION = Metric(
    "rigtui_cpu_core_utilization_ratio", "gauge", "One logical core busy (0-1).", ("core",)
)
CPU_CORES = Metric("rigtui_cpu_logical_cores", "gauge", "Logical CPU cores.")
LOAD_AVERAGE = Metric(
    "rigtui_load_average", "gauge", "Load average over the window (1m, 5m, 15m).", ("window",)
)
MEMORY_HOST_USED = Metric("rigtui_memory_used_bytes", "gauge", "System RAM in use.")
MEMORY_HOST_TOTAL = Metric("rigtui_memory_total_bytes", "gauge", "System RAM.")
MEMORY_HOST_AVAILABLE = Metric("rigtui_memory_available_bytes", "gauge", "System RAM available.")
SWAP_USED = Metric("rigtui_swap_used_bytes", "gauge", "Swap in use.")
SWAP_TOTAL = Metric("rigtui_swap_total_bytes", "gauge", "Swap.")

ALL: tuple[Metric, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Metric)
)
"""Every metric, in the order above."""

# --- the values of the labels that are not a GPU's or a model's ----------------------------------
CLOCK_DOMAINS = ("sm", "memory")
"""``clock`` of ``rigtui_gpu_clock_hertz`` and ``rigtui_gpu_clock_max_hertz``."""
PEAK_WINDOWS = ("1s", "60s")
"""``window`` of ``rigtui_gpu_power_peak_watts`` (``rigtui_power_total_peak_watts``: 60s only)."""
LOAD_WINDOWS = ("1m", "5m", "15m")
"""``window`` of ``rigtui_load_average``."""
LOST_FIELD = "all"
"""``field`` of ``rigtui_gpu_field_unavailable`` for a lost GPU (reason ``GPU lost``); otherwise
``field`` is the key of ``rigtui snapshot --json`` whose value is null."""
NOT_VISIBLE_PROCESS = "(not visible)"
"""``process`` of ``rigtui_gpu_process_memory_used_bytes`` when the name cannot be read."""
