"""Data that already are spikes (event sensors, a user's event file): flat event lists -> spike arrays.

An event list holds one entry per input spike in three flat arrays of equal length: ``times`` (network
time units, >= 0), ``channels`` (input index, 0 ... n_channels - 1) and ``sample`` (sample index, 0 ...
n_samples - 1). :func:`events_to_times` turns it into the simulator's ``(n_samples, n_channels, k)`` array
(sorted per input, +inf padded), and :class:`SpikeTimesEncoder` is the identity encoder for such arrays,
so event data go through the same ``encoder(x)`` call as signals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..simulate import check_spike_array

__all__ = ["SpikeTimesEncoder", "events_to_times"]

KIND = "spikes"


def events_to_times(times, channels, sample, n_samples: int | None = None,
                    n_channels: int | None = None, name: str = "events") -> np.ndarray:
    """Flat events -> ``(n_samples, n_channels, k)`` float64 spike times (see the module docstring).

    ``n_samples`` / ``n_channels`` default to the largest index + 1. Errors name ``name`` and the field.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    fields = {}
    for field, value in (("channels", channels), ("sample", sample)):
        a = np.asarray(value)
        if a.size and not (np.issubdtype(a.dtype, np.integer) or
                           (np.issubdtype(a.dtype, np.floating) and np.all(a == np.round(a)))):
            raise ValueError(f"{name}: field '{field}' must hold integer indices")
        fields[field] = a.astype(np.int64).ravel()
    ch, sm = fields["channels"], fields["sample"]
    if not len(t) == len(ch) == len(sm):
        raise ValueError(f"{name}: fields 'times', 'channels', 'sample' must have the same length, "
                         f"got {len(t)}, {len(ch)}, {len(sm)}")
    if not np.all(np.isfinite(t)) or (t.size and t.min() < 0):
        raise ValueError(f"{name}: field 'times' must be finite and >= 0")
    for field, a, limit in (("channels", ch, n_channels), ("sample", sm, n_samples)):
        if a.size and a.min() < 0:
            raise ValueError(f"{name}: field '{field}' must be >= 0 (found {a.min()})")
        if limit is not None and a.size and a.max() >= limit:
            raise ValueError(f"{name}: field '{field}' has index {a.max()}, must be < {limit}")
    n_samples = int(n_samples if n_samples is not None else (sm.max() + 1 if sm.size else 0))
    n_channels = int(n_channels if n_channels is not None else (ch.max() + 1 if ch.size else 0))
    if n_samples < 1 or n_channels < 1:
        raise ValueError(f"{name}: no events (need at least one sample and one channel)")
    flat = sm * n_channels + ch
    order = np.lexsort((t, flat))
    flat, t = flat[order], t[order]
    counts = np.bincount(flat, minlength=n_samples * n_channels)
    k = max(1, int(counts.max()))
    out = np.full((n_samples * n_channels, k), np.inf)
    rank = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[flat, rank] = t
    return out.reshape(n_samples, n_channels, k)


@dataclass(frozen=True)
class SpikeTimesEncoder:
    """The identity encoder for data that already are spike times ``(n, n_channels, k)``.

    Attributes:
        n_channels: network inputs (>= 1).
    """

    n_channels: int

    def __post_init__(self):
        if int(self.n_channels) != self.n_channels or int(self.n_channels) < 1:
            raise ValueError(f"n_channels = {self.n_channels}: must be an integer >= 1")
        object.__setattr__(self, "n_channels", int(self.n_channels))

    def fit(self, spikes) -> "SpikeTimesEncoder":
        """Nothing to fit: returns ``self``."""
        return self

    def n_inputs(self, n_features: int | None = None) -> int:
        return self.n_channels

    def __call__(self, spikes) -> np.ndarray:
        """Validated copy of ``spikes`` ``(n, n_channels[, k])`` as float64 ``(n, n_channels, k)``."""
        shape = np.shape(spikes)
        if len(shape) not in (2, 3):
            raise ValueError(f"spikes: expected shape (n, n_channels[, k]), got {shape}")
        return check_spike_array("spikes", spikes, (shape[0], self.n_channels)).copy()

    def to_dict(self) -> dict:
        return {"kind": KIND, "n_channels": self.n_channels}

    @classmethod
    def from_dict(cls, d: dict) -> "SpikeTimesEncoder":
        d = dict(d)
        kind = d.pop("kind", KIND)
        if kind != KIND or set(d) != {"n_channels"}:
            raise ValueError(f"encoder settings: expected kind {KIND!r} and key 'n_channels', got {sorted(d)}")
        return cls(**d)
