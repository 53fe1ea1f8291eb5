"""Pure formatting: units, bars, fans, clock reasons, colours, untrusted text."""

from __future__ import annotations

import dataclasses

import pytest
from rich.text import Text

from rigtui.insight.diagnosis import why_slow
from rigtui.insight.fans import fan_check
from rigtui.insight.pcie import link_state
from rigtui.insight.rig import GpuInsight
from rigtui.telemetry.model import FanReading, GpuReading
from rigtui.text import units
from rigtui.text.safe import literal, printable
from rigtui.ui.render.gpu import (
    fan_summary,
    gpu_card_brief_lines,
    gpu_card_compact_lines,
    gpu_card_lines,
    gpu_subtitle,
    gpu_title,
    temperature_colour,
)
from rigtui.ui.render.palette import DEFAULT_PALETTE as P


def test_units():
    assert units.size(6.2 * 1024**3) == "6.2 GiB"
    assert units.size(346 * 1024**2) == "346 MiB"
    assert units.rate(6.8e9) == "6.8 GB/s"
    assert units.rate(310e6) == "310 MB/s"
    assert units.rate(None) == "N/A"
    assert units.celsius(54) == "54 °C"
    assert units.pcie_link(4, 4) == "Gen4 x4"
    assert units.duration(600) == "10m"
    assert units.duration(3725) == "1h02m"


@pytest.mark.parametrize(
    ("fraction", "filled"),
    [(0.0, ""), (1.0, "██████████"), (0.5, "█████"), (0.55, "█████▌"), (None, "")],
)
def test_fraction_bar_has_eighth_cell_precision_and_fixed_width(fraction, filled):
    full, empty = units.fraction_bar(fraction, 10)
    assert full == filled
    assert len(full) + len(empty) == 10


def test_clock_event_words_name_the_cause_not_the_generic_slowdown():
    assert units.clock_event_words(("sw_power_cap",)) == "power cap"
    assert units.clock_event_words(("hw_slowdown", "hw_thermal_slowdown")) == "thermal (HW)"
    assert units.clock_event_words(("hw_slowdown",)) == "HW slowdown"
    assert units.clock_event_words(()) == ""
    assert units.clock_event_words(None) == "N/A"


def gpu(**fields) -> GpuReading:
    return dataclasses.replace(GpuReading(index=0, name="Test GPU"), **fields)


def fans(reading: GpuReading) -> str:
    """The fan summary with the verdict insight hands the card."""
    return fan_summary(reading, P, fan_check(reading)).plain


def test_fan_stop_is_told_apart_from_no_sensor_and_from_a_broken_fan():
    stopped = gpu(temperature_c=41, fans=(FanReading(0, 0, 0), FanReading(1, 0, 0)))
    assert "fan-stop (normal while cool)" in fans(stopped)
    hot_and_stopped = gpu(temperature_c=72, fans=(FanReading(0, 0, 0),))
    assert "stopped at 72 °C — check the fans" in fans(hot_and_stopped)
    passive = gpu(temperature_c=41, unavailable={"fans": "no fan sensor (passive cooling)"})
    assert fans(passive) == "N/A (no fan sensor (passive cooling))"
    not_spinning = gpu(temperature_c=80, fans=(FanReading(0, 98, 0), FanReading(1, 100, 2990)))
    assert "fan 0: 0 rpm at 98% — not spinning" in fans(not_spinning)
    spinning = gpu(temperature_c=60, fans=(FanReading(0, 45, 1350),))
    assert fans(spinning) == "45%  1350 rpm"


