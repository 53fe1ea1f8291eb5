"""The fleet from a Prometheus server: every rig it scrapes with rigtui's metrics, and one rig's
history, in a few queries whatever the number of rigs.

A rig is a target that has served ``rigtui_exporter_info`` within :data:`LOOKBACK_S`, or a target
of the same job that is down and has not (switched off before Prometheus started: "never seen").
A rig that is up is read as it is now; one that is down (or gone from Prometheus' configuration)
keeps its last values, marked stale, so the Fleet tab can say when it was last seen.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from rigtui.exporter import names
from rigtui.fleet.model import (
    FleetAlert,
    FleetError,
    FleetGpu,
    FleetModel,
    FleetReading,
    FleetRig,
    HistorySeries,
    RigHistory,
)
from rigtui.fleet.prometheus import PrometheusClient

LOOKBACK_S = 3600
"""How far back a rig that stopped answering is still listed (with its last values)."""
STALE_AFTER_S = 120.0
"""A rig whose newest reading is older than this is stale even if it answers: twice the slowest
sampling interval rigtui allows (60 s)."""
PEAK_WINDOW = "60s"
"""The ``window`` of ``rigtui_gpu_power_peak_watts`` the fleet shows beside the draw."""
HISTORY_PEAK_WINDOW = "1s"
"""The ``window`` of the peaks charted in a rig's history: the spike within each second."""

# What a rig's block shows, read in one query (the clock-event reasons in another: only those at 1).
_GPU_FIELDS: dict[str, str] = {
    names.UTILIZATION.name: "utilization_ratio",
    names.MEMORY_USED.name: "memory_used_bytes",
    names.MEMORY_TOTAL.name: "memory_total_bytes",
    names.POWER_DRAW.name: "power_draw_watts",
    names.POWER_PEAK.name: "power_peak_watts",
    names.POWER_LIMIT.name: "power_limit_watts",
    names.TEMPERATURE.name: "temperature_celsius",
    names.TEMPERATURE_SLOWDOWN.name: "temperature_slowdown_celsius",
    names.PCIE_GENERATION.name: "pcie_generation",
    names.PCIE_GENERATION_MAX.name: "pcie_generation_max",
    names.PCIE_WIDTH.name: "pcie_width_lanes",
    names.PCIE_WIDTH_MAX.name: "pcie_width_max_lanes",
}
_MODEL_FIELDS: dict[str, str] = {
    names.MODEL_SIZE.name: "size_bytes",
    names.MODEL_VRAM.name: "vram_bytes",
    names.MODEL_CPU.name: "cpu_ratio",
}
_READ_NAMES: tuple[str, ...] = (
    names.EXPORTER_INFO.name,
    names.LAST_SAMPLE.name,
    names.GPU_INFO.name,
    names.GPU_LOST.name,
    *_GPU_FIELDS,
    names.OLLAMA_UP.name,
    *_MODEL_FIELDS,
    names.POWER_BUDGET.name,
    names.POWER_TOTAL_PEAK.name,
)

_ALERT_ORDER = {"firing": 0, "pending": 1}


def _latest(selector: str, lookback_s: int) -> str:
    """The selector's series now for targets that are up, and their last values for the rest
    (``last_over_time`` keeps the metric's name, so one query can hold many metrics)."""
    return (
        f"{selector} or (last_over_time({selector}[{lookback_s}s]) "
        "unless on (instance, job) (up == 1))"
    )


def _name_selector(metric_names: Iterable[str], **labels: str) -> str:
    matchers = [f'__name__=~"{"|".join(re.escape(name) for name in metric_names)}"']
    matchers += [f"{label}={_quote(value)}" for label, value in labels.items()]
    return "{" + ", ".join(matchers) + "}"


def _quote(value: str) -> str:
    """A PromQL string literal: a label value may hold quotes or backslashes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _number(text: Any) -> float | None:
    """A sample's value (Prometheus sends strings: "1.5", "NaN", "+Inf"); None for NaN or junk."""
    try:
        value = float(text)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if math.isnan(value) else value


def _moment(text: Any) -> float | None:
    """A sample's timestamp (Unix seconds): None unless it is a finite number."""
    value = _number(text)
    return value if value is not None and math.isfinite(value) else None


def _value(result: dict) -> float | None:
    pair = result.get("value")
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    return _number(pair[1])


def _label(metric: dict, name: str) -> str | None:
    text = metric.get(name)
    return text if isinstance(text, str) and text else None


