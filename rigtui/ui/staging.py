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
