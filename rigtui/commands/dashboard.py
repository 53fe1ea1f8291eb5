"""The dashboard: the live rig, the simulated one, or a recording, in Textual.

The only command that imports ``rigtui.ui``, and only after ``rigtui.sources`` has started
opening the sampler: the first reading is taken while Textual and the dashboard's modules load.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rigtui.config import Settings
from rigtui.sources import DashboardSource, DemoOptions, dashboard_source


def run(settings: Settings, demo: DemoOptions | None, *, replay: Path | None = None) -> int:
    """Show the dashboard over ``replay`` (a recording), ``demo`` or this machine's rig until
    the user quits; the exit code."""
    if replay is not None:
        from rigtui.recording import RecordingError

        try:
            source = dashboard_source(settings, replay=replay)
        except RecordingError as error:
            print(f"rigtui: error: {error}", file=sys.stderr)
            return 2
    else:
        source = dashboard_source(settings, demo)
    return _show(settings, source)


def _show(settings: Settings, source: DashboardSource) -> int:
    from rigtui.ui.app import RigApp

    app = RigApp(settings, source)
    try:
        app.run()
    finally:
        source.close()
    return app.return_code or 0
