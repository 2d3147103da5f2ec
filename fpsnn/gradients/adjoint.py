"""Adjoint mode: M^T lambda = dL/dF solved backward in time, then dL/dW = -lambda^T dV/dW + dL/dW.

The training fast path (see :mod:`fpsnn.gradients` for the maths). Pure functions over arrays: one
parallel region per batch (:func:`_adjoint_batch`), each task a fixed chunk of samples run backward
through every layer, so the gradient is bitwise the same for any thread count.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..checks import slope_and_potential
from ..kernels import CACHE, FMA, psp_both, sorted_events, span_factors, uniform_tuple
from ..runtime import next_task

_NO_REC = np.zeros((0, 0))
MAX_CHUNKS = 16  # most batch chunks of the adjoint's parallel loop (see batch_chunks)
_EMPTY3 = np.zeros((0, 0, 0))


@njit(cache=CACHE, fastmath=FMA)
def _adjoint_neuron(pt, pj, pf, own, w_col, a, b, th, src_own, gw_col, src_pre, fac, slope):
    """Adjoint of one neuron of a non-recurrent layer, by two sweeps over its events.

    A spike's equation only involves the neuron's inputs and its own earlier spikes, so every sum
    over (spike, cause) pairs can be carried as a state that decays between events:
      forward:  I = sum_g w e^{-a(t-g)},  U = sum_g w h(t-g),  R = sum_m e^{-b(t-m)}
                -> slope M_ff = I - b U + th b R  at each own spike f;
      backward: P_a = sum_{f>t} lam_f e^{-a(t_f-t)},  P_b (same with b),  S = sum_{f>t} lam_f h(t_f-t),
                using h(tau + d) = e^{-b d} h(tau) + e^{-a tau} h(d), so
                lam_f = (dL/dF_f + th b P_b) / M_ff,  dL/dW_j -= S(g),  dL/dg += w_j (P_a - b S)(g).
    Cost O(#inputs + #own spikes) instead of O(#inputs x #own spikes); the backward sweep crosses the
    same gaps as the forward one in reverse, so it reuses their decay factors (``fac``: scratch
    ``(>= #events, 3)``; ``slope``: scratch ``(>= #own spikes,)``). Returns #spikes with M_ff <= 0.
    """
    n_own = 0
    while n_own < own.size and own[n_own] < math.inf:
        n_own += 1
    if n_own == 0:
        return 0
    any_src = False
    for m in range(n_own):
        if src_own[m] != 0.0:
            any_src = True
    if not any_src:
        return 0  # every lambda of this neuron is zero
    n_pre = pt.size
    cur = 0.0
    upot = 0.0
    resets = 0.0
    t = 0.0
    e = 0
    m = 0
    n_gap = 0  # fac[g] = factors of the g-th gap between distinct event times
    while m < n_own:
        is_pre = e < n_pre and pt[e] < own[m]   # strictly earlier inputs are causes
        te = pt[e] if is_pre else own[m]
        if te > t:
            ea, eb, hd = span_factors(te - t, a, b)
            fac[n_gap, 0] = ea
            fac[n_gap, 1] = eb
            fac[n_gap, 2] = hd
            n_gap += 1
            upot = upot * eb + cur * hd
            cur = cur * ea
            resets = resets * eb
            t = te
        if is_pre:
            cur += w_col[pj[e]]
            e += 1
        else:
            slope[m] = cur - b * upot + th * b * resets
            resets += 1.0
            m += 1
    # backward: e = number of inputs strictly before the last spike
    n_bad = 0
    p_a = 0.0
    p_b = 0.0
    s_h = 0.0
    t = own[n_own - 1]
    m = n_own - 1
    e -= 1
    while m >= 0 or e >= 0:
        is_pre = e >= 0 and (m < 0 or pt[e] >= own[m])   # at a tie the input goes first: not a cause
        te = pt[e] if is_pre else own[m]
        if te < t:
            n_gap -= 1
            ea, eb, hd = fac[n_gap, 0], fac[n_gap, 1], fac[n_gap, 2]
            s_h = s_h * eb + hd * p_a
            p_a = p_a * ea
            p_b = p_b * eb
            t = te
        if is_pre:
            j = pj[e]
            gw_col[j] -= s_h
            src_pre[pf[e]] += w_col[j] * (p_a - b * s_h)
            e -= 1
        else:
            if slope[m] > 0.0:
                lam = (src_own[m] + th * b * p_b) / slope[m]
                p_a += lam
                p_b += lam
            else:
                n_bad += 1
            m -= 1
    return n_bad


@njit(cache=CACHE, fastmath=FMA)
def _adjoint_sample(pt, pj, pf, out_s, w, rec, has_rec, alpha, beta, theta, src_s, gw, grec, src_pre_s):
    """Backward substitution over one sample's spikes of one layer. Returns #spikes with slope <= 0.

    ``pt, pj, pf``: the sample's input events in time order (:func:`fpsnn.kernels.sorted_events`).
    """
    src_pre = src_pre_s.ravel()
    if not has_rec:
        n_bad = 0
        fac = np.empty((pt.size + out_s.shape[1] + 1, 3))  # scratch shared by the neurons
        slope = np.empty(out_s.shape[1])
        for i in range(out_s.shape[0]):
            n_bad += _adjoint_neuron(pt, pj, pf, out_s[i], w[:, i], alpha[i], beta[i], theta[i],
                                     src_s[i], gw[:, i], src_pre, fac, slope)
        return n_bad
    # recurrent layer: spikes of different neurons couple, solve over all (spike, cause) pairs
    st, si, sf = sorted_events(out_s, math.inf)
    src = src_s.ravel()
    push = np.zeros(src.size)  # contributions of later spikes of this layer (reset / recurrence)
    n_bad = 0
    for q in range(st.size - 1, -1, -1):
        numer = src[sf[q]] + push[sf[q]]
        if numer == 0.0:
            continue
        t = st[q]
        i = si[q]
        a, b, th = alpha[i], beta[i], theta[i]
        slope, _ = slope_and_potential(pt, pj, st, si, q, out_s[i], w, rec, has_rec, a, b, th)
        if not slope > 0.0:
            n_bad += 1
            continue
        lam = numer / slope
        for e in range(np.searchsorted(pt, t)):   # the causal set: strictly earlier inputs
            tau = t - pt[e]
            j = pj[e]
            h, hp = psp_both(tau, a, b)
            gw[j, i] -= lam * h
            src_pre[pf[e]] += lam * w[j, i] * hp
        for r in range(np.searchsorted(st[:q], t)):
            tau = t - st[r]
            j = si[r]
            if j == i:
                push[sf[r]] += lam * th * b * math.exp(-b * tau)
            else:
                h, hp = psp_both(tau, a, b)
                grec[j, i] -= lam * h
                push[sf[r]] += lam * rec[j, i] * hp
    return n_bad


@njit(cache=CACHE, fastmath=FMA)
def _events_of(pre_s, order_n, order_t, order_src, order_flat, k_cap):
    """A sample's input events in time order ``(t, channel, flat index into pre_s)``.

    From the simulator's order (``order_n >= 0``: times, channels and indices into the input laid out
    with ``k_cap`` spikes per channel, re-based to ``pre_s``'s own width), else sorted here (measured
    times).
    """
    if order_n < 0:
        return sorted_events(pre_s, math.inf)
    pt = order_t[:order_n]
    pj = order_src[:order_n]
    shift = k_cap - pre_s.shape[1]
    if shift == 0:
        return pt, pj, order_flat[:order_n]
    pf = np.empty(order_n, dtype=np.int64)
    for e in range(order_n):
        pf[e] = order_flat[e] - pj[e] * shift
    return pt, pj, pf


@njit(parallel=True, cache=CACHE, fastmath=FMA)
def _adjoint_batch(pre, out, w, rec, has_rec, alpha, beta, theta, own, has_own, d_pre, gw, grec,
                   ord_n, ord_t, ord_src, ord_flat, ord_k, n_chunks, n_threads):
    """The adjoint of every layer of every sample: ONE parallel region per batch.

    Per-layer tuples over the firing layers ``l``: ``pre[l]`` its input times, ``out[l]`` its spikes,
    ``own[l]`` the loss's dL/d(its spikes) (used where ``has_own[l]``); ``d_pre[l]`` receives
    dL/d(pre[l]) (zeroed by the caller; ``d_pre[l + 1]`` is the src of layer ``l``, so it is complete
    before layer l runs). Gradients go to ``gw[l][c]`` / ``grec[l][c]`` for the fixed batch chunk
    ``c``: chunk c's samples are summed in sample order by one task, so the result is bitwise the same
    for any thread count and any assignment of chunks to threads. The ``n_threads`` threads take the
    chunks one at a time (:func:`fpsnn.runtime.next_task`).
    """
    batch = out[0].shape[0]
    n_lay = len(out)
    bad = np.zeros(n_chunks, dtype=np.int64)
    task = np.zeros(1, dtype=np.int64)
    for _ in prange(n_threads):
        c = next_task(task)
        while c < n_chunks:
            for s in range(c * batch // n_chunks, (c + 1) * batch // n_chunks):
                for l in range(n_lay - 1, -1, -1):
                    src = d_pre[l + 1][s]
                    if has_own[l]:
                        src += own[l][s]
                    pt, pj, pf = _events_of(pre[l][s], ord_n[l, s], ord_t[l][s], ord_src[l][s], ord_flat[l][s],
                                            ord_k[l])
                    bad[c] += _adjoint_sample(pt, pj, pf, out[l][s], w[l], rec[l], has_rec[l], alpha[l], beta[l],
                                              theta[l], src, gw[l][c], grec[l][c], d_pre[l][s])
            c = next_task(task)
    return bad


def batch_chunks(batch: int, net) -> int:
    """How many partial sums the adjoint splits a batch of ``batch`` samples of ``net`` into.

    A fixed number (never the thread count), so results are bitwise the same on 1 or 16 cores; enough
    of them (:data:`MAX_CHUNKS`) that a thread whose core is taken by another process holds back only
    a small share of the batch; fewer when their partial gradients would pass 64 MB. The chunk count
    fixes only the order of the batch sum (the gradient changes by rounding, never by maths);
    :mod:`fpsnn.distributed` uses it to shard a batch so that the sum is bit-identical.
    """
    n_params = sum(w.size for w in net.weights) + sum(0 if r is None else r.size for r in net.recurrent)
    return int(max(1, min(batch, MAX_CHUNKS, (64 * 2**20) // (8 * max(n_params, 1)))))


def _adjoint(net, inputs, times, d_times, orders=None, chunks: int | None = None):
    """dL/dW (summed over the batch), dL/d(input times), #bad slopes, by backward substitution.

    ``orders``: every layer's input events in time order, as :func:`fpsnn.simulate.simulate` leaves
    them in ``SimulationResult.input_order`` (sorted here when not given, e.g. for measured times).
    ``chunks``: partial sums of the batch sum (default :func:`batch_chunks`).
    """
    batch = inputs.shape[0]
    n_lay = net.n_layers
    readout = times[-1].shape[2] == 0
    n_fire = n_lay - 1 if readout else n_lay
    g_w = [np.zeros_like(w) for w in net.weights]
    g_r = [None if r is None else np.zeros_like(r) for r in net.recurrent]
    if n_fire == 0:  # a single read-out layer: the loss's direct terms are the whole gradient
        return g_w, g_r, np.zeros(inputs.shape), 0
    pres = [inputs] + list(times[:n_fire - 1])
    n_chunks = batch_chunks(batch, net) if chunks is None else min(int(chunks), batch)
    recs = [_NO_REC if net.recurrent[l] is None else net.recurrent[l] for l in range(n_fire)]
    gw = tuple(np.zeros((n_chunks,) + net.weights[l].shape) for l in range(n_fire))
    grec = tuple(np.zeros((n_chunks,) + recs[l].shape) for l in range(n_fire))
    d_pre = tuple(np.zeros(p.shape) for p in pres) + (np.zeros(times[n_fire - 1].shape),)
    if readout and d_times[n_fire - 1] is not None:  # the read-out's loss terms on the layer before it
        d_pre[n_fire][...] = d_times[n_fire - 1]
    own = tuple(_EMPTY3 if d_times[l] is None or (readout and l == n_fire - 1) else
                np.ascontiguousarray(d_times[l], dtype=np.float64) for l in range(n_fire))
    ord_n = np.full((n_fire, batch), -1, dtype=np.int64)
    ord_t, ord_src, ord_flat, ord_k = [], [], [], np.ones(n_fire, dtype=np.int64)
    for l in range(n_fire):
        o = orders[l] if orders is not None else None
        if o is None:  # sorted in _events_of
            ord_t.append(np.zeros((batch, 0)))
            ord_src.append(np.zeros((batch, 0), dtype=np.int64))
            ord_flat.append(np.zeros((batch, 0), dtype=np.int64))
            continue
        ord_n[l] = o.counts
        ord_t.append(o.t)
        ord_src.append(o.src)
        ord_flat.append(o.flat)
        ord_k[l] = o.k_in
    bad = _adjoint_batch(uniform_tuple(pres), uniform_tuple(times[:n_fire]), uniform_tuple(net.weights[:n_fire]),
                         uniform_tuple(recs), np.array([net.recurrent[l] is not None for l in range(n_fire)]),
                         uniform_tuple(net.alpha[:n_fire]), uniform_tuple(net.beta[:n_fire]),
                         uniform_tuple(net.theta[:n_fire]), uniform_tuple(own),
                         np.array([o is not _EMPTY3 for o in own]), d_pre, gw, grec, ord_n, uniform_tuple(ord_t),
                         uniform_tuple(ord_src), uniform_tuple(ord_flat), ord_k, n_chunks, numba.get_num_threads())
    for l in range(n_fire):
        g_w[l] += gw[l].sum(axis=0)
        if net.recurrent[l] is not None:
            g_r[l] += grec[l].sum(axis=0)
    return g_w, g_r, d_pre[0], int(bad.sum())