def test_without_insight_the_card_shows_figures_and_judges_nothing():
    reading = gpu(
        utilization_gpu_pct=97,
        temperature_c=80,
        fans=(FanReading(0, 98, 0),),
        clocks_event_reasons=("gpu_idle",),
        pcie_link_gen=1,
        pcie_link_gen_max=4,
        pcie_link_width=16,
        pcie_link_width_max=16,
    )
    text = "\n".join(line.plain for line in gpu_card_lines(reading, 100, P))
    assert "98%  0 rpm" in text and "not spinning" not in text
    assert "(idle)" not in text and "GB/s" not in text
    assert text.splitlines()[-1].rstrip() == "WHY  –"
    # Handed the insight, the same card says what the figures mean.
    insight = GpuInsight(
        diagnosis=why_slow(reading),
        link=link_state(reading),
        load=None,
        loading=False,
        model_cpu_share=None,
        fans=fan_check(reading),
    )
    text = "\n".join(line.plain for line in gpu_card_lines(reading, 100, P, insight))
    assert "fan 0: 0 rpm at 98% — not spinning" in text
    assert "Gen1 x16 (idle) / Gen4 x16 4.0 GB/s" in text
    assert text.splitlines()[-1].rstrip() == f"WHY  {insight.diagnosis.words}"


def test_temperature_colour_by_headroom_to_slowdown():
    assert temperature_colour(gpu(temperature_c=60, temperature_slowdown_c=87), P) == P.good
    assert temperature_colour(gpu(temperature_c=75, temperature_slowdown_c=87), P) == P.warning
    assert temperature_colour(gpu(temperature_c=84, temperature_slowdown_c=87), P) == P.error
    assert temperature_colour(gpu(temperature_c=None), P) == P.muted


def test_a_card_shows_na_with_the_reason_and_every_line_fits_its_width():
    reading = gpu(
        utilization_gpu_pct=97,
        utilization_memory_pct=82,
        memory_used_bytes=6 * 1024**3,
        memory_total_bytes=24 * 1024**3,
        power_draw_w=None,
        unavailable={"power_draw_w": "no permission"},
        temperature_c=54,
        temperature_slowdown_c=87,
    )
    for width in (40, 76, 120):
        lines = gpu_card_lines(reading, width, P)
        assert all(line.cell_len <= width for line in lines)
    text = "\n".join(line.plain for line in gpu_card_lines(reading, 76, P))
    assert "PWR  N/A (no permission)" in text
    assert "97%" in text and "6.0/24.0 GiB" in text


def test_a_lost_gpu_card_says_so():
    lines = gpu_card_lines(gpu(lost=True), 76, P)
    assert "GPU lost" in lines[0].plain
    assert gpu_subtitle(gpu(lost=True)) == "LOST"


def test_subtitle_shortens_the_usual_pci_domain():
    assert gpu_subtitle(gpu(pci_bus_id="00000000:01:00.0")) == "PCI 01:00.0"
    assert gpu_subtitle(gpu(pci_bus_id="00000001:01:00.0")) == "PCI 00000001:01:00.0"


def test_untrusted_text_is_shown_literally():
    assert printable("evil\x1b[31mred\x07") == "evil\\x1b[31mred\\x07"
    assert printable("a\u202eb") == "a\\u202eb"
    assert printable("line\nbreak") == "line\\nbreak"
    text = literal("[bold]not bold[/] [link=http://x]x[/link]")
    assert isinstance(text, Text)
    assert text.plain == "[bold]not bold[/] [link=http://x]x[/link]"
    assert text.spans == []
    assert literal(None, placeholder="(gone)").plain == "(gone)"


BAR_CELLS = set("█▉▊▋▌▍▎▏ ·")


