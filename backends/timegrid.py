r"""The time grid shared by every discrete-time backend: spike times <-> integer event rasters.

A chip advances in steps of :math:`\Delta t` (``dt``, in the network's time unit). Step ``k`` covers
the interval :math:`[k\,\Delta t, (k+1)\,\Delta t)`.

* **Inputs** (:func:`encode`): an input spike at time ``t`` is delivered in step
  :math:`k = \lfloor t / \Delta t \rfloor`. Several spikes of one channel in one step become a count
  (the chip may clip it: Xylo takes at most 15 input events per channel and step). A time that lies
  within ``SNAP`` (relative, 1e-9) of a grid point below it counts as on the grid point, so that
  ``k * dt`` computed in floating point lands in step ``k`` and not ``k - 1``.
* **Outputs** (:func:`decode`): an event emitted in step ``k`` is reported at the *end* of that step,
  :math:`t = (k+1)\,\Delta t`. The chip only knows that the threshold was reached by the end of the
  step; reporting the end keeps every output later than the input that caused it (an input at
  :math:`k\,\Delta t` that drives a neuron over threshold in the same step yields :math:`(k+1)\Delta t`),
  which the causal spike-time gradients rely on. A count ``c`` in one step gives ``c`` equal times.

**Limits** (:func:`check_grid`): a window of more than :data:`MAX_STEPS` steps is refused (a ``dt``
a million times too small would otherwise run for hours without a word), and a user's ``dt`` that
leaves fewer than :data:`MIN_STEPS` steps per window is refused too (every spike lands in one step:
the accuracy collapses without an error).

Spike times use the package's padded layout: float64 ``(batch, n, k)``, each row sorted, ``+inf``
after the last spike. Rasters are integer ``(batch, steps, n)`` event counts.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["SNAP", "MAX_STEPS", "MIN_STEPS", "n_steps", "check_grid", "step_of", "encode", "decode", "step_end_time"]

SNAP = 1e-9
#: Most steps per simulation window (512 x the default 128 steps).
MAX_STEPS = 65_536
#: Fewest steps per window a user's ``dt`` may leave.
MIN_STEPS = 4


def _check_dt(dt) -> float:
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt = {dt}: must be finite and > 0 (time units per step)")
    return dt


def n_steps(t_max: float, dt: float) -> int:
    """Number of steps needed to cover ``[0, t_max)``: ``ceil(t_max / dt)`` (with the same snapping)."""
    dt = _check_dt(dt)
    t_max = float(t_max)
    if not (math.isfinite(t_max) and t_max > 0):
        raise ValueError(f"t_max = {t_max}: must be finite and > 0")
    x = t_max / dt
    if x > MAX_STEPS:
        raise ValueError(f"dt = {dt:g}: the window t_max = {t_max:g} would need {x:.3g} steps, more than the "
                         f"limit {MAX_STEPS}; use dt >= {t_max / MAX_STEPS:.3g}")
    k = math.floor(x * (1 + SNAP))  # t_max = steps * dt exactly (up to rounding) needs `steps`, not +1
    return max(1, k if abs(x - k) <= SNAP * max(1.0, x) else k + 1)


def check_grid(t_max: float, dt: float) -> int:
    """The steps of a window ``t_max`` at step ``dt``; ValueError naming ``dt``, the step count and the
    limit when there are more than :data:`MAX_STEPS` or fewer than :data:`MIN_STEPS`."""
    steps = n_steps(t_max, dt)
    if steps < MIN_STEPS:
        raise ValueError(f"dt = {float(dt):g}: leaves {steps} step(s) for the window t_max = {float(t_max):g}, fewer "
                         f"than {MIN_STEPS}; every spike would land in the same step; use dt <= "
                         f"{float(t_max) / MIN_STEPS:.3g}")
    return steps


def step_of(times, dt: float) -> np.ndarray:
    """Step index of each finite time: ``floor(t / dt)``, snapping times just below a grid point up."""
    dt = _check_dt(dt)
    x = np.asarray(times, dtype=np.float64) / dt
    return np.floor(x * (1 + SNAP) + SNAP).astype(np.int64)


def step_end_time(steps: np.ndarray, dt: float) -> np.ndarray:
    """Reported time of an event emitted in step ``k``: ``(k + 1) * dt`` (see the module docstring)."""
    return (np.asarray(steps, dtype=np.float64) + 1.0) * _check_dt(dt)


def encode(times, dt: float, steps: int, drop_late: bool = False) -> np.ndarray:
    """Spike times ``(batch, n, k)`` (``+inf`` padded) -> int64 event counts ``(batch, steps, n)``.

    Args:
        times: input spike times (time units); a 2-d ``(n, k)`` array is taken as one sample.
        dt: step length (time units), > 0.
        steps: number of steps of the raster, >= 1.
        drop_late: times at or after ``steps * dt`` are dropped instead of raising.

    Raises:
        ValueError: NaN, ``-inf`` or negative times, or (unless ``drop_late``) a time at or after
            ``steps * dt``; the message names ``times``, the index and the limit.
    """
    dt = _check_dt(dt)
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps = {steps}: must be an integer >= 1")
    steps = int(steps)
    arr = np.asarray(times, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"times: expected shape (batch, n, k) or (n, k), got {arr.shape}")
    bad = np.isnan(arr) | (arr < 0)
    if np.any(bad):
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"times{list(i)} = {arr[i]}: spike times must be >= 0 (pad with +inf), not NaN")
    batch, n, _ = arr.shape
    finite = np.isfinite(arr)
    b, c, j = np.nonzero(finite)
    k = step_of(arr[b, c, j], dt)
    late = k >= steps
    if np.any(late):
        if not drop_late:
            first = int(np.argmax(late))
            raise ValueError(f"times[{b[first]}, {c[first]}, {j[first]}] = {arr[b[first], c[first], j[first]]}: "
                             f"beyond the raster's end steps * dt = {steps} * {dt} = {steps * dt}")
        keep = ~late
        b, c, k = b[keep], c[keep], k[keep]
    raster = np.zeros((batch, steps, n), dtype=np.int64)
    np.add.at(raster, (b, k, c), 1)
    return raster


def decode(raster, dt: float, max_spikes: int | None = None) -> np.ndarray:
    """Event counts ``(batch, steps, n)`` -> spike times ``(batch, n, max_spikes)``, ``+inf`` padded.

    An event in step ``k`` is reported at ``(k + 1) * dt``; a count ``c`` gives ``c`` equal times.

    Args:
        raster: non-negative integer counts; a 2-d ``(steps, n)`` array is taken as one sample.
        dt: step length (time units), > 0.
        max_spikes: width of the last axis; the earliest ``max_spikes`` events of each neuron are
            kept. Default: the largest event total of any neuron (at least 1).
    """
    dt = _check_dt(dt)
    r = np.asarray(raster)
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3:
        raise ValueError(f"raster: expected shape (batch, steps, n) or (steps, n), got {r.shape}")
    if r.dtype.kind not in "iub":
        if not np.all(np.isfinite(r)) or np.any(r != np.round(r)):
            raise ValueError("raster: expected integer event counts")
    r = r.astype(np.int64)
    if np.any(r < 0):
        i = tuple(int(v) for v in np.argwhere(r < 0)[0])
        raise ValueError(f"raster{list(i)} = {r[i]}: event counts must be >= 0")
    batch, steps, n = r.shape
    totals = r.sum(axis=1)  # (batch, n)
    if max_spikes is None:
        max_spikes = max(1, int(totals.max(initial=0)))
    if int(max_spikes) != max_spikes or max_spikes < 1:
        raise ValueError(f"max_spikes = {max_spikes}: must be an integer >= 1")
    out = np.full((batch, n, int(max_spikes)), np.inf)
    # visit (batch, neuron, step) in time order so the rank of an event is its index in the row
    rt = np.ascontiguousarray(r.transpose(0, 2, 1))
    b, c, s = np.nonzero(rt)
    counts = rt[b, c, s]
    b, c, s = np.repeat(b, counts), np.repeat(c, counts), np.repeat(s, counts)
    row = b * n + c
    start = np.searchsorted(row, row, side="left")  # nonzero() is row-major, so rows are contiguous
    rank = np.arange(row.size) - start
    keep = rank < max_spikes
    out[b[keep], c[keep], rank[keep]] = step_end_time(s[keep], dt)
    return out
