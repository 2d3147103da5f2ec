"""Checks of spike times: input validation and Theorem 4 (positive diagonal, firing equations hold).

Both the simulator and the gradient code need these, so they live below both: this module imports
only :mod:`fpsnn.kernels` (and the network type, for annotations only).

* :func:`check_spike_array`, :func:`check_input_times`, :func:`check_spike_times`: padded spike-time
  arrays from a user, a file or a chip, validated with a ValueError that names the argument.
* :func:`check_theorem4`: on simulated spikes, every spike's own slope ``M_ff = V'(f-)`` is positive
  and its firing equation ``V(f) = theta`` holds (the lower-triangular system of the exact gradient
  has a positive diagonal). The test suite switches it on for every simulation (``FPSNN_DEBUG=1``).
* :func:`slope_and_potential`: ``M_ff`` and ``V(f-)`` of one spike from the spike times alone (the
  recurrent adjoint uses it too).
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

from .kernels import CACHE, FMA, psp, psp_slope, sorted_events

if TYPE_CHECKING:  # annotations only: the maths does not depend on the Network class
    from .network import Network

__all__ = ["check_spike_array", "check_input_times", "check_spike_times", "check_theorem4", "debug_enabled",
           "slope_and_potential"]

_NO_REC = np.zeros((0, 0))


def debug_enabled(debug: bool = False) -> bool:
    """``debug`` or the environment variable ``FPSNN_DEBUG`` set to anything but "" / "0".

    The test suite sets it, so every simulation in every test checks Theorem 4.
    """
    return bool(debug) or os.environ.get("FPSNN_DEBUG", "") not in ("", "0")


def check_spike_array(name: str, value, shape: tuple) -> np.ndarray:
    """Padded spike times as C-contiguous float64 ``(*shape, k)``, or ValueError naming ``name``.

    ``value`` may omit the last axis (one spike or none per neuron). ``+inf`` means "no spike"; NaN,
    negative or -inf times, and times not sorted along the last axis are errors.
    """
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be converted to float64 spike times ({exc})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[:2] != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)} or {tuple(shape) + ('k',)}, got {np.shape(value)}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: the batch is empty")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name}: contains NaN spike times (use np.inf for 'no spike')")
    if np.any(arr < 0):
        raise ValueError(f"{name}: spike times must be >= 0 (found {arr.min()})")
    if arr.shape[2] > 1 and np.any(arr[:, :, 1:] < arr[:, :, :-1]):  # (inf - inf would warn)
        raise ValueError(f"{name}: each neuron's spike times must be sorted along the last axis")
    return np.ascontiguousarray(arr)


def check_input_times(x, n_in: int, name: str = "x") -> np.ndarray:
    """Validate input spike times ``(batch, n_in[, k])`` and return them as ``(batch, n_in, k)`` float64."""
    try:
        shape = np.shape(x)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: cannot be converted to float64 spike times ({exc})") from None
    if len(shape) in (2, 3) and shape[1] != n_in:
        raise ValueError(f"{name}: has {shape[1]} input channels but weights[0] has {n_in} rows")
    if len(shape) not in (2, 3):
        raise ValueError(f"{name}: expected shape (batch, n_in) or (batch, n_in, k), got {shape}")
    return check_spike_array(name, x, (shape[0], n_in))


def check_spike_times(net: Network, times, batch: int) -> list:
    """Validate spike times from elsewhere (a chip, an emulator): one ``(batch, n_l, k_l)`` array per layer."""
    if not isinstance(times, (list, tuple)) or len(times) != net.n_layers:
        raise ValueError(f"times: expected a list of {net.n_layers} arrays (one per layer)")
    out = []
    for l, t in enumerate(times):
        arr = check_spike_array(f"times[{l}]", t, (batch, net.sizes[l]))
        if np.all(np.isinf(net.theta[l])) and np.any(np.isfinite(arr)):
            raise ValueError(f"times[{l}]: layer {l} is a non-firing read-out layer but has spikes")
        out.append(arr)
    return out


@njit(cache=CACHE, fastmath=FMA)
def slope_and_potential(pre_t, pre_j, lay_t, lay_i, q, own_row, w, rec, has_rec, a, b, th):
    """M_ff = V'(f-) and V(f-) of layer spike q (neuron lay_i[q] at time lay_t[q]).

    ``pre_t, pre_j``: the layer's input events in time order (time, channel); ``lay_t, lay_i``: the
    layer's own spikes in time order; ``own_row``: the neuron's own sorted spike times (used when the
    layer has no recurrent weights). Only strictly earlier spikes count (the causal set).
    """
    t = lay_t[q]
    i = lay_i[q]
    slope = 0.0
    pot = 0.0
    for e in range(np.searchsorted(pre_t, t)):   # the causal set: strictly earlier inputs
        tau = t - pre_t[e]
        slope += w[pre_j[e], i] * psp_slope(tau, a, b)
        pot += w[pre_j[e], i] * psp(tau, a, b)
    if has_rec:
        for r in range(np.searchsorted(lay_t[:q], t)):
            tau = t - lay_t[r]
            j = lay_i[r]
            if j == i:
                slope += th * b * math.exp(-b * tau)
                pot -= th * math.exp(-b * tau)
            else:
                slope += rec[j, i] * psp_slope(tau, a, b)
                pot += rec[j, i] * psp(tau, a, b)
    else:
        for m in range(np.searchsorted(own_row, t)):
            tau = t - own_row[m]
            slope += th * b * math.exp(-b * tau)
            pot -= th * math.exp(-b * tau)
    return slope, pot


@njit(parallel=True, cache=CACHE, fastmath=FMA)
def _theorem4_layer(pre, out, w, rec, has_rec, alpha, beta, theta):
    batch, n, k = out.shape
    slope = np.full((batch, n, k), np.nan)
    pot = np.full((batch, n, k), np.nan)
    for s in prange(batch):
        pt, pj, _ = sorted_events(pre[s], math.inf)
        st, si, sf = sorted_events(out[s], math.inf)
        for q in range(st.size):
            i = si[q]
            m, v = slope_and_potential(pt, pj, st, si, q, out[s, i], w, rec, has_rec, alpha[i], beta[i], theta[i])
            slope[s, i, sf[q] % k] = m
            pot[s, i, sf[q] % k] = v
    return slope, pot


def check_theorem4(net: Network, inputs, times, rtol: float = 1e-9):
    """Assert Theorem 4 on simulated spikes: every diagonal entry M_ff > 0 and V(f) = theta.

    The system is lower triangular by construction (a spike's equation only involves strictly earlier
    spikes); this checks the diagonal and that each firing equation holds to ``rtol`` relative to the
    threshold. Raises AssertionError naming the layer and sample.
    """
    prev = inputs
    for l in range(net.n_layers):
        if np.all(np.isinf(net.theta[l])):
            break
        rec = net.recurrent[l]
        slope, pot = _theorem4_layer(prev, times[l], net.weights[l], _NO_REC if rec is None else rec,
                                     rec is not None, net.alpha[l], net.beta[l], net.theta[l])
        fin = np.isfinite(times[l])
        if np.any(slope[fin] <= 0):
            s = np.argwhere(fin & (slope <= 0))[0]
            raise AssertionError(f"Theorem 4 violated: layer {l}, sample {s[0]}, neuron {s[1]}: dV/dt = {slope[tuple(s)]} <= 0")
        th = np.broadcast_to(net.theta[l][None, :, None], pot.shape)
        err = np.abs(pot - th)[fin]
        if err.size and np.max(err / th[fin]) > rtol:
            raise AssertionError(f"firing equation V(f) = theta off by {np.max(err / th[fin]):.3g} (relative) in layer {l}")
        prev = times[l]
