"""The layers of DESIGN.md ("Layers") as a test: an import that points the wrong way fails it.

The rules are data (``LAYERS``): each row names a part of rigtui and the parts of rigtui it may
import directly. A module belongs to the row with the longest name that covers it, so a row for a
package holds for every module that will ever be put in it (``rigtui.commands`` covers commands
not yet written) while a narrower row can make an exception (``rigtui.commands.dashboard``).
A module that no row covers is itself a failure: it has to be placed in a layer, never passed
over in silence.

``illegal_imports(graph)`` is pure: it reads a grimp graph and returns what breaks the rules. The
first test runs it on the package as it is; the others add wrong-way imports to a graph and check
that it reports exactly those, so a rule that can never fail would be noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

import grimp
import pytest

PACKAGE = "rigtui"


@dataclass(frozen=True)
class Layer:
    """A part of rigtui and what it may import of rigtui.

    ``name`` covers that module and everything under it, or only that module when ``exact``
    (a package's ``__init__``, whose submodules are placed by rows of their own). A module may
    always import within its own layer; ``may_import`` adds other parts of rigtui (a name covers
    everything under it). ``never`` wins over both, and is the only thing that constrains
    modules outside rigtui (Textual's, say).
    """

    name: str
    may_import: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    exact: bool = False
    why: str = ""


VALUE_TYPES = (
    "rigtui.telemetry",
    "rigtui.llm",
    "rigtui.insight",
    "rigtui.text",
    "rigtui.config",
    "rigtui.store.conversation",  # a saved chat's values; never the store's engine
    "rigtui.fleet.model",  # the fleet's values, as read from Prometheus; never its client
)
# What the dashboard's parts, below the app, share: formatting, the messages, Textual workarounds.
UI_PARTS = ("rigtui.ui.render", "rigtui.ui.messages", "rigtui.ui.tuning")
# sources and everything it may open (the sim included), i.e. all that is not ui, commands or cli.
SOURCES_AND_BELOW = (
    "rigtui.sources",
    "rigtui.exporter",
    "rigtui.fleet",
    "rigtui.store",
    "rigtui.sim",
    "rigtui.recording",
    "rigtui.insight",
    "rigtui.llm",
    "rigtui.telemetry",
    "rigtui.text",
    "rigtui.config",
)

LAYERS: tuple[Layer, ...] = (
    Layer("rigtui", exact=True, why="the package's __init__ holds __version__ and imports nothing"),
    # Ground.
    Layer("rigtui.telemetry", why="the ground: pynvml, psutil and the stdlib only"),
    Layer("rigtui.text", why="plain-text formatting imports nothing of rigtui"),
    Layer("rigtui.config", why="Settings imports nothing of rigtui"),
    # Engines.
    Layer("rigtui.llm", ("rigtui.telemetry", "rigtui.text", "rigtui.config")),
    Layer("rigtui.insight", ("rigtui.telemetry", "rigtui.llm", "rigtui.text", "rigtui.config")),
    Layer("rigtui.recording", ("rigtui.telemetry", "rigtui.llm", "rigtui.text", "rigtui.config")),
    Layer(
        "rigtui.store",
        ("rigtui.llm", "rigtui.text", "rigtui.config"),
        why="what is kept on disk (chats, prompt history, presets, remembered settings): "
        "value types in, never the sampler, the simulation or ui",
    ),
    Layer(
        "rigtui.exporter",
        ("rigtui.telemetry", "rigtui.llm", "rigtui.insight", "rigtui.text", "rigtui.config"),
        why="the exporter serves readings it is handed: value types and the engines that "
        "interpret them, never the simulation, sources or ui",
    ),
    Layer(
        "rigtui.fleet",
        ("rigtui.exporter.names", "rigtui.text", "rigtui.config"),
        why="the fleet is read from Prometheus by the exporter's metric names alone: never the "
        "rig's own sampler, the simulation or ui",
    ),
    Layer(
        "rigtui.sim",
        ("rigtui.telemetry", "rigtui.llm", "rigtui.config"),
        why="the simulated rig never imports insight, ui, commands, sources or recording",
    ),
    Layer(
        "rigtui.sources",
        SOURCES_AND_BELOW,
        why="the one place that chooses live, demo or replay; never ui or commands",
    ),
    # Commands and the top.
    Layer(
        "rigtui.commands",
        SOURCES_AND_BELOW,
        # Not even by way of the one command that may: a headless command stays headless.
        never=("rigtui.commands.dashboard", "rigtui.sim"),
        why="headless commands never import ui (only commands.dashboard does), and reach the "
        "simulation only through sources, the one place that chooses demo or live",
    ),
    Layer(
        "rigtui.commands.dashboard",
        ("rigtui.commands", *SOURCES_AND_BELOW, "rigtui.ui"),
        never=("rigtui.sim",),
        why="the one command that imports ui; the simulation only through sources",
    ),
    Layer("rigtui.cli", (PACKAGE,), why="the top: argument parsing may import anything"),
    Layer("rigtui.__main__", (PACKAGE,), why="the top"),
    # The dashboard.
    Layer(
        "rigtui.ui",
        exact=True,
        why="ui's __init__ imports nothing, so importing ui.render does not bring in the App",
    ),
    Layer(
        "rigtui.ui.render",
        VALUE_TYPES,
        # Rich and Textual's values (colours) are fine; Textual's App, screens and widgets are not.
        never=("textual.app", "textual.screen", "textual.widget", "textual.widgets"),
        why="pure formatting, handed its insight: value types only, no Textual App/Screen/Widget",
    ),
    Layer(
        "rigtui.ui.messages",
        VALUE_TYPES,
        why="messages carry value types only",
    ),
    Layer("rigtui.ui.bindings", why="the key bindings are data: Textual's Binding only"),
    Layer(
        "rigtui.ui.tuning",
        VALUE_TYPES,
        why="Textual workarounds import nothing of rigtui's ui but themselves",
    ),
    Layer(
        "rigtui.ui.widgets",
        (*UI_PARTS, *VALUE_TYPES),
        why="widgets never import screens or the app",
    ),
    Layer(
        "rigtui.ui.screens",
        ("rigtui.ui.widgets", *UI_PARTS, *VALUE_TYPES),
        why="screens never import the app",
    ),
    Layer(
        "rigtui.ui.app",
        ("rigtui.ui", *SOURCES_AND_BELOW),
        why="the app: anything in ui, and sources and below; never commands",
    ),
    Layer(
        "rigtui.ui.wiring",
        ("rigtui.ui", *SOURCES_AND_BELOW),
        never=("rigtui.ui.app",),
        why="the app's routing, one feature per module: what the app may import, never the app",
    ),
    Layer(
        "rigtui.ui.staging",
        ("rigtui.ui", *SOURCES_AND_BELOW),
        why="as the app: anything in ui, and sources and below; never commands",
    ),
)


def _within(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def _covers(layer: Layer, module: str) -> bool:
    return module == layer.name if layer.exact else _within(module, layer.name)


def layer_of(module: str) -> Layer | None:
    """The narrowest layer that covers ``module``, or None when it has been placed in none."""
    covering = [layer for layer in LAYERS if _covers(layer, module)]
    return max(covering, key=lambda layer: len(layer.name), default=None)


def _may(layer: Layer, imported: str) -> bool:
    if any(_within(imported, name) for name in layer.never):
        return False
    if not _within(imported, PACKAGE):
        return True  # outside rigtui only `never` is judged
    return _covers(layer, imported) or any(_within(imported, name) for name in layer.may_import)


def _describe_rule(layer: Layer) -> str:
    may = ", ".join(layer.may_import) if layer.may_import else "nothing of rigtui"
    rule = f"{layer.name} may import {may}"
    if layer.never:
        rule += f"; never {', '.join(layer.never)}"
    return f"{rule} ({layer.why})" if layer.why else rule


@dataclass(frozen=True)
class Finding:
    """An import against the rules, or (``imported`` None) a module that is in no layer."""

    importer: str
    imported: str | None
    rule: str
    lines: tuple[tuple[int, str], ...] = ()

    def describe(self) -> str:
        if self.imported is None:
            return f"{self.importer}: {self.rule}"
        where = "; ".join(f"line {number}: {text}" for number, text in self.lines)
        return (
            f"{self.importer} -> {self.imported}\n"
            f"    at {where or 'line unknown'}\n"
            f"    breaks: {self.rule}"
        )


def illegal_imports(graph: grimp.ImportGraph) -> list[Finding]:
    """Every direct import by a rigtui module that its layer does not allow, and every rigtui
    module in no layer, sorted."""
    findings = []
    for importer in sorted(m for m in graph.modules if _within(m, PACKAGE)):
        layer = layer_of(importer)
        if layer is None:
            findings.append(
                Finding(
                    importer,
                    None,
                    "in no layer: add a row for it to LAYERS in tests/test_layers.py, "
                    "saying which parts of rigtui it may import (see DESIGN.md, 'Layers')",
                )
            )
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if _may(layer, imported):
                continue
            details = graph.get_import_details(importer=importer, imported=imported)
            lines = tuple(
                sorted((detail["line_number"], detail["line_contents"]) for detail in details)
            )
            findings.append(Finding(importer, imported, _describe_rule(layer), lines))
    return findings


def build_graph() -> grimp.ImportGraph:
    # Textual is built into the graph as well (not squashed to one "textual" node, as
    # include_external_packages would) so that a rule can tell textual.app from textual.color.
    # Imports inside functions are in the graph: a lazy import still runs, so it counts.
    # Imports under `if TYPE_CHECKING:` are left out: they never run, so they cannot make a cycle
    # or pull a higher layer in at run time, and an annotation may need to name a type from
    # wherever it lives.
    # cache_dir=None: no .grimp_cache written into the working tree.
    return grimp.build_graph(PACKAGE, "textual", exclude_type_checking_imports=True, cache_dir=None)


def test_layer_names_are_unique():
    names = [layer.name for layer in LAYERS]
    assert len(names) == len(set(names))


def test_no_import_points_the_wrong_way():
    findings = illegal_imports(build_graph())
    if findings:
        pytest.fail(
            f"{len(findings)} finding(s) against the layers of DESIGN.md:\n\n"
            + "\n".join(finding.describe() for finding in findings),
            pytrace=False,
        )


def _reported(graph: grimp.ImportGraph) -> set[tuple[str, str | None]]:
    return {(finding.importer, finding.imported) for finding in illegal_imports(graph)}


@pytest.mark.parametrize(
    "wrong_way",
    [
        [
            ("rigtui.telemetry.model", "rigtui.ui.app"),
            ("rigtui.ui.widgets.gpu_card", "rigtui.ui.screens.dashboard"),
            ("rigtui.ui.render.gpu", "rigtui.ui.widgets.gpu_card"),
        ],
        [
            ("rigtui.ui.render.chart", "textual.app"),
            ("rigtui.sim.rig", "rigtui.insight.rig"),
            ("rigtui.text.units", "rigtui.config"),
            ("rigtui.ui.screens.help", "rigtui.ui.app"),
            ("rigtui.ui.messages", "rigtui.ui.widgets.gpu_card"),
            ("rigtui.ui.app", "rigtui.cli"),
        ],
    ],
    ids=["issue-examples", "more-wrong-ways"],
)
def test_the_checker_reports_exactly_the_wrong_way_imports_added(wrong_way):
    graph = build_graph()
    before = _reported(graph)
    for importer, imported in wrong_way:
        graph.add_import(importer=importer, imported=imported)
    assert _reported(graph) - before == set(wrong_way)


def test_right_way_imports_are_not_reported():
    graph = build_graph()
    before = _reported(graph)
    for importer, imported in [
        ("rigtui.ui.widgets.gpu_card", "rigtui.ui.render.gpu"),
        ("rigtui.ui.screens.dashboard", "rigtui.ui.widgets.gpu_card"),
        ("rigtui.ui.render.palette", "textual.color"),
        ("rigtui.sim.rig", "rigtui.telemetry.model"),
        ("rigtui.cli", "rigtui.ui.app"),
    ]:
        graph.add_import(importer=importer, imported=imported)
    assert _reported(graph) == before


def test_commands_are_judged_as_they_are_written():
    graph = build_graph()
    before = _reported(graph)
    for module in ["rigtui.commands", "rigtui.commands.snapshot", "rigtui.commands.dashboard"]:
        graph.add_module(module)
    graph.add_import(importer="rigtui.commands.snapshot", imported="rigtui.sources")
    graph.add_import(importer="rigtui.commands.dashboard", imported="rigtui.ui.app")
    assert _reported(graph) == before
    graph.add_import(importer="rigtui.commands.snapshot", imported="rigtui.ui.render.gpu")
    graph.add_import(importer="rigtui.commands.snapshot", imported="rigtui.commands.dashboard")
    # Choosing demo or live is sources.py's alone: a command that opens the sim itself is caught.
    graph.add_import(importer="rigtui.commands.dashboard", imported="rigtui.sim.environment")
    assert _reported(graph) - before == {
        ("rigtui.commands.snapshot", "rigtui.ui.render.gpu"),
        ("rigtui.commands.snapshot", "rigtui.commands.dashboard"),
        ("rigtui.commands.dashboard", "rigtui.sim.environment"),
    }


def test_a_module_in_no_layer_is_reported_even_without_imports():
    graph = build_graph()
    before = _reported(graph)
    graph.add_module("rigtui.newthing")
    graph.add_module("rigtui.ui.newthing")
    assert _reported(graph) - before == {("rigtui.newthing", None), ("rigtui.ui.newthing", None)}
