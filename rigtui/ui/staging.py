"""A dashboard over the simulated rig, frozen at one moment of a scenario.

The same staging serves the snapshot tests, the screenshots in ``screenshots/`` and the
benchmarks: the history holds the story up to that moment and the rig's clock stands still, so
every frame is reproducible.
"""

from __future__ import annotations

from rigtui.config import Settings
from rigtui.llm.ollama import parse_ollama_host
from rigtui.sim import SimulatedEnvironment
from rigtui.sources import DashboardSource
from rigtui.telemetry.opening import SamplerOpening


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
):
    """The dashboard at ``at_s`` seconds into ``scenario``; with ``ollama`` the simulated
    Ollama serves its HTTP API too (stop it with ``app.environment.stop_ollama()``)."""
    from rigtui.ui.app import RigApp

    environment = environment or SimulatedEnvironment(
        scenario, driver=driver, ollama_speed=ollama_speed, ollama_port=ollama_port
    )
    environment.install()
    settings = Settings(
        interval_s=interval_s,
        history_minutes=history_minutes,
        demo=scenario,
        power_budget_w=power_budget_w,
    )
    environment.power_watch.budget_w = power_budget_w
    story = environment.story_so_far(at_s, interval_s, history_minutes * 60)
    address = parse_ollama_host(environment.start_ollama()) if ollama else None
    # Not started: the sampling worker opens it, on the rig's frozen clock.
    opening = SamplerOpening(environment.sampler, history=story, budget_w=power_budget_w)
    app = RigApp(
        settings,
        DashboardSource(
            opening,
            ollama_address=address,
            label=f"demo: {environment.scenario.name}",
            environment=environment,
        ),
    )
    app.environment = environment
    return app


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
