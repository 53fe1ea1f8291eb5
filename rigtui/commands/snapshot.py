"""``rigtui snapshot``: one reading of the rig, as a table or as JSON (the README's contract)."""

from __future__ import annotations

import json
import time

from rigtui.commands.output import emit
from rigtui.config import Settings
from rigtui.sources import DemoOptions, open_rig
from rigtui.telemetry.export import snapshot_to_dict
from rigtui.telemetry.model import RigSnapshot
from rigtui.telemetry.sampler import RigSampler
from rigtui.text import units
from rigtui.text.safe import printable

PRIME_DELAY_S = 0.3
"""CPU load is measured between two reads; this is the gap for a one-off snapshot."""


def run(settings: Settings, demo: DemoOptions | None, *, as_json: bool = False) -> int:
    """Print one reading of the rig (``demo``: the simulated one) and return the exit code."""
    with open_rig(settings, demo, ollama=False) as rig:
        snapshot = take_snapshot(rig.sampler)
    emit(format_json(snapshot) if as_json else format_table(snapshot))
    return 0


def take_snapshot(sampler: RigSampler, *, prime_delay_s: float = PRIME_DELAY_S) -> RigSnapshot:
    sampler.open()
    try:
        time.sleep(prime_delay_s)
        return sampler.sample()
    finally:
        sampler.close()


def format_json(snapshot: RigSnapshot) -> str:
    """The README's JSON contract, indented, with a final newline."""
    return json.dumps(snapshot_to_dict(snapshot), indent=2) + "\n"


def format_table(snapshot: RigSnapshot) -> str:
    """A compact, plain-text reading (no colours, safe to pipe)."""
    lines = []
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot.taken_at))
    nvml = snapshot.nvml
    head = f"{snapshot.hostname} · {stamp}"
    if nvml.available:
        head += f" · driver {nvml.driver_version} · CUDA {nvml.cuda_version}"
    lines.append(head)
    if not snapshot.gpus:
        lines.append(f"no GPU: {nvml.error or 'NVML shows no GPU'}")
    for gpu in snapshot.gpus:
        lines.append(f"GPU {gpu.index}  {gpu.name or '?'}")
        if gpu.lost:
            lines.append("  LOST: the GPU fell off the bus (GPU_IS_LOST)")
            continue
        fans = " ".join("N/A" if f.speed_pct is None else f"{f.speed_pct}%" for f in gpu.fans)
        fans = fans or f"N/A ({gpu.reason('fans') or 'no fan'})"
        vram = (
            f"{units.gib(gpu.memory_used_bytes)}/{units.gib(gpu.memory_total_bytes)} GiB"
            if gpu.memory_used_bytes is not None
            else "N/A"
        )
        lines.append(
            f"  util {units.percent(gpu.utilization_gpu_pct)}"
            f"  mem {units.percent(gpu.utilization_memory_pct)}"
            f"  VRAM {vram}"
            f"  temp {units.celsius(gpu.temperature_c)}"
            f" (slowdown {units.celsius(gpu.temperature_slowdown_c)})"
            f"  fans {fans}"
        )
        power = units.watts(gpu.power_draw_w)
        if gpu.power_limit_w is not None and gpu.power_draw_w is not None:
            power = f"{gpu.power_draw_w:.0f}/{gpu.power_limit_w:.0f} W"
        pstate = f" P{gpu.pstate}" if gpu.pstate is not None else ""
        reasons = units.clock_event_words(gpu.clocks_event_reasons) or "none"
        lines.append(
            f"  power {power}{pstate}"
            f"  SM {units.mhz(gpu.clocks_sm_mhz)}/{units.mhz(gpu.clocks_sm_max_mhz)} MHz"
            f"  PCIe {units.pcie_link(gpu.pcie_link_gen, gpu.pcie_link_width)}"
            f" / {units.pcie_link(gpu.pcie_link_gen_max, gpu.pcie_link_width_max)}"
            f"  RX {units.rate(gpu.pcie_rx_bytes_per_s)}  TX {units.rate(gpu.pcie_tx_bytes_per_s)}"
            f"  clocks held by: {reasons}"
        )
        for process in gpu.processes or ():
            lines.append(
                f"  pid {process.pid:<7} {printable(process.name or '(not visible)'):<16}"
                f" {units.size(process.used_memory_bytes)}"
            )
    cpu = snapshot.cpu
    load = ""
    if cpu.load_average is not None:
        load = "  load " + " ".join(f"{value:.2f}" for value in cpu.load_average)
    memory = snapshot.memory
    lines.append(
        f"CPU {cpu.percent:.1f}% of {cpu.logical_count} threads{load}"
        f"  RAM {units.gib(memory.used_bytes)}/{units.gib(memory.total_bytes)} GiB"
        f"  swap {units.gib(memory.swap_used_bytes)}/{units.gib(memory.swap_total_bytes)} GiB"
    )
    for process in snapshot.processes[:5]:
        lines.append(
            f"  pid {process.pid:<7} {printable(process.name):<16} {process.cpu_pct:6.1f}% CPU"
            f"  {units.size(process.rss_bytes)}"
        )
    return "\n".join(lines) + "\n"
