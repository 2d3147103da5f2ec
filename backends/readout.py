"""Scoring a chip run with the model's read-out: the one place that turns a run into class scores.

A classifier is read out in one of two ways (``hyper.readout``, :func:`fpsnn.losses.classifier_loss`):

* from output spike times (``first_spike``, ``spike_count``): the float evaluation on the run's
  decoded times (:func:`fpsnn.training.metrics_from_times` with the hyper-parameters);
* from the potential of an output layer that never fires (``theta = inf``; the read-outs of
  :data:`fpsnn.losses.MEMBRANE_READOUTS`): the run records the output layer's state
  (``backend.run(..., record=True)``), the family converts it to float potential units on the
  window's steps (``backend.output_potential``), and :func:`potential_scores` takes, per output
  neuron, the mean over those steps (``mean_membrane``: the float model's mean over ``[0, t_max]``,
  by the trapezoid rule on the step ends) or their maximum (``membrane``: the float model's sampled
  peak).

The chip can only hold a potential up to its state limit, so a membrane read-out is compiled with a
``readout_range`` (float potential units) that :func:`readout_range` estimates from the float
network on data; samples that still hit the limit are counted (``backend.readout_saturated``), never
scored silently.
"""
from __future__ import annotations

import numpy as np

from ..losses import MEMBRANE_READOUTS, predict_scores, readout_of  # noqa: F401 (readout_of: re-exported)
from ..simulate import membrane_potential

__all__ = ["readout_of", "needs_potential", "potential_scores", "potential_peak", "readout_range", "chip_accuracy",
           "RANGE_MARGIN", "SYNTHETIC_SAMPLES", "PEAK_GRID"]

#: ``readout_range`` = this times the largest float ``|V|`` seen: room for samples beyond the
#: calibration data and for the chip's own deviations (rounded weights, Euler steps; a few %).
RANGE_MARGIN = 1.25
#: Samples of the synthetic input (one spike per channel, uniform on ``[0, 0.9 t_max]``, fixed seed)
#: that :func:`readout_range` uses when no data is given.
SYNTHETIC_SAMPLES = 256
#: Evenly spaced times on ``(0, t_max]`` at which :func:`potential_peak` evaluates the float potential.
PEAK_GRID = 128
_CHUNK = 256


def needs_potential(hyper) -> bool:
    """Whether ``hyper``'s read-out reads the output potential (a run must record it)."""
    return readout_of(hyper) in MEMBRANE_READOUTS


def potential_scores(potential: np.ndarray, readout: str) -> np.ndarray:
    """Class scores ``(batch, n_out)`` (potential units) from a potential ``(batch, steps, n_out)``
    whose row ``k`` is the potential at the end of window step ``k`` (``backend.output_potential``).

    ``mean_membrane``: the float score is the mean over ``[0, t_max]``; the rows sample that window at
    ``dt, 2 dt, ..., n dt`` and the potential is 0 at ``t = 0``, so the trapezoid rule gives
    ``(sum of the rows - last row / 2) / n``. (The plain mean of the rows is that plus half the last
    row over ``n``: a bias of ``V(t_max) dt / (2 t_max)`` per class, 4 % of the score on a Yin-Yang
    model at 64 steps, against 1 % for the trapezoid.) ``membrane``: the maximum over the rows (the
    float score is the maximum over ``n_read`` evenly spaced times).
    """
    v = np.asarray(potential, dtype=np.float64)
    if v.ndim != 3 or v.shape[1] < 1:
        raise ValueError(f"potential: expected (batch, steps >= 1, n_out), got shape {v.shape}")
    if readout == "mean_membrane":
        return (v.sum(axis=1) - 0.5 * v[:, -1, :]) / v.shape[1]
    if readout == "membrane":
        return v.max(axis=1)
    raise ValueError(f"readout = {readout!r}: not a membrane read-out ({', '.join(map(repr, MEMBRANE_READOUTS))})")


def _synthetic_inputs(net, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 0.9 * net.t_max, size=(SYNTHETIC_SAMPLES, net.n_inputs))


def potential_peak(net, x) -> float:
    """Largest ``|V_o(t)|`` of ``net``'s read-out layer (float potential units) over the samples ``x``
    (input spike times ``(batch, n_in[, k])``), the output neurons and :data:`PEAK_GRID` evenly spaced
    times in ``(0, t_max]``; 0 for no samples."""
    if not net.readout:
        raise ValueError("net: the output layer fires (finite theta); only a membrane read-out has a potential range")
    grid = net.t_max * np.arange(1, PEAK_GRID + 1) / PEAK_GRID
    peak = 0.0
    for start in range(0, len(x), _CHUNK):
        xc = x[start:start + _CHUNK]
        v = membrane_potential(net, xc, net.simulate(xc).times, grid)
        peak = max(peak, float(np.abs(v).max(initial=0.0)))
    return peak


def readout_range(net, x=None) -> float:
    """The ``readout_range`` to compile ``net``'s membrane read-out with: :data:`RANGE_MARGIN` times
    :func:`potential_peak` on ``x`` (the data the chip will see; None: :data:`SYNTHETIC_SAMPLES`
    synthetic samples, one spike per input uniform on ``[0, 0.9 t_max]``, which underestimates inputs
    with many spikes per channel). A silent read-out (peak 0) gets 1 potential unit."""
    peak = potential_peak(net, _synthetic_inputs(net) if x is None else np.asarray(x, dtype=np.float64))
    return RANGE_MARGIN * peak if peak > 0 else 1.0


def chip_accuracy(backend, program, report, result, labels, hyper, t_max: float) -> dict:
    """``{"accuracy", "readout"}`` of a chip run scored with the model's read-out (``hyper``; None:
    first spike), plus ``"readout_saturated"`` (samples whose potential hit the state limit) for a
    membrane read-out.

    Membrane read-outs: :func:`potential_scores` of ``backend.output_potential(result, program,
    report)`` (the run must have been recorded) and ``backend.readout_saturated``; spike read-outs:
    :func:`fpsnn.training.metrics_from_times` on the run's spike times with ``hyper``. ``t_max``: the
    window (time units); accuracy is a fraction, nan for no samples.
    """
    readout = readout_of(hyper)
    labels = np.asarray(labels)
    if readout not in MEMBRANE_READOUTS:
        from ..training import metrics_from_times

        return {"accuracy": metrics_from_times(result.times, labels, t_max, hyper)["accuracy"], "readout": readout}
    scores = potential_scores(backend.output_potential(result, program, report), readout)
    return {"accuracy": float(np.mean(predict_scores(scores) == labels)) if len(labels) else float("nan"),
            "readout": readout, "readout_saturated": int(np.sum(backend.readout_saturated(result, program)))}
