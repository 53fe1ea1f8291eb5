"""The sampling loop without Textual: on a stepped clock, so a minute of pacing runs in a moment.

The loop runs on the test's own thread. Its clock (:class:`SteppedClock`) moves only when the
loop waits, and runs a test's actions (pause, resume, a new interval, stop) at exact moments of
that time. The sampler is either a small fake of the sampler's interface that notes when it was
asked for what, or the simulated rig's real sampler (NVML beneath pynvml) on the same clock.
"""

from __future__ import annotations

import threading

import pytest

from rigtui.sim import ManualClock, SimulatedEnvironment
from rigtui.telemetry.model import CpuReading, GpuReading, MemoryReading, NvmlStatus, RigSnapshot
from rigtui.telemetry.pacing import (
    FAST_POWER_S,
    SAME_MOMENT_S,
    MonotonicClock,
    NewestWins,
    SamplingLoop,
)
from tests.stepped_clock import SteppedClock

WORKING = GpuReading(index=0, utilization_gpu_pct=97.0, power_draw_w=440.0, power_limit_w=450.0)
RESTING = GpuReading(index=0, utilization_gpu_pct=0.0, power_draw_w=21.0, power_limit_w=450.0)


def snapshot(taken_at: float, gpus: tuple[GpuReading, ...] = (WORKING,)) -> RigSnapshot:
    return RigSnapshot(
        taken_at=taken_at,
        hostname="rig",
        nvml=NvmlStatus(available=True),
        gpus=gpus,
        cpu=CpuReading(percent=0.0, per_core_pct=()),
        memory=MemoryReading(0, 0, 0, 0, 0),
    )


class FakeSampler:
    """The sampler's interface, noting the clock time of every reading and power round."""

    def __init__(self, clock: SteppedClock, gpus=(WORKING,), *, fast_power: bool = True):
        self.clock = clock
        self.gpus = gpus
        self.fast_power = fast_power
        self.readings: list[float] = []
        """When each reading that succeeded began."""
        self.power_rounds: list[float] = []
        self.closed = 0
        self.attempts = 0
        self.fails: dict[int, Exception] = {}
        """Reading attempt (1-based) → what it raises."""
        self.takes_s: dict[int, float] = {}
        """Reading attempt (1-based) → how long it takes (the clock moves on meanwhile)."""
        self.power_fails = 0
        """The first this many power rounds raise."""

    def sample(self) -> RigSnapshot:
        self.attempts += 1
        began = self.clock.now()
        self.clock.advance(self.takes_s.get(self.attempts, 0.0))
        if self.attempts in self.fails:
            raise self.fails[self.attempts]
        self.readings.append(began)
        return snapshot(began, self.gpus)

    def sample_power(self) -> None:
        if self.power_fails:
            self.power_fails -= 1
            raise OSError("field values unreadable")
        self.power_rounds.append(self.clock.now())

    def close(self) -> None:
        self.closed += 1


class Paced:
    """A loop over a fake sampler on a stepped clock, and what it reported."""

    def __init__(self, gpus=(WORKING,), *, interval_s: float = 1.0, start: float = 0.0, **kw):
        self.clock = SteppedClock(start)
        self.sampler = FakeSampler(self.clock, gpus, **kw)
        self.snapshots: list[RigSnapshot] = []
        self.failures: list[str] = []
        self.loop = SamplingLoop(
            self.sampler,
            interval_s=interval_s,
            on_snapshot=self.snapshots.append,
            on_failure=self.failures.append,
            clock=self.clock,
        )

    def at(self, seconds: float, action) -> Paced:
        self.clock.at(seconds, action)
        return self

    def run(self, until: float, first: RigSnapshot | None = None, first_at=None) -> Paced:
        self.clock.stop_at(until, self.loop)
        self.loop.run(first, first_at)
        return self

    @property
    def readings(self) -> list[float]:
        return self.sampler.readings

    def rounds_between(self, start: float, end: float) -> list[float]:
        """Power rounds after ``start`` and before ``end``, leaving out any that falls on a
        reading (a reading takes a power round of its own)."""
        return [
            t
            for t in self.sampler.power_rounds
            if start + SAME_MOMENT_S < t < end - SAME_MOMENT_S
            and not any(abs(t - reading) <= SAME_MOMENT_S for reading in self.readings)
        ]