def _natural_key(text: str) -> tuple:
    """``host:9101`` before ``host:10000``: runs of ASCII digits compared as numbers, by their
    length then their digits (never through ``int``, which refuses ``²`` and 5000 digits)."""
    key = []
    for part in re.split(r"([0-9]+)", text):
        if part[:1] in _DIGITS:
            number = part.lstrip("0")
            key.append((0, len(number), number, part))
        elif part:
            key.append((1, 0, part, part))
    return tuple(key)


_DIGITS = frozenset("0123456789")


def _epoch(text: Any) -> float | None:
    """``activeAt`` (RFC 3339, nanoseconds and ``Z``) as Unix time."""
    if not isinstance(text, str) or not text:
        return None
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text.strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return moment.timestamp() + (float(fraction) if fraction else 0.0)


class _Rig:
    """A rig's values as they are gathered from the answers."""

    def __init__(self, instance: str, job: str) -> None:
        self.instance = instance
        self.job = job
        self.up = False
        self.hostname: str | None = None
        self.demo = ""
        self.last_seen: float | None = None
        self.gpus: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.ollama_up: bool | None = None
        self.power_budget_watts: float | None = None
        self.power_total_peak_watts: float | None = None
        self.alerts: list[FleetAlert] = []

    def gpu(self, metric: dict) -> dict[str, Any]:
        index = _label(metric, "gpu") or "?"
        fields = self.gpus.setdefault(index, {"index": index, "clock_event_reasons": []})
        for label in ("name", "uuid"):
            if fields.get(label) is None and _label(metric, label) is not None:
                fields[label] = _label(metric, label)
        return fields

    def take(self, metric: dict, value: float | None) -> None:
        name = metric.get("__name__")
        if not isinstance(name, str):
            return
        if name == names.EXPORTER_INFO.name:
            self.hostname = _label(metric, "hostname") or self.hostname
            self.demo = _label(metric, "demo") or self.demo
        elif name == names.LAST_SAMPLE.name:
            self.last_seen = value
        elif name == names.GPU_INFO.name:
            self.gpu(metric)
        elif name == names.GPU_LOST.name:
            self.gpu(metric)["lost"] = value == 1
        elif name == names.POWER_PEAK.name:
            if metric.get("window") == PEAK_WINDOW:
                self.gpu(metric)["power_peak_watts"] = value
        elif name in _GPU_FIELDS:
            self.gpu(metric)[_GPU_FIELDS[name]] = value
        elif name in _MODEL_FIELDS:
            model = _label(metric, "model") or "?"
            self.models.setdefault(model, {"name": model})[_MODEL_FIELDS[name]] = value
        elif name == names.OLLAMA_UP.name:
            self.ollama_up = None if value is None else value == 1
        elif name == names.POWER_BUDGET.name:
            self.power_budget_watts = value
        elif name == names.POWER_TOTAL_PEAK.name and metric.get("window") == PEAK_WINDOW:
            self.power_total_peak_watts = value

    def built(self, now: float) -> FleetRig:
        gpus = []
        for index in sorted(self.gpus, key=_natural_key):
            fields = dict(self.gpus[index])
            fields["clock_event_reasons"] = tuple(sorted(set(fields["clock_event_reasons"])))
            gpus.append(FleetGpu(**fields))
        old = self.last_seen is not None and now - self.last_seen > STALE_AFTER_S
        return FleetRig(
            instance=self.instance,
            job=self.job,
            up=self.up,
            hostname=self.hostname,
            last_seen=self.last_seen,
            stale=not self.up or old,
            gpus=tuple(gpus),
            models=tuple(
                FleetModel(**self.models[name]) for name in sorted(self.models, key=_natural_key)
            ),
            alerts=tuple(
                sorted(
                    # One alert per reason or fan would show twice alike: kept once.
                    dict.fromkeys(self.alerts),
                    key=lambda alert: (
                        _ALERT_ORDER.get(alert.state, 2),
                        alert.name,
                        _natural_key(alert.gpu or ""),
                    ),
                )
            ),
            ollama_up=self.ollama_up,
            power_budget_watts=self.power_budget_watts,
            power_total_peak_watts=self.power_total_peak_watts,
            demo=self.demo,
        )


def _raise_first(answers: Iterable[Any]) -> None:
    """The first failure among answers gathered together (the others were awaited too, so
    none is left running)."""
    for answer in answers:
        if isinstance(answer, FleetError):
            raise answer
        if isinstance(answer, BaseException):
            raise FleetError(f"Reading Prometheus failed unexpectedly: {answer!r}") from answer


