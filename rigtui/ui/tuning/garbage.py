"""When Python's cyclic garbage collector may stall the app, and when it may not.

A full (oldest-generation) collection walks every object the app holds: about 70-100 ms once
a long conversation is on screen. Between frames of an idle dashboard nobody sees it; in the
middle of a fast reply it is a frame the reader waits for (the same reason Textual pauses
collection while it scrolls smoothly). Young generations keep being collected meanwhile, so
the short-lived cycles a stream makes are still freed as it goes.
"""

from __future__ import annotations

import gc

HELD_FULL_THRESHOLD = 1_000_000_000
"""The oldest generation's threshold while held: out of reach of any reply."""

_frozen = False
_holds = 0
_held_threshold: int | None = None


def freeze_startup_objects() -> None:
    """Leave what lives as long as the app out of garbage collection: the full collections
    that walked all of it took 40 ms every 20 s or so (2 ms a second, a tenth of the idle
    dashboard's main thread; 0.5 ms after this) and stalled a streaming reply. Once per
    process (tests run many apps)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def hold_full_collections() -> None:
    """No full collection until as many releases as holds (replies may overlap briefly: a new
    one starts while the one it stops is still ending)."""
    global _holds, _held_threshold
    if _holds == 0:
        young, middle, _held_threshold = gc.get_threshold()
        gc.set_threshold(young, middle, HELD_FULL_THRESHOLD)
    _holds += 1


def release_full_collections() -> None:
    """Give full collections back their threshold once the last hold is released; the one
    that is due then runs at the next young collection."""
    global _holds, _held_threshold
    if _holds == 0:
        return
    _holds -= 1
    if _holds == 0 and _held_threshold is not None:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, _held_threshold)
        _held_threshold = None


def full_collections_held() -> bool:
    return _holds > 0
