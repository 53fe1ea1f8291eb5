from __future__ import annotations

import pytest

from rigtui.telemetry.history import History, gpu_key, snapshot_values


def test_history_is_bounded_and_keeps_the_newest():
    history = History(capacity=5)
    for second in range(12):
        history.add(float(second), {"cpu.percent": second * 10.0})
    assert len(history) == 5
    assert history.timestamps() == (7.0, 8.0, 9.0, 10.0, 11.0)
    assert history.series("cpu.percent") == (70.0, 80.0, 90.0, 100.0, 110.0)


def test_series_share_one_time_axis_even_when_they_appear_late_or_go_missing():
    history = History(capacity=10)
    history.add(1.0, {"a": 1.0})
    history.add(2.0, {"a": 2.0, "b": 20.0})
    history.add(3.0, {"b": 30.0})
    assert history.series("a") == (1.0, 2.0, None)
    assert history.series("b") == (None, 20.0, 30.0)
    assert history.series("never") == (None, None, None)


def test_the_same_moment_twice_replaces_instead_of_repeating():
    history = History(capacity=10)
    history.add(1.0, {"a": 1.0})
    history.add(1.0, {"a": 5.0})
    assert history.timestamps() == (1.0,)
    assert history.series("a") == (5.0,)


def test_resize_keeps_the_newest_samples():
    history = History(capacity=10)
    for second in range(10):
        history.add(float(second), {"a": float(second)})
    history.resize(3)
    assert history.series("a") == (7.0, 8.0, 9.0)
    history.add(10.0, {"a": 10.0})
    assert history.series("a") == (8.0, 9.0, 10.0)
    with pytest.raises(ValueError):
        history.resize(1)


def test_copies_are_immutable():
    history = History(capacity=3)
    history.add(1.0, {"a": 1.0})
    copy = history.series("a")
    history.add(2.0, {"a": 2.0})
    assert copy == (1.0,)


def test_a_week_of_samples_does_not_grow_memory(sim, clock):
    sampler = sim.sampler()
    sampler.open()
    snapshot = sampler.sample()
    history = History(capacity=600)
    for second in range(7 * 24 * 3600 // 60):  # a week at one sample a minute
        history.add(float(second), snapshot_values(snapshot))
    assert len(history) == 600
    assert all(len(history.series(key)) == 600 for key in tuple(history.keys()))
    assert gpu_key(0, "temperature_c") in tuple(history.keys())
