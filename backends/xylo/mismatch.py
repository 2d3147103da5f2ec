"""Xylo device mismatch: the integers of a :class:`~.program.XyloProgram` off by fixed per-device factors.

Weights and thresholds are scaled by lognormal factors, decay codes dithered to the perturbed time
constants (:mod:`fpsnn.backends.mismatch` states the model). Not perturbed: the weight shifts
(digital), and an output threshold at the int16 maximum (a membrane read-out marker).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..mismatch import check_spread, perturb_codes, scale_int
from .mapping import tau_for_dash
from .program import LIMITS, XyloProgram

__all__ = ["perturb"]


def perturb(program: XyloProgram, spread: float, seed: int = 0) -> XyloProgram:
    """A copy of ``program`` on device ``seed`` with mismatch ``spread`` (relative std; 0 = identical)."""
    spread, seed = check_spread(spread, seed)
    p = program
    wlo, whi = LIMITS["weight"]
    tmax = LIMITS["threshold"][1]
    dlo, dhi = max(1, LIMITS["dash"][0]), LIMITS["dash"][1]  # code 0 has no time constant
    w = lambda n: None if getattr(p, n) is None else scale_int(n, getattr(p, n), spread, seed, wlo, whi)
    th_out = p.threshold_out
    readout = th_out == tmax  # a read-out marker, not a physical threshold
    th_out = np.where(readout, th_out, scale_int("threshold_out", th_out, spread, seed, 1, tmax))

    def dash(n):
        d = getattr(p, n)
        if d is None:
            return None
        # a code 0 (value erased within its step) stays 0: there is no time constant to perturb
        return np.where(d == 0, 0, perturb_codes(n, np.maximum(d, dlo), tau_for_dash, dlo, dhi, p.dt, spread, seed))

    return dataclasses.replace(
        p, weights_in=w("weights_in"), weights_rec=w("weights_rec"), weights_out=w("weights_out"),
        threshold=scale_int("threshold", p.threshold, spread, seed, 1, tmax), threshold_out=th_out,
        dash_mem=dash("dash_mem"), dash_syn=dash("dash_syn"), dash_syn_2=dash("dash_syn_2"),
        dash_mem_out=dash("dash_mem_out"), dash_syn_out=dash("dash_syn_out"))
