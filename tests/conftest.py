"""Shared fixtures: the simulated rig on a clock that only moves when a test moves it."""

from __future__ import annotations

import os
import time

import pytest

from rigtui.recording import RecordingWriter
from rigtui.sim import ManualClock, SimulatedEnvironment


@pytest.fixture(autouse=True, scope="session")
def _utc() -> None:
    # Times on screen are local; tests and snapshots read them in UTC everywhere.
    os.environ["TZ"] = "UTC"
    time.tzset()


@pytest.fixture(autouse=True, scope="session")
def _no_real_home(tmp_path_factory) -> None:
    # Chats, prompt history, remembered settings and the error log go under XDG directories:
    # the suite (and every rigtui process it starts) writes to its own, never the user's.
    home = tmp_path_factory.mktemp("home")
    for variable, folder in (
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        os.environ[variable] = str(home / folder)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _environment(scenario: str, clock: ManualClock, driver: str = "r580") -> SimulatedEnvironment:
    environment = SimulatedEnvironment(scenario, clock=clock, driver=driver)
    environment.install()
    return environment


@pytest.fixture
def sim(clock):
    """The default story: one RTX 4090 in an Oculink dock, driver R580."""
    environment = _environment("story", clock)
    yield environment
    environment.uninstall()


@pytest.fixture
def dual(clock):
    environment = _environment("dual", clock)
    yield environment
    environment.uninstall()


@pytest.fixture
def make_sim(clock):
    """Build a simulated rig with another scenario or driver generation."""
    made = []

    def make(scenario: str = "story", driver: str = "r580") -> SimulatedEnvironment:
        environment = _environment(scenario, clock, driver)
        made.append(environment)
        return environment

    yield make
    for environment in made:
        environment.uninstall()


@pytest.fixture
def recording_path(tmp_path, sim, clock):
    """Two minutes of the story from 30 s (a model loads at 30 s), one sample a second."""
    sampler = sim.sampler()
    sampler.open()
    path = tmp_path / "story.jsonl"
    writer = RecordingWriter(path, "jsonl")
    for second in range(30, 150):
        clock.set(second)
        writer.write(sampler.sample(), [])
    writer.close()
    return path
