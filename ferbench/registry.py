"""The plugin manager: entry-point discovery, name collisions and broken plugins.

Every plugin, ferbench's own included, comes in through the ``ferbench`` entry-point group.
Each entry point is loaded on its own so that one broken plugin is reported (with its
traceback) while the others still load; ``FERBENCH_DISABLE_PLUGINS=a,b`` skips plugins by
entry-point name (or ``distribution:name``).
"""

from __future__ import annotations

import importlib.metadata
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ferbench import hookspecs
from ferbench.errors import UserError, unknown_name_error
from ferbench.specs import DatasetSpec, ExecutorSpec, MetricSpec, ModelSpec

GROUP = "ferbench"
DISABLE_ENV = "FERBENCH_DISABLE_PLUGINS"
KINDS: dict[str, type] = {"dataset": DatasetSpec, "model": ModelSpec, "metric": MetricSpec,
                          "executor": ExecutorSpec}


@dataclass
class PluginInfo:
    """One plugin as discovered: where it came from and whether it loaded."""

    name: str
    distribution: str
    version: str
    error: str | None = None

    @property
    def provider(self) -> str:
        """How messages name this plugin: ``name (distribution version)``."""
        return f"{self.name!r} ({self.distribution} {self.version})"

    @property
    def key(self) -> str:
        """Unique plugin-manager name: entry-point names only need to be unique per distribution."""
        return f"{self.distribution}:{self.name}"


@dataclass
class Registry:
    """All specs by kind and name, with who provided each."""

    plugins: list[PluginInfo] = field(default_factory=list)
    specs: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in KINDS})
    providers: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)
    hook: Any = None

    def add(self, kind: str, spec: Any, plugin: PluginInfo) -> None:
        """Register ``spec``; a name already taken is an error naming both providers."""
        previous = self.providers.get((kind, spec.name))
        if previous is plugin:
            raise UserError(f"plugin {plugin.provider} registers the {kind} name {spec.name!r} twice.")
        if previous is not None:
            raise UserError(
                f"two plugins register the {kind} name {spec.name!r}: {previous.provider} and "
                f"{plugin.provider}. Uninstall one of them, or disable one with "
                f"{DISABLE_ENV}={plugin.name}."
            )
        self.specs[kind][spec.name] = spec
        self.providers[(kind, spec.name)] = plugin

    def names(self, kind: str) -> list[str]:
        """Sorted names of every registered spec of ``kind``."""
        return sorted(self.specs[kind])

    def get(self, kind: str, name: str) -> Any:
        """The spec called ``name``; unknown names get suggestions and the known names.

        A model name no plugin registered is offered to the plugins' ``ferbench_resolve_model``.
        """
        if kind == "model" and name not in self.specs[kind] and self.hook is not None:
            spec = self.hook.ferbench_resolve_model(name=name)
            if spec is not None:
                if not isinstance(spec, ModelSpec) or spec.name != name:
                    raise TypeError(f"ferbench_resolve_model({name!r}) returned {spec!r:.200}, "
                                    f"not a ModelSpec named {name!r}.")
                self.specs[kind][name] = spec
        try:
            return self.specs[kind][name]
        except KeyError:
            hint = f"See `ferbench list {kind}s`."
            if self.broken:
                hint += " Some plugins failed to load: " + ", ".join(p.name for p in self.broken) + "."
            raise unknown_name_error(kind, name, self.specs[kind], hint) from None

    def select(self, kind: str, selection: str | Iterable[str]) -> list[Any]:
        """Specs for ``"all"`` or a comma-separated list (or iterable) of names, in order given."""
        if isinstance(selection, str):
            if selection.strip() == "all":
                if not self.specs[kind]:
                    raise UserError(f"no {kind}s are registered; `ferbench list plugins` shows what loaded.")
                return [self.specs[kind][n] for n in self.names(kind)]
            selection = [s.strip() for s in selection.split(",") if s.strip()]
        selection = list(dict.fromkeys(selection))
        if not selection:
            raise UserError(f"no {kind} given: name at least one, or 'all'.")
        return [self.get(kind, name) for name in selection]

    @property
    def broken(self) -> list[PluginInfo]:
        """Plugins that failed to import or whose hooks raised."""
        return [p for p in self.plugins if p.error]


def _plugin_info(ep: importlib.metadata.EntryPoint) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    return PluginInfo(
        name=ep.name,
        distribution=dist.name if dist is not None else "unknown distribution",
        version=dist.version if dist is not None else "",
    )


def _collect(pm: pluggy.PluginManager, registry: Registry, info: PluginInfo) -> None:
    """Call this plugin's hooks and add what they return, or record why it failed."""
    plugin = pm.get_plugin(info.key)
    found: list[tuple[str, Any]] = []
    try:
        for kind, spec_type in KINDS.items():
            caller = getattr(pm.hook, f"ferbench_{kind}s")
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                result = impl.function()
                if not isinstance(result, (list, tuple)) or not all(
                    isinstance(s, spec_type) for s in result
                ):
                    raise TypeError(
                        f"hook ferbench_{kind}s must return a list of {spec_type.__name__}, "
                        f"got {result!r:.200}"
                    )
                found.extend((kind, spec) for spec in result)
    except Exception:
        info.error = traceback.format_exc()
        pm.unregister(plugin)
        return
    for kind, spec in found:
        registry.add(kind, spec, info)


def load_registry(
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> Registry:
    """Discover and load every ``ferbench`` plugin into a fresh :class:`Registry`."""
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=GROUP)
    disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    for info, ep in sorted(((_plugin_info(ep), ep) for ep in entry_points), key=lambda p: p[0].key):
        if {info.name, info.key} & disabled or pm.has_plugin(info.key):
            continue
        registry.plugins.append(info)
        try:
            pm.register(ep.load(), name=info.key)
            pm.check_pending()
        except Exception:
            info.error = traceback.format_exc()
            if pm.has_plugin(info.key):
                pm.unregister(name=info.key)
            continue
        _collect(pm, registry, info)
    registry.hook = pm.hook
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded plugins; the next :func:`get_registry` discovers them again
    (after a ``pip install`` of a plugin in a running notebook, say)."""
    global _REGISTRY
    _REGISTRY = None