def approx(values):
    return pytest.approx(values, abs=1e-9)


def tenths(start: float, end: float) -> list[float]:
    """The power rounds due from ``start`` up to ``end`` (both left out)."""
    count = round((end - start) / FAST_POWER_S)
    return [start + FAST_POWER_S * step for step in range(1, count)]


# --- readings ------------------------------------------------------------------------------------


def test_a_reading_every_interval_from_the_start():
    paced = Paced((RESTING,)).run(until=9.95)
    # The first at once (no reading was handed in), then one a second.
    assert paced.readings == approx([float(second) for second in range(10)])
    assert [s.taken_at for s in paced.snapshots] == paced.readings
    assert paced.failures == []
    # Every GPU rests: the loop wakes for the readings only.
    assert paced.sampler.power_rounds == []
    assert paced.clock.waits == approx([1.0] * 10)
    assert paced.loop.power_rounds is False


def test_a_half_second_interval():
    paced = Paced((RESTING,), interval_s=0.5).run(until=2.95)
    assert paced.readings == approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])


def test_power_rounds_nine_a_second_between_readings_while_a_gpu_works():
    paced = Paced((WORKING,)).run(until=9.95)
    assert paced.readings == approx([float(second) for second in range(10)])
    assert paced.loop.power_rounds is True
    for second in range(10):
        assert paced.rounds_between(second, second + 1) == approx(tenths(second, second + 1))
    assert len(paced.rounds_between(-1.0, 10.0)) == 90


def test_without_the_instant_power_field_there_are_no_power_rounds():
    paced = Paced((WORKING,), fast_power=False).run(until=4.95)
    assert paced.readings == approx([0.0, 1.0, 2.0, 3.0, 4.0])
    assert paced.sampler.power_rounds == []
    assert paced.clock.waits == approx([1.0] * 5)


def test_a_gpu_that_starts_working_brings_the_rounds_back_from_the_reading_that_shows_it():
    paced = Paced((RESTING,))
    paced.at(3.5, lambda: setattr(paced.sampler, "gpus", (WORKING,)))
    paced.at(6.5, lambda: setattr(paced.sampler, "gpus", (RESTING,)))
    paced.run(until=9.95)
    assert paced.readings == approx([float(second) for second in range(10)])
    # Seen working in the reading at 4, resting again in the one at 7.
    assert paced.rounds_between(-1.0, 4.0) == []
    assert paced.rounds_between(4.0, 7.0) == approx(
        tenths(4.0, 5.0) + tenths(5.0, 6.0) + tenths(6.0, 7.0)
    )
    assert paced.rounds_between(7.0, 10.0) == []


def test_generating_brings_the_rounds_back_at_once_while_every_gpu_rests():
    paced = Paced((RESTING,))
    paced.at(3.5, lambda: setattr(paced.loop, "generating", True))
    paced.at(8.05, lambda: setattr(paced.loop, "generating", False))
    paced.run(until=9.95)
    # The wake that starts the rounds is a wake like any other: a reading is taken with it,
    # and the next an interval after that.
    assert paced.readings == approx([0.0, 1.0, 2.0, 3.0, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5])
    assert paced.loop.power_rounds is False  # the GPUs rested all along
    assert paced.rounds_between(-1.0, 3.5) == []
    for start in (3.5, 4.5, 5.5, 6.5):
        assert paced.rounds_between(start, start + 1) == approx(tenths(start, start + 1))
    assert paced.rounds_between(7.5, 8.05) == approx(tenths(7.5, 8.1))  # 7.6 to 8.0
    assert paced.rounds_between(8.05, 10.0) == []


