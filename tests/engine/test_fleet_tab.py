"""The Fleet tab over a real Prometheus scraping three ``rigtui exporter --demo --demo-still``
rigs (the lead's ``fleet`` fixture): the dashboard lists every rig with the figures each
exporter's snapshot has, marks the lost GPU, and draws a rig's history from range queries."""

from __future__ import annotations

import re

import pytest
from textual.widgets import OptionList, Static

from rigtui.exporter import names
from rigtui.sim import uninstall
from rigtui.text import units
from rigtui.ui.messages import FleetHistoryRead, FleetReadingTaken
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.fleet_pane import FleetPane
from rigtui.ui.widgets.history_chart import HistoryChart
from tests.ui.helpers import Heard, first_reading_shown, until

pytestmark = pytest.mark.prometheus

GPU_FIGURES = re.compile(
    r"(?P<util>\d+)%\s+(?P<used>[\d.]+)/(?P<total>[\d.]+) GiB\s+(?P<watts>\d+)/(?P<limit>\d+) W"
    r".*?\s(?P<temp>\d+)/(?P<slowdown>\d+) °C"
)


@pytest.fixture(autouse=True)
def _forget_the_simulated_library():
    yield
    uninstall()


def _all_listed(fleet):
    wanted = {rig.instance for rig in fleet.rigs.values()}

    def listed(message: FleetReadingTaken) -> bool:
        rigs = {rig.instance: rig for rig in message.reading.rigs}
        # Every rig, each with its GPUs read (a first scrape may not have reached them all).
        return wanted <= set(rigs) and all(rigs[name].gpus for name in wanted)

    return listed


def _block(pane: FleetPane, instance: str) -> str:
    rigs = pane.query_one(OptionList)
    for index, rig in enumerate(pane.reading.rigs):
        if rig.instance == instance:
            return str(rigs.get_option_at_index(index).prompt)
    raise AssertionError(f"{instance} is not listed")


def _assert_rig_shown(pane: FleetPane, fleet, rig) -> None:
    """The rig's block: UP, each GPU's figures as its snapshot and Prometheus have them."""
    block = _block(pane, rig.instance)
    lines = block.split("\n")
    assert rig.instance in lines[0] and "UP" in lines[0], block
    for gpu in rig.snapshot["gpus"]:
        line = next(line for line in lines if line.startswith(f"  GPU {gpu['index']} "))
        if gpu["lost"]:
            assert "LOST" in line
            continue
        figures = GPU_FIGURES.search(line)
        assert figures is not None, line
        # What the snapshot says that holds still: the card and its limits ...
        assert float(figures["total"]) == round(gpu["memory_total_bytes"] / units.GIB, 1)
        assert float(figures["limit"]) == round(gpu["power_limit_w"]), line
        assert float(figures["slowdown"]) == gpu["temperature_slowdown_c"], line

        # ... and the moving figures as Prometheus holds them (the snapshot is another
        # process's reading: its last digit may differ by the simulated rig's noise).
        def now_in_prometheus(metric, gpu_index=gpu["index"], instance=rig.instance):
            found = fleet.query(f'{metric.name}{{instance="{instance}",gpu="{gpu_index}"}}')
            return float(found[0]["value"][1])

        utilization = now_in_prometheus(names.UTILIZATION) * 100
        assert figures["util"] == f"{utilization:.0f}", line
        assert abs(utilization - gpu["utilization_gpu_pct"]) <= 5, line
        used = now_in_prometheus(names.MEMORY_USED)
        assert figures["used"] == units.gib(used), line
        assert figures["watts"] == f"{now_in_prometheus(names.POWER_DRAW):.0f}", line
        assert figures["temp"] == f"{now_in_prometheus(names.TEMPERATURE):.0f}", line


async def test_the_fleet_tab_lists_every_rig_with_its_snapshots_figures(fleet):
    fleet.wait_until("up", lambda results: len(results) >= len(fleet.rigs), 60)
    heard = Heard()
    app = staged_app("story", 45.0, prometheus_url=fleet.prometheus_url)
    async with app.run_test(size=(160, 50), message_hook=heard) as pilot:
        await first_reading_shown(pilot)
        await pilot.press("5")
        pane = app.dashboard.query_one(FleetPane)
        await heard.arrival(pilot, FleetReadingTaken, _all_listed(fleet))
        status = str(pane.query_one("#fleet-status", Static).render())
        assert f"from {fleet.prometheus_url}" in status and "⚠" not in status

        gone = fleet.rigs["gone"]
        title = _block(pane, gone.instance).split("\n")[0]
        assert "DOWN" in title and "last seen" in title, title
        for name in ("fits", "offload", "lost"):
            _assert_rig_shown(pane, fleet, fleet.rigs[name])

        lost = fleet.rigs["lost"]
        assert any(gpu["lost"] for gpu in lost.snapshot["gpus"])
        assert "LOST" in _block(pane, lost.instance)
        offload = fleet.rigs["offload"]
        assert "% CPU" in _block(pane, offload.instance)
        fits = fleet.rigs["fits"]
        assert "100% GPU" in _block(pane, fits.instance)

        # Select the fits rig: its history, from range queries, reaches the charts.
        rigs = pane.query_one(OptionList)
        await until(pilot, lambda: app.focused is rigs, "the rigs list focused")
        rigs.highlighted = [rig.instance for rig in pane.reading.rigs].index(fits.instance)
        await pilot.press("enter")
        read = await heard.arrival(pilot, FleetHistoryRead)
        assert read.history.instance == fits.instance
        chart = pane.query_one("#fleet-chart-utilization", HistoryChart)
        await until(pilot, lambda: chart.renders > 0, "the utilization chart drawn")
        values = [v for series in chart.data.series for v in series.values if v is not None]
        assert values, "no utilization points in the history"
        assert len(chart.data.series) == len([g for g in fits.snapshot["gpus"] if not g["lost"]])
