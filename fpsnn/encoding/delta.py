r"""Send-on-delta (level-crossing) encoding: signal channels -> up and down spike trains.

What event sensors (DVS, event microphones) and Xylo IMU's input interface do. Each channel ``c`` keeps a
reference level :math:`r_c`; whenever the signal rises to :math:`r_c + \theta_c` the channel's *up*
input spikes and :math:`r_c` moves up by :math:`\theta_c`; whenever it falls to :math:`r_c - \theta_c` the
*down* input spikes and :math:`r_c` moves down. After every step :math:`|x_c(t_i) - r_c| < \theta_c`, so

.. math:: x_c(t_i) \approx r_c(0) + \theta_c\,(\#\text{up spikes} \le t_i - \#\text{down spikes} \le t_i)

to within one threshold (tested), unless the per-input spike cap ``max_spikes`` dropped spikes.

Time: step ``i`` of a series is at time ``i / sample_rate`` (network time units; ``sample_rate`` in steps
per time unit, default 1). With ``interpolate`` (default) a crossing between steps ``i - 1`` and ``i`` is
placed where the straight line between the two samples meets the level; without it, at step ``i``'s time.

Start level ``r_c(0)``: ``baseline = "mean"`` (default) starts at the channel's mean over the training
split, so the spikes at ``t = 0`` encode the series' first value relative to that mean (absolute levels
carry class information, e.g. a speaker's cepstrum); ``"first"`` starts at the series' own first value,
so only changes are encoded (what an event sensor does).

Thresholds (fitted on the training split only): :math:`\theta_c` = ``threshold_scale`` x the standard
deviation of channel ``c``'s step-to-step differences over all training series (signal units); a channel
whose training differences are all zero gets :math:`\theta_c = 1`.

Inputs: input ``2c`` is channel ``c``'s up train, ``2c + 1`` its down train, so ``n_inputs = 2 x channels``
(after the optional :class:`~fpsnn.encoding.reduce.ChannelReduction`, applied first).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from ..kernels import CACHE
from .reduce import ChannelReduction
from .signals import as_series, stack_steps

__all__ = ["DeltaEncoder"]

KIND = "delta"
BASELINES = ("mean", "first")
MAX_SPIKES_PER_CHANNEL = 1e6  # per series and channel; beyond it the thresholds are surely a mistake


@njit(cache=CACHE)
def _series_events(x, thr, ref0, dt, interpolate, out):
    """Send-on-delta for one series ``x`` (C, T); fills ``out`` (2C, K) up to K spikes per input and
    returns the full spike count per input (2C,), including spikes beyond K (those are not written)."""
    n_ch, n_steps = x.shape
    cap = out.shape[1]
    count = np.zeros(2 * n_ch, dtype=np.int64)
    for c in range(n_ch):
        ref = ref0[c]
        th = thr[c]
        a, ta = ref, 0.0  # the previous sample; before step 0 it is the start level at t = 0
        for i in range(n_steps):
            b, tb = x[c, i], i * dt
            while b - ref >= th and ref + th > ref:
                ref += th
                t = tb
                if interpolate and tb > ta:
                    t = min(tb, max(ta, ta + (ref - a) / (b - a) * (tb - ta)))
                if count[2 * c] < cap:
                    out[2 * c, count[2 * c]] = t
                count[2 * c] += 1
            while ref - b >= th and ref - th < ref:
                ref -= th
                t = tb
                if interpolate and tb > ta:
                    t = min(tb, max(ta, ta + (a - ref) / (a - b) * (tb - ta)))
                if count[2 * c + 1] < cap:
                    out[2 * c + 1, count[2 * c + 1]] = t
                count[2 * c + 1] += 1
            a, ta = b, tb
    return count


@dataclass(frozen=True)
class DeltaEncoder:
    """Send-on-delta with up/down inputs per channel (see the module docstring for the exact rule).

    Attributes:
        sample_rate: steps per network time unit (> 0); step ``i`` is at ``i / sample_rate``.
        threshold_scale: threshold per channel in units of the training split's step-difference standard
            deviation (> 0); smaller = more spikes.
        interpolate: place crossings on the line between samples (else at the sample's time).
        max_spikes: most spikes per input per sample (later ones are dropped), ``None`` = no cap.
        baseline: start level, ``"mean"`` (training mean per channel) or ``"first"`` (the series' first value).
        reduction: optional :class:`ChannelReduction` applied before encoding (fitted with the encoder).
        thresholds, levels: per-channel threshold and start level (signal units after reduction), set by
            :meth:`fit`; ``levels`` stays ``None`` with ``baseline = "first"``.
    """

    sample_rate: float = 1.0
    threshold_scale: float = 0.5
    interpolate: bool = True
    max_spikes: int | None = None
    baseline: str = "mean"
    reduction: ChannelReduction | None = None
    thresholds: tuple | None = None
    levels: tuple | None = None

    def __post_init__(self):
        for name in ("sample_rate", "threshold_scale"):
            value = float(getattr(self, name))
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} = {getattr(self, name)}: must be finite and > 0")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "interpolate", bool(self.interpolate))
        if self.max_spikes is not None:
            if int(self.max_spikes) != self.max_spikes or int(self.max_spikes) < 1:
                raise ValueError(f"max_spikes = {self.max_spikes}: must be an integer >= 1 (or None for no cap)")
            object.__setattr__(self, "max_spikes", int(self.max_spikes))
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline = {self.baseline!r}: must be one of {', '.join(BASELINES)}")
        if isinstance(self.reduction, dict):
            object.__setattr__(self, "reduction", ChannelReduction.from_dict(self.reduction))
        if self.thresholds is not None:
            thr = np.asarray(self.thresholds, dtype=np.float64)
            if thr.ndim != 1 or thr.size == 0 or not np.all(np.isfinite(thr) & (thr > 0)):
                raise ValueError(f"thresholds = {self.thresholds}: must be a non-empty list of finite values > 0")
            object.__setattr__(self, "thresholds", tuple(thr.tolist()))
        if self.levels is not None:
            lv = np.asarray(self.levels, dtype=np.float64)
            if self.thresholds is None or lv.shape != (len(self.thresholds),) or not np.all(np.isfinite(lv)):
                raise ValueError(f"levels = {self.levels}: must be finite, one per threshold")
            object.__setattr__(self, "levels", tuple(lv.tolist()))
        if self.fitted and self.baseline == "mean" and self.levels is None:
            raise ValueError("levels: a fitted encoder with baseline 'mean' needs one start level per channel")

    @property
    def fitted(self) -> bool:
        return self.thresholds is not None

    @property
    def n_channels(self) -> int:
        """Signal channels encoded (after reduction); known once fitted."""
        self._require_fitted()
        return len(self.thresholds)

    def n_inputs(self, n_features: int | None = None) -> int:
        """Network inputs: 2 per encoded channel (``n_features`` = raw channels, needed only unfitted)."""
        if self.fitted:
            return 2 * len(self.thresholds)
        if self.reduction is not None:
            return 2 * self.reduction.n_channels
        if n_features is None:
            raise ValueError("n_features: needed for an unfitted DeltaEncoder without reduction")
        return 2 * int(n_features)

    def fit(self, signals) -> "DeltaEncoder":
        """A copy with thresholds (and start levels, and the reduction) fitted on training ``signals``."""
        series = as_series(signals, "signals")
        reduction = self.reduction
        if reduction is not None:
            reduction = reduction if reduction.fitted else reduction.fit(series)
            series = reduction.apply(series)
        diffs = [np.diff(s, axis=1) for s in series if s.shape[1] > 1]
        std = np.concatenate(diffs, axis=1).std(axis=1) if diffs else np.zeros(series[0].shape[0])
        scale = np.max(np.abs(stack_steps(series)), axis=0)
        # A difference std at rounding level (a constant channel plus float noise) counts as zero.
        thr = np.where(std > 1e-12 * np.maximum(scale, 1.0), self.threshold_scale * std, 1.0)
        levels = stack_steps(series).mean(axis=0) if self.baseline == "mean" else None
        return replace(self, reduction=reduction, thresholds=tuple(thr.tolist()),
                       levels=None if levels is None else tuple(levels.tolist()))

    def __call__(self, signals) -> np.ndarray:
        """Spike times ``(n, n_inputs, k)`` float64, +inf padded, sorted per input (the simulator's format)."""
        self._require_fitted()
        raw = None if self.reduction is None else self.reduction.in_channels
        series = as_series(signals, "signals", raw if raw is not None else len(self.thresholds))
        if self.reduction is not None:
            series = self.reduction.apply(series)
        thr = np.asarray(self.thresholds)
        dt = 1.0 / self.sample_rate
        self._check_spike_budget(series, thr)
        counts = np.stack([_series_events(s, thr, self._start(s), dt, self.interpolate, np.empty((len(thr) * 2, 0)))
                           for s in series])
        k = max(1, int(counts.max()))
        if self.max_spikes is not None:
            k = min(k, self.max_spikes)
        out = np.full((len(series), 2 * len(thr), k), np.inf)
        for s, x in enumerate(series):
            _series_events(x, thr, self._start(x), dt, self.interpolate, out[s])
        return out

    def _check_spike_budget(self, series: list, thr: np.ndarray):
        """ValueError when the thresholds are too small for the signals: the spike count of a series is at
        most (|start - first value| + total variation) / threshold + 1 per channel."""
        for i, s in enumerate(series):
            travel = np.abs(s[:, 0] - self._start(s)) + np.abs(np.diff(s, axis=1)).sum(axis=1)
            worst = float(np.max(travel / thr))
            if worst > MAX_SPIKES_PER_CHANNEL:
                raise ValueError(f"thresholds: too small for signals[{i}] (about {worst:.3g} spikes on one "
                                 f"channel, limit {MAX_SPIKES_PER_CHANNEL:g}); raise threshold_scale or thresholds")

    def _start(self, series: np.ndarray) -> np.ndarray:
        return np.asarray(self.levels) if self.baseline == "mean" else np.ascontiguousarray(series[:, 0])

    def _require_fitted(self):
        if not self.fitted:
            raise ValueError("DeltaEncoder: not fitted; call encoder = encoder.fit(train_signals) first")

    def to_dict(self) -> dict:
        """JSON-safe settings (for model files); inverse of :meth:`from_dict`."""
        return {"kind": KIND, "sample_rate": self.sample_rate, "threshold_scale": self.threshold_scale,
                "interpolate": self.interpolate, "max_spikes": self.max_spikes, "baseline": self.baseline,
                "reduction": None if self.reduction is None else self.reduction.to_dict(),
                "thresholds": None if self.thresholds is None else list(self.thresholds),
                "levels": None if self.levels is None else list(self.levels)}

    @classmethod
    def from_dict(cls, d: dict) -> "DeltaEncoder":
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        d = dict(d)
        kind = d.pop("kind", KIND)
        if kind != KIND:
            raise ValueError(f"encoder settings: kind = {kind!r} is not {KIND!r}")
        known = {"sample_rate", "threshold_scale", "interpolate", "max_spikes", "baseline", "reduction",
                 "thresholds", "levels"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"encoder settings: unknown keys {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)
