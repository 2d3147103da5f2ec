"""Deployment targets for fpsnn networks (shipped as ``fpsnn.backends``).

``get(name)`` gives the :class:`Backend` of a chip in ``hw_configs/`` (see :func:`available_targets`);
every family-specific operation is a method of it (:mod:`.base`). Nothing here imports a vendor
package (lava, rockpool, xylosim, samna, jax) at import time: each backend imports its vendor code
only when it is asked to run.
"""

from . import chips
from .base import ENGINES, Backend, RunResult
from .registry import backend_class


def available_targets() -> "list[str]":
    """Names of every deployment target (one per chip description in ``hw_configs/``), sorted."""
    return chips.available()


def get(name: str) -> Backend:
    """The backend for chip ``name`` (see :func:`available_targets`); ValueError listing the valid names."""
    names = chips.available()
    if name not in names:
        raise ValueError(f"target: unknown {name!r}; expected one of {', '.join(names)}")
    chip = chips.load(name)
    return backend_class(chip.family)(chip)


def list() -> "list[str]":  # noqa: A001 - deprecated alias kept for one release
    """Deprecated alias of :func:`available_targets` (the name shadows the builtin ``list``)."""
    return available_targets()


__all__ = ["Backend", "RunResult", "ENGINES", "get", "available_targets", "list"]
