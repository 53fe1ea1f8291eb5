"""The models the simulated Ollama has: the registry's catalogue, and those installed on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rigtui.sim.ollama.models import CATALOGUE, DEFAULT_INSTALLED, ModelSpec, display_name
from rigtui.sim.rig import SimulatedRig


class Library:
    """Every model the registry offers, and the installed ones with when each was modified.

    Guarded by the rig's lock, as all of the server's state is.
    """

    def __init__(
        self,
        rig: SimulatedRig,
        models: Iterable[str | ModelSpec] | None,
        clock: Callable[[], float],
    ) -> None:
        self._rig = rig
        self._clock = clock
        self.catalogue: dict[str, ModelSpec] = {spec.name: spec for spec in CATALOGUE}
        """Every model the simulated registry knows, installed or only pullable."""
        self._installed: dict[str, tuple[ModelSpec, float]] = {}
        now = clock()
        chosen = DEFAULT_INSTALLED if models is None else tuple(models)
        for order, model in enumerate(chosen):
            spec = model if isinstance(model, ModelSpec) else self.catalogue[display_name(model)]
            self.catalogue.setdefault(spec.name, spec)
            self._installed[spec.name] = (spec, now - 86_400.0 * (3 * order + 2) - 3_600 * order)

    def installed_spec(self, name: str) -> ModelSpec | None:
        """The installed model ``name`` (any spelling Ollama accepts), or ``None``."""
        if not name:
            return None
        with self._rig.lock():
            entry = self._installed.get(display_name(name))
        return entry[0] if entry else None

    def newest_first(self) -> list[tuple[ModelSpec, float]]:
        """Installed models and when each was modified (epoch seconds), as ``/api/tags`` lists."""
        with self._rig.lock():
            return sorted(self._installed.values(), key=lambda item: -item[1])

    def modified_s(self, name: str) -> float:
        with self._rig.lock():
            return self._installed[name][1]

    def install(self, spec: ModelSpec) -> None:
        with self._rig.lock():
            self._installed[spec.name] = (spec, self._clock())

    def remove(self, name: str) -> bool:
        """Delete an installed model (any spelling Ollama accepts); False if there is none."""
        with self._rig.lock():
            return self._installed.pop(display_name(name), None) is not None
