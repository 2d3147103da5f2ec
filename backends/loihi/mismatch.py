"""Loihi 2 device mismatch: the integers of a :class:`~.program.LoihiProgram` off by fixed per-device factors.

Weights and thresholds (``vth``) are scaled by lognormal factors, ``du`` / ``dv`` dithered to the
perturbed time constants (:mod:`fpsnn.backends.mismatch` states the model). ``du = 4095`` (current
erased each step) and ``dv = 0`` (no leak) have no finite time constant and are kept.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..mismatch import check_spread, perturb_codes, scale_int
from .mapping import tau_mem_for_dv, tau_syn_for_du
from .program import LIMITS, WEIGHT_RANGE, LoihiProgram

__all__ = ["perturb"]


def perturb(program: LoihiProgram, spread: float, seed: int = 0) -> LoihiProgram:
    """A copy of ``program`` on device ``seed`` with mismatch ``spread`` (relative std; 0 = identical)."""
    spread, seed = check_spread(spread, seed)
    p = program

    def dense(name, d):
        lo, hi = WEIGHT_RANGE[d.sign_mode]
        return dataclasses.replace(d, weights=scale_int(name, d.weights, spread, seed, lo, hi))

    layers, recurrent = [], []
    for l, layer in enumerate(p.layers):
        # du = 4095 erases the current each step and dv = 0 means no leak: neither has a finite
        # time constant to perturb, so both are kept.
        du = np.where(layer.du == 4095, 4095, perturb_codes(
            f"layers[{l}].du", np.minimum(layer.du, 4094), tau_syn_for_du, 0, 4094, p.dt, spread, seed))
        dv = np.where(layer.dv == 0, 0, perturb_codes(
            f"layers[{l}].dv", np.maximum(layer.dv, 1), tau_mem_for_dv, 1, 4095, p.dt, spread, seed))
        vth = scale_int(f"layers[{l}].vth", layer.vth, spread, seed, 1, LIMITS["vth"][1])
        layers.append(dataclasses.replace(dense(f"layers[{l}].weights", layer), vth=vth, du=du, dv=dv))
        r = p.recurrent[l]
        recurrent.append(None if r is None else dense(f"recurrent[{l}].weights", r))
    return LoihiProgram(layers=layers, recurrent=recurrent, dt=p.dt)
