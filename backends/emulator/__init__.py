"""Deprecated: each family's emulator lives in its folder (``fpsnn.backends.xylo.emulator``,
``fpsnn.backends.loihi.emulator``); kept for one release.

``run(program, raster, record=False)`` runs any digital chip program on an integer input raster
``(batch, steps, n_inputs)`` and returns an :class:`EmulatorResult`; it is ``program.run``.
Submodules ``xylo``, ``loihi``, ``result`` and ``mismatch`` are aliases of the modules that replaced them.
"""
import warnings

from ..loihi.program import LoihiProgram
from ..result import EmulatorResult
from ..xylo.program import XyloProgram

warnings.warn("fpsnn.backends.emulator is deprecated: use fpsnn.backends.get(chip) (compile / run / perturb)",
              DeprecationWarning, stacklevel=2)


def run(program, raster, record: bool = False) -> EmulatorResult:
    """Run ``program`` on ``raster`` (int, ``(batch, steps, n_inputs)``) on its family's emulator."""
    return program.run(raster, record=record)


__all__ = ["EmulatorResult", "XyloProgram", "LoihiProgram", "run"]
