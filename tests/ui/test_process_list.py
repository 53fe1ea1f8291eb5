"""ProcessList: a process going away leaves a blank row, so the charts above keep their size."""

from __future__ import annotations

from rich.text import Text

from rigtui.ui.widgets.process_list import ProcessList

from .helpers import Hosting

COLUMNS = [("pid", "PID"), ("name", "NAME")]


def row(pid: int, name: str) -> tuple[str, list]:
    return str(pid), [str(pid), Text(name)]


async def test_the_list_keeps_its_height_when_processes_go():
    app = Hosting(ProcessList(COLUMNS, id="procs"))
    async with app.run_test(size=(40, 12)) as pilot:
        procs = app.query_one(ProcessList)
        procs.show_rows([row(1, "systemd"), row(2231, "ollama"), row(48000, "runner")])
        await pilot.pause()
        assert procs.size.height == 4
        procs.show_rows([row(1, "systemd")])
        await pilot.pause()
        assert procs.size.height == 4
        lines = [procs.render_line(y).text.rstrip() for y in range(4)]
        assert lines[1].split() == ["1", "systemd"] and lines[2:] == ["", ""]
        procs.show_rows([row(pid, f"p{pid}") for pid in range(5)])
        await pilot.pause()
        assert procs.size.height == 6  # more than ever before: it grows
