"""Exact event-driven forward pass: every spike time of every neuron, no time grid.

Layers are simulated one after the other (a layer only depends on the spikes of the layer before it
and, through recurrent weights, on its own). Inside a layer, the input events are processed in time
order; between two events every neuron's next threshold crossing is found analytically
(:func:`fpsnn.kernels.next_crossing`). In a recurrent layer the earliest crossing of the whole layer is
taken first, its spike is delivered to the other neurons at once, and the search restarts, so events are
processed in global time order. A neuron may cross several times between two inputs and after the
last one; spikes are searched up to ``t_max``.

Precision: a crossing is found from a table of the kernel's inverse (exact to the crossing's own
conditioning away from the kernel peak, refined by Halley's method near it), so every spike satisfies
its firing equation V(f) = theta to rounding of the terms involved: measured on random 2-layer
networks (7 alpha/beta pairs, recurrent and not, 580k spikes), |V(f) - theta| / theta has mean
6e-15 and maximum 1.5e-13 when V is re-evaluated independently from all spike times; a neuron's
later spikes can amplify an earlier spike's rounding, so two exact methods differ by up to ~2e-13.
The test suite holds the simulator to an independent brute-force reference at 1e-9.

The causal set of a spike is not stored: it is "every spike that reached the neuron strictly before
it", which the gradient code recovers from the spike times alone. That is what lets spike times measured
on a chip replace simulated ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba import njit, prange

from .checks import check_input_times, check_spike_array, check_theorem4, debug_enabled  # noqa: F401
from .kernels import (CACHE, FMA, RISE_LEN, next_crossing, psp, rise_table, sorted_events, span_factors,
                      uniform_tuple)
from .runtime import next_task, threads_for

if TYPE_CHECKING:  # annotations only: Network is a convenience over these functions, not below them
    from .network import Network

# check_input_times / check_spike_array live in fpsnn.checks; re-exported here (their old home)
__all__ = ["SimulationResult", "simulate", "check_input_times", "check_spike_array", "membrane_potential"]


@dataclass
class SimulationResult:
    """Spike times of every layer of a simulated batch.

    Attributes:
        inputs: the input spike times as ``(batch, n_in, k_in)`` float64, sorted, +inf padded.
        times: one ``(batch, n_l, k_l)`` float64 array per layer (layer 0 = first layer after the
            inputs, last = output), each neuron's spike times sorted, +inf padded. A non-firing
            read-out layer has ``k_l = 0``.
        n_capped: per layer, how many (sample, neuron) pairs reached the layer's spike cap
            (``Network.spike_caps``) and had later threshold crossings suppressed.
        input_order: per layer, its input events in time order (:class:`EventOrder`; None for a
            read-out layer); the adjoint reuses them.
    """

    inputs: np.ndarray
    times: list
    n_capped: list = field(default_factory=list)
    input_order: list = field(default_factory=list, repr=False)

    def first_spikes(self, layer: int = -1) -> np.ndarray:
        """First spike time of every neuron of ``layer``, ``(batch, n_l)``; +inf for silent neurons."""
        t = self.times[layer]
        if t.shape[2] == 0:
            return np.full(t.shape[:2], np.inf)
        return t[:, :, 0].copy()

    def spike_counts(self, layer: int = -1) -> np.ndarray:
        """Number of spikes of every neuron of ``layer``, ``(batch, n_l)`` int."""
        return np.isfinite(self.times[layer]).sum(axis=2)


# ---------------------------------------------------------------------------------------------------
# compiled event loop


@njit(cache=CACHE, fastmath=FMA)
def _run_independent(ev_t, ev_src, w_t, alpha, beta, theta, rise, rise_of, t_max, out, cnt):
    """One sample of a layer without recurrence; fills ``out`` (n, K) and ``cnt`` (n,); returns #capped.

    Neurons are independent, so each is run over all events on its own (its state stays in registers);
    the factors of each inter-event span are computed once and shared by every neuron with the same
    (alpha, beta). ``w_t`` is the transposed weight matrix ``(n, n_in)``.
    """
    n = w_t.shape[0]
    kmax = out.shape[1]
    n_ev = ev_t.size
    fac = np.empty((n_ev + 1, 3))
    ca, cb = -1.0, -1.0  # (alpha, beta) of the factors in fac
    n_capped = 0
    for i in range(n):
        a, b, th, rs = alpha[i], beta[i], theta[i], rise[rise_of[i]]
        h_peak = rs[RISE_LEN - 1]
        if a != ca or b != cb:
            t_now = 0.0
            for e in range(n_ev + 1):
                t_next = ev_t[e] if e < n_ev else t_max
                fac[e, 0], fac[e, 1], fac[e, 2] = span_factors(t_next - t_now, a, b)
                t_now = t_next
            ca, cb = a, b
        i0 = 0.0   # synaptic current at t_now
        v0 = 0.0   # membrane potential at t_now
        t_now = 0.0
        capped = False
        for e in range(n_ev + 1):
            t_next = ev_t[e] if e < n_ev else t_max
            fa, fb, fh = fac[e, 0], fac[e, 1], fac[e, 2]
            # every crossing in (t_now, t_next]
            while True:
                if i0 <= 0.0 or i0 - b * v0 <= 0.0 or max(v0, 0.0) + i0 * h_peak < th:
                    break  # next_crossing's own first tests, inlined: most spans end here
                tau = next_crossing(i0, v0, a, b, th, t_next - t_now, fa, fb, fh, rs)
                if tau == math.inf:
                    break
                if cnt[i] == kmax:
                    capped = True  # no later spike can be recorded: done with this neuron
                    break
                t_now = t_now + tau
                out[i, cnt[i]] = t_now
                cnt[i] += 1
                i0 = i0 * math.exp(-a * tau)
                v0 = 0.0  # V was exactly theta and drops by theta
                fa, fb, fh = span_factors(t_next - t_now, a, b)
            if capped:
                n_capped += 1
                break
            v0 = v0 * fb + i0 * fh
            i0 = i0 * fa
            if e < n_ev:
                i0 += w_t[i, ev_src[e]]
            t_now = t_next
    return n_capped


@njit(cache=CACHE, fastmath=FMA)
def _run_coupled(ev_t, ev_src, w, rec, alpha, beta, theta, rise, rise_of, t_max, out, cnt):
    """One sample of a recurrent layer; fills ``out`` (n, K) and ``cnt`` (n,); returns #capped neurons.

    A spike changes the other neurons' currents, so the layer's earliest crossing is taken first, its
    spike delivered, and the search restarted: events in global time order.
    """
    n = w.shape[1]
    kmax = out.shape[1]
    cur = np.zeros(n)   # synaptic current I of every neuron at time t_now
    pot = np.zeros(n)   # membrane potential V of every neuron at time t_now
    capped = np.zeros(n, dtype=np.bool_)
    t_now = 0.0
    n_ev = ev_t.size
    for e in range(n_ev + 1):
        t_next = ev_t[e] if e < n_ev else t_max
        # a spike changes the other neurons' currents: take the layer's earliest crossing first
        while True:
            span = t_next - t_now
            best = math.inf
            who = -1
            ca, cb = -1.0, -1.0
            for i in range(n):
                if capped[i]:
                    continue
                a, b = alpha[i], beta[i]
                if a != ca or b != cb:
                    ea, eb, hs = span_factors(span, a, b)
                    ca, cb = a, b
                tau = next_crossing(cur[i], pot[i], a, b, theta[i], span, ea, eb, hs, rise[rise_of[i]])
                if tau < best:
                    best = tau
                    who = i
            if who >= 0 and cnt[who] == kmax:
                capped[who] = True  # silent from now on; look again without it
                continue
            step = best if who >= 0 else span
            ca, cb = -1.0, -1.0
            for i in range(n):
                a, b = alpha[i], beta[i]
                if a != ca or b != cb:
                    ea, eb, hs = span_factors(step, a, b)
                    ca, cb = a, b
                pot[i] = pot[i] * eb + cur[i] * hs
                cur[i] = cur[i] * ea
            if who < 0:
                break
            t_now = t_now + step
            out[who, cnt[who]] = t_now
            cnt[who] += 1
            pot[who] = 0.0
            for j in range(n):
                cur[j] += rec[who, j]
        if e < n_ev:
            src = ev_src[e]
            for i in range(n):
                cur[i] += w[src, i]
        t_now = t_next
    return capped.sum()


@njit(parallel=True, cache=CACHE, fastmath=FMA)
def _simulate_batch(inputs, t_max, w, w_t, rec, has_rec, alpha, beta, theta, rise, rise_of,
                    out, cnt, n_capped, ord_n, ord_t, ord_src, ord_flat, n_threads):
    """Every firing layer of every sample: ONE parallel region per batch, one sample per task.

    Per-layer arguments are tuples (one entry per firing layer): weights ``w`` and their transposes
    ``w_t``, ``rec`` (``has_rec[l]`` says whether it is used), per-neuron ``alpha, beta, theta``, the
    rise tables and each neuron's row in them (:func:`rise_tables`). Filled per sample ``s``:
    ``out[l][s]`` (n_l, cap of layer l) spike times padded with +inf, ``cnt[l][s]`` spike counts,
    ``n_capped[l, s]``, and the layer's input events in time order: ``ord_n[l, s]`` of them, their
    times, channels and indices into the flattened ``(n_{l-1}, k)`` input of the sample in
    ``ord_t[l][s]``, ``ord_src[l][s]``, ``ord_flat[l][s]`` (the adjoint reuses them). A thread runs a
    whole sample through every layer, so a busy machine costs one join per batch, not one per layer
    and step, and the results do not depend on the thread count. The ``n_threads`` threads take the
    samples one at a time (:func:`fpsnn.runtime.next_task`).
    """
    batch = inputs.shape[0]
    task = np.zeros(1, dtype=np.int64)
    for _ in prange(n_threads):
        s = next_task(task)
        while s < batch:
            _simulate_sample(s, inputs, t_max, w, w_t, rec, has_rec, alpha, beta, theta, rise, rise_of, out, cnt,
                             n_capped, ord_n, ord_t, ord_src, ord_flat)
            s = next_task(task)


@njit(cache=CACHE, fastmath=FMA)
def _simulate_sample(s, inputs, t_max, w, w_t, rec, has_rec, alpha, beta, theta, rise, rise_of, out, cnt,
                     n_capped, ord_n, ord_t, ord_src, ord_flat):
    """Sample ``s`` through every firing layer (the task of :func:`_simulate_batch`)."""
    for l in range(len(w)):
        prev = inputs[s] if l == 0 else out[l - 1][s]
        ev_t, ev_src, ev_flat = sorted_events(prev, t_max)
        ord_n[l, s] = ev_t.size
        ord_t[l][s, :ev_t.size] = ev_t
        ord_src[l][s, :ev_t.size] = ev_src
        ord_flat[l][s, :ev_t.size] = ev_flat
        if has_rec[l]:
            n_capped[l, s] = _run_coupled(ev_t, ev_src, w[l], rec[l], alpha[l], beta[l], theta[l], rise[l],
                                          rise_of[l], t_max, out[l][s], cnt[l][s])
        else:
            n_capped[l, s] = _run_independent(ev_t, ev_src, w_t[l], alpha[l], beta[l], theta[l], rise[l],
                                              rise_of[l], t_max, out[l][s], cnt[l][s])
        for i in range(out[l].shape[1]):  # only the spikes were written: pad with +inf
            out[l][s, i, cnt[l][s, i]:] = np.inf


_NO_REC = np.zeros((0, 0))
_RISE_CACHE: dict = {}  # (alpha, beta) -> rise table; a table costs ~0.4 ms, a training run needs a few


def rise_tables(alpha, beta) -> tuple:
    """``(tables, table_of)``: one :func:`fpsnn.kernels.rise_table` per distinct (alpha, beta) of a
    layer, and each neuron's row in it. Tables are cached across calls (a bounded dict)."""
    if alpha.min() == alpha.max() and beta.min() == beta.max():  # the usual layer: one pair
        pairs, table_of = [(alpha[0], beta[0])], np.zeros(alpha.size, dtype=np.int64)
    else:
        pairs, table_of = np.unique(np.stack([alpha, beta], axis=1), axis=0, return_inverse=True)
    tables = np.empty((len(pairs), RISE_LEN))
    for k, (a, b) in enumerate(pairs):
        key = (float(a), float(b))
        if key not in _RISE_CACHE:
            if len(_RISE_CACHE) >= 4096:
                _RISE_CACHE.clear()
            _RISE_CACHE[key] = rise_table(*key)
        tables[k] = _RISE_CACHE[key]
    return tables, np.ascontiguousarray(table_of.reshape(-1), dtype=np.int64)


