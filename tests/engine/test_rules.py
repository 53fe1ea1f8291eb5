"""contrib/prometheus/rigtui-rules.yml, checked by promtool and run by a real Prometheus.

promtool checks the rules and runs their unit tests (and the unit tests are shown able to fail);
then, against Prometheus scraping the three still demo rigs, each alert fires for exactly the
rig (and GPU, fan, model) with the incident, read from what that rig's exporter serves, and
for none of the others.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.prometheus

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "prometheus"
RULES = CONTRIB / "rigtui-rules.yml"
RULE_TESTS = CONTRIB / "rigtui-rules.test.yml"
SCRAPE_CONFIG = CONTRIB / "prometheus.yml"
FIRING_TIMEOUT_S = 90.0

# The labels that tell one alert from another of the same name.
Alert = tuple[str, str, str | None, str | None, str | None]
"""(alertname, instance, gpu, fan, model)"""


def run(promtool: str, *args: str, cwd: Path = CONTRIB) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def alert_names() -> list[str]:
    return re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.M)


# --- promtool -------------------------------------------------------------------------------------


def test_promtool_checks_the_rules(promtool):
    result = run(promtool, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_promtool_checks_the_example_scrape_config_and_its_rule_file(promtool):
    result = run(promtool, "check", "config", SCRAPE_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_the_rules_pass_their_unit_tests(promtool):
    result = run(promtool, "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("alert", "looser", "stricter"),
    [
        # Without the speed condition, fan-stop (0 % asked, 0 rpm) would fire.
        (
            "RigtuiGpuFanNotSpinning",
            "rigtui_gpu_fan_speed_ratio > 0 and on (instance, job, gpu, fan) "
            "rigtui_gpu_fan_rpm == 0",
            "rigtui_gpu_fan_rpm == 0",
        ),
        # Without the utilization condition, an idle GPU at Gen1 would fire.
        (
            "RigtuiPcieLinkBelowMaxGeneration",
            "and on (instance, job, gpu) rigtui_gpu_utilization_ratio >= 0.1\n        for: 5m",
            "\n        for: 5m",
        ),
    ],
)
def test_the_unit_tests_catch_a_rule_that_fires_for_a_look_alike(
    promtool, tmp_path, alert, looser, stricter
):
    """The unit tests fail when a rule loses the condition that keeps a look-alike quiet."""
    rules = RULES.read_text()
    assert looser in rules
    (tmp_path / RULES.name).write_text(rules.replace(looser, stricter, 1))
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert f"alertname: {alert}" in result.stdout + result.stderr


# --- the real Prometheus over the three demo rigs ------------------------------------------------


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The exporter's own series, read directly (not through Prometheus): name -> samples."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    series: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append((sample.labels, sample.value))
    return series


def by_gpu(series, name: str) -> dict[str, float]:
    return {labels["gpu"]: value for labels, value in series.get(name, [])}


def expected_alerts(instance: str, series) -> set[Alert]:
    """Each rule's meaning, applied in Python to what one rig's exporter serves."""
    found: set[Alert] = set()

    def gpus(alert: str, which: Iterable[str]) -> None:
        found.update((alert, instance, gpu, None, None) for gpu in which)

    lost = by_gpu(series, "rigtui_gpu_lost")
    gpus("RigtuiGpuLost", [gpu for gpu, value in lost.items() if value == 1])
    reasons: dict[str, set[str]] = {}
    for labels, value in series.get("rigtui_gpu_clock_event_reason", []):
        if value == 1:
            reasons.setdefault(labels["gpu"], set()).add(labels["reason"])
    thermal = {
        gpu
        for gpu, held in reasons.items()
        if held & {"sw_thermal_slowdown", "hw_thermal_slowdown"}
    }
    gpus("RigtuiGpuThermalSlowdown", thermal)
    gpus(
        "RigtuiGpuPowerBrake",
        [gpu for gpu, held in reasons.items() if "hw_power_brake_slowdown" in held],
    )
    temperature = by_gpu(series, "rigtui_gpu_temperature_celsius")
    slowdown = by_gpu(series, "rigtui_gpu_temperature_slowdown_celsius")
    gpus(
        "RigtuiGpuRunningHot",
        [
            gpu
            for gpu in temperature.keys() & slowdown.keys()
            if slowdown[gpu] - temperature[gpu] < 5 and gpu not in thermal
        ],
    )
    rpm = {
        (labels["gpu"], labels["fan"]): value
        for labels, value in series.get("rigtui_gpu_fan_rpm", [])
    }
    for labels, speed in series.get("rigtui_gpu_fan_speed_ratio", []):
        if speed > 0 and rpm.get((labels["gpu"], labels["fan"])) == 0:
            found.add(("RigtuiGpuFanNotSpinning", instance, labels["gpu"], labels["fan"], None))
    generation = by_gpu(series, "rigtui_gpu_pcie_link_generation")
    generation_max = by_gpu(series, "rigtui_gpu_pcie_link_generation_max")
    utilization = by_gpu(series, "rigtui_gpu_utilization_ratio")
    gpus(
        "RigtuiPcieLinkBelowMaxGeneration",
        [
            gpu
            for gpu in generation.keys() & generation_max.keys()
            if generation[gpu] < generation_max[gpu] and utilization.get(gpu, 0) >= 0.1
        ],
    )
    free = by_gpu(series, "rigtui_gpu_memory_free_bytes")
    total = by_gpu(series, "rigtui_gpu_memory_total_bytes")
    gpus(
        "RigtuiGpuMemoryAlmostFull",
        [gpu for gpu in free.keys() & total.keys() if free[gpu] / total[gpu] < 0.05],
    )
    budget = [value for _labels, value in series.get("rigtui_power_budget_watts", [])]
    peak = [
        value
        for labels, value in series.get("rigtui_power_total_peak_watts", [])
        if labels.get("window") == "60s"
    ]
    over = [value for _labels, value in series.get("rigtui_power_rounds_over_budget_total", [])]
    if budget and ((peak and peak[0] > budget[0]) or (over and over[0] > 0)):
        found.add(("RigtuiPowerOverBudget", instance, None, None, None))
    for labels, share in series.get("rigtui_ollama_model_cpu_ratio", []):
        if share > 0:
            found.add(("RigtuiModelSpilledToCpu", instance, None, None, labels["model"]))
    for name, alert in (
        ("rigtui_ollama_up", "RigtuiOllamaDown"),
        ("rigtui_nvml_up", "RigtuiNvmlDown"),
    ):
        if any(value == 0 for _labels, value in series.get(name, [])):
            found.add((alert, instance, None, None, None))
    return found


def alerts_in(result: list[dict], instances: set[str]) -> set[Alert]:
    return {
        (
            item["metric"]["alertname"],
            item["metric"].get("instance", ""),
            item["metric"].get("gpu"),
            item["metric"].get("fan"),
            item["metric"].get("model"),
        )
        for item in result
        if item["metric"]["alertname"] in alert_names()
        and item["metric"].get("instance", "") in instances | {""}
    }


@pytest.fixture(scope="module")
def incidents(fleet) -> dict[str, set[Alert]]:
    """What each rig's exporter serves says which alerts must fire for it; a rig whose exporter
    was stopped must have only the exporter-down alert."""
    found = {}
    for name, rig in fleet.rigs.items():
        if rig.process.poll() is not None:
            found[name] = {("RigtuiExporterDown", rig.instance, None, None, None)}
        else:
            found[name] = expected_alerts(rig.instance, scrape(rig.metrics_url))
    return found


def test_the_demo_rigs_have_the_incidents_of_their_stories(fleet, incidents):
    """The rigs are what the harness says they are, so the next test cannot pass on nothing."""
    names = {name: {alert[0] for alert in found} for name, found in incidents.items()}
    assert {
        "RigtuiGpuLost",
        "RigtuiGpuThermalSlowdown",
        "RigtuiGpuFanNotSpinning",
        "RigtuiPcieLinkBelowMaxGeneration",
    } <= names["lost"]
    assert ("RigtuiGpuLost", fleet.rigs["lost"].instance, "1", None, None) in incidents["lost"]
    assert {"RigtuiModelSpilledToCpu", "RigtuiPowerOverBudget"} <= names["offload"]
    assert names["fits"] == set()
    assert names["gone"] == {"RigtuiExporterDown"}


def test_each_alert_fires_for_the_rig_with_the_incident_and_no_other(fleet, incidents):
    instances = {rig.instance for rig in fleet.rigs.values()}
    expected = set().union(*incidents.values())
    fleet.wait_until(
        'ALERTS{alertstate="firing"}',
        lambda result: alerts_in(result, instances) >= expected,
        timeout_s=FIRING_TIMEOUT_S,
    )
    # Pending counts too: a rule that would fire for a rig without the incident fails here.
    everything = alerts_in(fleet.query("ALERTS"), instances)
    rig_names = {rig.instance: name for name, rig in fleet.rigs.items()}
    assert everything - expected == set(), f"alerts for rigs without the incident ({rig_names})"
    assert expected - everything == set(), rig_names
