"""Per-reply statistics, as ``ollama run --verbose`` prints them, and a rolling token rate."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from rigtui.llm.ollama import ReplyEnd
from rigtui.telemetry.power import EnergyReading

NS_PER_S = 1_000_000_000


def measured(value: object) -> float | None:
    """``value`` as a float if it is a real, finite number; None for anything else (a missing
    figure, NaN, infinity, a string where a number belongs). Ollama's final chunk and the power
    readings are input: a statistics line must be written whatever they hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    # + 0.0: a -0.0 (a counter that did not move, subtracted) is written as 0, not "-0".
    return number + 0.0 if math.isfinite(number) else None


def positive(value: object) -> float | None:
    number = measured(value)
    return number if number is not None and number > 0 else None


def per_second(count: int | None, duration_ns: int | None) -> float | None:
    """Tokens per second from Ollama's count and nanosecond duration; None if either is
    missing, zero or absurd."""
    count, duration_ns = positive(count), positive(duration_ns)
    if count is None or duration_ns is None:
        return None
    return measured(count / duration_ns * NS_PER_S)


def seconds(duration_ns: int | None) -> float | None:
    duration_ns = measured(duration_ns)
    return None if duration_ns is None or duration_ns < 0 else duration_ns / NS_PER_S


@dataclass(frozen=True)
class ReplyStats:
    model: str
    time_to_first_token_s: float | None
    """Measured by rigtui: from sending the request to the first token (thinking included)."""
    wall_time_s: float
    """Measured by rigtui: from sending the request to the end of the stream."""
    pieces: int
    """How many streamed chunks arrived (Ollama sends about one token each)."""
    end: ReplyEnd | None = None
    """Ollama's final chunk; None when the reply was stopped or broke off."""
    stopped: bool = False
    energy: EnergyReading | None = None
    """What the model's GPU(s) used from the first token to the last."""

    @property
    def load_s(self) -> float | None:
        return seconds(self.end.load_duration_ns) if self.end else None

    @property
    def prompt_tokens(self) -> int | None:
        count = measured(self.end.prompt_eval_count) if self.end else None
        return int(count) if count is not None and count >= 0 else None

    @property
    def prompt_tokens_per_s(self) -> float | None:
        if not self.end:
            return None
        return per_second(self.end.prompt_eval_count, self.end.prompt_eval_duration_ns)

    @property
    def generated_tokens(self) -> int:
        for count in (self.end.eval_count if self.end else None, self.pieces):
            number = measured(count)
            if number is not None and number >= 0:
                return int(number)
        return 0

    @property
    def generated_tokens_per_s(self) -> float | None:
        if self.end:
            return per_second(self.end.eval_count, self.end.eval_duration_ns)
        return None

    @property
    def total_s(self) -> float | None:
        total = seconds(self.end.total_duration_ns) if self.end else None
        if total:
            return total
        wall = measured(self.wall_time_s)
        return wall if wall is not None and wall >= 0 else None

    @property
    def done_reason(self) -> str | None:
        return self.end.done_reason if self.end else None


def describe(stats: ReplyStats) -> str:
    """One line in the spirit of ``ollama run --verbose``. Whether the reply was stopped is the
    reply's to say (it marks itself), not repeated here. A figure that is missing or absurd
    is left out; the line is written whatever the statistics hold."""
    parts = []
    first_token_s = measured(stats.time_to_first_token_s)
    if first_token_s is not None and first_token_s >= 0:
        parts.append(f"first token {first_token_s:.2f} s")
    if stats.load_s is not None and stats.load_s >= 0.01:
        parts.append(f"load {stats.load_s:.2f} s")
    if stats.prompt_tokens is not None:
        rate = stats.prompt_tokens_per_s
        parts.append(
            f"prompt {stats.prompt_tokens:,} tok" + (f" @ {rate:,.0f} tok/s" if rate else "")
        )
    rate = stats.generated_tokens_per_s
    parts.append(f"{stats.generated_tokens:,} tok" + (f" @ {rate:,.1f} tok/s" if rate else ""))
    if stats.total_s is not None:
        parts.append(f"total {stats.total_s:,.1f} s")
    if not stats.stopped and stats.done_reason == "length":
        parts.append("cut at num_predict")
    line = " · ".join(parts)
    energy = describe_energy(stats)
    return f"{line}\n{energy}" if energy else line


def describe_energy(stats: ReplyStats) -> str:
    """``412 J · 1.6 J/token · 0.6 tokens/J · avg 438 W, peak 655 W (energy counter)``."""
    energy = stats.energy
    if energy is None:
        return ""
    joules = measured(energy.joules)
    if joules is None or joules < 0:
        return ""  # a counter that went back, or no figure: nothing worth a line
    parts = [f"{joules:,.0f} J"]
    tokens = stats.generated_tokens
    if joules > 0 and tokens > 0:
        # Both ways round, as people quote them; neither means anything for 0 J or 0 tokens,
        # nor when one overflows (a vanishing joule count).
        per_token, per_joule = measured(joules / tokens), measured(tokens / joules)
        if per_token is not None and per_joule is not None:
            parts.append(f"{per_token:,.2f} J/token")
            parts.append(f"{per_joule:,.2f} tokens/J")
    power = []
    average_w = measured(energy.average_w)
    if average_w is not None and average_w >= 0:
        power.append(f"avg {average_w:,.0f} W")
    peak_w = measured(energy.peak_w)
    if peak_w is not None and peak_w >= 0:
        kind = "1 s avg" if energy.peak_is_average else "instant"
        power.append(f"peak {peak_w:,.0f} W ({kind})")
    if power:
        parts.append(", ".join(power))
    method = "NVML energy counter" if energy.method == "counter" else str(energy.method)
    parts.append(f"by {method}")
    return " · ".join(parts)


class TokenRate:
    """Tokens per second over the last few seconds of a stream, from arrival times."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._arrivals: deque[tuple[float, int]] = deque()

    def add(self, arrived_at: float, tokens: int = 1) -> None:
        self._arrivals.append((arrived_at, tokens))

    def rate(self, now: float) -> float:
        while self._arrivals and self._arrivals[0][0] < now - self.window_s:
            self._arrivals.popleft()
        if not self._arrivals:
            return 0.0
        span = max(now - self._arrivals[0][0], 1e-3)
        if len(self._arrivals) == 1:
            span = self.window_s
        return sum(tokens for _, tokens in self._arrivals) / min(span, self.window_s)

    def clear(self) -> None:
        self._arrivals.clear()
