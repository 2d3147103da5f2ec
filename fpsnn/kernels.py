r"""Scalar maths of one LIF neuron between events, compiled with numba (used by the event loops).

Between two events a neuron is described by its synaptic current :math:`I` and membrane potential
:math:`V` at a reference time. After a further time :math:`\tau` (no event in between):

.. math:: I(\tau) = I_0 e^{-\alpha\tau}, \qquad V(\tau) = V_0 e^{-\beta\tau} + I_0\,h(\tau),
          \qquad V'(\tau) = I(\tau) - \beta V(\tau).

The state form never divides by :math:`\beta - \alpha`: :math:`h` is evaluated as
:math:`e^{-m\tau}\,\tau\,E(|\beta-\alpha|\tau)` with :math:`m = \min(\alpha, \beta)` and
:math:`E(y) = (1 - e^{-y})/y` (``-expm1(-y)/y``, exact to rounding for every :math:`y \ge 0`, including
the paper's :math:`\alpha = 0.999\,\beta`), so :math:`\alpha = \beta` and :math:`\alpha \approx \beta`
need no special case and lose no digits.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

INF = math.inf


@njit(cache=True)
def sorted_events(times_s, t_limit):
    """One sample's finite spikes <= t_limit in time order (ties in channel order).

    ``times_s`` is ``(n, k)``: per channel sorted times, +inf padded. Returns ``(t, channel, flat)``
    where ``flat`` is the index into ``times_s.ravel()`` (to scatter per-spike results back).

    A bucket sort: spike times spread over a window, so one bucket per spike holds O(1) of them on
    average and a stable insertion sort inside each bucket finishes the job in linear time (a general
    argsort was a third of the whole training step). Crowded buckets fall back to a stable argsort.
    """
    n, k = times_s.shape
    flat = times_s.ravel()
    idx = np.empty(flat.size, dtype=np.int64)
    count = 0
    t_lo = math.inf
    t_hi = -math.inf
    for f in range(flat.size):
        v = flat[f]
        if v <= t_limit and v < math.inf:  # +inf is padding, never an event
            idx[count] = f
            count += 1
            t_lo = min(t_lo, v)
            t_hi = max(t_hi, v)
    ev_t = np.empty(count)
    ev_src = np.empty(count, dtype=np.int64)
    ev_flat = np.empty(count, dtype=np.int64)
    if count == 0:
        return ev_t, ev_src, ev_flat
    n_b = count
    scale = (n_b - 1) / (t_hi - t_lo) if t_hi > t_lo else 0.0
    start = np.zeros(n_b + 1, dtype=np.int64)
    bucket = np.empty(count, dtype=np.int64)
    for e in range(count):
        b = min(int((flat[idx[e]] - t_lo) * scale), n_b - 1)
        bucket[e] = b
        start[b + 1] += 1
    for b in range(n_b):
        start[b + 1] += start[b]
    fill = start[:n_b].copy()
    for e in range(count):  # counting sort by bucket keeps the flat (channel) order inside a bucket
        f = idx[e]
        pos = fill[bucket[e]]
        fill[bucket[e]] += 1
        ev_flat[pos] = f
        ev_t[pos] = flat[f]
    for b in range(n_b):
        lo, hi = start[b], start[b + 1]
        if hi - lo <= 1:
            continue
        if hi - lo > 32:
            order = np.argsort(ev_t[lo:hi], kind="mergesort")
            ev_flat[lo:hi] = ev_flat[lo:hi][order]
            ev_t[lo:hi] = ev_t[lo:hi][order]
            continue
        for p in range(lo + 1, hi):  # stable insertion sort
            tv, fv = ev_t[p], ev_flat[p]
            q = p - 1
            while q >= lo and ev_t[q] > tv:
                ev_t[q + 1] = ev_t[q]
                ev_flat[q + 1] = ev_flat[q]
                q -= 1
            ev_t[q + 1] = tv
            ev_flat[q + 1] = fv
    for e in range(count):
        ev_src[e] = ev_flat[e] // k
    return ev_t, ev_src, ev_flat


@njit(cache=True, inline="always")
def expm1_ratio(y):
    """(1 - exp(-y)) / y for y >= 0, with the limit 1 at y = 0 (no cancellation for small y)."""
    if y == 0.0:
        return 1.0
    return -math.expm1(-y) / y


@njit(cache=True, inline="always")
def log1p_ratio(y):
    """log(1 + y) / y for y > -1, with the limit 1 at y = 0."""
    if y == 0.0:
        return 1.0
    return math.log1p(y) / y


@njit(cache=True, inline="always")
def psp(tau, alpha, beta):
    """The post-synaptic kernel h(tau) = (e^{-alpha tau} - e^{-beta tau}) / (beta - alpha), tau >= 0."""
    d = abs(beta - alpha)
    m = min(alpha, beta)
    return math.exp(-m * tau) * tau * expm1_ratio(d * tau)


@njit(cache=True, inline="always")
def psp_slope(tau, alpha, beta):
    """h'(tau) = e^{-alpha tau} - beta h(tau)  (the membrane ODE applied to a unit current)."""
    return math.exp(-alpha * tau) - beta * psp(tau, alpha, beta)


@njit(cache=True, inline="always")
def psp_both(tau, alpha, beta):
    """(h(tau), h'(tau)) with three transcendental calls instead of five."""
    ea = math.exp(-alpha * tau)
    em = ea if alpha <= beta else math.exp(-beta * tau)
    h = em * tau * expm1_ratio(abs(beta - alpha) * tau)
    return h, ea - beta * h


