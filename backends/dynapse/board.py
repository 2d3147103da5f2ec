"""Run a :class:`~.mapping.DynapseProgram` on a DYNAP-SE2 board through samna and Rockpool
(``config_from_specification`` + ``DynapseSamna``): the board engine of the DYNAP-SE2 backend.

samna is imported only inside :func:`run_board`, after :func:`available` found it with
``importlib.util.find_spec`` (never installed in CI; the PyPI stub launches pip when imported). A board
user needs samna from SynSense's package index and rockpool >= 3.1 in the same environment. Not
exercised here (no samna, no board): treat its first run on a board as a test.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..result import EmulatorResult

__all__ = ["available", "run_board", "SAMNA_HINT"]

SAMNA_HINT = ("samna is not installed: the DYNAP-SE2 board path needs SynSense's samna (from SynSense's own "
              "package index, not PyPI) and rockpool>=3.1 in the same environment, and a DYNAP-SE2 on USB")


def available(chip=None) -> tuple[bool, str]:
    """``(True, "")`` when samna and rockpool can be found for ``chip`` (the board itself is looked for at run time)."""
    if importlib.util.find_spec("samna") is None:
        return False, SAMNA_HINT
    if importlib.util.find_spec("rockpool") is None:
        return False, "rockpool is not installed: `pip install rockpool==3.1.0` (the board path uses DynapseSamna)"
    return True, ""


def run_board(program, raster) -> EmulatorResult:
    """Run ``raster`` (int ``(batch, steps, n_in)``) on the first DYNAP-SE2 found, sample by sample.

    Raises RuntimeError when samna is missing or no board is connected.
    """
    ok, why = available()
    if not ok:
        raise RuntimeError(why)
    import samna  # noqa: F401  (only here: see the module docstring)
    from rockpool.devices.dynapse import DynapseSamna, config_from_specification, find_dynapse_boards

    boards = find_dynapse_boards()
    if not boards:
        raise RuntimeError("no DYNAP-SE2 board found (samna sees none connected)")
    config, input_channel_map = config_from_specification(**program.spec("config"))
    device = DynapseSamna(boards[0], config, input_channel_map, dt=program.dt_s)
    out = []
    for sample in np.asarray(raster):
        spikes, _, _ = device(sample, record=False)
        out.append(np.asarray(spikes, dtype=np.int8)[:, :program.n_neurons])
    spikes = np.stack(out)
    return EmulatorResult(spikes=[spikes[:, :, s] for s in program.layer_slices()])