def _alert(item: dict) -> FleetAlert | None:
    labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
    annotations = item.get("annotations") if isinstance(item.get("annotations"), dict) else {}
    state = item.get("state")
    if not isinstance(state, str) or state not in _ALERT_ORDER:
        return None
    return FleetAlert(
        name=_label(labels, "alertname") or "?",
        state=state,
        severity=_label(labels, "severity"),
        summary=_label(annotations, "summary") or _label(annotations, "description"),
        gpu=_label(labels, "gpu"),
        active_since=_epoch(item.get("activeAt")),
    )


def _rig_order(rig: FleetRig) -> tuple:
    states = {alert.state for alert in rig.alerts}
    rank = 0 if "firing" in states else 1 if "pending" in states else 2
    return (rank, _natural_key(rig.instance), rig.job)


async def read_fleet(
    client: PrometheusClient, *, now: float, lookback_s: int = LOOKBACK_S
) -> FleetReading:
    """Every rig the server scrapes with rigtui's metrics, with their GPUs, models and alerts:
    rigs with firing alerts first, then those with pending ones, then by instance.

    Four requests whatever the number of rigs. Raises FleetError if the rigs cannot be read;
    alerts that cannot be read (an old Prometheus, a proxy that forbids them) leave
    ``alerts_error`` set instead.
    """
    values = _latest(_name_selector(_READ_NAMES), lookback_s)
    reasons = f"({_latest(names.CLOCK_EVENT_REASON.name, lookback_s)}) == 1"
    # Every target of a job that has rigtui rigs: one that is down and never answered in the
    # lookback (a rig switched off before Prometheus started) is listed too, as down.
    rig_jobs = f"group by (job) (last_over_time({names.EXPORTER_INFO.name}[{lookback_s}s]))"
    up = f"up and on (job) {rig_jobs}"
    answers = await asyncio.gather(
        client.query(values),
        client.query(reasons),
        client.query(up),
        client.alerts(),
        return_exceptions=True,
    )
    _raise_first(answers[:3])
    values_answer, reasons_answer, up_answer, alerts_answer = answers
    return fleet_from_answers(
        values_answer, reasons_answer, up_answer, alerts_answer, server=client.url, now=now
    )


def _results(answer: Any) -> list[dict]:
    """The results that have labels: a server that only looks like Prometheus (or a new one)
    may answer oddly shaped series, which are passed over rather than fatal."""
    if not isinstance(answer, list):
        return []
    return [
        result
        for result in answer
        if isinstance(result, dict) and isinstance(result.get("metric"), dict)
    ]


def fleet_from_answers(
    values: list[dict],
    reasons: list[dict],
    up: list[dict],
    alerts: list[dict] | BaseException,
    *,
    server: str,
    now: float,
) -> FleetReading:
    """The fleet from the answers to :func:`read_fleet`'s queries (pure: never raises on what
    the answers hold). ``alerts`` is the error if they could not be read."""
    rigs: dict[tuple[str, str], _Rig] = {}

    def rig_of(metric: dict, *, create: bool) -> _Rig | None:
        key = (_label(metric, "instance") or "", _label(metric, "job") or "")
        if key not in rigs and create and metric.get("__name__") == names.EXPORTER_INFO.name:
            rigs[key] = _Rig(*key)
        return rigs.get(key)

    # The info series first: a rig is a target that has served it.
    ordered = sorted(
        _results(values),
        key=lambda result: result["metric"].get("__name__") != names.EXPORTER_INFO.name,
    )
    for result in ordered:
        rig = rig_of(result["metric"], create=True)
        if rig is not None:
            rig.take(result["metric"], _value(result))
    for result in _results(reasons):
        rig = rig_of(result["metric"], create=False)
        reason = _label(result["metric"], "reason")
        if rig is not None and reason is not None:
            rig.gpu(result["metric"])["clock_event_reasons"].append(reason)
    for result in _results(up):
        rig = rig_of(result["metric"], create=False)
        answering = _value(result) == 1
        if rig is None and not answering:
            # Down and never seen: in a rigtui job, so a rig that is switched off or unreachable.
            # (A target that answers without rigtui's metrics is another exporter: left out.)
            key = (
                _label(result["metric"], "instance") or "",
                _label(result["metric"], "job") or "",
            )
            rig = rigs[key] = _Rig(*key)
        if rig is not None:
            rig.up = answering

    alerts_error = None
    if isinstance(alerts, BaseException):
        alerts_error = str(alerts) if isinstance(alerts, FleetError) else repr(alerts)
    else:
        by_instance: dict[str, list[_Rig]] = {}
        for rig in rigs.values():
            by_instance.setdefault(rig.instance, []).append(rig)
        for item in alerts if isinstance(alerts, list) else ():
            if not isinstance(item, dict):
                continue
            labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
            alert = _alert(item)
            job = _label(labels, "job")
            for rig in by_instance.get(_label(labels, "instance") or "", []):
                if alert is not None and job in (None, rig.job):
                    rig.alerts.append(alert)

    built = sorted((rig.built(now) for rig in rigs.values()), key=_rig_order)
    return FleetReading(server=server, read_at=now, rigs=tuple(built), alerts_error=alerts_error)


