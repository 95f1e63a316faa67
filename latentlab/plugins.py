"""Model families from other packages: the ``latentlab.families`` entry points.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."latentlab.families"]
    ppca = "my_package.ppca:PPCA"

naming a :class:`~latentlab.models.base.GenerativeModel` subclass. The entry points are read
lazily, once, the first time a family is looked up (:func:`latentlab.models.registered_families`)
and then the family opens, saves and validates like a built-in one (docs/plugins.md). A plugin
is trusted code that the user installed; a model file naming its family is untrusted and checked
exactly as one of a built-in family.

A plugin that cannot be used (it fails to import, names something other than a
``GenerativeModel`` subclass, lacks a config class, or takes a built-in family's name) is
skipped: one line says why, logged as a warning and kept in :func:`plugin_warnings`; nothing
else changes.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from latentlab.models.base import CAPABILITIES, GenerativeModel, ImageConfig
from latentlab.untrusted import shorten

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginFamilies",
    "load_plugin_families",
    "plugin_families",
    "plugin_warnings",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "latentlab.families"
FAMILY_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginFamilies:
    """The families the installed plugins provide, and one line for each plugin skipped."""

    families: dict[str, type[GenerativeModel]]
    warnings: tuple[str, ...]


_loaded: PluginFamilies | None = None
_loading = False
_lock = threading.RLock()  # re-entered if a plugin's import looks a family up


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    """The declared entry points of the group (tests replace this to install a plugin)."""
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _why_unusable(name: str, obj: object, builtin: Mapping[str, object]) -> str | None:
    """Why the object an entry point names cannot be a family, or None if it can."""
    if not inspect.isclass(obj):
        return f"it names {type(obj).__name__} {shorten(repr(obj), 60)}, not a class"
    if not issubclass(obj, GenerativeModel):
        return f"class {obj.__qualname__} is not a latentlab GenerativeModel subclass"
    family = getattr(obj, "family", None)
    if not isinstance(family, str) or not FAMILY_NAME.fullmatch(family):
        return (
            f"class {obj.__qualname__} has no valid 'family' identifier "
            "(lower case letters, digits, - and _, at most 32)"
        )
    if family != name:
        return f"the entry point is named {name!r} but its class's family is {family!r}"
    if family in builtin:
        return f"family {family!r} is a built-in family's name"
    config_class = getattr(obj, "config_class", None)
    if not (
        inspect.isclass(config_class)
        and dataclasses.is_dataclass(config_class)
        and issubclass(config_class, ImageConfig)
    ):
        return f"class {obj.__qualname__} has no config_class (a dataclass extending ImageConfig)"
    capabilities = getattr(obj, "capabilities", None)
    if not (
        isinstance(capabilities, frozenset)
        and "sample" in capabilities
        and capabilities <= CAPABILITIES
    ):
        return (
            f"class {obj.__qualname__}'s capabilities must be a frozenset with 'sample', "
            f"within {', '.join(sorted(CAPABILITIES))}"
        )
    if not isinstance(getattr(obj, "metric_name", None), str):
        return f"class {obj.__qualname__} has no metric_name"
    return None


def load_plugin_families(
    builtin: Mapping[str, object], entry_points: Iterable[importlib.metadata.EntryPoint]
) -> PluginFamilies:
    """Import each entry point and keep the usable families; never raises for a bad plugin."""
    families: dict[str, type[GenerativeModel]] = {}
    warnings: list[str] = []
    for entry in sorted(entry_points, key=lambda e: (e.name, e.value)):
        where = f"{entry.name} = {entry.value}"
        why: str | None
        try:
            obj = entry.load()
        except Exception as exc:  # any error of foreign code: the plugin is skipped
            why = f"it fails to import ({type(exc).__name__}: {exc})"
        else:
            why = _why_unusable(entry.name, obj, builtin)
            if why is None and entry.name in families:
                why = f"family {entry.name!r} is already provided by another plugin"
        if why is not None:
            warnings.append(
                shorten(" ".join(f"LatentLab plugin {where!r} skipped: {why}".split()), 300)
            )
            continue
        families[entry.name] = obj
    return PluginFamilies(families, tuple(warnings))


def _plugins() -> PluginFamilies:
    global _loaded, _loading
    with _lock:
        if _loaded is None:
            if _loading:  # a plugin looking families up while it is imported: none yet
                return PluginFamilies({}, ())
            from latentlab.models import FAMILIES

            _loading = True
            try:
                _loaded = load_plugin_families(FAMILIES, _entry_points())
            finally:
                _loading = False
            for line in _loaded.warnings:
                log.warning("%s", line)
        return _loaded


def plugin_families() -> dict[str, type[GenerativeModel]]:
    """Family identifier -> model class of every usable installed plugin (loaded on first
    call)."""
    return dict(_plugins().families)


def plugin_warnings() -> list[str]:
    """One line for each installed plugin that was skipped, saying why."""
    return list(_plugins().warnings)


def reset_plugins() -> None:
    """Forget the plugins read, so that the next lookup reads the entry points again (for
    tests that install or remove a plugin)."""
    global _loaded
    with _lock:
        _loaded = None
