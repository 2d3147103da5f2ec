"""The policy for spike times measured on a chip: what the exact gradient may use, and what is counted.

A target reports spike times; the gradient of :class:`fpsnn.finetune.FineTuner` is exact *at* those
times, so they must be times the float model could produce. :func:`clean_times` applies the policy,
counts every case (:data:`POLICY_COUNTS`, reported in the metrics rows) and never stops a run:

* NaN times and times outside the window ``[0, t_max + slack]`` are dropped (treated as no spike);
  ``slack`` is one chip step per layer, the longest pipeline delay of the supported chips;
* each neuron's times are sorted (``reordered`` counts the rows that were not);
* repeated equal times of one neuron (several events in one chip step) are kept once, because the
  float model cannot fire twice at one instant (``coincident``);
* times beyond the layer's spike cap (``Network.spike_caps``) are dropped (``over_cap``);
* a non-firing read-out layer (``theta = inf``, the membrane read-outs) comes back as the empty
  ``(batch, n_out, 0)`` array the float simulator gives such a layer, whatever the target reported:
  an event there is the chip's state overflow (Xylo's output neuron fires when its potential reaches
  the int16 limit), not a spike the float model has. Such events are counted (``readout_events``,
  :data:`READOUT_COUNTS`, only for a network with a read-out); the samples they clip are what
  ``backend.readout_saturated`` reports.

Elsewhere in the same loop: an output neuron with no spike counts as firing at ``t_max`` with zero
gradient (:mod:`fpsnn.losses`), a spike whose slope is not positive carries no gradient
(``n_bad_slopes``, :mod:`fpsnn.gradients`), and a minibatch whose gradient is not finite is skipped
(``skipped_updates``). Malformed results (wrong number of layers, samples or neurons) are a backend
bug, not measurement noise: ValueError naming the layer and the shapes.
"""
from __future__ import annotations

import numpy as np

from ..network import Network

__all__ = ["POLICY_COUNTS", "READOUT_COUNTS", "clean_times"]

#: Keys of the measured-times policy counters (see :func:`clean_times`).
POLICY_COUNTS = ("nan", "out_of_window", "reordered", "coincident", "over_cap")
#: Extra policy counter of a network whose output layer is a membrane read-out: events the target
#: reported for that layer, dropped (module docstring).
READOUT_COUNTS = ("readout_events",)


def clean_times(times, net: Network, batch: int, dt: float, slack_steps: int | None = None):
    """Apply the measured-times policy (module docstring) to one result of a target.

    Args:
        times: one ``(batch, n_l[, k])`` array per layer, as a target reports them (time units).
        net: the chip network the gradient will use (sizes, ``t_max``, ``spike_caps``).
        batch: number of samples run.
        dt, slack_steps: the window is ``[0, t_max + slack_steps * dt]`` (``dt``: the chip step in time
            units); ``slack_steps`` defaults to one step per layer.

    Returns:
        ``(times, counts)``: clean float64 ``(batch, n_l, k_l)`` arrays (sorted, ``+inf`` padded,
        ``1 <= k_l <=`` layer ``l``'s spike cap; ``k = 0`` for a read-out layer) and a dict with one
        count per :data:`POLICY_COUNTS` key (spike entries dropped or re-sorted rows), and per
        :data:`READOUT_COUNTS` key when ``net`` has a read-out layer.

    Raises:
        ValueError: wrong number of layers, samples or neurons (names the layer and both shapes).
    """
    if not isinstance(times, (list, tuple)) or len(times) != net.n_layers:
        raise ValueError(f"times: expected {net.n_layers} layers of measured spike times, got "
                         f"{len(times) if isinstance(times, (list, tuple)) else type(times).__name__}")
    dt = float(dt)
    slack = (net.n_layers if slack_steps is None else int(slack_steps)) * dt
    t_end = net.t_max + slack
    counts = dict.fromkeys(POLICY_COUNTS + (READOUT_COUNTS if net.readout else ()), 0)
    out = []
    caps = net.spike_caps
    for l, t in enumerate(times):
        if net.readout and l == net.n_layers - 1:
            counts["readout_events"] += _readout_events(t, batch, net.sizes[l], l)
            out.append(np.empty((batch, net.sizes[l], 0)))
            continue
        arr = np.array(t, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[:2] != (batch, net.sizes[l]):
            raise ValueError(f"times[{l}]: expected shape ({batch}, {net.sizes[l]}, k) (batch, neurons of "
                             f"layer {l}, spikes), got {np.shape(t)}")
        nan = np.isnan(arr)
        outside = ~nan & ~np.isposinf(arr) & ((arr < 0) | (arr > t_end))
        counts["nan"] += int(nan.sum())
        counts["out_of_window"] += int(outside.sum())
        arr[nan | outside] = np.inf
        srt = np.sort(arr, axis=2)
        counts["reordered"] += int(np.any(srt != arr, axis=2).sum())
        arr = srt
        if arr.shape[2] > 1:
            dup = np.zeros(arr.shape, dtype=bool)
            dup[:, :, 1:] = np.isfinite(arr[:, :, 1:]) & (arr[:, :, 1:] == arr[:, :, :-1])
            counts["coincident"] += int(dup.sum())
            arr[dup] = np.inf
            arr = np.sort(arr, axis=2)
        width = max(1, min(arr.shape[2], caps[l]))
        counts["over_cap"] += int(np.isfinite(arr[:, :, width:]).sum())
        out.append(np.ascontiguousarray(arr[:, :, :width]))
    return out, counts


def _readout_events(t, batch: int, n: int, l: int) -> int:
    """Finite times the target reported for read-out layer ``l`` (``(batch, n[, k])``; shape checked)."""
    arr = np.asarray(t, dtype=np.float64)
    if arr.ndim not in (2, 3) or arr.shape[:2] != (batch, n):
        raise ValueError(f"times[{l}]: expected shape ({batch}, {n}, k) (batch, neurons of layer {l}, spikes), "
                         f"got {np.shape(t)}")
    return int(np.isfinite(arr).sum())
