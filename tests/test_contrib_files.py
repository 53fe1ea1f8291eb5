"""The alert rules and the Grafana dashboard in contrib/ speak the exporter's metric contract.

Fast and without Prometheus: a metric name, label or function that does not match
rigtui/exporter/names.py fails here. promtool and a real Prometheus check the rest
(tests/engine/test_rules.py, tests/engine/test_grafana.py, marked ``prometheus``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rigtui.exporter import names
from rigtui.telemetry.nvml import CLOCK_EVENT_REASONS

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
RULES = CONTRIB / "prometheus" / "rigtui-rules.yml"
RULE_TESTS = CONTRIB / "prometheus" / "rigtui-rules.test.yml"
SCRAPE_CONFIG = CONTRIB / "prometheus" / "prometheus.yml"
DASHBOARD = CONTRIB / "grafana" / "rigtui.json"

METRICS = {metric.name: metric for metric in names.ALL}
PROMETHEUS_LABELS = {"instance", "job"}
"""Added by Prometheus at scrape time, on every series."""
NOT_RIGTUI = {"up": {"instance", "job"}, "ALERTS": {"alertname", "alertstate", "severity"}}
"""Series of Prometheus' own that the rules and dashboard may read."""
COUNTER_FUNCTIONS = ("rate", "irate", "increase", "resets")

METRIC_NAME = re.compile(r"\brigtui_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(rigtui_[a-z0-9_]+|up|ALERTS)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
COUNTER_CALL = re.compile(r"\b(" + "|".join(COUNTER_FUNCTIONS) + r")\s*\(\s*(\w+)")


def rule_expressions(text: str) -> dict[str, str]:
    """Each alert's name and expression, read from the YAML's text (PyYAML is not a dependency:
    promtool parses it for real in the marked tests)."""
    found: dict[str, str] = {}
    for block in re.split(r"\n\s*- alert: ", text)[1:]:
        name, _, rest = block.partition("\n")
        expression = re.search(r"\n\s*expr: (\|\n(?:\s{10,}.*\n)+|.*)", "\n" + rest)
        assert expression, f"{name}: no expr"
        found[name.strip()] = expression.group(1).removeprefix("|")
    return found


def dashboard_expressions(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every query in the dashboard: panels, annotations and variables."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{panel['title']}/{target['refId']}", target["expr"]))
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            found.append((f"annotation {annotation['name']}", annotation["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            selector = re.fullmatch(r"label_values\((.*), *(\w+)\)", variable["definition"])
            assert selector, variable["definition"]
            found.append((f"variable {variable['name']}", selector.group(1)))
    return found


def contract_problems(expression: str) -> list[str]:
    """What in one PromQL expression does not match names.py."""
    problems = []
    for name in METRIC_NAME.findall(expression):
        if name not in METRICS:
            problems.append(f"{name} is not a metric rigtui exports")
    every_label = set(PROMETHEUS_LABELS)
    for name, selector in SELECTOR.findall(expression):
        allowed = (
            set(METRICS[name].labels) if name in METRICS else NOT_RIGTUI.get(name, set())
        ) | PROMETHEUS_LABELS
        every_label |= allowed
        for label, _operator, value in MATCHER.findall(selector):
            if label not in allowed:
                problems.append(f"{name} has no label {label!r}")
            if label == "reason" and name == "rigtui_gpu_clock_event_reason":
                known = {reason for _bit, reason in CLOCK_EVENT_REASONS}
                for reason in value.split("|"):
                    if reason not in known:
                        problems.append(f"no clock-event reason is called {reason!r}")
    for name in METRIC_NAME.findall(expression):
        if name in METRICS:
            every_label |= set(METRICS[name].labels)
    for grouping in GROUPING.findall(expression):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            if label not in every_label:
                problems.append(f"grouping by {label!r}, a label none of its metrics has")
    for function, name in COUNTER_CALL.findall(expression):
        if name in METRICS and METRICS[name].kind != "counter":
            problems.append(f"{function}() of {name}, a {METRICS[name].kind}")
    return problems


# --- the checker itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("rigtui_gpu_temprature_celsius > 80", "rigtui_gpu_temprature_celsius is not a metric"),
        ('rigtui_gpu_power_peak_watts{windw="1s"}', "has no label 'windw'"),
        ('rigtui_gpu_clock_event_reason{reason="thermal"}', "no clock-event reason"),
        ("max by (gpux) (rigtui_gpu_utilization_ratio)", "grouping by 'gpux'"),
        ("rate(rigtui_gpu_power_draw_watts[1m])", "rate() of rigtui_gpu_power_draw_watts, a gauge"),
    ],
)
def test_the_checker_catches_a_typo(expression, complaint):
    problems = contract_problems(expression)
    assert any(complaint in problem for problem in problems), problems


def test_the_checker_passes_a_good_expression():
    expression = (
        "max without (reason) (rigtui_gpu_clock_event_reason"
        '{reason=~"sw_thermal_slowdown|hw_thermal_slowdown", instance=~"$instance"}) == 1'
        " and on (instance, job, gpu) increase(rigtui_gpu_energy_joules_total[5m]) > 0"
    )
    assert contract_problems(expression) == []


# --- the alert rules ------------------------------------------------------------------------------


def test_every_rule_speaks_the_metric_contract():
    expressions = rule_expressions(RULES.read_text())
    assert len(expressions) >= 10
    problems = {name: contract_problems(expr) for name, expr in expressions.items()}
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_rule_is_named_has_a_severity_and_says_what_to_do():
    text = RULES.read_text()
    assert "\t" not in text, "YAML forbids tabs for indentation"
    assert re.search(r"^\s+- name: Rigtui\w*$", text, re.M)
    blocks = re.split(r"\n\s*- alert: ", text)[1:]
    for block in blocks:
        name = block.partition("\n")[0].strip()
        assert re.fullmatch(r"Rigtui(?:[A-Z][a-z0-9]*)+", name), name
        assert re.search(r"\n\s+severity: (critical|warning|info)\n", block), name
        assert re.search(r"\n\s+summary: ", block), name
        assert re.search(r"\n\s+description: ", block), name


def test_every_alert_has_a_unit_test_that_fires_it():
    alerts = set(rule_expressions(RULES.read_text()))
    tests = RULE_TESTS.read_text()
    assert "rule_files: [rigtui-rules.yml]" in tests
    tested = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    assert alerts - tested == set(), "alerts never shown firing in rigtui-rules.test.yml"
    assert set(re.findall(r"alertname: (\w+)", tests)) <= alerts


def test_the_rule_tests_feed_series_rigtui_exports():
    tests = RULE_TESTS.read_text()
    series = re.findall(r"series: '([^']*)'", tests)
    assert series
    problems = [problem for one in series for problem in contract_problems(one)]
    assert problems == []


def test_the_scrape_config_loads_the_rules_and_names_the_job_the_rules_expect():
    config = SCRAPE_CONFIG.read_text()
    assert re.search(r"rule_files:\n\s+- rigtui-rules.yml", config)
    assert "job_name: rigtui\n" in config
    assert 'job="rigtui"' in RULES.read_text()


# --- the Grafana dashboard ------------------------------------------------------------------------


def test_the_dashboard_is_grafana_json_with_its_variables():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "gpu"):
        assert variables[name]["type"] == "query"
        assert variables[name]["definition"].startswith("label_values(")
        assert variables[name]["datasource"]["uid"] == "${datasource}"


