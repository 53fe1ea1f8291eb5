"""The Fleet tab's pane, handed hand-built readings as the app hands them, driven by keys."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import OptionList, Static

from rigtui.fleet.model import (
    FleetAlert,
    FleetGpu,
    FleetReading,
    FleetRig,
    HistorySeries,
    RigHistory,
)
from rigtui.ui.messages import FleetHistoryRequested, FleetReadRequested
from rigtui.ui.widgets.fleet_pane import FleetPane
from rigtui.ui.widgets.history_chart import HistoryChart
from tests.ui.helpers import Heard, until

NOW = 1_800_000_000.0
SERVER = "http://prom.lan:9090"


def rig(instance: str, *, firing: bool = False, up: bool = True, utilization: float = 0.5):
    alerts = (
        (FleetAlert("GpuLost", "firing", "critical", "GPU 1 is lost", gpu="1"),) if firing else ()
    )
    return FleetRig(
        instance,
        "rigtui",
        up=up,
        hostname=instance.split(":")[0],
        last_seen=NOW - (300 if not up else 1),
        stale=not up,
        gpus=(FleetGpu("0", name="NVIDIA GeForce RTX 4090", utilization_ratio=utilization),),
        alerts=alerts,
        ollama_up=True,
    )


def reading(*rigs: FleetRig, at: float = NOW) -> FleetReading:
    return FleetReading(SERVER, read_at=at, rigs=rigs)


def history(instance: str) -> RigHistory:
    times = [NOW - 900 + 60 * i for i in range(16)]
    line = HistorySeries("GPU 0", tuple((t, 0.75) for t in times))
    watts = HistorySeries("GPU 0", tuple((t, 300.0) for t in times))
    return RigHistory(
        instance,
        NOW - 900,
        NOW,
        60.0,
        charts={"utilization": (line,), "vram": (), "power": (watts,), "temperature": ()},
        lines={"power_limit": 450.0},
    )


class FleetHost(App):
    """The pane alone, as the dashboard's Fleet tab holds it."""

    def compose(self) -> ComposeResult:
        yield FleetPane(SERVER, id="fleet-pane")

    def on_mount(self) -> None:
        self.query_one("#fleet-rigs").focus()


def listed(pane: FleetPane) -> list[str]:
    rigs = pane.query_one(OptionList)
    return [rigs.get_option_at_index(i).id.split("\x00")[1] for i in range(rigs.option_count)]


def status(pane: FleetPane) -> str:
    return str(pane.query_one("#fleet-status", Static).render())


async def test_rigs_are_listed_in_the_readings_order_and_the_selection_follows_its_rig():
    app = FleetHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(FleetPane)
        assert "Prometheus http://prom.lan:9090 · reading…" in status(pane)
        pane.show_reading(reading(rig("a:9860"), rig("b:9860"), rig("c:9860")), NOW)
        await pilot.pause()
        assert listed(pane) == ["a:9860", "b:9860", "c:9860"]
        assert "3 rigs from http://prom.lan:9090" in status(pane)
        await pilot.press("j", "j")
        await until(pilot, lambda: pane.selected_instance == "c:9860", "down to c")
        await pilot.press("k")
        await until(pilot, lambda: pane.selected_instance == "b:9860", "up to b")
        # b's GPU is lost: its alerts put it first (the engine orders), and it stays selected.
        pane.show_reading(reading(rig("b:9860", firing=True), rig("a:9860"), rig("c:9860")), NOW)
        await pilot.pause()
        assert listed(pane) == ["b:9860", "a:9860", "c:9860"]
        assert pane.selected_instance == "b:9860"
        assert "1 with firing alerts" in status(pane)
        block = str(pane.query_one(OptionList).get_option_at_index(0).prompt)
        assert "1 firing" in block and "▲ GpuLost GPU 1: GPU 1 is lost" in block


