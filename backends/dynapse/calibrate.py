r"""Fit the per-layer weight gains :math:`g_l` of a DYNAP-SE2 mapping to the float network.

Why: DynapSim's membrane has an exponential positive feedback (the AdExp part) that the linear
mapping in :mod:`.mapping` does not model, so the analytic weights make neurons fire at the wrong
potential. One gain per layer (a global weight scale, as a user would tune the chip's ``Iw`` biases)
is fitted so that DynapSim's first-spike times of that layer match the float network's exact ones.

How: on ``n`` synthetic samples (input spike times uniform on the network's window, fixed seed: the
mapping must not depend on a data set), layer by layer from the first, the gain is picked from a
log-spaced grid by the mean absolute first-spike-time difference over all (sample, neuron) pairs,
a silent neuron counting as spiking at ``t_max``; for the output layer the score is first the
fraction of samples whose first-firing neuron (the class) differs from the float network's, the
time difference only breaking ties (on Yin-Yang this lifts DynapSim from about 62 % to about 75 %,
the time criterion alone over-drives the outputs). Each evaluation is one DynapSim run of ``CHUNK``
samples (jit-compiled once).
"""
from __future__ import annotations

import numpy as np

from ..stepped import input_raster
from .mapping import quantize_dynapse
from .vendor import CHUNK, run_dynapsim
from .. import timegrid
from ...losses import predict

__all__ = ["calibrate_gains", "GRID"]

#: Candidate gains, relative to the analytic mapping (0.003 .. 30, 6 points per decade).
GRID = np.geomspace(0.003, 30.0, 25)


def _first(times: np.ndarray, t_max: float) -> np.ndarray:
    t = times[:, :, 0]
    return np.where(np.isfinite(t), t, t_max)


def calibrate_gains(net, desc, dt: float, time_unit_s: float, latency: int, seed: int = 0,
                    grid=GRID) -> tuple[np.ndarray, list]:
    """Per-layer gains and, per layer, the fitted score (mean first-spike error in network time units;
    for the output layer the class disagreement fraction + 1e-3 x that error)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.9 * net.t_max, size=(CHUNK, net.n_inputs))
    raster = input_raster(x, net.n_inputs, dt, net.t_max, latency)
    exact = net.simulate(x)
    gains = np.ones(net.n_layers)
    errors = []
    for l in range(net.n_layers):
        target = _first(exact.times[l], net.t_max)
        label = predict(np.where(np.isfinite(exact.times[l][:, :, 0]), target, np.inf))
        scores = []
        for g in grid:
            gains[l] = g
            program, _ = quantize_dynapse(net, desc, dt, time_unit_s, gains)
            spikes = run_dynapsim(program, raster).spikes[l]
            first = _first(timegrid.decode(spikes, dt), net.t_max)
            score = np.mean(np.abs(first - target))
            if l == net.n_layers - 1:
                # the output layer's job is its first-spike order (the class): agreement first, time second
                score = np.mean(predict(first) != label) + 1e-3 * score
            scores.append(score)
        best = int(np.argmin(scores))
        gains[l] = grid[best]
        errors.append(float(scores[best]))
    return gains, errors
