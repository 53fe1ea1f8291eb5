"""Why there is no GPU to show, in words, where the GPU cards would be."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from rigtui.telemetry.model import NvmlStatus


class NvmlNotice(Widget):
    status: reactive[NvmlStatus | None] = reactive(None, layout=True)

    def render(self) -> Text:
        status = self.status
        if status is None:
            return Text.styled("Looking for NVIDIA GPUs…", style="dim")
        text = Text.styled("No GPU to show. ", style="bold")
        text.append(status.error or "NVML reports no GPU.")
        text.append("\nCPU, memory and processes below keep updating.", style="dim")
        return text
