"""Encoders: data -> input spike times ``(batch, n_inputs, k)`` float64, +inf padded, sorted per input.

Every encoder has ``fit(train) -> fitted copy`` (anything it learns from data, such as normalisation
bounds or per-channel thresholds, comes from the training split only), ``__call__(data) -> spike times``,
``n_inputs(n_features)``, and ``to_dict()`` / ``from_dict()`` (JSON-safe, stored in the model file so
deployment and fine-tuning see the same spikes). :func:`encoder_from_dict` rebuilds any of them from its
dict, including the ``LatencyEncoder`` dicts of older model files (which carry no ``kind``).

* :class:`LatencyEncoder` (``latency``): static features, one spike per feature (``latency.py``).
* :class:`DeltaEncoder` (``delta``): series, send-on-delta up/down spikes per channel, optionally after a
  :class:`ChannelReduction` (``delta.py``, ``reduce.py``).
* :class:`SpikeTimesEncoder` (``spikes``): data that already are spikes (``events.py``).
"""
from __future__ import annotations

from .delta import DeltaEncoder
from .events import SpikeTimesEncoder, events_to_times
from .latency import LatencyEncoder
from .reduce import ChannelReduction

__all__ = ["LatencyEncoder", "DeltaEncoder", "SpikeTimesEncoder", "ChannelReduction", "encoder_from_dict",
           "events_to_times", "ENCODERS"]

ENCODERS = {"latency": LatencyEncoder, "delta": DeltaEncoder, "spikes": SpikeTimesEncoder}


def encoder_from_dict(d: dict):
    """The encoder a ``to_dict()`` output describes; a dict without ``kind`` is a ``LatencyEncoder``'s."""
    if not isinstance(d, dict):
        raise ValueError(f"encoder settings: expected a dict, got {type(d).__name__}")
    kind = d.get("kind", "latency")
    if kind not in ENCODERS:
        raise ValueError(f"encoder settings: kind = {kind!r}; valid: {', '.join(ENCODERS)}")
    return ENCODERS[kind].from_dict(d)