def simulate(net: Network, x, debug: bool = False) -> SimulationResult:
    """Exact spike times of every layer for a batch of input spike times ``x``.

    Args:
        net: the network.
        x: input spike times, ``(batch, n_in)`` or ``(batch, n_in, k)``, time units, +inf = no spike.
        debug: also verify Theorem 4 on the result (every spike's own slope dV/dt > 0 at its time and
            the firing equation V = theta holds); raises AssertionError otherwise. Also switched on
            by the environment variable ``FPSNN_DEBUG=1``.
    """
    inputs = check_input_times(x, net.n_inputs)
    with threads_for(inputs.shape[0]):
        return _simulate(net, inputs, debug)


@dataclass
class EventOrder:
    """One layer's input events in time order, per sample (from the simulator, for the adjoint).

    ``counts[s]`` events of sample ``s``; ``t[s, :counts[s]]`` their times, ``src[s, :counts[s]]``
    their input channels and ``flat[s, :counts[s]]`` their indices into the sample's input flattened
    with ``k_in`` spikes per channel (spike ``flat - src * k_in`` of its channel).
    """

    counts: np.ndarray   # (batch,) int64
    flat: np.ndarray     # (batch, >= n_in * k_in) int64
    k_in: int
    t: np.ndarray        # (batch, >= n_in * k_in) float64, time units
    src: np.ndarray      # (batch, >= n_in * k_in) int64


