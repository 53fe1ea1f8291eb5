"""Insight per GPU, gathered snapshot by snapshot: why it is slow, what the link did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rigtui.insight.diagnosis import NOTE, Diagnosis, why_slow
from rigtui.insight.fans import FanCheck, fan_check
from rigtui.insight.pcie import LinkState, LoadMonitor, LoadTransfer, link_state
from rigtui.llm.ollama import RunningModel
from rigtui.llm.placement import cpu_share, runner_gpus
from rigtui.telemetry.model import RigSnapshot

RECENT_LOAD_S = 120.0
"""How long a finished load stays on the card."""


@dataclass(frozen=True)
class GpuInsight:
    diagnosis: Diagnosis
    link: LinkState | None
    load: LoadTransfer | None
    """The load in progress, or the last one if it finished recently."""
    loading: bool
    model_cpu_share: float | None
    fans: FanCheck | None = None


def split_model_share(snapshot: RigSnapshot, running: Sequence[RunningModel]) -> dict[int, float]:
    """The CPU share of the model on each GPU that holds an Ollama runner.

    NVML cannot tell runners apart, but only a model loaded alone may be split, so a split model
    is the one on every GPU that has a runner.
    """
    split = [
        model for model in running if (cpu_share(model.size_bytes, model.size_vram_bytes) or 0) > 0
    ]
    if len(running) != 1 or not split:
        return {}
    share = cpu_share(split[0].size_bytes, split[0].size_vram_bytes)
    return {gpu: share for gpu in runner_gpus(snapshot.gpus)} if share else {}


class RigInsight:
    def __init__(self) -> None:
        self._loads: dict[int, LoadMonitor] = {}

    def update(
        self, snapshot: RigSnapshot, running: Sequence[RunningModel] = ()
    ) -> dict[int, GpuInsight]:
        """Follow the rig one snapshot further and say what it shows."""
        for gpu in snapshot.gpus:
            self._loads.setdefault(gpu.index, LoadMonitor()).update(snapshot.taken_at, gpu)
        return self.assess(snapshot, running)

    def assess(
        self, snapshot: RigSnapshot, running: Sequence[RunningModel] = ()
    ) -> dict[int, GpuInsight]:
        """The insight for the snapshot already followed, e.g. again once Ollama reports a
        different set of loaded models, without counting the snapshot twice."""
        shares = split_model_share(snapshot, running)
        insights = {}
        for gpu in snapshot.gpus:
            monitor = self._loads.setdefault(gpu.index, LoadMonitor())
            load = monitor.current
            loading = load is not None
            if load is None and monitor.last is not None:
                ended = monitor.last.ended_at or monitor.last.started_at
                if snapshot.taken_at - ended <= RECENT_LOAD_S:
                    load = monitor.last
            share = shares.get(gpu.index)
            diagnosis = why_slow(gpu, share, loading=loading)
            if loading and diagnosis.severity <= NOTE and load is not None:
                so_far = load.words(finished=False)  # nothing yet in a load's first sample
                diagnosis = Diagnosis(
                    f"loading a model: {so_far}" if so_far else "loading a model", NOTE
                )
            insights[gpu.index] = GpuInsight(
                diagnosis=diagnosis,
                link=link_state(gpu),
                load=load,
                loading=loading,
                model_cpu_share=share,
                fans=fan_check(gpu),
            )
        return insights