async def test_an_error_is_said_inline_and_the_last_reading_stays_marked_old():
    app = FleetHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860"), rig("b:9860", up=False)), NOW)
        await pilot.pause()
        assert "DOWN last seen 5m ago" in str(
            pane.query_one(OptionList).get_option_at_index(1).prompt
        )
        pane.show_unreadable("Prometheus at http://prom.lan:9090 did not answer", 10.0, NOW + 120)
        await pilot.pause()
        text = status(pane)
        assert "read 2m ago" in text
        assert "⚠ showing the last good reading, trying again in 10s: Prometheus at" in text
        assert text.endswith("did not answer")
        assert listed(pane) == ["a:9860", "b:9860"]  # kept
        pane.show_reading(reading(rig("a:9860"), at=NOW + 125), NOW + 125)
        await pilot.pause()
        assert "did not answer" not in status(pane) and listed(pane) == ["a:9860"]


async def test_no_rigs_says_how_to_add_one():
    app = FleetHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(), NOW)
        await pilot.pause()
        empty = pane.query_one("#fleet-empty", Static)
        assert empty.display and not pane.query_one(OptionList).display
        assert "scrape_configs" in str(empty.render()) and "rigtui exporter" in str(empty.render())
        assert "0 rigs" in status(pane)


async def test_enter_opens_the_rigs_history_w_cycles_the_window_escape_goes_back():
    heard = Heard()
    app = FleetHost()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860"), rig("b:9860")), NOW)
        await pilot.pause()
        history_view = pane.query_one("#fleet-history")
        assert not history_view.display
        await pilot.press("down", "enter")
        asked = await heard.arrival(pilot, FleetHistoryRequested)
        assert (asked.instance, asked.window_s) == ("b:9860", 900.0)
        assert history_view.display and pane.query_one(OptionList).display  # below the list
        mark = heard.mark()
        await pilot.press("w")
        asked = await heard.arrival(pilot, FleetHistoryRequested, since=mark)
        assert (asked.instance, asked.window_s) == ("b:9860", 3600.0)
        pane.show_history(history("a:9860"))  # an answer for a rig no longer asked about
        chart = pane.query_one("#fleet-chart-utilization", HistoryChart)
        assert chart.data is None
        pane.show_history(history("b:9860"))
        await until(pilot, lambda: chart.renders > 0, "the utilization chart drawn")
        assert chart.data is not None and chart.data.series[0].values[0] == 0.75
        power = pane.query_one("#fleet-chart-power", HistoryChart)
        assert [line.value for line in power.data.lines] == [450.0]
        title = str(pane.query_one("#fleet-history-title", Static).render())
        assert title.startswith("b:9860 · last 1h")
        # Beside the list, the charts follow the highlight.
        mark = heard.mark()
        await pilot.press("k")
        asked = await heard.arrival(pilot, FleetHistoryRequested, since=mark)
        assert asked.instance == "a:9860"
        await pilot.press("escape")
        await until(pilot, lambda: pane.history_instance is None, "the history closed")
        assert not history_view.display and pane.history_instance is None
        await until(pilot, lambda: app.focused is pane.query_one(OptionList), "the list focused")


async def test_at_80x24_the_history_takes_the_lists_place():
    heard = Heard()
    app = FleetHost()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860"), rig("b:9860")), NOW)
        await pilot.pause()
        await pilot.press("enter")
        await heard.arrival(pilot, FleetHistoryRequested)
        await pilot.pause()
        assert not pane.query_one(OptionList).display
        assert pane.query_one("#fleet-history").display
        pane.show_history(history("a:9860"))
        chart = pane.query_one("#fleet-chart-utilization", HistoryChart)
        await until(pilot, lambda: chart.renders > 0, "the chart drawn")
        assert chart.size.width >= 30 and chart.size.height >= 5
        # The keys still work with the list hidden: another window, then back.
        mark = heard.mark()
        await pilot.press("w")
        assert (await heard.arrival(pilot, FleetHistoryRequested, since=mark)).window_s == 3600.0
        await pilot.press("escape")
        rigs = pane.query_one(OptionList)
        await until(
            pilot, lambda: rigs.display and app.focused is rigs, "the list back, with the focus"
        )


