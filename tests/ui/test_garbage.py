"""Full garbage collections held back while a reply streams, and given back after."""

from __future__ import annotations

import gc

from rigtui.ui.tuning.garbage import (
    HELD_FULL_THRESHOLD,
    full_collections_held,
    hold_full_collections,
    release_full_collections,
)


def test_holds_nest_and_the_last_release_restores_the_threshold():
    before = gc.get_threshold()
    try:
        hold_full_collections()
        hold_full_collections()  # a new reply starts while the stopped one still ends
        assert gc.get_threshold() == (before[0], before[1], HELD_FULL_THRESHOLD)
        release_full_collections()
        assert full_collections_held()
        assert gc.get_threshold()[2] == HELD_FULL_THRESHOLD
        release_full_collections()
        assert not full_collections_held()
        assert gc.get_threshold() == before
        release_full_collections()  # one release too many changes nothing
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


def test_young_generations_keep_their_thresholds_while_held():
    before = gc.get_threshold()
    try:
        gc.set_threshold(500, 7, 9)
        hold_full_collections()
        assert gc.get_threshold()[:2] == (500, 7)
        release_full_collections()
        assert gc.get_threshold() == (500, 7, 9)
    finally:
        gc.set_threshold(*before)
