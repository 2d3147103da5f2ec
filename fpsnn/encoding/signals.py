"""Multichannel time series as the signal encoders read them: a list of ``(channels, steps_i)`` arrays.

A batch of series is either dense, a float array ``(n, channels, steps)``, or ragged, a sequence (list or
object array) of ``n`` arrays ``(channels, steps_i)`` whose lengths may differ. Both become a list of
C-contiguous float64 arrays with the same channel count, every value finite, every series at least one
step long; anything else is a ValueError naming ``name``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["as_series", "stack_steps", "padded_times"]


def as_series(signals, name: str = "signals", n_channels: int | None = None) -> list:
    """Validate a batch of series (dense or ragged, see the module docstring) as a list of float64 arrays.

    Args:
        signals: ``(n, channels, steps)`` array, or a sequence of ``(channels, steps_i)`` arrays.
        name: the argument's name in error messages.
        n_channels: if given, the channel count every series must have (a fitted encoder's).
    """
    if isinstance(signals, np.ndarray) and signals.dtype != object:
        if signals.ndim != 3:
            raise ValueError(f"{name}: expected shape (n, channels, steps) or a list of (channels, steps) "
                             f"arrays, got an array of shape {signals.shape}")
        items = list(signals)
    else:
        try:
            items = list(signals)
        except TypeError:
            raise ValueError(f"{name}: expected (n, channels, steps) or a list of (channels, steps) arrays, "
                             f"got {type(signals).__name__}") from None
    if not items:
        raise ValueError(f"{name}: the batch is empty")
    out = []
    for i, item in enumerate(items):
        try:
            a = np.ascontiguousarray(item, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}[{i}]: cannot be converted to a float64 array ({exc})") from None
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"{name}[{i}]: expected shape (channels, steps) with both >= 1, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}]: must be finite (NaN or inf found)")
        out.append(a)
    want = out[0].shape[0] if n_channels is None else int(n_channels)
    for i, a in enumerate(out):
        if a.shape[0] != want:
            raise ValueError(f"{name}[{i}]: has {a.shape[0]} channels, expected {want}")
    return out


def stack_steps(series: list) -> np.ndarray:
    """All steps of all series as rows: ``(total steps, channels)`` (per-channel statistics)."""
    return np.concatenate([s.T for s in series], axis=0)


def padded_times(per_sample: list, n_inputs: int) -> np.ndarray:
    """Per-sample lists of per-input sorted spike-time arrays -> ``(n, n_inputs, k)`` float64, +inf padded.

    ``k`` is the largest count over samples and inputs (at least 1, so an all-silent batch still has the
    simulator's shape).
    """
    k = max([1] + [len(t) for sample in per_sample for t in sample])
    out = np.full((len(per_sample), n_inputs, k), np.inf)
    for s, sample in enumerate(per_sample):
        for c, t in enumerate(sample):
            out[s, c, :len(t)] = t
    return out
