"""The real engine: a real Prometheus scraping real ``rigtui exporter --demo`` processes.

These tests carry the ``prometheus`` mark and are left out of the README's test command (they
need Debian's ``prometheus`` package); ``.ci/run`` installs it and runs them after that command.
Outside CI, a machine without ``prometheus``/``promtool`` skips them; in CI it fails instead, so
a missing engine can never pass for a green run.

The ``fleet`` fixture starts, once per session:

- four exporters over still simulated rigs (``--demo-still``: the same readings at every scrape,
  so what Prometheus stored can be compared with a snapshot of the same moment):

  ========== ============================================================================
  ``fits``    dual 4090s, a 70B model across both cards, nothing spills
  ``offload`` one 4090 in an Oculink dock, the 70B model spilled to the CPU, and a power
              budget (60 W) its draw crosses in every sampling round
  ``lost``    the faults story: GPU 1 off the bus, GPU 0 in thermal slowdown with a stuck
              fan and a link trained at Gen2, working on an 8B model
  ``gone``    scraped once, then stopped: an exporter down, a rig last seen a while ago
  ========== ============================================================================

- a real Prometheus on a loopback port, with a temporary data directory, a 1 s scrape and
  evaluation interval, and ``contrib/prometheus/rigtui-rules.yml`` loaded with every ``for:``
  shortened to a few seconds (the rules' own durations are minutes; their logic is the same).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "contrib" / "prometheus" / "rigtui-rules.yml"
SHORT_FOR = "3s"
"""What every ``for:`` of the rules becomes in the test's copy."""
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RigPlan:
    name: str
    scenario: str
    at_s: float
    power_budget_w: float | None = None


PLANS = (
    RigPlan("fits", "dual", 440.0),
    RigPlan("offload", "story", 440.0, power_budget_w=60.0),
    RigPlan("lost", "faults", 70.0),
    RigPlan("gone", "story", 100.0),
)


@dataclass
class Rig:
    name: str
    scenario: str
    at_s: float
    instance: str
    """``127.0.0.1:PORT``, as Prometheus labels its series."""
    metrics_url: str
    snapshot: dict
    """``rigtui snapshot --json`` of the same still rig (schema in the README)."""
    process: subprocess.Popen
    power_budget_w: float | None = None


@dataclass
class Fleet:
    prometheus_url: str
    rigs: dict[str, Rig]
    """By name: ``fits``, ``offload``, ``lost``, ``gone``."""
    rules_file: Path
    data_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def api(self, path: str, **params: str) -> dict:
        """``GET /api/v1/PATH`` and its ``data``; raises AssertionError with Prometheus' words."""
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as error:
            body = json.load(error)
            raise AssertionError(f"{path} {params}: {body.get('error')}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's result list (``metric`` labels and ``value``: [time, "text"])."""
        return self.api("query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        """The one value of ``expr`` now, or None when the result is empty."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr} has {len(result)} series: {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_until(
        self,
        expr: str,
        predicate: Callable[[list[dict]], bool] = bool,
        timeout_s: float = 30.0,
    ) -> list[dict]:
        """Poll ``expr`` until ``predicate(result)`` holds; the result. The engine moves on its
        own clock (scrapes and evaluations each second), so this waits on its state, not a time."""
        deadline = time.monotonic() + timeout_s
        result: list[dict] = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.2)
        raise AssertionError(f"{expr} never held within {timeout_s:g} s; last: {result}")

    def firing(self) -> list[dict]:
        """The alerts firing now (``/api/v1/alerts``), each with its labels."""
        return [alert for alert in self.api("alerts")["alerts"] if alert["state"] == "firing"]


def _engine(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _engine("promtool")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_exporter(plan: RigPlan, environ: dict[str, str]) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-m",
        "rigtui",
        "exporter",
        "--demo",
        "--scenario",
        plan.scenario,
        "--demo-at",
        f"{plan.at_s:g}",
        "--demo-still",
        "--interval",
        "1",
        "--listen",
        "127.0.0.1:0",
    ]
    if plan.power_budget_w is not None:
        command += ["--power-budget", f"{plan.power_budget_w:g}"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        cwd=REPO,
        text=True,
    )
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    found = re.search(r"serving (https?://\S+/metrics)", line)
    if found is None:
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise AssertionError(f"exporter {plan.name} did not start: {line!r} {errors[-2000:]}")
    return process, found.group(1)