@njit(cache=True, inline="always")
def potential(i0, v0, tau, alpha, beta):
    """V after tau with no event: V0 e^{-beta tau} + I0 h(tau)."""
    return v0 * math.exp(-beta * tau) + i0 * psp(tau, alpha, beta)


@njit(cache=True, inline="always")
def span_factors(span, alpha, beta):
    """(e^{-alpha span}, e^{-beta span}, h(span)): all a neuron needs to jump over an event-free span.

    Neurons of a layer usually share alpha and beta, so the event loops compute these once per
    span and reuse them for every neuron.
    """
    ea = math.exp(-alpha * span)
    eb = math.exp(-beta * span)
    h = (ea if alpha <= beta else eb) * span * expm1_ratio(abs(beta - alpha) * span)
    return ea, eb, h


@njit(cache=True)
def kernel_peak(alpha, beta):
    """(tau_h, h(tau_h)): time and height of the kernel's maximum, tau_h = log(beta/alpha)/(beta-alpha)."""
    d = beta - alpha
    tau_h = log1p_ratio(d / alpha) / alpha
    return tau_h, psp(tau_h, alpha, beta)


@njit(cache=True)
def next_crossing(i0, v0, alpha, beta, theta, span, ea_span, eb_span, h_span, h_peak, tau_h):
    """First tau in [0, span] with V(tau) = theta reached from below, or +inf if there is none.

    ``ea_span, eb_span, h_span`` are :func:`span_factors` of ``span`` (shared between neurons) and
    ``tau_h, h_peak`` the neuron's :func:`kernel_peak`: V(tau) <= max(V0, 0) + I0 h_peak, which
    rejects most intervals without a transcendental call, and for V0 = 0 (right after a spike) the
    maximum is exactly I0 h_peak at tau_h.
    V(tau) = a e^{-alpha tau} + b e^{-beta tau} has at most one extremum on tau >= 0 and tends to 0,
    so (theta > 0):
      * V'(0) = I0 - beta V0 <= 0: V falls, and after a possible minimum rises towards 0 < theta: no crossing;
      * otherwise V rises to its maximum at tau* and falls after it. If V'(span) >= 0 the maximum is
        past the span and V(span) decides; else tau* (closed form below) lies inside and V(tau*) decides.
        The crossing is the unique root on [0, min(tau*, span)], where V is increasing; it is refined
        by Halley's method kept inside a shrinking bracket (bisection when a step leaves it).
    tau* solves I(tau) = beta V(tau): e^{(beta-alpha) tau} = (beta/alpha)(1 - V0 (beta-alpha)/I0), i.e.
      tau* = log1p(d/alpha)/d + log1p(-V0 d/I0)/d,  d = beta - alpha,
    written with log1p(y)/y so that d -> 0 (alpha == beta: tau* = 1/alpha - V0/I0) is exact.
    """
    if i0 <= 0.0 or i0 - beta * v0 <= 0.0:
        return INF
    if v0 >= theta:
        # Only reachable through rounding at an interval boundary: the crossing is now.
        return 0.0
    if max(v0, 0.0) + i0 * h_peak < theta:
        return INF
    v_end = v0 * eb_span + i0 * h_span
    rising_at_end = i0 * ea_span - beta * v_end >= 0.0
    if v_end >= theta and rising_at_end:
        hi = span
        v_hi = v_end
    elif rising_at_end:
        return INF  # increasing over the whole span and still below theta at its end
    elif v0 == 0.0:
        hi = min(tau_h, span)   # V = I0 h: the kernel's own maximum
        v_hi = i0 * h_peak if hi == tau_h else v_end
    else:
        d = beta - alpha
        y = -v0 * d / i0
        if y <= -1.0:
            return INF  # no maximum: V rises monotonically towards 0 from below
        hi = log1p_ratio(d / alpha) / alpha - (v0 / i0) * log1p_ratio(y)
        if hi <= 0.0:
            return INF
        hi = min(hi, span)
        v_hi = potential(i0, v0, hi, alpha, beta)
        if v_hi < theta:
            return INF
    return _refine_crossing(i0, v0, alpha, beta, theta, hi, v_hi)


@njit(cache=True)
def _refine_crossing(i0, v0, alpha, beta, theta, hi, v_hi):
    """The root of V(tau) = theta on [0, hi], where V increases from V0 < theta to v_hi >= theta."""
    d = beta - alpha
    lo = 0.0
    # start from the chord between (0, V0) and (hi, V(hi))
    tau = hi * (theta - v0) / (v_hi - v0)
    for _ in range(100):
        ea = math.exp(-alpha * tau)
        eb = math.exp(-beta * tau)
        h = (ea if alpha <= beta else eb) * tau * expm1_ratio(abs(d) * tau)
        v = v0 * eb + i0 * h
        f = v - theta
        if f == 0.0:
            return tau
        if f < 0.0:
            lo = tau
        else:
            hi = tau
        df = i0 * ea - beta * v                      # V'  = I - beta V
        if df > 0.0:
            d2f = -alpha * i0 * ea - beta * df           # V'' = -alpha I - beta V'
            # Halley's step (cubic convergence): from the chord guess two steps usually suffice
            step = f / df
            denom = 1.0 - 0.5 * step * d2f / df
            if denom > 0.5:
                step = step / denom
            nxt = tau - step
            if lo < nxt < hi:
                # once the step is below 1e-7 the next error is below 1e-18 (relative)
                if abs(step) <= 1e-7 * (1.0 + tau):
                    return nxt
                tau = nxt
                continue
        if hi - lo <= 4.4e-16 * hi:
            return hi
        tau = 0.5 * (lo + hi)
    return tau