def _simulate(net: Network, inputs: np.ndarray, debug: bool) -> SimulationResult:
    batch = inputs.shape[0]
    n_fire = net.n_layers - 1 if net.readout else net.n_layers
    kmax = net.spike_caps  # per layer: the compiled loops read a layer's cap from its buffer's width
    tables = [rise_tables(net.alpha[l], net.beta[l]) for l in range(n_fire)]
    k_in = [inputs.shape[2]] + [kmax[l] for l in range(n_fire - 1)]
    n_in = [net.n_inputs] + list(net.sizes[:n_fire - 1])
    out = tuple(np.empty((batch, net.sizes[l], kmax[l])) for l in range(n_fire))
    cnt = tuple(np.zeros((batch, net.sizes[l]), dtype=np.int64) for l in range(n_fire))
    n_capped = np.zeros((n_fire, batch), dtype=np.int64)
    ord_n = np.zeros((n_fire, batch), dtype=np.int64)
    ord_flat = tuple(np.empty((batch, n_in[l] * k_in[l]), dtype=np.int64) for l in range(n_fire))
    ord_t = tuple(np.empty((batch, n_in[l] * k_in[l])) for l in range(n_fire))
    ord_src = tuple(np.empty((batch, n_in[l] * k_in[l]), dtype=np.int64) for l in range(n_fire))
    if n_fire:
        recs = [net.recurrent[l] for l in range(n_fire)]
        _simulate_batch(
            inputs, net.t_max, uniform_tuple(net.weights[:n_fire]),
            uniform_tuple(np.ascontiguousarray(net.weights[l].T) for l in range(n_fire)),
            uniform_tuple(_NO_REC if r is None else r for r in recs), np.array([r is not None for r in recs]),
            uniform_tuple(net.alpha[:n_fire]), uniform_tuple(net.beta[:n_fire]), uniform_tuple(net.theta[:n_fire]),
            uniform_tuple(t[0] for t in tables), uniform_tuple(t[1] for t in tables), out, cnt, n_capped, ord_n,
            ord_t, ord_src, ord_flat, numba.get_num_threads())
    times, orders = [], []
    for l in range(n_fire):
        k = max(int(cnt[l].max()), 1)
        times.append(out[l] if k == kmax[l] else np.ascontiguousarray(out[l][:, :, :k]))
        orders.append(EventOrder(ord_n[l], ord_flat[l], k_in[l], ord_t[l], ord_src[l]))
    if n_fire < net.n_layers:  # non-firing read-out layer
        times.append(np.full((batch, net.sizes[-1], 0), np.inf))
        orders.append(None)
    res = SimulationResult(inputs=inputs, times=times, n_capped=[int(c) for c in n_capped.sum(axis=1)]
                           + [0] * (net.n_layers - n_fire), input_order=orders)
    if debug_enabled(debug):
        check_theorem4(net, res.inputs, res.times)
    return res


