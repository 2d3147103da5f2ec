"""Loihi 2 itself: the program's Lava process graph on a Loihi 2 system (``Loihi2HwCfg``).

Needs Intel's lava-loihi extension (distributed to Intel Neuromorphic Research Community members
only; absent here, so only its error path is tested). Imported only on the board path.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..result import EmulatorResult
from .compat import LAVA_MISSING, import_lava, lava_available
from .program import LoihiProgram
from .vendor import build_layers

__all__ = ["available", "run_lava_board", "lava_loihi_available", "LAVA_LOIHI_HINT"]

LAVA_LOIHI_HINT = (
    "run_lava_board needs Intel's lava-loihi extension (it provides the Loihi 2 compiler, "
    "lava.magma.compiler.subcompilers.nc, and lava.proc.embedded_io); it is distributed to Intel "
    "Neuromorphic Research Community members only and is not installed here. Use "
    "engine 'vendor' (Lava's CPU simulator) or 'emulator' instead."
)


def lava_loihi_available() -> bool:
    """True when lava-loihi (the Loihi 2 hardware compiler) is importable."""
    import_lava()
    return importlib.util.find_spec("lava.magma.compiler.subcompilers.nc") is not None


def available(chip) -> tuple[bool, str]:
    """``(True, "")`` when Lava and lava-loihi can be found for ``chip`` (the system is looked for at run time)."""
    if not lava_available():
        return False, LAVA_MISSING
    return (True, "") if lava_loihi_available() else (False, LAVA_LOIHI_HINT)


def run_lava_board(program: LoihiProgram, raster, **run_cfg_kwargs) -> EmulatorResult:
    """Run ``program`` on a Loihi 2 system through lava-loihi (``Loihi2HwCfg``); spikes only.

    Raises ImportError with installation guidance when lava-loihi is missing. The graph is the one
    :func:`.vendor.run_lava_fixed_pt` builds, with the input and the read-back crossing the host/chip
    boundary through lava-loihi's ``PyToNxAdapter`` / ``NxToPyAdapter``. Not exercised here (no
    lava-loihi, no board): treat its first run on a board as a test.
    """
    if not lava_loihi_available():
        raise ImportError(LAVA_LOIHI_HINT)
    x = program.check_raster(raster)
    batch, steps, n_in = x.shape
    for l, layer in enumerate(program.layers):
        for key in ("du", "dv", "vth"):
            if np.unique(getattr(layer, key)).size > 1:
                raise ValueError(f"program: layers[{l}].{key} differs between neurons, but Lava's LIF has one "
                                 f"{key} per population; split the layer into populations of equal {key}")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.proc.embedded_io.spike import NxToPyAdapter, PyToNxAdapter
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer

    spikes = []
    for b in range(batch):
        # A fresh graph per sample: no assumption about resetting chip state through Var.set.
        source = RingBuffer(data=np.ascontiguousarray(x[b].T.astype(np.int32)))
        to_chip = PyToNxAdapter(shape=(n_in,))
        source.s_out.connect(to_chip.inp)
        lifs, _ = build_layers(program, to_chip.out)
        sinks = []
        for lif, n in zip(lifs, program.sizes):
            to_host = NxToPyAdapter(shape=(n,))
            sink = Sink(shape=(n,), buffer=steps)
            lif.s_out.connect(to_host.inp)
            to_host.out.connect(sink.a_in)
            sinks.append(sink)
        try:
            source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2HwCfg(**run_cfg_kwargs))
            spikes.append([np.asarray(s.data.get()).T.astype(np.int8) for s in sinks])
        finally:
            source.stop()
    return EmulatorResult(spikes=[np.stack([s[l] for s in spikes]) for l in range(len(program.layers))])
