"""``rigtui record``: sample the rig to a file until Ctrl-C, SIGTERM or ``--duration``."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rigtui.config import Settings
from rigtui.llm.ollama import OllamaClient, OllamaError
from rigtui.recording import RecordingError, RecordingWriter, format_for
from rigtui.sources import DemoOptions, open_rig
from rigtui.telemetry.power import FAST_SAMPLE_S, spikes_possible
from rigtui.telemetry.sampler import RigSampler


@dataclass(frozen=True)
class RecordOptions:
    path: Path
    duration_s: float | None = None
    """None: until interrupted."""
    format: str | None = None
    """"jsonl" or "csv"; None: by the file's name."""
    append: bool = False
    force: bool = False


def run(settings: Settings, demo: DemoOptions | None, options: RecordOptions) -> int:
    """Record every ``settings.interval_s`` until stopped; the exit code."""
    path = options.path
    try:
        writer = RecordingWriter(
            path, format_for(path, options.format), append=options.append, force=options.force
        )
    except RecordingError as error:
        print(f"rigtui: error: {error}", file=sys.stderr)
        return 2

    def stop(*_):
        raise KeyboardInterrupt

    status = 0
    with open_rig(settings, demo, ollama=settings.ollama) as rig:
        previous = signal.signal(signal.SIGTERM, stop)

        async def go():
            address = rig.ollama_address
            client = OllamaClient(address) if address is not None else None
            try:
                await record(
                    rig.sampler,
                    writer,
                    interval_s=settings.interval_s,
                    duration_s=options.duration_s,
                    client=client,
                    progress=sys.stderr if sys.stderr.isatty() else None,
                )
            finally:
                if client is not None:
                    await client.close()

        try:
            asyncio.run(go())
        except KeyboardInterrupt:
            pass
        except RecordingError as error:
            print(f"\nrigtui: error: {error}", file=sys.stderr)
            status = 1
        finally:
            signal.signal(signal.SIGTERM, previous)
            writer.close()
    print(f"\nrecorded {writer.samples} samples to {path} ({writer.format})", file=sys.stderr)
    return status


async def record(
    sampler: RigSampler,
    writer,
    *,
    interval_s: float,
    duration_s: float | None,
    client=None,
    progress: TextIO | None = None,
) -> None:
    """Sample every ``interval_s`` until ``duration_s`` (or until interrupted), writing each."""
    await asyncio.to_thread(sampler.open)
    try:
        started = time.monotonic()
        next_due = started
        while True:
            snapshot = await asyncio.to_thread(sampler.sample)
            models = error = None
            if client is not None:
                try:
                    models = await client.running()
                except OllamaError as failure:
                    error = str(failure)
            writer.write(snapshot, models, error)
            if progress is not None:
                elapsed = time.monotonic() - started
                progress.write(
                    f"\rrecording {writer.path}: {writer.samples} samples, {elapsed:.0f} s "
                    "(Ctrl-C stops)  "
                )
                progress.flush()
            if duration_s is not None and time.monotonic() - started >= duration_s:
                return
            next_due += interval_s
            # Between samples, power alone ten times a second while a GPU works: the recorded
            # peaks are real (a resting GPU does not spike).
            fast = sampler.fast_power and spikes_possible(snapshot.gpus)
            while (wait := next_due - time.monotonic()) > 0:
                if fast:
                    await asyncio.to_thread(sampler.sample_power)
                    wait = next_due - time.monotonic()
                await asyncio.sleep(min(max(wait, 0), FAST_SAMPLE_S) if fast else wait)
    finally:
        await asyncio.to_thread(sampler.close)
