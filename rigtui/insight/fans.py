"""Are the fans doing what they should? Fan-stop, normal on a cool card, is told apart from a
fan that is driven but does not turn and from fans that stay stopped on a hot card."""

from __future__ import annotations

from dataclasses import dataclass

from rigtui.telemetry.model import FanReading, GpuReading

FAN_STOP_PLAUSIBLE_BELOW_C = 60
"""Fan-stop cards start their fans between about 50 and 60 °C; a stopped fan above is wrong."""


@dataclass(frozen=True)
class FanCheck:
    not_spinning: tuple[FanReading, ...]
    """Fans driven above 0 % that report 0 rpm: broken or blocked."""
    stopped: bool
    """Every fan whose speed can be read is at 0 %."""
    stopped_while_hot: bool
    """Stopped, on a card as warm as fan-stop cards start their fans at."""


def fan_check(gpu: GpuReading) -> FanCheck | None:
    """None where there are no fans to judge (none reported, or a lost GPU)."""
    if gpu.lost or not gpu.fans:
        return None
    readable = [fan for fan in gpu.fans if fan.speed_pct is not None]
    not_spinning = tuple(fan for fan in readable if fan.speed_pct and fan.rpm == 0)
    stopped = bool(readable) and all(fan.speed_pct == 0 for fan in readable)
    hot = gpu.temperature_c is not None and gpu.temperature_c >= FAN_STOP_PLAUSIBLE_BELOW_C
    return FanCheck(not_spinning, stopped, stopped and hot)