# --- one rig's history ---------------------------------------------------------------------------

_HISTORY: dict[str, str] = {
    "utilization": names.UTILIZATION.name,
    "vram": names.MEMORY_USED.name,
    "power": names.POWER_DRAW.name,
    "power_peak": names.POWER_PEAK.name,
    "temperature": names.TEMPERATURE.name,
}
_LINES: dict[str, str] = {
    "power_limit": names.POWER_LIMIT.name,
    "temperature_slowdown": names.TEMPERATURE_SLOWDOWN.name,
    "power_budget": names.POWER_BUDGET.name,
}


def history_step(window_s: float, points: int) -> int:
    """Seconds between points: the window over the points, whole, at least 1."""
    return max(1, round(window_s / max(1, points)))


def _series(
    answer: Any, start: float, step_s: int, steps: int, label: Callable[[dict], str]
) -> tuple[HistorySeries, ...]:
    lines = []
    for result in _results(answer):
        points: list[float | None] = [None] * steps
        values = result.get("values")
        for pair in values if isinstance(values, list) else ():
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                continue
            at = _moment(pair[0])
            if at is None:
                continue
            slot = round((at - start) / step_s)
            if 0 <= slot < steps:
                points[slot] = _number(pair[1])
        times = (start + slot * step_s for slot in range(steps))
        lines.append(
            (
                result["metric"],
                HistorySeries(label(result["metric"]), tuple(zip(times, points, strict=True))),
            )
        )
    lines.sort(key=lambda line: _natural_key(_label(line[0], "gpu") or ""))
    return tuple(series for _, series in lines)


def _gpu_label(metric: dict) -> str:
    return f"GPU {_label(metric, 'gpu') or '?'}"


async def read_history(
    client: PrometheusClient, instance: str, *, end: float, window_s: float, points: int
) -> RigHistory:
    """The rig's last ``window_s`` at about ``points`` points per line: one line per GPU for each
    chart, and the reference lines (the highest power limit and slowdown temperature of its
    GPUs, the power budget) as they were at ``end``. Raises FleetError."""
    step_s = history_step(window_s, points)
    steps = max(1, int(window_s // step_s))
    # Aligned to the step, so the same window read again shows the same points.
    end = math.floor(end / step_s) * step_s
    start = end - (steps - 1) * step_s
    where = f"instance={_quote(instance)}"

    def selector(metric: str) -> str:
        if metric == names.POWER_PEAK.name:
            return f'{metric}{{{where}, window="{HISTORY_PEAK_WINDOW}"}}'
        return f"{metric}{{{where}}}"

    charts_asked = [
        client.query_range(selector(metric), start, end, step_s) for metric in _HISTORY.values()
    ]
    lines_asked = [
        client.query(
            f"max(last_over_time({selector(metric)}[{max(int(window_s), step_s)}s]))", at=end
        )
        for metric in _LINES.values()
    ]
    answers = await asyncio.gather(*charts_asked, *lines_asked, return_exceptions=True)
    _raise_first(answers)
    return history_from_answers(
        answers[: len(_HISTORY)],
        answers[len(_HISTORY) :],
        instance=instance,
        start=start,
        end=end,
        step_s=step_s,
    )


def history_from_answers(
    charts: list[Any], lines: list[Any], *, instance: str, start: float, end: float, step_s: int
) -> RigHistory:
    """A rig's history from the answers to :func:`read_history`'s range queries (``charts``,
    in the order of ``_HISTORY``) and instant queries (``lines``, in the order of ``_LINES``).
    Pure, and never raises on what the answers hold: odd points are passed over."""
    steps = max(1, round((end - start) / step_s) + 1)
    series = {
        chart: _series(answer, start, step_s, steps, _gpu_label)
        for chart, answer in zip(_HISTORY, charts, strict=True)
    }
    values = {}
    for line, answer in zip(_LINES, lines, strict=True):
        results = _results(answer)
        value = _value(results[0]) if results else None
        if value is not None and math.isfinite(value):
            values[line] = value
    return RigHistory(
        instance=instance, start=start, end=end, step_s=step_s, charts=series, lines=values
    )
