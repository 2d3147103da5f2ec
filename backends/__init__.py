"""Deployment targets for fpsnn networks (shipped as ``fpsnn.backends``).

``get(name)`` gives the :class:`Backend` of a chip in ``hw_configs/`` (see :func:`available_targets`);
every family-specific operation is a method of it (:mod:`.base`). Nothing here imports a vendor
package (lava, rockpool, xylosim, samna, jax) at import time: each backend imports its vendor code
only when it is asked to run.
"""

from .base import ENGINES, Backend, RunResult
from .registry import available_targets, get


def list() -> "list[str]":  # noqa: A001 - deprecated alias kept for one release
    """Deprecated alias of :func:`available_targets` (the name shadows the builtin ``list``)."""
    return available_targets()


__all__ = ["Backend", "RunResult", "ENGINES", "get", "available_targets", "list"]
