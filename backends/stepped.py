"""Spike times in, spike times out, for targets that advance in integer time steps (Xylo, Loihi).

Every digital adapter does the same three things around its engine: turn the input spike times into
the integer raster the engine reads (:func:`input_raster`), run, and turn the per-layer event rasters
back into spike times (:func:`to_result`). The conversions themselves are :mod:`.timegrid`'s;
this module only fixes how long the raster is and how the result is labelled.

How long: the float network searches spikes on ``[0, t_max]``; the chip pipeline delays an input's
effect on the last layer by ``latency`` steps (Xylo: 1, the hidden -> output hop; Loihi: one per
Dense stage), so the raster covers ``n_steps(t_max, dt) + latency`` steps and the last layer gets
the same window as the float model.
"""
from __future__ import annotations

import math

import numpy as np

from . import timegrid
from .base import RunResult

__all__ = ["DEFAULT_STEPS", "default_dt", "input_raster", "to_result"]

#: Steps per simulation window when no ``dt`` is given: ``dt = t_max / DEFAULT_STEPS``.
DEFAULT_STEPS = 128
#: Largest input raster (bytes) built in one piece; a bigger one is refused with the figure.
MAX_RASTER_BYTES = 4 * 2**30


def default_dt(net, steps: int = DEFAULT_STEPS) -> float:
    """The chip step used when none is given: ``net.t_max / steps`` (network time units)."""
    return float(net.t_max) / steps


def input_raster(x, n_in: int, dt: float, t_max, latency: int) -> np.ndarray:
    """Input spike times ``x`` -> int64 event counts ``(batch, steps, n_in)``.

    Args:
        x: spike times, ``(batch, n_in)`` (one spike per channel) or ``(batch, n_in, k)`` (+inf padded),
            in the network's time unit.
        n_in: the program's input channels.
        dt: the program's step (time units per step), > 0.
        t_max: the network's simulation window (time units), > 0; required because a chip program
            does not know it (pass ``net.t_max``).
        latency: pipeline delay of the target in steps (>= 0), added to the window.

    Raises:
        ValueError: wrong shape or channel count, missing or bad ``t_max``, negative/NaN times, an
            input spike after the window, a window of more than ``timegrid.MAX_STEPS`` steps or a raster
            over :data:`MAX_RASTER_BYTES` (the messages name the argument and the limit).
    """
    if t_max is None:
        raise ValueError("t_max: required (the network's simulation window in time units, e.g. net.t_max); "
                         "a chip program does not store it")
    if not (isinstance(t_max, (int, float, np.floating, np.integer)) and math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max = {t_max!r}: must be finite and > 0 (time units)")
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[1] != n_in:
        raise ValueError(f"x: expected spike times of shape (batch, {n_in}) or (batch, {n_in}, k) for this "
                         f"program's {n_in} inputs, got {np.shape(x)}")
    steps = timegrid.n_steps(t_max, dt) + int(latency)
    need = 8 * arr.shape[0] * steps * n_in
    if need > MAX_RASTER_BYTES:
        raise ValueError(f"x: {arr.shape[0]} samples x {steps} steps x {n_in} inputs need {need / 2**30:.1f} GiB "
                         f"of input raster, more than {MAX_RASTER_BYTES / 2**30:.0f} GiB; use fewer samples "
                         "(--subset) or a larger dt")
    return timegrid.encode(arr, dt, steps)


def to_result(spikes, dt: float, engine: str, engine_name: str, state=None) -> RunResult:
    """A :class:`RunResult` from per-layer event rasters ``(batch, steps, n_l)`` of step ``dt`` (and,
    when recorded, the engine's per-layer state traces ``state``)."""
    rasters = [np.asarray(s) for s in spikes]
    return RunResult(times=[timegrid.decode(r, dt) for r in rasters], rasters=rasters,
                     engine=engine, engine_name=engine_name, state=list(state or []))