def test_generating_while_a_gpu_works_does_not_disturb_the_schedule():
    paced = Paced((WORKING,))
    paced.at(3.55, lambda: setattr(paced.loop, "generating", True))
    paced.run(until=5.95)
    assert paced.readings == approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert len(paced.rounds_between(-1.0, 6.0)) == 6 * 9


# --- pause, interval, a first reading ------------------------------------------------------------


def test_paused_takes_nothing_and_resuming_reads_at_once():
    paced = Paced((WORKING,))
    paced.at(2.55, lambda: setattr(paced.loop, "paused", True))
    paced.at(6.25, lambda: setattr(paced.loop, "paused", False))
    paced.run(until=9.0)
    assert paced.readings == approx([0.0, 1.0, 2.0, 6.25, 7.25, 8.25])
    assert paced.rounds_between(2.55, 6.25) == []
    assert paced.rounds_between(6.25, 7.25) == approx(tenths(6.25, 7.25))


def test_a_loop_paused_from_the_start_reads_nothing_until_resumed():
    paced = Paced((WORKING,))
    paced.loop.paused = True
    paced.at(5.5, lambda: setattr(paced.loop, "paused", False))
    paced.run(until=7.95)
    assert paced.readings == approx([5.5, 6.5, 7.5])
    assert paced.rounds_between(-1.0, 5.5) == []
    assert len(paced.snapshots) == 3


def test_a_paused_loop_wakes_only_when_a_reading_would_be_due():
    # A GPU at work asks for power ten times a second, but not while the screen holds still.
    paced = Paced((WORKING,))
    paced.at(0.5, lambda: setattr(paced.loop, "paused", True))
    paced.run(until=5.0)
    waits_while_paused = [wait for wait in paced.clock.waits[-4:]]
    assert waits_while_paused == approx([1.0, 1.0, 1.0, 1.0])
    assert paced.readings == approx([0.0])


def test_a_new_interval_applies_at_once():
    paced = Paced((RESTING,))
    paced.at(3.5, lambda: setattr(paced.loop, "interval_s", 0.5))
    paced.at(6.25, lambda: setattr(paced.loop, "interval_s", 2.0))
    paced.run(until=10.0)
    assert paced.loop.interval_s == 2.0
    assert paced.readings == approx([0.0, 1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.25, 8.25])


def test_a_first_reading_makes_the_next_due_an_interval_after_it():
    # Opening the sampler took its first reading at 0.0; the loop starts at 0.4.
    paced = Paced((RESTING,), start=0.4)
    paced.run(until=4.95, first=snapshot(0.0, (RESTING,)), first_at=0.0)
    assert paced.readings == approx([1.0, 2.0, 3.0, 4.0])
    assert paced.sampler.power_rounds == []  # the first reading said the GPUs rest


def test_a_first_reading_that_shows_work_starts_the_power_rounds_before_the_next():
    paced = Paced((WORKING,), start=0.4)
    paced.run(until=1.95, first=snapshot(0.0, (WORKING,)), first_at=0.0)
    assert paced.readings == approx([1.0])
    assert paced.rounds_between(0.0, 1.0) == approx([0.4, 0.5, 0.6, 0.7, 0.8, 0.9])


def test_a_first_reading_without_its_time_leaves_the_next_due_at_once():
    paced = Paced((RESTING,), start=0.4)
    paced.run(until=3.0, first=snapshot(0.0, (RESTING,)))
    assert paced.readings == approx([0.4, 1.4, 2.4])


# --- what goes wrong -----------------------------------------------------------------------------


def test_a_failing_reading_is_reported_and_sampling_goes_on():
    paced = Paced((RESTING,))
    paced.sampler.fails = {2: RuntimeError("psutil hiccup"), 3: OSError("NVML timed out")}
    paced.run(until=5.95)
    assert paced.failures == ["sampling failed: psutil hiccup", "sampling failed: NVML timed out"]
    assert paced.sampler.attempts == 6
    assert paced.readings == approx([0.0, 3.0, 4.0, 5.0])
    assert len(paced.snapshots) == 4


