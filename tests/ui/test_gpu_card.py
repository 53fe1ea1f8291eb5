"""The GPU card on its own: what it marks comes from the insight it is handed."""

from __future__ import annotations

from rigtui.insight.diagnosis import why_slow
from rigtui.insight.fans import fan_check
from rigtui.insight.pcie import link_state
from rigtui.insight.rig import GpuInsight
from rigtui.telemetry.model import FanReading, GpuReading
from rigtui.ui.widgets.gpu_card import GpuCard

from .helpers import Hosting, rendered_text


async def test_a_stuck_fan_is_marked_once_the_insight_says_so():
    reading = GpuReading(index=0, name="Test GPU", temperature_c=70, fans=(FanReading(0, 90, 0),))
    card = GpuCard(0)
    app = Hosting(card)
    async with app.run_test(size=(100, 14)) as pilot:
        card.reading = reading
        await pilot.pause()
        assert not card.has_class("-alert")  # the figures alone judge nothing
        assert "WHY  –" in rendered_text(card, width=96)
        card.insight = GpuInsight(
            diagnosis=why_slow(reading),
            link=link_state(reading),
            load=None,
            loading=False,
            model_cpu_share=None,
            fans=fan_check(reading),
        )
        await pilot.pause()
        assert card.has_class("-alert")
        assert "not spinning" in rendered_text(card, width=96)
