"""DYNAP-SE2 device mismatch: DynapSim's own parameter mismatch model, carried by the program.

The chip is analog, so its mismatch is not a perturbation of integers fpsnn draws but the spread of
every circuit parameter that Rockpool's DynapSim draws when it builds the network
(``percent_mismatch``, a fraction at 3 sigma despite its name: 0.1 = 10 %; rockpool 3.1.0). The
program records the fraction and the device seed; :mod:`.vendor` passes them to DynapSim when it runs.
"""
from __future__ import annotations

import dataclasses
import math

from .program import DynapseProgram

__all__ = ["perturb"]


def perturb(program: DynapseProgram, spread: float, seed: int = 0) -> DynapseProgram:
    """``program`` with DynapSim's parameter mismatch ``spread`` (fraction at 3 sigma) on device ``seed``.

    ``spread = 0`` returns the nominal program. ValueError for a spread outside [0, 1) or a bad seed.
    """
    spread = float(spread)
    if not (math.isfinite(spread) and 0 <= spread < 1):
        raise ValueError(f"spread = {spread}: must be a fraction in [0, 1) (DynapSim's mismatch at 3 sigma; "
                         "0.1 = 10 %)")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be an integer >= 0 (it identifies the device)")
    if spread == 0:
        return dataclasses.replace(program, mismatch=None, mismatch_seed=None)
    return dataclasses.replace(program, mismatch=spread, mismatch_seed=int(seed))
