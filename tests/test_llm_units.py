"""The Ollama side without a server: addresses, the `ollama ps` split, stats arithmetic."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rigtui.llm.ollama import OllamaAddress, ReplyEnd, RunningModel, parse_ollama_host
from rigtui.llm.placement import cpu_share, cross_check, is_ollama_runner, processor_split
from rigtui.llm.stats import ReplyStats, TokenRate, describe, per_second
from rigtui.telemetry.model import GpuProcess, GpuReading
from rigtui.telemetry.power import EnergyReading

GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        (":56789", "http://127.0.0.1:56789"),
        ("1.2.3.4:56789", "http://1.2.3.4:56789"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("https://example.com:56789/path/", "https://example.com:56789/path"),
        ("example.com", "http://example.com:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("[::]:11434", "http://[::1]:11434"),
        ("[0001:002:003:0004::1]:56789", "http://[1:2:3:4::1]:56789"),
    ],
)
def test_addresses_parse_like_ollama(text, url):
    assert parse_ollama_host(text).url.replace("0001:002:003:0004", "1:2:3:4") == url


@pytest.mark.parametrize("text", ["ftp://box", "box:99999", "box:port"])
def test_bad_addresses_are_rejected_with_a_reason(text):
    with pytest.raises(ValueError, match="Ollama address"):
        parse_ollama_host(text)


def test_the_address_is_shown_without_the_default_scheme():
    assert parse_ollama_host(None).display == "127.0.0.1:11434"
    assert OllamaAddress("https", "box", 443).display == "https://box:443"


@pytest.mark.parametrize(
    ("size", "size_vram", "expected"),
    [
        (100, 100, "100% GPU"),
        (100, 0, "100% CPU"),
        (0, 0, "100% CPU"),  # size_vram 0 wins, as in cmd/cmd.go
        (100, 120, "Unknown"),
        (0, 10, "Unknown"),
        (100, 52, "48%/52% CPU/GPU"),
        (1000, 495, "51%/49% CPU/GPU"),  # Go's math.Round(50.5) is 51, not Python's 50
        (47_700_000_000, 24_600_000_000, "48%/52% CPU/GPU"),
        (3, 2, "33%/67% CPU/GPU"),
    ],
)
def test_processor_split_matches_ollama_ps(size, size_vram, expected):
    assert processor_split(size, size_vram) == expected


def test_cpu_share():
    assert cpu_share(100, 100) == 0.0
    assert cpu_share(100, 25) == 0.75
    assert cpu_share(0, 0) is None
    assert cpu_share(100, 200) is None


def _gpu_with(*processes: GpuProcess) -> GpuReading:
    return GpuReading(index=0, processes=processes)


RUNNER = "/usr/local/bin/ollama runner --model /x/blobs/sha256-1 --port 38117"


def test_the_runner_is_recognised_but_not_the_server():
    assert is_ollama_runner(GpuProcess(1, "ollama", 5 * GIB, command=RUNNER))
    assert is_ollama_runner(GpuProcess(1, "ollama_llama_server", 5 * GIB))
    assert not is_ollama_runner(GpuProcess(1, "ollama", 0, command="/usr/local/bin/ollama serve"))
    assert not is_ollama_runner(GpuProcess(1, "python3", 5 * GIB, command="python3 train.py"))


def _running(size_vram: int, size: int | None = None) -> RunningModel:
    return RunningModel("m", size or size_vram, size_vram, 4096, None)


def test_cross_check_agrees_when_the_runner_holds_what_ollama_claims():
    check = cross_check(
        [_running(6 * GIB)], [_gpu_with(GpuProcess(9, "ollama", int(6.4 * GIB), command=RUNNER))]
    )
    assert check.agrees is True
    assert "NVML agrees" in check.explain()


def test_cross_check_flags_100_percent_gpu_that_is_really_on_the_cpu():
    check = cross_check(
        [_running(20 * GIB)], [_gpu_with(GpuProcess(9, "ollama", int(0.4 * GIB), command=RUNNER))]
    )
    assert check.agrees is False
    assert "may be running on the CPU" in check.explain()


def test_cross_check_without_per_process_memory_says_so():
    check = cross_check(
        [_running(6 * GIB)], [_gpu_with(GpuProcess(9, "ollama", None, command=RUNNER))]
    )
    assert check.agrees is None
    assert "no runner process with a memory figure" in check.explain()


def test_rates_are_count_over_duration():
    end = ReplyEnd(
        done_reason="stop",
        total_duration_ns=5_000_000_000,
        load_duration_ns=2_000_000_000,
        prompt_eval_count=26,
        prompt_eval_duration_ns=13_000_000,
        eval_count=412,
        eval_duration_ns=3_140_000_000,
    )
    stats = ReplyStats("m", time_to_first_token_s=2.1, wall_time_s=5.2, pieces=412, end=end)
    assert stats.prompt_tokens_per_s == pytest.approx(26 / 0.013)
    assert stats.generated_tokens_per_s == pytest.approx(412 / 3.14)
    assert stats.load_s == 2.0 and stats.total_s == 5.0
    line = describe(stats)
    assert "first token 2.10 s" in line
    assert "prompt 26 tok @ 2,000 tok/s" in line
    assert "412 tok @ 131.2 tok/s" in line
    assert per_second(None, 10) is None and per_second(10, 0) is None


def test_a_stopped_reply_counts_what_arrived():
    stats = ReplyStats("m", time_to_first_token_s=0.3, wall_time_s=1.0, pieces=57, stopped=True)
    assert stats.generated_tokens == 57
    assert stats.generated_tokens_per_s is None
    assert "57 tok" in describe(stats)


def test_token_rate_is_rolling():
    rate = TokenRate(window_s=2.0)
    for i in range(200):
        rate.add(10.0 + i * 0.01)  # 100 tok/s for 2 s
    assert rate.rate(12.0) == pytest.approx(100, rel=0.05)
    assert rate.rate(20.0) == 0.0


def _energy(joules: float, **fields) -> EnergyReading:
    values = dict(seconds=5.0, method="counter", average_w=0.0, peak_w=None, peak_is_average=False)
    return EnergyReading(joules, **(values | fields))


def test_a_reply_that_used_no_measured_energy_still_gets_its_line():
    # No power reading, or an energy counter that did not move during the reply.
    stats = ReplyStats("m", 0.3, 5.0, pieces=400, energy=_energy(0.0))
    line = describe(stats)
    assert "400 tok" in line
    assert "0 J" in line and "tokens/J" not in line and "J/token" not in line


def test_a_stopped_reply_is_not_called_stopped_twice():
    stats = ReplyStats("m", time_to_first_token_s=0.3, wall_time_s=1.0, pieces=57, stopped=True)
    assert "stopped" not in describe(stats)  # the reply marks itself "■ stopped"


def _absurd(numbers):
    """A figure as a broken or hostile server could send it: missing, zero, negative, NaN,
    infinite, huge, or not a number at all."""
    return st.one_of(
        st.none(),
        numbers,
        st.sampled_from([0, -1, 2**70, -(2**70), math.nan, math.inf, -math.inf, 1e308]),
        st.sampled_from(["ninety", b"7", [1], True]),
    )


_ints = _absurd(st.integers())
_floats = _absurd(st.floats(allow_nan=True, allow_infinity=True))
_ends = st.builds(
    ReplyEnd,
    done_reason=st.one_of(st.none(), st.sampled_from(["stop", "length", "load"]), st.text()),
    total_duration_ns=_ints,
    load_duration_ns=_ints,
    prompt_eval_count=_ints,
    prompt_eval_duration_ns=_ints,
    eval_count=_ints,
    eval_duration_ns=_ints,
    arrived_at=_floats,
)
_energies = st.builds(
    EnergyReading,
    joules=_floats,
    seconds=_floats,
    method=st.one_of(st.sampled_from(["counter", "integrated"]), st.text()),
    average_w=_floats,
    peak_w=_floats,
    peak_is_average=st.booleans(),
)


@given(
    st.builds(
        ReplyStats,
        model=st.text(),
        time_to_first_token_s=_floats,
        wall_time_s=_floats,
        pieces=_ints,
        end=st.one_of(st.none(), _ends),
        stopped=st.booleans(),
        energy=st.one_of(st.none(), _energies),
    )
)
@example(  # found by CI: a peak of -0.0 was written "peak -0 W"
    ReplyStats("m", None, 1.0, 0, energy=EnergyReading(0.0, 1.0, "counter", -0.0, -0.0, False))
)
@example(  # found later: a subnormal joule count gave "inf tokens/J"
    ReplyStats("m", None, 1.0, 1, energy=EnergyReading(2.2e-311, 1.0, "counter", 1.0, None, False))
)
def test_every_statistics_line_is_written_whatever_the_figures(stats):
    line = describe(stats)
    assert re.search(r"[\d,]+ tok\b", line)  # the count is always there
    assert not re.search(r"nan|inf|-\d", line.lower().replace("tokens/j", ""))
    for figure in re.findall(r"[\d,.]+", line):
        assert not figure.startswith("-")
