"""The GPU cards follow the number of GPUs a reading has (an eGPU dock unplugged, a GPU that
fell off the bus and left NVML's list), however quickly that number changes."""

from __future__ import annotations

from dataclasses import replace

from rigtui.sim import uninstall
from rigtui.ui.staging import staged_app
from rigtui.ui.widgets.gpu_card import GpuCard

from .helpers import first_reading_shown, until


def shown_cards(app, where: str) -> list[GpuCard]:
    return [card for card in app.dashboard.query(f"{where} GpuCard") if card.display]


async def test_the_gpu_count_changing_twice_in_a_moment_leaves_one_card_per_gpu():
    """The cards were removed and mounted again at each change, the removal unawaited: a
    second change before it ended mounted a card whose id the old one still held
    (DuplicateIds, the app ended), and a reading went to the card on its way out."""
    app = staged_app("dual", 345.0)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await first_reading_shown(pilot)
            await pilot.press("p")  # no reading of the sampler's in between
            await until(pilot, lambda: app.paused, "paused")
            both = app.snapshot
            assert len(both.gpus) == 2
            one = replace(both, gpus=both.gpus[:1])
            for snapshot in (one, both, one, both):
                app.show_snapshot(snapshot)
            await pilot.pause()
            assert app.is_running and app.return_code is None
            for where in ("#gpu-cards", "#chat-gpus"):
                cards = shown_cards(app, where)
                assert [card.index for card in cards] == [0, 1], where
            rig_cards = shown_cards(app, "#gpu-cards")
            assert [card.reading for card in rig_cards] == list(both.gpus)
            app.show_snapshot(one)
            await pilot.pause()
            assert [card.index for card in shown_cards(app, "#gpu-cards")] == [0]
            assert app.dashboard.has_class("-multi-gpu") is False
    finally:
        uninstall()
