"""Regenerate the SVGs in screenshots/ from the simulated rig (never edit them by hand).

python scripts/screenshots.py            # all of them
python scripts/screenshots.py --png      # also PNGs (needs rsvg-convert), for looking at them
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"

# (file name, scenario, moment in the story, terminal size, tab, what it shows)
# Moments are in the story's second loop (it repeats every 300 s), so the charts hold a full
# ten minutes of history.
SHOTS = [
    ("dashboard-idle-80x24", "story", 320.0, (80, 24), "rig-tab", "idle, fans stopped"),
    (
        "dashboard-generating-80x24",
        "story",
        345.0,
        (80, 24),
        "rig-tab",
        "a reply at full GPU, held at the power limit",
    ),
    (
        "dashboard-generating-160x50",
        "story",
        345.0,
        (160, 50),
        "rig-tab",
        "the same moment on a large terminal",
    ),
    (
        "dashboard-offloaded-160x50",
        "story",
        440.0,
        (160, 50),
        "rig-tab",
        "a 70B model split between GPU and CPU",
    ),
    (
        "dashboard-loading-160x50",
        "story",
        404.0,
        (160, 50),
        "rig-tab",
        "a 70B model loading over the Gen4 x4 link",
    ),
    ("charts-offloaded-120x40", "story", 490.0, (120, 40), "charts-tab", "the Charts tab"),
    ("processes-offloaded-120x40", "story", 440.0, (120, 40), "processes-tab", "the Processes tab"),
    (
        "dashboard-dual-160x50",
        "dual",
        440.0,
        (160, 50),
        "rig-tab",
        "two RTX 4090s sharing a 70B model",
    ),
    (
        "dashboard-faults-160x50",
        "faults",
        370.0,
        (160, 50),
        "rig-tab",
        "thermal slowdown, a stuck fan and a GPU lost from the bus",
    ),
    ("dashboard-faults-80x24", "faults", 370.0, (80, 24), "rig-tab", "the same at 80x24"),
    ("dashboard-dual-80x24", "dual", 440.0, (80, 24), "rig-tab", "two GPUs at 80x24"),
    (
        "power-budget-120x40",
        "story",
        345.0,
        (120, 40),
        "rig-tab",
        "a 600 W budget for the GPU: the spikes cross it",
    ),
    (
        "chat-on-gpu-160x50",
        "story",
        345.0,
        (160, 50),
        "chat-tab",
        "a reply from a model fully in VRAM",
    ),
    (
        "chat-offloaded-160x50",
        "story",
        440.0,
        (160, 50),
        "chat-tab",
        "a reply from a 70B model split between GPU and CPU",
    ),
    ("chat-offloaded-80x24", "story", 440.0, (80, 24), "chat-tab", "the same at 80x24"),
    (
        "chat-saved-chats-160x50",
        "story",
        345.0,
        (160, 50),
        "chat-tab",
        "the saved chats beside the chat",
    ),
    (
        "processes-filtered-120x40",
        "story",
        440.0,
        (120, 40),
        "processes-tab",
        "the Processes tab filtered to 'ollama', sorted by SM%",
    ),
    (
        "model-unload-120x40",
        "story",
        440.0,
        (120, 40),
        "rig-tab",
        "a 70B model unloaded from the loaded-models pane (u)",
    ),
]

REPLAY_SHOTS = [
    (
        "replay-faults-120x40",
        "faults",
        (60.0, 130.0),
        83.0,
        (120, 40),
        "replaying a recorded incident: a power brake at 80 s",
    ),
]

FLEET_SHOTS = [
    # (file name, terminal size, the second rig's history open, what it shows)
    ("fleet-120x40", (120, 40), True, "the Fleet tab: three rigs, firing alerts first, a history"),
    ("fleet-80x24", (80, 24), False, "the Fleet tab at 80x24"),
]
FLEET_NOW = 1_800_000_000.0

CHAT_PROMPTS = {
    "chat-on-gpu-160x50": "Why is my GPU slow?",
    "chat-saved-chats-160x50": "How do I keep my GPU cooler?",
    "chat-offloaded-160x50": "Why is this model so slow?",
    "chat-offloaded-80x24": "Why is this model so slow?",
}


async def _until(pilot, condition, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def filter_processes(pilot) -> None:
    """Sort the GPU processes by SM% (s: VRAM -> SM%) and filter both tables to 'ollama'."""
    await pilot.press("s", "slash", *"ollama", "enter")


async def unload_the_model(pilot) -> None:
    """Tab to the loaded-models pane, as a user would, and unload the model under its cursor."""
    from rigtui.ui.widgets.loaded_models import LoadedModels

    app = pilot.app
    pane = app.screen.query_one("#rig-models", LoadedModels)
    for _ in range(12):
        if app.focused is pane:
            break
        await pilot.press("tab")
    await pilot.press("u")
    await _until(pilot, lambda: not pane.models and "Unloaded" in pane.action_line[0], "unload")


STEPS = {
    "processes-filtered-120x40": filter_processes,
    "model-unload-120x40": unload_the_model,
}


async def shoot(name: str, scenario: str, at_s: float, size: tuple[int, int], tab: str) -> Path:
    import tempfile

    from rigtui.ui.staging import fill_saved_chats, hold_live_figures, staged_app

    chat = tab == "chat-tab"
    data_dir = None
    if "saved-chats" in name:
        data_dir = Path(tempfile.mkdtemp(prefix="rigtui-shot-"))
        fill_saved_chats(data_dir)
    app = staged_app(
        scenario,
        at_s,
        ollama=True,
        ollama_speed=20.0,
        ollama_port=31700,  # below the ephemeral range: never taken by a client socket
        power_budget_w=600.0 if "budget" in name else None,
        data_dir=data_dir,
    )
    server = app.environment.ollama
    if chat:
        server.faults.stall_after_tokens = 60
    try:
        async with app.run_test(size=size) as pilot:
            await _until(pilot, lambda: app.snapshots_shown > 0, "the first snapshot")
            # Connected, and (once the story has loaded a model) listing it: an idle rig's shot
            # taken before Ollama answered lacked its pane.
            await _until(
                pilot,
                lambda: app.ollama_connected and (bool(app.running_models) or at_s < 330),
                "Ollama",
            )
            app.action_show_tab(tab)
            if chat:
                pane = app.dashboard.chat
                loaded = app.running_models[0].name
                await _until(pilot, lambda: pane.current_model == loaded, "the model picker")
                pane.query_one("#prompt").text = CHAT_PROMPTS[name]
                pane.query_one("#prompt").focus()
                await pilot.press("enter")
                await _until(
                    pilot,
                    lambda: pane.reply is not None and len(pane.reply.content) > 150,
                    "the reply",
                )
                (model,) = [m for m in server.loaded() if m.name == loaded]
                hold_live_figures(app, round(model.generation_tokens_per_s, 1))
                pane.query_one("#prompt").text = "and what if I lower the power limit?"
            if name in STEPS:
                await STEPS[name](pilot)
            await pilot.pause(0.4)
            await pilot.wait_for_scheduled_animations()
            svg = app.export_screenshot(title=f"rigtui — {name}")
    finally:
        app.environment.stop_ollama()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    path = OUT / f"{name}.svg"
    path.write_text(svg)
    return path


async def shoot_replay(
    name: str, scenario: str, span: tuple[float, float], at_s: float, size: tuple[int, int]
) -> Path:
    """Record a stretch of a scenario, then show the replay paused at ``at_s``."""
    import tempfile

    from rigtui.config import Settings
    from rigtui.llm.ollama import RunningModel
    from rigtui.recording import RecordingWriter
    from rigtui.sim import SimulatedEnvironment, uninstall
    from rigtui.sources import dashboard_source
    from rigtui.ui.app import RigApp

    environment = SimulatedEnvironment(scenario)
    environment.install()
    sampler = environment.sampler()
    sampler.open()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{scenario}-incident.jsonl"
        writer = RecordingWriter(path, "jsonl")
        second = span[0]
        while second < span[1]:
            for tenth in range(1, 10):
                environment.clock.set(second - 1 + tenth / 10)
                sampler.sample_power()
            environment.clock.set(second)
            models = [
                RunningModel(m.name, m.size_bytes, m.size_vram_bytes, m.num_ctx, None)
                for m in environment.ollama.loaded()
            ]
            writer.write(sampler.sample(), models)
            second += 1.0
        writer.close()
        uninstall()
        app = RigApp(Settings(), dashboard_source(Settings(), replay=path))
        async with app.run_test(size=size) as pilot:
            await _until(pilot, lambda: app.snapshots_shown > 0, "the first sample")
            await pilot.press("p")
            app.replay.seek_to(app.replay.start + at_s - span[0])
            app._show_replay_position()
            await pilot.pause(0.4)
            svg = app.export_screenshot(title=f"rigtui — {name}")
    out = OUT / f"{name}.svg"
    out.write_text(svg)
    return out


async def shoot_fleet(name: str, size: tuple[int, int], history: bool) -> Path:
    """The Fleet tab over sample readings (``staging.sample_fleet``: the real-engine tests'
    three stories), handed to the app as its watch hands them: a picture must not depend on a
    Prometheus server's clock. The real watch runs, against a port where nothing listens, and
    never reads again on its own."""
    from rigtui.ui.messages import FleetHistoryRead, FleetReadingTaken
    from rigtui.ui.staging import sample_fleet, staged_fleet_app
    from rigtui.ui.widgets.fleet_pane import FleetPane

    app = staged_fleet_app(FLEET_NOW)
    async with app.run_test(size=size) as pilot:
        await _until(pilot, lambda: app.snapshots_shown > 0, "the first snapshot")
        pane = app.dashboard.query_one(FleetPane)
        await _until(pilot, lambda: pane.error is not None, "the watch's first read")
        reading, histories = sample_fleet(FLEET_NOW)
        app.post_message(FleetReadingTaken(reading, FLEET_NOW))
        await pilot.pause(0.2)
        await pilot.press("5")
        if history:
            await pilot.press("j", "enter")
            await pilot.pause(0.2)
            app.post_message(FleetHistoryRead(histories[pane.history_instance]))
        await pilot.pause(0.4)
        svg = app.export_screenshot(title=f"rigtui — {name}")
    path = OUT / f"{name}.svg"
    path.write_text(svg)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--png", action="store_true", help="also write PNGs next to the SVGs")
    parser.add_argument("only", nargs="*", help="only these shots (by name)")
    args = parser.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    OUT.mkdir(exist_ok=True)
    for name, scenario, at_s, size, tab, _ in SHOTS:
        if args.only and name not in args.only:
            continue
        path = asyncio.run(shoot(name, scenario, at_s, size, tab))
        print(f"wrote {path.relative_to(ROOT)}")
        if args.png:
            to_png(path)
    for name, scenario, span, at_s, size, _ in REPLAY_SHOTS:
        if args.only and name not in args.only:
            continue
        path = asyncio.run(shoot_replay(name, scenario, span, at_s, size))
        print(f"wrote {path.relative_to(ROOT)}")
        if args.png:
            to_png(path)
    for name, size, history, _ in FLEET_SHOTS:
        if args.only and name not in args.only:
            continue
        path = asyncio.run(shoot_fleet(name, size, history))
        print(f"wrote {path.relative_to(ROOT)}")
        if args.png:
            to_png(path)
    return 0


def to_png(path: Path) -> None:
    if shutil.which("rsvg-convert") is None:
        raise SystemExit("rsvg-convert not found (apt install librsvg2-bin)")
    png = Path("/tmp/rigtui-screenshots") / f"{path.stem}.png"
    png.parent.mkdir(exist_ok=True)
    subprocess.run(["rsvg-convert", "-o", str(png), str(path)], check=True)
    print(f"     {png}")


if __name__ == "__main__":
    raise SystemExit(main())