async def test_r_asks_to_read_now_and_history_errors_are_inline():
    heard = Heard()
    app = FleetHost()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860")), NOW)
        await pilot.press("r")
        await heard.arrival(pilot, FleetReadRequested)
        await pilot.press("enter")
        await heard.arrival(pilot, FleetHistoryRequested)
        pane.show_history_failed("a:9860", "bad_data: parse error")
        await pilot.pause()
        title = str(pane.query_one("#fleet-history-title", Static).render())
        assert "bad_data: parse error" in title


async def test_a_failed_history_is_asked_again_once_prometheus_answers():
    heard = Heard()
    app = FleetHost()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860")), NOW)
        await pilot.press("enter")
        await heard.arrival(pilot, FleetHistoryRequested)
        pane.show_unreadable("connection refused", 5.0, NOW + 5)
        pane.show_history_failed("a:9860", "connection refused")
        mark = heard.mark()
        pane.show_reading(reading(rig("a:9860"), at=NOW + 10), NOW + 10)
        asked = await heard.arrival(pilot, FleetHistoryRequested, since=mark)
        assert asked.instance == "a:9860"
        title = str(pane.query_one("#fleet-history-title", Static).render())
        assert "connection refused" not in title and "reading…" in title


async def test_the_keys_follow_when_the_rigs_go_and_come_back():
    heard = Heard()
    app = FleetHost()
    async with app.run_test(size=(80, 24), message_hook=heard) as pilot:
        pane = app.query_one(FleetPane)
        rigs = pane.query_one(OptionList)
        pane.show_reading(reading(rig("a:9860"), rig("b:9860")), NOW)
        await pilot.pause()
        assert app.focused is rigs
        # No rigs: the list hides and its note takes the keys, so r still reads now.
        pane.show_reading(reading(at=NOW + 5), NOW + 5)
        await pilot.pause()
        assert app.focused is pane.query_one("#fleet-empty")
        mark = heard.mark()
        await pilot.press("r")
        await heard.arrival(pilot, FleetReadRequested, since=mark)
        # The rigs are back: the list has the keys again.
        pane.show_reading(reading(rig("a:9860"), rig("b:9860"), at=NOW + 10), NOW + 10)
        await pilot.pause()
        assert app.focused is rigs
        await pilot.press("j", "enter")
        assert (await heard.arrival(pilot, FleetHistoryRequested)).instance == "b:9860"


async def test_a_rigs_history_never_shows_another_rigs_lines():
    heard = Heard()
    app = FleetHost()
    async with app.run_test(size=(120, 40), message_hook=heard) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860"), rig("b:9860")), NOW)
        await pilot.press("enter")
        await heard.arrival(pilot, FleetHistoryRequested)
        pane.show_history(history("a:9860"))
        charts = list(pane.query(HistoryChart))
        assert all(chart.data is not None for chart in charts)
        await pilot.press("escape", "j")
        mark = heard.mark()
        await pilot.press("enter")
        assert (await heard.arrival(pilot, FleetHistoryRequested, since=mark)).instance == "b:9860"
        assert all(chart.data is None for chart in charts)  # while b's history is read
        pane.show_history_failed("b:9860", "Prometheus answered 500 " + "and much more " * 20)
        await pilot.pause()
        assert all(chart.data is None for chart in charts)
        title = str(pane.query_one("#fleet-history-title", Static).render())
        # The keys before the error, which wraps below them.
        assert title.startswith("b:9860 · last 15m  (w window, Esc back)\n⚠ Prometheus answered")


async def test_the_status_counts_on_between_readings():
    app = FleetHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(FleetPane)
        pane.show_reading(reading(rig("a:9860")), NOW)
        await pilot.pause()
        assert "read just now" in status(pane)
        pane.show_time(NOW + 65)
        await pilot.pause()
        assert "read 1m ago" in status(pane)
        pane.show_unreadable("connection refused", 20.0, NOW + 70)
        pane.show_time(NOW + 80)
        await pilot.pause()
        assert "trying again in 10s: connection refused" in status(pane)
        pane.show_time(NOW + 95)
        await pilot.pause()
        assert "trying again now: connection refused" in status(pane)
        assert "read 1m ago" in status(pane)
