"""Per-reply statistics, as ``ollama run --verbose`` prints them, and a rolling token rate."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rigtui.llm.ollama import ReplyEnd
from rigtui.telemetry.power import EnergyReading

NS_PER_S = 1_000_000_000


def per_second(count: int | None, duration_ns: int | None) -> float | None:
    """Tokens per second from Ollama's count and nanosecond duration; None if either is missing."""
    if not count or not duration_ns:
        return None
    return count / duration_ns * NS_PER_S


def seconds(duration_ns: int | None) -> float | None:
    return None if duration_ns is None else duration_ns / NS_PER_S


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
        return self.end.prompt_eval_count if self.end else None

    @property
    def prompt_tokens_per_s(self) -> float | None:
        if not self.end:
            return None
        return per_second(self.end.prompt_eval_count, self.end.prompt_eval_duration_ns)

    @property
    def generated_tokens(self) -> int:
        if self.end and self.end.eval_count is not None:
            return self.end.eval_count
        return self.pieces

    @property
    def generated_tokens_per_s(self) -> float | None:
        if self.end:
            return per_second(self.end.eval_count, self.end.eval_duration_ns)
        return None

    @property
    def total_s(self) -> float:
        if self.end and self.end.total_duration_ns:
            return self.end.total_duration_ns / NS_PER_S
        return self.wall_time_s

    @property
    def done_reason(self) -> str | None:
        return self.end.done_reason if self.end else None


def describe(stats: ReplyStats) -> str:
    """One line in the spirit of ``ollama run --verbose``."""
    parts = []
    if stats.time_to_first_token_s is not None:
        parts.append(f"first token {stats.time_to_first_token_s:.2f} s")
    if stats.load_s is not None and stats.load_s >= 0.01:
        parts.append(f"load {stats.load_s:.2f} s")
    if stats.prompt_tokens is not None:
        rate = stats.prompt_tokens_per_s
        parts.append(
            f"prompt {stats.prompt_tokens} tok" + (f" @ {rate:,.0f} tok/s" if rate else "")
        )
    rate = stats.generated_tokens_per_s
    parts.append(f"{stats.generated_tokens} tok" + (f" @ {rate:,.1f} tok/s" if rate else ""))
    parts.append(f"total {stats.total_s:.1f} s")
    if stats.stopped:
        parts.append("stopped")
    elif stats.done_reason == "length":
        parts.append("cut at num_predict")
    line = " · ".join(parts)
    energy = describe_energy(stats)
    return f"{line}\n{energy}" if energy else line


def describe_energy(stats: ReplyStats) -> str:
    """``412 J · 1.6 J/token · 0.6 tokens/J · avg 438 W, peak 655 W (energy counter)``."""
    energy = stats.energy
    if energy is None:
        return ""
    parts = [f"{energy.joules:,.0f} J"]
    per_token = energy.per_token(stats.generated_tokens)
    per_joule = energy.tokens_per_joule(stats.generated_tokens)  # None at 0 J
    if per_token is not None and per_joule is not None:
        parts.append(f"{per_token:.2f} J/token")
        parts.append(f"{per_joule:.2f} tokens/J")
    power = f"avg {energy.average_w:.0f} W"
    if energy.peak_w is not None:
        kind = "1 s avg" if energy.peak_is_average else "instant"
        power += f", peak {energy.peak_w:.0f} W ({kind})"
    parts.append(power)
    method = "NVML energy counter" if energy.method == "counter" else energy.method
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
