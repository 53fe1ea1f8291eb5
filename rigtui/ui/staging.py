"""A dashboard over the simulated rig, frozen at one moment of a scenario.

The same staging serves the snapshot tests, the screenshots in ``screenshots/`` and the
benchmarks: the history holds the story up to that moment and the rig's clock stands still, so
every frame is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rigtui.config import Settings
from rigtui.sources import DemoOptions, dashboard_source

if TYPE_CHECKING:
    from rigtui.llm.ollama import OllamaClient
    from rigtui.llm.watch import OllamaWatch
    from rigtui.sim.environment import SimulatedEnvironment
    from rigtui.telemetry.pacing import PaceClock


def staged_app(
    scenario: str = "story",
    at_s: float = 45.0,
    *,
    driver: str = "r580",
    interval_s: float = 1.0,
    history_minutes: float = 10.0,
    environment: SimulatedEnvironment | None = None,
    ollama: bool = False,
    ollama_speed: float = 1.0,
    ollama_port: int = 0,
    power_budget_w: float | None = None,
    pace_clock: PaceClock | None = None,
    ollama_watch: Callable[[OllamaClient], OllamaWatch] | None = None,
    data_dir: Path | None = None,
    prometheus_url: str | None = None,
    fleet_watch: Callable | None = None,
):
    """The dashboard at ``at_s`` seconds into ``scenario``; with ``ollama`` the simulated
    Ollama serves its HTTP API too (stop it with ``app.environment.stop_ollama()``).
    ``pace_clock`` and ``ollama_watch``: as ``RigApp`` takes them (tests step the time);
    ``data_dir``: where chats are kept (None: nothing is kept); ``prometheus_url``: the Fleet
    tab's Prometheus, ``fleet_watch`` makes its watch (tests step it)."""
    from rigtui.ui.app import RigApp

    settings = Settings(
        interval_s=interval_s,
        history_minutes=history_minutes,
        demo=scenario,
        ollama=ollama,
        power_budget_w=power_budget_w,
        data_dir=data_dir,
        prometheus_url=prometheus_url,
    )
    # Built as ``rigtui --demo`` builds it, but staged: the clock stands still and the sampling
    # worker opens the sampler, on that clock.
    demo = DemoOptions(
        scenario,
        at_s,
        driver=driver,
        speed=ollama_speed,
        ollama_port=ollama_port,
        staged=True,
    )
    source = dashboard_source(settings, demo, environment=environment)
    app = RigApp(
        settings, source, pace_clock=pace_clock, ollama_watch=ollama_watch, fleet_watch=fleet_watch
    )
    app.environment = source.environment
    return app


def fill_saved_chats(data_dir: Path) -> None:
    """A data directory with three saved chats, for pictures and tests of the list."""
    from rigtui.llm.ollama import ChatOptions
    from rigtui.store.chats import ChatStore, Turn

    store = ChatStore.open(data_dir)
    for title, model, prompt, reply in (
        ("Why is my GPU slow?", "llama3.1:8b", "Why is my GPU slow?", "It is power-capped."),
        ("Fit a 70B on 24 GB", "qwen2.5:32b", "Will a 70B fit?", "Not without offloading."),
        ("Fans at full speed", "llama3.1:8b", "Why are the fans loud?", "The GPU is at 83 °C."),
    ):
        chat = store.start(model, ChatOptions())
        store.put_turn(chat, 0, Turn("user", prompt, model=model))
        store.put_turn(chat, 1, Turn("assistant", reply, model=model, stats="1.2 s"))
        store.rename(chat, title)
    store.close()


def hold_live_figures(app, tokens_per_s: float) -> None:
    """Fix the chat's live token rate, for pictures that must come out the same every time.

    The rate a stream reaches depends on the machine's timing; screenshots and SVG snapshots
    show the simulated model's modelled rate instead. Everything else on screen is real.
    """
    from rigtui.llm.stats import TokenRate
    from rigtui.ui.widgets.live_strip import LiveStrip

    class HeldRate(TokenRate):
        def rate(self, now: float) -> float:
            return tokens_per_s

    chat = app.dashboard.chat
    chat.rate = HeldRate()
    chat.stall_after_first_token_s = chat.stall_before_first_token_s = float("inf")
    strip = chat.query_one(LiveStrip)
    strip.clear_rates()
    for _ in range(16):
        strip.record_rate(tokens_per_s)
    strip.state = ""
    strip.warning = False
    # A blinking cursor would make two pictures of the same moment differ.
    chat.query_one("#prompt").cursor_blink = False


def staged_fleet_app(now: float, *, clock=None, **staging):
    """The staged story with a Fleet tab whose real ``FleetWatch`` reads a port where nothing
    listens (so a read fails as a real one would) and then waits until asked again (``r``): its
    clock reads ``now`` (or ``clock()``, to move it). Readings are handed to it as the app hands
    them (``sample_fleet``)."""
    import asyncio
    import socket

    from rigtui.fleet.watch import FleetWatch

    async def never(_seconds: float) -> None:
        await asyncio.Event().wait()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    return staged_app(
        "story",
        45.0,
        prometheus_url=closed,
        fleet_watch=lambda client: FleetWatch(client, sleep=never, clock=clock or (lambda: now)),
        **staging,
    )