def test_every_panel_reads_the_chosen_data_source_and_fits_the_grid():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        position = panel["gridPos"]
        assert position["x"] >= 0 and position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_dashboard_query_speaks_the_metric_contract():
    expressions = dashboard_expressions(json.loads(DASHBOARD.read_text()))
    assert len(expressions) >= 30
    problems = {where: contract_problems(expr) for where, expr in expressions}
    assert {where: found for where, found in problems.items() if found} == {}


def test_the_dashboard_draws_what_the_issue_asks_for():
    used = set()
    for _where, expression in dashboard_expressions(json.loads(DASHBOARD.read_text())):
        used |= set(METRIC_NAME.findall(expression))
    wanted = {
        names.UTILIZATION,
        names.MEMORY_USED,
        names.POWER_DRAW,
        names.POWER_PEAK,
        names.POWER_BUDGET,
        names.POWER_LIMIT,
        names.TEMPERATURE,
        names.TEMPERATURE_SLOWDOWN,
        names.PCIE_GENERATION,
        names.PCIE_GENERATION_MAX,
        names.PCIE_WIDTH,
        names.PCIE_WIDTH_MAX,
        names.FAN_SPEED,
        names.FAN_RPM,
        names.CLOCK_EVENT_REASON,
        names.MODEL_VRAM,
        names.MODEL_CPU,
        names.CPU_UTILIZATION,
        names.MEMORY_HOST_USED,
        names.ENERGY,
    }
    assert {metric.name for metric in wanted} - used == set()