def membrane_potential(net: Network, x, times, t_grid, layer: int = -1) -> np.ndarray:
    """Membrane potential V(t) of every neuron of ``layer`` on ``t_grid``, from spike times.

    Evaluates the defining sum (inputs through the kernel, own spikes through the reset) directly, so
    it is independent of the event loop; used for plots and checks. Returns ``(batch, n_l, len(t_grid))``.
    """
    layer = layer % net.n_layers
    inputs = check_input_times(x, net.n_inputs)
    pre = inputs if layer == 0 else times[layer - 1]
    own = times[layer]
    t_grid = np.asarray(t_grid, dtype=np.float64)
    a, b, th = net.alpha[layer], net.beta[layer], net.theta[layer]
    return _membrane(pre, own, net.weights[layer],
                     _NO_REC if net.recurrent[layer] is None else net.recurrent[layer],
                     net.recurrent[layer] is not None, a, b, np.where(np.isinf(th), 0.0, th), t_grid)


@njit(parallel=True, cache=CACHE, fastmath=FMA)
def _membrane(pre, own, w, rec, has_rec, alpha, beta, theta, t_grid):
    batch, n_pre, k_pre = pre.shape
    n = w.shape[1]
    out = np.zeros((batch, n, t_grid.size))
    for s in prange(batch):
        for i in range(n):
            for q in range(t_grid.size):
                t = t_grid[q]
                v = 0.0
                for j in range(n_pre):
                    for k in range(k_pre):
                        if pre[s, j, k] < t:
                            v += w[j, i] * psp(t - pre[s, j, k], alpha[i], beta[i])
                for j in range(n):
                    for k in range(own.shape[2]):
                        if own[s, j, k] < t:
                            if j == i:
                                v -= theta[i] * math.exp(-beta[i] * (t - own[s, j, k]))
                            elif has_rec:
                                v += rec[j, i] * psp(t - own[s, j, k], alpha[i], beta[i])
                out[s, i, q] = v
    return out
