"""The chip families fpsnn can deploy to: the only place that names them.

A family is one folder ``backends/<family>/`` whose ``backend.py`` holds a :class:`~.base.Backend`
subclass; a chip (revision) of a family is one TOML file in ``hw_configs/`` whose ``family`` key is a
name of :data:`FAMILIES`. Adding a family is one folder, one line here and one TOML file. Backends
are imported on first use, so listing targets imports no vendor package. (Chips are looked up by
name in :mod:`fpsnn.backends`: ``get`` and ``available_targets``; this module imports no chip file.)
"""
from __future__ import annotations

from importlib import import_module

__all__ = ["FAMILIES", "families", "backend_class", "mismatch_model"]

#: family -> "module:class" of its Backend subclass, imported on first use
FAMILIES = {
    "xylo": "fpsnn.backends.xylo.backend:XyloBackend",
    "loihi": "fpsnn.backends.loihi.backend:LoihiBackend",
    "dynapse": "fpsnn.backends.dynapse.backend:DynapseBackend",
}


def families() -> tuple[str, ...]:
    """Names of the chip families, in registry order."""
    return tuple(FAMILIES)


def backend_class(family: str):
    """The :class:`~.base.Backend` subclass of ``family``; ValueError listing the known families."""
    if family not in FAMILIES:
        raise ValueError(f"family: unknown {family!r}; expected one of {', '.join(FAMILIES)}")
    module, cls = FAMILIES[family].split(":")
    return getattr(import_module(module), cls)


def mismatch_model(program):
    """The ``mismatch`` module of the family whose program ``program`` is (found from its type's module).

    For the deprecated ``fpsnn.backends.emulator.mismatch.perturb``, which gets a program and no backend.
    """
    parts = type(program).__module__.split(".")
    family = parts[2] if len(parts) > 3 and parts[:2] == ["fpsnn", "backends"] else None
    if family not in FAMILIES:
        raise ValueError(f"program: no mismatch model for {type(program).__name__} (expected a program of "
                         f"one of the families {', '.join(FAMILIES)})")
    return import_module(f"fpsnn.backends.{family}.mismatch")
