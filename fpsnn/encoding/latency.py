r"""Latency encoding: real-valued features -> one input spike time per feature (+ an optional bias spike).

A feature value :math:`v` is first mapped to :math:`u \in [0, 1]`, then to one spike at

.. math:: t = t_{early} + u\,(T - t_{early})            \quad(\text{direct: small value, early spike})
.. math:: t = t_{early} + (1 - u)\,(T - t_{early})      \quad(\text{mirrored: large value, early spike})

with all times in the network's time unit. :math:`u = v` when the features are already in ``[0, 1]``
(Yin-Yang, XOR); otherwise :math:`u = (v - v_{min}) / (v_{max} - v_{min})` with one ``(min, max)`` pair per
feature (Iris; the paper takes them over the whole data set). Values outside ``[min, max]`` (new data)
are clipped to ``[0, 1]`` so every spike stays inside ``[t_early, T]``.

The three paper encodings are instances of one class:

* XOR: ``t_early = 0, T = 2``, direct: bit 0 -> 0.0 (early), bit 1 -> 2.0 (late).
* Iris: ``t_early = 0, T = 16``, mirrored with per-feature min/max:
  :math:`t = T (1 - (n - \min n) / (\max n - \min n))`, exactly the paper's formula.
* Yin-Yang: ``t_early = 0.15, T = 2``, direct (Goltz et al.'s direction:
  :math:`t = 0.15 + v (2 - 0.15)`), plus a bias spike at ``t_bias = 0.9`` as a 5th input.

The bias spike, when enabled, is appended as the *last* input column, identical for every sample.

For images (``mnist5k``), ``skip_zero=True`` silences every feature whose normalised value is exactly 0
(its time is ``+inf``, "no spike"): background pixels carry no information, and without this they would
all spike together at one end of the window. One ``(min, max)`` pair of length 1 applies to every feature
(pixels share the range 0-255).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = ["LatencyEncoder"]

KIND = "latency"


def _finite_float(name: str, value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}: must be a real number") from None
    if not np.isfinite(out):
        raise ValueError(f"{name} = {value!r}: must be finite")
    return out


@dataclass(frozen=True)
class LatencyEncoder:
    """One spike per feature at a time linear in the (normalised) feature value.

    Attributes:
        t_max: latest input spike time :math:`T` (time units), > ``t_early``.
        t_early: earliest input spike time (time units), >= 0.
        t_bias: time of an extra bias input spike (time units, in ``[0, t_max]``), or ``None`` for none.
        mirrored: ``False`` (direct): value 0 -> ``t_early``, value 1 -> ``t_max``. ``True``: the reverse.
        feature_min, feature_max: per-feature normalisation bounds (feature units), or ``None`` when the
            features are already in ``[0, 1]`` (then anything outside ``[0, 1]`` is an error). Length 1:
            the same bounds for every feature.
        skip_zero: a feature whose normalised value is 0 sends no spike (``+inf``) instead of one at the
            value-0 end of the window (images: background pixels stay silent).
    """

    t_max: float
    t_early: float = 0.0
    t_bias: float | None = None
    mirrored: bool = False
    feature_min: tuple | None = None
    feature_max: tuple | None = None
    skip_zero: bool = False

    def __post_init__(self):
        t_early = _finite_float("t_early", self.t_early)
        t_max = _finite_float("t_max", self.t_max)
        if t_early < 0:
            raise ValueError(f"t_early = {t_early}: must be >= 0")
        if t_max <= t_early:
            raise ValueError(f"t_max = {t_max}: must be > t_early = {t_early}")
        object.__setattr__(self, "t_early", t_early)
        object.__setattr__(self, "t_max", t_max)
        if self.t_bias is not None:
            t_bias = _finite_float("t_bias", self.t_bias)
            if not 0 <= t_bias <= t_max:
                raise ValueError(f"t_bias = {t_bias}: must be in [0, t_max = {t_max}]")
            object.__setattr__(self, "t_bias", t_bias)
        object.__setattr__(self, "mirrored", bool(self.mirrored))
        object.__setattr__(self, "skip_zero", bool(self.skip_zero))
        if (self.feature_min is None) != (self.feature_max is None):
            raise ValueError("feature_min, feature_max: give both or neither")
        if self.feature_min is not None:
            lo = tuple(_finite_float(f"feature_min[{i}]", v) for i, v in enumerate(self.feature_min))
            hi = tuple(_finite_float(f"feature_max[{i}]", v) for i, v in enumerate(self.feature_max))
            if len(lo) != len(hi) or not lo:
                raise ValueError(f"feature_min, feature_max: need the same non-zero length, got {len(lo)} and {len(hi)}")
            for i, (a, b) in enumerate(zip(lo, hi)):
                if not b > a:
                    raise ValueError(f"feature_max[{i}] = {b}: must be > feature_min[{i}] = {a} (constant feature)")
            object.__setattr__(self, "feature_min", lo)
            object.__setattr__(self, "feature_max", hi)

    @classmethod
    def fit_minmax(cls, features, **kwargs) -> "LatencyEncoder":
        """An encoder normalising each feature by its min/max over ``features`` (batch, n_features)."""
        x = _features_array(features)
        return cls(feature_min=tuple(x.min(axis=0)), feature_max=tuple(x.max(axis=0)), **kwargs)

    def fit(self, features) -> "LatencyEncoder":
        """A copy fitted on training ``features`` (batch, n_features): per-feature min/max bounds if this
        encoder has none, else ``self``. A feature constant over the training split gets ``max = min + 1``
        (its training value maps to 0) instead of an error, so one dead column does not stop a user file."""
        if self.feature_min is not None:
            return self
        x = _features_array(features)
        lo, hi = x.min(axis=0), x.max(axis=0)
        hi = np.where(hi > lo, hi, lo + 1.0)
        return replace(self, feature_min=tuple(lo.tolist()), feature_max=tuple(hi.tolist()))

    def n_inputs(self, n_features: int) -> int:
        """Number of network inputs for ``n_features`` features (one more with a bias spike)."""
        return int(n_features) + (self.t_bias is not None)

    def normalise(self, features) -> np.ndarray:
        """Features (batch, n_features) -> values in [0, 1] (see the module docstring)."""
        x = _features_array(features)
        if self.feature_min is None:
            bad = (x < 0) | (x > 1)
            if np.any(bad):
                i = tuple(int(b) for b in np.argwhere(bad)[0])
                raise ValueError(f"features{list(i)} = {x[i]}: must be in [0, 1] "
                                 "(or give feature_min/feature_max to normalise)")
            return x
        if len(self.feature_min) != 1 and x.shape[1] != len(self.feature_min):
            raise ValueError(f"features: expected {len(self.feature_min)} columns, got {x.shape[1]}")
        lo = np.asarray(self.feature_min)
        hi = np.asarray(self.feature_max)
        # Clipping keeps unseen data inside the encoding window instead of producing negative times.
        return np.clip((x - lo) / (hi - lo), 0.0, 1.0)

    def __call__(self, features) -> np.ndarray:
        """Encode ``features`` (batch, n_features) into input spike times (batch, n_inputs), float64."""
        u = self.normalise(features)
        silent = u == 0 if self.skip_zero else None
        if self.mirrored:
            u = 1.0 - u
        times = self.t_early + u * (self.t_max - self.t_early)
        if silent is not None:
            times[silent] = np.inf
        if self.t_bias is not None:
            times = np.concatenate([times, np.full((times.shape[0], 1), self.t_bias)], axis=1)
        return np.ascontiguousarray(times, dtype=np.float64)

    def to_dict(self) -> dict:
        """JSON-serialisable settings (for model files); inverse of :meth:`from_dict`."""
        d = {"kind": KIND, **asdict(self)}
        for key in ("feature_min", "feature_max"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LatencyEncoder":
        """Rebuild an encoder from :meth:`to_dict` output (also the older dicts without ``kind`` or
        ``skip_zero``); unknown keys are an error."""
        known = {"t_max", "t_early", "t_bias", "mirrored", "feature_min", "feature_max", "skip_zero"}
        d = dict(d)
        kind = d.pop("kind", KIND)
        if kind != KIND:
            raise ValueError(f"encoder settings: kind = {kind!r} is not {KIND!r}")
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"encoder settings: unknown keys {sorted(unknown)}; valid: {sorted(known)}")
        for key in ("feature_min", "feature_max"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


def _features_array(features) -> np.ndarray:
    try:
        x = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"features: cannot be converted to a float64 array ({exc})") from None
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"features: expected shape (batch, n_features) with n_features >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features: must be finite (NaN or inf found)")
    return x