def test_a_failing_power_round_is_reported_and_the_rounds_go_on():
    paced = Paced((WORKING,))
    paced.sampler.power_fails = 2
    paced.run(until=0.95)
    assert paced.failures == ["power sampling failed: field values unreadable"] * 2
    assert paced.rounds_between(0.0, 1.0) == approx(tenths(0.0, 1.0)[2:])


def test_stop_ends_the_loop_and_closes_the_sampler():
    paced = Paced((WORKING,)).run(until=3.55)
    assert paced.readings == approx([0.0, 1.0, 2.0, 3.0])
    assert paced.sampler.closed == 1
    assert paced.clock.now() == pytest.approx(3.55)


def test_a_loop_stopped_before_it_runs_reads_nothing_and_closes_the_sampler():
    paced = Paced((WORKING,))
    paced.loop.stop()
    paced.loop.run()
    assert paced.readings == [] and paced.sampler.power_rounds == []
    assert paced.sampler.closed == 1


def test_the_sampler_is_closed_when_the_loop_breaks():
    paced = Paced((RESTING,))

    def broken(_snapshot):
        raise ValueError("consumer gone")

    paced.loop.on_snapshot = broken
    with pytest.raises(ValueError, match="consumer gone"):
        paced.run(until=3.0)
    assert paced.sampler.closed == 1


def test_a_slow_reading_gives_no_burst_of_catch_up_readings():
    paced = Paced((WORKING,))
    paced.sampler.takes_s = {2: 3.5}  # the reading at 1.0 ends at 4.5
    paced.run(until=7.95)
    # Not the readings due at 2, 3 and 4 all at 4.5: one, and the interval counts from it.
    assert paced.readings == approx([0.0, 1.0, 4.5, 5.5, 6.5, 7.5])
    assert paced.rounds_between(1.0, 4.5) == []
    assert paced.rounds_between(4.5, 5.5) == approx(tenths(4.5, 5.5))


def test_a_sampler_that_is_always_slow_is_read_once_per_reading_time():
    paced = Paced((RESTING,))
    paced.sampler.takes_s = {attempt: 3.0 for attempt in range(1, 100)}
    paced.run(until=13.0)
    assert paced.readings == approx([0.0, 3.0, 6.0, 9.0, 12.0])


def test_a_wait_that_overran_gives_one_reading_and_counts_afresh_from_it():
    paced = Paced((RESTING,))
    paced.at(2.5, lambda: paced.clock.advance(100.0))  # suspended from 2.5 to 102.5
    paced.run(until=105.95)
    assert paced.readings == approx([0.0, 1.0, 2.0, 102.5, 103.5, 104.5, 105.5])


def test_a_reading_takes_the_power_round_due_with_it():
    paced = Paced((WORKING,)).run(until=9.95)
    beside = [
        t
        for t in paced.sampler.power_rounds
        if any(abs(t - reading) < 1e-3 for reading in paced.readings)
    ]
    assert beside == []
    assert len(paced.sampler.power_rounds) == 90


# --- the simulated rig's own sampler -------------------------------------------------------------


@pytest.fixture
def rig_loop():
    """A loop over the story rig's real sampler; the stepped clock is the rig's clock."""
    environment = SimulatedEnvironment("story", clock=ManualClock())
    environment.install()
    failures: list[str] = []

    def make(start: float) -> tuple[SamplingLoop, SteppedClock, list[RigSnapshot]]:
        clock = SteppedClock(start, follow=environment.rig.clock)
        sampler = environment.sampler()
        sampler.open()
        snapshots: list[RigSnapshot] = []
        loop = SamplingLoop(
            sampler,
            interval_s=1.0,
            on_snapshot=snapshots.append,
            on_failure=failures.append,
            clock=clock,
        )
        return loop, clock, snapshots

    yield environment, make, failures
    environment.uninstall()


def _power_times(environment) -> list[float]:
    """When the power trace of GPU 0 was sampled: one time per reading or power round (a round
    that falls on a reading shares its time: epoch seconds do not tell them apart)."""
    return sorted({sample.t for sample in environment.power_watch.trace(0)})