SNAPSHOT_SCRIPT = """
import json, sys
from rigtui.commands.snapshot import take_snapshot
from rigtui.config import Settings
from rigtui.sources import DemoOptions, open_rig
from rigtui.telemetry.export import snapshot_to_dict

scenario, at_s, budget = sys.argv[1], float(sys.argv[2]), sys.argv[3]
settings = Settings(demo=scenario, power_budget_w=float(budget) if budget else None)
demo = DemoOptions(scenario=scenario, at_s=at_s)
with open_rig(settings, demo, ollama=False, still=True) as rig:
    print(json.dumps(snapshot_to_dict(take_snapshot(rig.sampler, prime_delay_s=0.1))))
"""


def _snapshot(plan: RigPlan, environ: dict[str, str]) -> dict:
    """The same still rig read once by the snapshot command's own code, in a process of its own
    (the simulation installs itself beneath pynvml process-wide)."""
    budget = "" if plan.power_budget_w is None else f"{plan.power_budget_w:g}"
    done = subprocess.run(
        [sys.executable, "-c", SNAPSHOT_SCRIPT, plan.scenario, f"{plan.at_s:g}", budget],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=START_TIMEOUT_S,
        check=True,
    )
    return json.loads(done.stdout)


def shortened_rules(text: str) -> str:
    """The rules with every ``for:`` made ``SHORT_FOR``: the test cannot wait minutes."""
    return re.sub(r"(?m)^(\s*for:\s*)\S+", rf"\g<1>{SHORT_FOR}", text)


def _prometheus_config(targets: list[str], rules: Path) -> str:
    listed = ", ".join(f"'{target}'" for target in targets)
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        f"rule_files: ['{rules}']\n"
        "scrape_configs:\n"
        "  - job_name: rigtui\n"
        f"    static_configs: [{{targets: [{listed}]}}]\n"
    )


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status
    except (urllib.error.URLError, OSError):
        return 0


@pytest.fixture(scope="session")
def fleet(tmp_path_factory) -> Fleet:
    prometheus = _engine("prometheus")
    root = tmp_path_factory.mktemp("fleet")
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    rigs: dict[str, Rig] = {}
    processes: list[subprocess.Popen] = []
    try:
        for plan in PLANS:
            process, url = _start_exporter(plan, environ)
            processes.append(process)
            instance = urllib.parse.urlsplit(url).netloc
            rigs[plan.name] = Rig(
                plan.name,
                plan.scenario,
                plan.at_s,
                instance,
                url,
                _snapshot(plan, environ),
                process,
                plan.power_budget_w,
            )
        rules = root / "rigtui-rules.yml"
        rules.write_text(shortened_rules(RULES.read_text()) if RULES.exists() else "groups: []\n")
        config = root / "prometheus.yml"
        config.write_text(_prometheus_config([rig.instance for rig in rigs.values()], rules))
        port = _free_port()
        data = root / "data"
        log = (root / "prometheus.log").open("w")
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(server)
        url = f"http://127.0.0.1:{port}"
        fleet = Fleet(url, rigs, rules, data, processes)
        deadline = time.monotonic() + START_TIMEOUT_S
        while _get(f"{url}/-/ready") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"Prometheus did not start: {(root / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        # Every rig scraped at least twice (a rate needs two samples); then "gone" goes.
        everyone = len(rigs)
        fleet.wait_until(
            'count(count_over_time(up{job="rigtui"}[1m]) >= 2 and up{job="rigtui"} == 1)',
            lambda result: bool(result) and float(result[0]["value"][1]) == everyone,
            timeout_s=START_TIMEOUT_S,
        )
        gone = rigs["gone"]
        gone.process.send_signal(signal.SIGTERM)
        gone.process.wait(timeout=10)
        fleet.wait_until(f'up{{instance="{gone.instance}"}} == 0', timeout_s=START_TIMEOUT_S)
        yield fleet
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