def busy_4090() -> GpuReading:
    """A card at work with every optional figure present: what fills a card's lines most."""
    return gpu(
        name="NVIDIA GeForce RTX 4090",
        utilization_gpu_pct=97,
        utilization_memory_pct=82,
        memory_used_bytes=int(20.9 * 1024**3),
        memory_total_bytes=24 * 1024**3,
        memory_reserved_bytes=int(0.3 * 1024**3),
        power_draw_w=443.0,
        power_limit_w=450.0,
        power_peak_60s_w=655.0,
        power_peaks_instant=True,
        pstate=2,
        temperature_c=54,
        temperature_slowdown_c=87,
        temperature_shutdown_c=90,
        fans=(FanReading(0, 38, 1137), FanReading(1, 40, 1197)),
        clocks_sm_mhz=2707,
        clocks_sm_max_mhz=3120,
        clocks_mem_mhz=10251,
        clocks_mem_max_mhz=10501,
        clocks_event_reasons=("sw_power_cap",),
        pcie_link_gen=4,
        pcie_link_width=4,
        pcie_link_gen_max=4,
        pcie_link_width_max=16,
        pcie_rx_bytes_per_s=3.1e9,
        pcie_tx_bytes_per_s=2.0e6,
    )


LONG_WHY = (
    "memory bound on system RAM: 45% of llama3.3:70b runs on the CPU; check the cable, "
    "riser or BIOS setting that holds the link at Gen1"
)


def insight_for(reading: GpuReading, words: str = LONG_WHY) -> GpuInsight:
    return GpuInsight(
        diagnosis=dataclasses.replace(why_slow(reading), words=words),
        link=link_state(reading),
        load=None,
        loading=False,
        model_cpu_share=None,
        fans=fan_check(reading),
    )


def words_of(lines) -> list[str]:
    """The words on the lines, leaving out the bars (whose cells change with the width)."""
    return [word for line in lines for word in line.plain.split() if not set(word) <= BAR_CELLS]


def test_a_card_70_columns_wide_keeps_the_peak_and_the_reserved_memory():
    """At 120x40 the card is about 70 columns inside: both used to be dropped below 72 and 70."""
    text = "\n".join(line.plain for line in gpu_card_lines(busy_4090(), 70, P))
    assert "443/450 W  peak 655 W P2" in text
    assert "20.9/24.0 GiB +0.3 rsv" in text


@pytest.mark.parametrize("render", [gpu_card_lines, gpu_card_compact_lines, gpu_card_brief_lines])
def test_at_every_width_a_card_drops_whole_figures_and_cuts_no_word(render):
    """Narrower, a card leaves out its least useful figures, each whole, and wraps the WHY
    line between words: every word it shows is a word of the widest card, and every word of
    the WHY line is on it."""
    reading = busy_4090()
    insight = insight_for(reading)
    # Below 56 columns GPU and MEM share a line: "97% mem 82%".
    widest = set(words_of(render(reading, 200, P, insight))) | {"mem"}
    for width in range(30, 121):
        lines = render(reading, width, P, insight)
        assert all(line.cell_len == width for line in lines), width
        shown = words_of(lines)
        assert set(shown) <= widest, (width, set(shown) - widest)
        for needed in ("20.9/24.0", "97%", *LONG_WHY.split()):
            assert needed in shown, (width, needed)


def test_the_compact_card_beside_the_chat_keeps_memory_and_the_receive_rate():
    """44 columns, the card beside the chat at 120x40: "20.9/24.0 Gi" and "RX 3" before."""
    text = "\n".join(line.plain for line in gpu_card_compact_lines(busy_4090(), 44, P))
    assert "20.9/24.0 GiB" in text
    assert "RX 3.1 GB/s" in text
    assert "443/450 W" in text


def test_a_long_gpu_name_is_shortened_by_whole_words():
    reading = gpu(index=3, name="NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition")
    assert gpu_title(reading) == f"GPU 3 · {reading.name}"
    assert gpu_title(reading, 40) == "GPU 3 · RTX PRO 6000 Blackwell Max-Q"
    assert gpu_title(reading, 10) == "GPU 3"


def test_the_brief_card_is_two_lines_as_nvitop_fits_a_gpu():
    reading = busy_4090()
    lines = gpu_card_brief_lines(reading, 76, P, insight_for(reading, "power-capped at 450 W"))
    assert [line.plain.split()[0] for line in lines] == ["GPU", "WHY"]
    assert "97%  VRAM 20.9/24.0 GiB  PWR 443/450 W  54 °C" in lines[0].plain
