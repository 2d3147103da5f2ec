"""Deployment targets for fpsnn networks (shipped as ``fpsnn.backends``).

Nothing here imports a vendor package (lava, rockpool, xylosim, samna, jax) at import time: each
adapter imports its vendor code only when it is asked to run.
"""

from importlib import import_module as _import_module

from .base import ENGINES, Backend, RunResult

# family -> "module:class" of its adapter, imported on first use
_ADAPTERS = {
    "xylo": "fpsnn.backends.xylo.backend:XyloBackend",
    "loihi": "fpsnn.backends.lava.backend:LoihiBackend",
    "dynapse": "fpsnn.backends.dynapse.backend:DynapseBackend",
}


def list() -> "list[str]":  # noqa: A001 - the public name the issue asks for
    """Names of every deployment target (one per chip description in ``hw_configs/``)."""
    from fpsnn import chips

    return chips.available()


def get(name: str) -> Backend:
    """The backend for chip ``name`` (see :func:`list`); ValueError listing the valid names."""
    from fpsnn import chips

    names = chips.available()
    if name not in names:
        raise ValueError(f"target: unknown {name!r}; expected one of {', '.join(names)}")
    chip = chips.load(name)
    module, cls = _ADAPTERS[chip.family].split(":")
    return getattr(_import_module(module), cls)(chip)


__all__ = ["Backend", "RunResult", "ENGINES", "get", "list"]
