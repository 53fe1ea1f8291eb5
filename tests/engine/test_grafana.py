"""contrib/grafana/rigtui.json against a real Prometheus that scrapes the three demo rigs.

Every query of the dashboard (panels, the alert annotation, the template variables), with its
variables filled in as Grafana fills them, parses and returns data.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.prometheus

DASHBOARD = Path(__file__).resolve().parents[2] / "contrib" / "grafana" / "rigtui.json"
DATA_TIMEOUT_S = 90.0
"""Long enough for the shortened alert rules to fire (the alert panels read ALERTS)."""
POLL_S = 0.5


def api(base: str, path: str, **params: str | list[str]) -> dict:
    """Prometheus' answer, errors included (a 400 carries the parser's words)."""
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        return json.load(error)


def grafana_regex(values: list[str]) -> str:
    """A multi-value variable as Grafana writes it into PromQL: escaped, then ORed."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value) for value in values]
    return "(" + "|".join(escaped) + ")"


def fill(expression: str, variables: dict[str, str]) -> str:
    # Longest names first: $__rate_interval before a hypothetical $__rate.
    for name in sorted(variables, key=len, reverse=True):
        expression = expression.replace(f"${{{name}}}", variables[name])
        expression = expression.replace(f"${name}", variables[name])
    assert "$" not in expression, f"a variable left unfilled: {expression}"
    return expression


def queries(dashboard: dict) -> list[tuple[str, str]]:
    found = [
        (f"{panel['title']}/{target['refId']}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    found += [
        (f"annotation {annotation['name']}", annotation["expr"])
        for annotation in dashboard["annotations"]["list"]
        if "expr" in annotation
    ]
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def variables(fleet) -> dict[str, str]:
    # The fleet fixture has had every rig scraped (and one stopped): their series are stored.
    instances = [rig.instance for rig in fleet.rigs.values()]
    return {
        "instance": grafana_regex(instances),
        "gpu": grafana_regex(["0", "1"]),
        # What Grafana gives at a 1 s scrape and a few minutes' range, rounded up.
        "__rate_interval": "1m",
        "__interval": "15s",
        "__range": "5m",
    }


def test_the_template_variables_find_every_rig_and_gpu(fleet, dashboard, variables):
    instances = {rig.instance for rig in fleet.rigs.values()}
    by_name = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    instance_query = re.fullmatch(
        r"label_values\((.*), *instance\)", by_name["instance"]["definition"]
    )
    assert instance_query
    found = api(
        fleet.prometheus_url, "/api/v1/label/instance/values", **{"match[]": instance_query[1]}
    )
    assert found["status"] == "success", found
    assert instances <= set(found["data"])
    gpu_query = re.fullmatch(r"label_values\((.*), *gpu\)", by_name["gpu"]["definition"])
    assert gpu_query
    selector = fill(gpu_query[1], {"instance": grafana_regex(sorted(instances))})
    found = api(fleet.prometheus_url, "/api/v1/label/gpu/values", **{"match[]": selector})
    assert found["status"] == "success", found
    assert {"0", "1"} <= set(found["data"])


def test_every_query_parses_and_returns_data(fleet, dashboard, variables):
    waiting = {where: fill(expression, variables) for where, expression in queries(dashboard)}
    assert len(waiting) >= 30
    errors: dict[str, str] = {}
    deadline = time.monotonic() + DATA_TIMEOUT_S
    # Poll until each has data: the alert queries need the rules to have fired first.
    while waiting:
        for where, expression in list(waiting.items()):
            answer = api(fleet.prometheus_url, "/api/v1/query", query=expression)
            if answer["status"] != "success":
                errors[where] = f"{answer.get('errorType')}: {answer.get('error')}"
                del waiting[where]
            elif answer["data"]["result"]:
                del waiting[where]
        assert errors == {}, "queries Prometheus rejects"
        if waiting and time.monotonic() > deadline:
            raise AssertionError(f"queries that return nothing: {sorted(waiting)}")
        if waiting:
            time.sleep(POLL_S)


def test_a_typo_in_a_query_would_be_caught(fleet, variables):
    """The check above can fail: Prometheus rejects bad PromQL, and a wrong name has no data."""
    bad = api(fleet.prometheus_url, "/api/v1/query", query="rate(rigtui_gpu_power_draw_watts[1m")
    assert bad["status"] == "error"
    assert bad["errorType"] == "bad_data"
    empty = api(
        fleet.prometheus_url,
        "/api/v1/query",
        query=fill('rigtui_gpu_temprature_celsius{instance=~"$instance"}', variables),
    )
    assert empty["status"] == "success"
    assert empty["data"]["result"] == []
