"""Bit-accurate integer emulators of the digital chips (batched numpy / numba).

``run(program, raster, record=False)`` runs any chip program (:class:`XyloProgram`,
:class:`LoihiProgram`) on an integer input raster of shape ``(batch, steps, n_in)`` and returns an
:class:`EmulatorResult` (``spikes[l]``: int ``(batch, steps, n_l)``, hidden layers first, output last;
``state[l]``: dict of integer traces when ``record=True``).
"""
from .result import EmulatorResult
from .xylo import XyloProgram
from .loihi import LoihiProgram


def run(program, raster, record: bool = False) -> EmulatorResult:
    """Run ``program`` on ``raster`` (int, ``(batch, steps, n_in)``); see the module docstring."""
    return program.run(raster, record=record)


__all__ = ["EmulatorResult", "XyloProgram", "LoihiProgram", "run"]
