"""What one telemetry reading costs: per GPU (NVML calls), per power round, per CPU read.

    python benchmarks/sample_cost.py [--repeat 300]

GPU readings go through rigtui's real NvmlSource and the real pynvml bindings into the simulated
NVML library (no emulated driver latency), for one and for two GPUs; reported are the time per
reading, per GPU, and how many NVML calls one reading makes (on real hardware each call enters
the driver; most take microseconds, a few, such as the process list, take longer). CPU, memory
and process readings go through SystemSource into the *real* psutil of this machine, over its
real /proc: the figure a user's machine pays, give or take its number of processes.
Medians of ``--repeat`` readings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import psutil

from rigtui.sim import SimulatedEnvironment
from rigtui.telemetry.system import SystemSource


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def gpu_costs(scenario: str, repeat: int) -> None:
    environment = SimulatedEnvironment(scenario)
    environment.install()
    try:
        environment.clock.set(345.0)  # a reply generating: every field has a value
        sampler = environment.sampler()
        sampler.open()
        gpus = sampler.nvml.gpu_count
        calls = environment.nvml_library.calls
        before = sum(calls.values())
        sampler.nvml.read()
        per_reading = sum(calls.values()) - before
        read_ms = median_ms(sampler.nvml.read, repeat)
        before = sum(calls.values())
        sampler.sample_power()
        power_calls = sum(calls.values()) - before
        power_ms = median_ms(sampler.sample_power, repeat)
        whole_ms = median_ms(sampler.sample, repeat)
        print(
            f"{scenario:>6} ({gpus} GPU{'s' if gpus > 1 else ''}): GPU reading "
            f"{read_ms:.2f} ms ({read_ms / gpus:.2f} ms and {per_reading // gpus} NVML calls "
            f"per GPU); power round (10 Hz) {power_ms:.3f} ms, {power_calls} calls; "
            f"whole snapshot {whole_ms:.2f} ms"
        )
        sampler.close()
    finally:
        environment.uninstall()


def system_costs(repeat: int) -> None:
    source = SystemSource(psutil)
    source.prime()
    time.sleep(0.1)
    cpu_ms = median_ms(source.read_cpu, repeat)
    memory_ms = median_ms(source.read_memory, repeat)
    processes_ms = median_ms(source.read_processes, max(10, repeat // 10))
    count = len(psutil.pids())
    print(
        f"this machine (real psutil, {psutil.cpu_count()} CPUs, {count} processes): "
        f"CPU read {cpu_ms:.3f} ms, memory {memory_ms:.3f} ms, "
        f"top processes {processes_ms:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    for scenario in ("story", "dual"):
        gpu_costs(scenario, args.repeat)
    system_costs(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
