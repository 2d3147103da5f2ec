r"""Fit the per-layer weight gains :math:`g_l` of a DYNAP-SE2 mapping to the float network.

Why: DynapSim's membrane has an exponential positive feedback (the AdExp part) that the linear
mapping in :mod:`.mapping` does not model, so the analytic weights make neurons fire at the wrong
potential. One gain per layer (a global weight scale, as a user would tune the chip's ``Iw`` biases)
is fitted so that DynapSim's first-spike times of that layer match the float network's exact ones.

How: on ``n`` synthetic samples (input spike times uniform on the network's window, fixed seed: the
mapping must not depend on a data set), layer by layer from the first, the gain is picked from a
log-spaced grid by the mean absolute first-spike-time difference over all (sample, neuron) pairs,
a silent neuron counting as spiking at ``t_max``. Each evaluation is one DynapSim run of ``CHUNK``
samples (jit-compiled once).
"""
from __future__ import annotations

import numpy as np

from ..stepped import input_raster
from .mapping import quantize_dynapse
from .sim import CHUNK, run_dynapsim
from ... import timegrid

__all__ = ["calibrate_gains", "GRID"]

#: Candidate gains, relative to the analytic mapping (0.003 .. 30, 6 points per decade).
GRID = np.geomspace(0.003, 30.0, 25)


def _first(times: np.ndarray, t_max: float) -> np.ndarray:
    t = times[:, :, 0]
    return np.where(np.isfinite(t), t, t_max)


def calibrate_gains(net, desc, dt: float, time_unit_s: float, latency: int, seed: int = 0,
                    grid=GRID) -> tuple[np.ndarray, list]:
    """Per-layer gains and, per layer, the fitted mean first-spike error (network time units)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.9 * net.t_max, size=(CHUNK, net.n_inputs))
    raster = input_raster(x, net.n_inputs, dt, net.t_max, latency)
    exact = net.simulate(x)
    gains = np.ones(net.n_layers)
    errors = []
    for l in range(net.n_layers):
        target = _first(exact.times[l], net.t_max)
        scores = []
        for g in grid:
            gains[l] = g
            program, _ = quantize_dynapse(net, desc, dt, time_unit_s, gains)
            spikes = run_dynapsim(program, raster).spikes[l]
            scores.append(np.mean(np.abs(_first(timegrid.decode(spikes, dt), net.t_max) - target)))
        best = int(np.argmin(scores))
        gains[l] = grid[best]
        errors.append(float(scores[best]))
    return gains, errors