def sample_fleet(now: float):
    """Three rigs as the Fleet tab shows them (the engine's order: firing alerts first), and a
    history for each, for pictures and tests of the tab: ``(FleetReading, {instance:
    RigHistory})``. The same three stories as the real-engine tests: two 4090s that fit a 70B
    model, one 4090 that spills it to the CPU over its power budget, and a rig with a lost GPU
    beside one in thermal slowdown."""
    from rigtui.fleet.model import (
        FleetAlert,
        FleetGpu,
        FleetModel,
        FleetReading,
        FleetRig,
        HistorySeries,
        RigHistory,
    )

    gib = 1024**3
    name = "NVIDIA GeForce RTX 4090"

    def gpu(
        index: str,
        utilization: float,
        used_gib: float,
        watts: float,
        peak: float,
        temp: float,
        **more,
    ):
        return FleetGpu(
            index,
            name=name,
            utilization_ratio=utilization,
            memory_used_bytes=used_gib * gib,
            memory_total_bytes=24 * gib,
            power_draw_watts=watts,
            power_peak_watts=peak,
            power_limit_watts=450.0,
            temperature_celsius=temp,
            temperature_slowdown_celsius=90.0,
            pcie_generation=more.pop("pcie_generation", 4),
            pcie_generation_max=4,
            pcie_width_lanes=16,
            pcie_width_max_lanes=16,
            **more,
        )

    lost = FleetRig(
        "10.0.0.9:10430",
        "rigtui",
        up=True,
        hostname="attic",
        last_seen=now - 1,
        gpus=(
            gpu(
                "0",
                0.91,
                14.2,
                298.0,
                341.0,
                91.0,
                pcie_generation=2,
                clock_event_reasons=("sw_thermal_slowdown", "hw_slowdown", "hw_thermal_slowdown"),
            ),
            FleetGpu("1", name=name, lost=True),
        ),
        models=(FleetModel("qwen2.5:14b", 9.8 * gib, 9.8 * gib, 0.0),),
        alerts=(
            # As contrib/prometheus/rigtui-rules.yml names and words them.
            FleetAlert(
                "RigtuiGpuLost",
                "firing",
                "critical",
                "GPU 1 (NVIDIA GeForce RTX 4090) on 10.0.0.9:10430 fell off the bus",
                gpu="1",
            ),
            FleetAlert(
                "RigtuiGpuThermalSlowdown",
                "firing",
                "warning",
                "GPU 0 on 10.0.0.9:10430 slows itself down to cool off",
                gpu="0",
            ),
            FleetAlert(
                "RigtuiGpuFanNotSpinning",
                "pending",
                "warning",
                "Fan 0 of GPU 0 on 10.0.0.9:10430 does not turn",
                gpu="0",
            ),
        ),
        ollama_up=True,
    )
    offload = FleetRig(
        "10.0.0.8:10430",
        "rigtui",
        up=True,
        hostname="egpu",
        last_seen=now - 2,
        gpus=(gpu("0", 0.34, 23.1, 402.0, 598.0, 76.0, clock_event_reasons=("sw_power_cap",)),),
        models=(FleetModel("llama3.1:70b", 42.5 * gib, 26.3 * gib, 0.38),),
        alerts=(
            FleetAlert(
                "RigtuiPowerOverBudget",
                "firing",
                "critical",
                "GPUs on 10.0.0.8:10430 went over their power budget",
            ),
            FleetAlert(
                "RigtuiModelSpilledToCpu",
                "firing",
                "warning",
                "llama3.1:70b on 10.0.0.8:10430 runs 38% on the CPU",
            ),
        ),
        ollama_up=True,
        power_budget_watts=550.0,
        power_total_peak_watts=598.0,
    )
    fits = FleetRig(
        "10.0.0.7:10430",
        "rigtui",
        up=True,
        hostname="tower",
        last_seen=now - 1,
        gpus=(gpu("0", 0.97, 21.4, 351.0, 409.0, 71.0), gpu("1", 0.95, 20.9, 344.0, 398.0, 68.0)),
        models=(FleetModel("llama3.1:70b", 42.5 * gib, 42.5 * gib, 0.0),),
        ollama_up=True,
    )
    closet = FleetRig(
        "10.0.0.6:10430",
        "rigtui",
        up=False,
        hostname="closet",
        last_seen=now - 185,
        stale=True,
        gpus=(gpu("0", 0.0, 0.4, 18.0, 22.0, 34.0),),
        ollama_up=False,
    )
    reading = FleetReading("http://prometheus.lan:9090", now, (lost, offload, fits, closet))

    def history(rig: FleetRig, window_s: float = 900.0) -> RigHistory:
        points = 240  # as the tab asks for (HISTORY_POINTS)
        step = window_s / points
        times = [now - window_s + step * (i + 1) for i in range(points)]

        def wave(base: float, swing: float, phase: float) -> list[float]:
            return [base + swing * ((i * 7 + phase) % 11 - 5) / 5 for i in range(points)]

        charts: dict[str, tuple] = {
            key: () for key in ("utilization", "vram", "power", "power_peak", "temperature")
        }
        for g in rig.gpus:
            if g.lost:
                continue
            label = f"GPU {g.index}"

            def line(values, label=label):
                return HistorySeries(label, tuple(zip(times, values, strict=True)))

            phase = float(g.index)
            util = [min(1.0, max(0.0, v)) for v in wave(g.utilization_ratio or 0, 0.05, phase)]
            charts["utilization"] += (line(util),)
            charts["vram"] += (line([g.memory_used_bytes] * points),)
            charts["power"] += (line(wave(g.power_draw_watts or 0, 20, phase)),)
            charts["power_peak"] += (line(wave(g.power_peak_watts or 0, 25, phase)),)
            charts["temperature"] += (line(wave(g.temperature_celsius or 0, 1.5, phase)),)
        lines = {"power_limit": 450.0, "temperature_slowdown": 90.0}
        if rig.power_budget_watts:
            lines["power_budget"] = rig.power_budget_watts
        return RigHistory(rig.instance, now - window_s, now, step, charts, lines)

    return reading, {rig.instance: history(rig) for rig in reading.rigs}
