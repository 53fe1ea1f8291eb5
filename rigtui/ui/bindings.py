"""The dashboard's key bindings, each with an id so a keymap can remap it."""

from __future__ import annotations

from textual.binding import Binding

TAB_KEYS = (
    ("1", "rig-tab", "Rig", "The Rig tab: GPU cards, CPU and memory, processes"),
    ("2", "charts-tab", "Charts", "The Charts tab: history of every metric"),
    (
        "3",
        "processes-tab",
        "Processes",
        "The Processes tab: GPU and CPU processes with command lines",
    ),
    ("4", "chat-tab", "Chat", "The Chat tab: talk to a local model and watch where it runs"),
    ("5", "fleet-tab", "Fleet", "The Fleet tab: every rig your Prometheus scrapes (--prometheus)"),
)
"""The digit alone outside a text field; with Alt from anywhere, while typing too (terminals
send Alt+digit as Escape then the digit, which Textual reads as alt+digit)."""

APP_BINDINGS = [
    Binding("q", "quit", "Quit", show=False, id="quit", tooltip="Quit (outside a text field)"),
    Binding(
        "ctrl+c",
        "interrupt",
        "Quit",
        priority=True,
        id="quit-anywhere",
        tooltip="Quit, from anywhere; in a text field with a selection it copies the selection",
    ),
    Binding(
        "p",
        "toggle_pause",
        "Pause",
        id="pause",
        tooltip="Pause or resume sampling (the screen holds still)",
    ),
    Binding(
        "plus",
        "slower",
        "Slower",
        key_display="+",
        id="slower",
        tooltip="Sample less often (longer interval)",
    ),
    Binding(
        "minus",
        "faster",
        "Faster",
        key_display="-",
        id="faster",
        tooltip="Sample more often (shorter interval, down to 0.25 s)",
    ),
    Binding("question_mark", "help", "Help", key_display="?", id="help"),
    Binding(
        "ctrl+z",
        "suspend_process",
        "Suspend",
        show=False,
        id="suspend",
        tooltip="Suspend to the shell (fg brings rigtui back); in the prompt it undoes",
    ),
    Binding(
        "left",
        "seek(-10)",
        "-10 s",
        key_display="←",
        priority=True,
        id="replay-back",
        tooltip="Replay: back 10 s",
    ),
    Binding(
        "right",
        "seek(10)",
        "+10 s",
        key_display="→",
        priority=True,
        id="replay-forward",
        tooltip="Replay: forward 10 s",
    ),
    Binding(
        "shift+left",
        "seek(-60)",
        "-1 min",
        show=False,
        priority=True,
        id="replay-back-minute",
        tooltip="Replay: back one minute",
    ),
    Binding(
        "shift+right",
        "seek(60)",
        "+1 min",
        show=False,
        priority=True,
        id="replay-forward-minute",
        tooltip="Replay: forward one minute",
    ),
    Binding(
        "left_square_bracket",
        "replay_slower",
        "Slower",
        key_display="[",
        id="replay-slower",
        tooltip="Replay: play slower (down to 1x)",
    ),
    Binding(
        "right_square_bracket",
        "replay_faster",
        "Faster",
        key_display="]",
        id="replay-faster",
        tooltip="Replay: play faster (up to 60x)",
    ),
    Binding(
        "home",
        "seek_start",
        "Start",
        show=False,
        # Before the scrolling Rig tab (80x24) takes the key; only while replaying.
        priority=True,
        id="replay-start",
        tooltip="Replay: back to the start",
    ),
    Binding(
        "end",
        "seek_end",
        "End",
        show=False,
        priority=True,
        id="replay-end",
        tooltip="Replay: to the end",
    ),
    *(
        Binding(
            digit,
            f"show_tab('{tab}')",
            title,
            show=False,
            id=f"tab-{tab.removesuffix('-tab')}",
            tooltip=tooltip,
        )
        for digit, tab, title, tooltip in TAB_KEYS
    ),
    *(
        Binding(
            f"alt+{digit}",
            f"switch_tab('{tab}')",
            # One entry for the four, in the footer and the help.
            "Tabs" if digit == "1" else "",
            key_display="alt+1…4" if digit == "1" else None,
            show=digit == "1",
            priority=True,
            id=f"tab-{tab.removesuffix('-tab')}-anywhere",
            tooltip="The tabs by number, also while typing in the prompt"
            if digit == "1"
            else title,
        )
        for digit, tab, title, _ in TAB_KEYS
    ),
]