def test_the_story_rig_at_rest_is_read_once_a_second_without_power_rounds(rig_loop):
    environment, make, failures = rig_loop
    loop, clock, snapshots = make(0.0)  # 0-30 s of the story: idle, fans stopped
    calls = environment.nvml_library.calls
    clock.stop_at(9.95, loop)
    loop.run()
    epoch = environment.rig.epoch_start
    assert [s.taken_at - epoch for s in snapshots] == approx([float(t) for t in range(10)])
    assert loop.power_rounds is False
    assert [t - epoch for t in _power_times(environment)] == approx(
        [float(t) for t in range(10)]
    )  # each reading's own power sample, nothing between
    assert calls["nvmlShutdown"] == 1  # stopping closed the sampler
    assert failures == []


def test_the_story_rig_generating_gets_nine_power_rounds_a_second(rig_loop):
    environment, make, failures = rig_loop
    loop, clock, snapshots = make(40.0)  # 36-50 s of the story: a reply, the GPU at its limit
    clock.stop_at(49.95, loop)
    loop.run()
    assert len(snapshots) == 10 and loop.power_rounds is True
    assert snapshots[0].gpus[0].utilization_gpu_pct > 0
    assert len(_power_times(environment)) == 10 + 10 * 9
    assert failures == []


def test_the_story_rig_at_rest_with_a_reply_generating(rig_loop):
    environment, make, failures = rig_loop
    loop, clock, snapshots = make(0.0)
    clock.at(4.5, lambda: setattr(loop, "generating", True))
    clock.stop_at(7.45, loop)
    loop.run()
    epoch = environment.rig.epoch_start
    readings = [s.taken_at - epoch for s in snapshots]
    assert readings == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.5, 6.5], abs=1e-6)
    times = [t - epoch for t in _power_times(environment)]
    assert [t for t in times if t < 4.5 + SAME_MOMENT_S] == pytest.approx(readings[:6], abs=1e-6)
    # Epoch seconds hold about 0.2 µs: 5.5 and 6.5, and nine rounds after each of 4.5, 5.5, 6.5.
    assert len([t for t in times if t > 4.5 + SAME_MOMENT_S]) == 2 + 3 * 9
    assert failures == []


# --- NewestWins and the real clock ---------------------------------------------------------------


def test_newest_wins_hands_over_the_newest_and_asks_to_be_told_once():
    handover = NewestWins()
    first, second, third = snapshot(1.0), snapshot(2.0), snapshot(3.0)
    assert handover.take() is None
    assert handover.put(first) is True  # tell the consumer
    assert handover.put(second) is False  # told already: it will find this one
    assert handover.take() is second
    assert handover.take() is None
    assert handover.put(third) is True  # taken since: tell again
    assert handover.take() is third


def test_monotonic_clock_wake_cuts_a_wait_short():
    clock = MonotonicClock()
    waker = threading.Thread(target=clock.wake)
    waker.start()
    # Woken before or during the wait: either way it ends at once, long before 5 s.
    assert clock.wait(5.0) is True
    waker.join()
    assert clock.wait(0.0) is False  # the wake was used up
    clock.wake()
    assert clock.wait(5.0) is True  # a wake before the wait ends the next one


def test_the_loop_on_the_real_clock_is_stopped_from_another_thread():
    sampler = FakeSampler(SteppedClock(), (RESTING,), fast_power=False)
    read = threading.Event()
    loop = SamplingLoop(
        sampler,
        interval_s=3600.0,
        on_snapshot=lambda _snapshot: read.set(),
        on_failure=lambda error: None,
    )
    assert isinstance(loop.clock, MonotonicClock)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    assert read.wait(30.0)  # the first reading at once
    read.clear()
    loop.interval_s = 1800.0  # wakes the hour-long wait: a reading now
    assert read.wait(30.0)
    loop.stop()
    thread.join(30.0)
    assert not thread.is_alive()
    assert sampler.closed == 1 and sampler.attempts == 2
