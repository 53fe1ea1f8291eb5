"""A dashboard over the simulated rig, frozen at one moment of a scenario.

The same staging serves the snapshot tests, the screenshots in ``screenshots/`` and the
benchmarks: the history holds the story up to that moment and the rig's clock stands still, so
every frame is reproducible.
"""

from __future__ import annotations

from rigtui.config import Settings
from rigtui.sim import SimulatedEnvironment
from rigtui.telemetry.history import History


def staged_app(
    scenario: str = "story",
    at_s: float = 45.0,
    *,
    driver: str = "r580",
    interval_s: float = 1.0,
    history_minutes: float = 10.0,
    environment: SimulatedEnvironment | None = None,
):
    from rigtui.ui.app import RigApp

    environment = environment or SimulatedEnvironment(scenario, driver=driver)
    environment.install()
    settings = Settings(interval_s=interval_s, history_minutes=history_minutes, demo=scenario)
    history = History(settings.history_capacity)
    for snapshot in environment.story_so_far(at_s, interval_s, history_minutes * 60):
        history.add_snapshot(snapshot)
    app = RigApp(
        settings,
        environment.sampler,
        history=history,
        source_label=f"demo: {environment.scenario.name}",
    )
    app.environment = environment
    return app
