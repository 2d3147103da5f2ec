r"""Channel reduction before spike encoding: a fixed linear map fitted on the training split.

A chip takes a limited number of inputs (Xylo: at most 16), and a send-on-delta encoder doubles the
channel count (an up and a down input per channel). :class:`ChannelReduction` maps each time step's
channel vector :math:`x \in \mathbb{R}^{C}` to :math:`y = M (x - o) \in \mathbb{R}^{n}` with a matrix
:math:`M` (``n x C``) and offset :math:`o` fitted once on the training split, then frozen (stored in the
model file, so deployment and fine-tuning see the same inputs).

Methods:

* ``"pca"``: every channel is standardised by its training mean and standard deviation, and :math:`M`
  holds the ``n`` leading principal directions of the standardised steps (all steps of all training
  series pooled), each signed so that its largest-magnitude entry is positive (a deterministic choice).
  Output units: standard deviations of the training data.
* ``"select"``: keep the ``n`` channels with the largest training variance, in their original order
  (:math:`M` is a 0/1 selection, :math:`o = 0`, units unchanged). Channels in different units compete on
  raw variance, so standardise first (or use ``"pca"``) when they differ.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .signals import as_series, stack_steps

__all__ = ["ChannelReduction"]

METHODS = ("pca", "select")


@dataclass(frozen=True)
class ChannelReduction:
    """A fitted linear map from ``C`` signal channels to ``n_channels`` (see the module docstring).

    Attributes:
        n_channels: channels after reduction, >= 1.
        method: ``"pca"`` or ``"select"``.
        matrix: ``n_channels`` rows of ``C`` entries (``None`` until :meth:`fit`).
        offset: ``C`` entries subtracted before the matrix (signal units; ``None`` until :meth:`fit`).
    """

    n_channels: int
    method: str = "pca"
    matrix: tuple | None = None
    offset: tuple | None = None

    def __post_init__(self):
        if int(self.n_channels) != self.n_channels or int(self.n_channels) < 1:
            raise ValueError(f"n_channels = {self.n_channels}: must be an integer >= 1")
        object.__setattr__(self, "n_channels", int(self.n_channels))
        if self.method not in METHODS:
            raise ValueError(f"method = {self.method!r}: must be one of {', '.join(METHODS)}")
        if (self.matrix is None) != (self.offset is None):
            raise ValueError("matrix, offset: give both (a fitted reduction) or neither")
        if self.matrix is not None:
            m = np.asarray(self.matrix, dtype=np.float64)
            o = np.asarray(self.offset, dtype=np.float64)
            if m.ndim != 2 or m.shape[0] != self.n_channels or o.shape != (m.shape[1],):
                raise ValueError(f"matrix, offset: expected shapes ({self.n_channels}, C) and (C,), "
                                 f"got {m.shape} and {o.shape}")
            if not (np.all(np.isfinite(m)) and np.all(np.isfinite(o))):
                raise ValueError("matrix, offset: must be finite")
            object.__setattr__(self, "matrix", tuple(tuple(r) for r in m.tolist()))
            object.__setattr__(self, "offset", tuple(o.tolist()))

    @property
    def fitted(self) -> bool:
        return self.matrix is not None

    @property
    def in_channels(self) -> int | None:
        """``C``, the channel count the reduction reads (``None`` until fitted)."""
        return None if self.offset is None else len(self.offset)

    def fit(self, signals) -> "ChannelReduction":
        """A copy fitted on the training ``signals`` (dense ``(n, C, steps)`` or a list of ``(C, steps_i)``)."""
        x = stack_steps(as_series(signals, "signals"))
        c = x.shape[1]
        if self.n_channels > c:
            raise ValueError(f"n_channels = {self.n_channels}: must be <= the {c} channels of the training signals")
        if self.method == "select":
            keep = np.sort(np.argsort(-x.var(axis=0), kind="stable")[:self.n_channels])
            return replace(self, matrix=np.eye(c)[keep], offset=np.zeros(c))
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # a constant channel contributes nothing either way
        _, _, vt = np.linalg.svd((x - mean) / std, full_matrices=False)
        comps = vt[:self.n_channels]
        sign = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        return replace(self, matrix=comps * sign[:, None] / std, offset=mean)

    def apply(self, signals) -> list:
        """Reduced series: a list of ``(n_channels, steps_i)`` float64 arrays."""
        if not self.fitted:
            raise ValueError("ChannelReduction: not fitted; call reduction = reduction.fit(train_signals)")
        m, o = np.asarray(self.matrix), np.asarray(self.offset)
        return [np.ascontiguousarray(m @ (s - o[:, None])) for s in as_series(signals, "signals", len(o))]

    def to_dict(self) -> dict:
        """JSON-safe settings; inverse of :meth:`from_dict`."""
        return {"n_channels": self.n_channels, "method": self.method,
                "matrix": None if self.matrix is None else [list(r) for r in self.matrix],
                "offset": None if self.offset is None else list(self.offset)}

    @classmethod
    def from_dict(cls, d: dict) -> "ChannelReduction":
        known = {"n_channels", "method", "matrix", "offset"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"reduction settings: unknown keys {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)
