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
import os
import tempfile
import warnings
from pathlib import Path

import numba

import numpy as np
from numba import njit

from .runtime import tune_process

INF = math.inf


def _writable(path) -> bool:
    """Whether ``path`` is (or can be made) a directory this process can write a file in."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def choose_cache_dir(user_dir, in_tree, fallbacks):
    """Where numba's compiled-code cache can live: ``(kind, directory)``, or ``(None, None)``.

    ``user_dir``: the user's ``NUMBA_CACHE_DIR`` (or "" / None); ``in_tree``: the package's own
    ``__pycache__`` (numba's default); ``fallbacks``: other directories to try, in order. The first
    writable one wins; kind is "user", "in-tree" or "fallback".
    """
    if user_dir and _writable(user_dir):
        return "user", str(user_dir)
    if _writable(in_tree):
        return "in-tree", str(in_tree)
    for d in fallbacks:
        if _writable(d):
            return "fallback", str(d)
    return None, None


def configure_numba_cache():
    """Make sure numba's ``cache=CACHE`` never stops the program (returns whether caching is on).

    Numba raises "cannot cache function ...: no locator available" at import time when neither
    ``NUMBA_CACHE_DIR``, the package's ``__pycache__`` nor the user's home cache is writable (a
    service account, a read-only container). Then the cache goes to ``$XDG_CACHE_HOME/fpsnn/numba``
    (``~/.cache/fpsnn/numba``) or ``<tempdir>/fpsnn-numba-<uid>``, whichever is writable (set as
    ``NUMBA_CACHE_DIR`` for this process and its children); when none is, the loops compile on every
    start (a minute or two) and one warning says so.
    """
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    try:
        tmp = os.path.join(tempfile.gettempdir(), f"fpsnn-numba-{uid}")
    except (OSError, FileNotFoundError):
        tmp = None
    kind, where = choose_cache_dir(numba.config.CACHE_DIR, Path(__file__).parent / "__pycache__",
                                   [d for d in (os.path.join(xdg, "fpsnn", "numba"), tmp) if d])
    if kind == "fallback":
        numba.config.CACHE_DIR = where
        os.environ["NUMBA_CACHE_DIR"] = where
    elif kind is None:
        warnings.warn("fpsnn: no writable directory for numba's compiled-code cache (NUMBA_CACHE_DIR, the "
                      "package's __pycache__, $XDG_CACHE_HOME, the temp dir); running uncached: every start "
                      "compiles the event loops again. Set NUMBA_CACHE_DIR to a writable directory.",
                      RuntimeWarning, stacklevel=2)
    return kind is not None


# Pass as ``cache=CACHE`` to every ``njit`` / ``vectorize`` of the package (False: no writable place).
CACHE = configure_numba_cache()
# Before the first parallel loop of the process (fpsnn.runtime: both settings only where the user made none).
RUNTIME = tune_process()


# The only fast-math flag the compiled loops use: let LLVM fuse a * b + c into one fused multiply-add.
# A fused operation rounds once instead of twice (never less accurate); no reassociation, no
# approximate division, inf/NaN semantics kept. ~12 % faster event loops.
FMA = {"contract"}

def uniform_tuple(arrays) -> tuple:
    """The arrays as a tuple of writable C-contiguous float64 / int64 arrays (copies only where needed).

    The batch loops take one entry per layer in a tuple, which numba indexes at run time only when
    every entry has the same type (a read-only or strided array is a different type).
    """
    out = []
    for a in arrays:
        a = np.asarray(a)
        if not (a.flags.c_contiguous and a.flags.writeable):
            a = np.array(a, order="C")
        out.append(a)
    return tuple(out)


@njit(cache=CACHE, inline="always")
def is_event(v, t_limit):
    """A padded spike-time entry that is an event up to ``t_limit`` (+inf is padding, never an event)."""
    return v <= t_limit and v < math.inf


@njit(cache=CACHE, fastmath=FMA)
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
        if is_event(v, t_limit):
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


@njit(cache=CACHE, inline="always", fastmath=FMA)
def expm1_ratio(y):
    """(1 - exp(-y)) / y for y >= 0, with the limit 1 at y = 0 (no cancellation for small y).

    Below y = 0.05 (the paper's alpha ~ beta: y = |beta - alpha| tau is ~1e-3) the Taylor series
    sum_k (-y)^k / (k+1)! to k = 8 (to k = 5 below y = 5e-3) is used (truncation < 6e-19, so exact to
    rounding): a few multiply-adds instead of an ``expm1`` call and a division.
    """
    if y < 5e-3:  # the paper's Yin-Yang (|beta - alpha| = 1e-3): to k = 5, truncation < 4e-18
        return 1.0 - y * (1 / 2 - y * (1 / 6 - y * (1 / 24 - y * (1 / 120 - y * (1 / 720)))))
    if y < 0.05:
        return 1.0 - y * (1 / 2 - y * (1 / 6 - y * (1 / 24 - y * (1 / 120 - y * (1 / 720 - y * (
            1 / 5040 - y * (1 / 40320 - y * (1 / 362880))))))))
    return -math.expm1(-y) / y


@njit(cache=CACHE, inline="always", fastmath=FMA)
def log1p_ratio(y):
    """log(1 + y) / y for y > -1, with the limit 1 at y = 0.

    For |y| < 0.01 the series sum_k (-y)^k / (k+1) to k = 8 (to k = 5 below 1e-3; truncation < 2e-19):
    in the event loop y is |beta - alpha| V0 / I0, ~1e-3 with the paper's alpha ~ beta.
    """
    if abs(y) < 1e-3:
        return 1.0 - y * (1 / 2 - y * (1 / 3 - y * (1 / 4 - y * (1 / 5 - y * (1 / 6)))))
    if abs(y) < 0.01:
        return 1.0 - y * (1 / 2 - y * (1 / 3 - y * (1 / 4 - y * (1 / 5 - y * (1 / 6 - y * (
            1 / 7 - y * (1 / 8 - y * (1 / 9))))))))
    return math.log1p(y) / y


@njit(cache=CACHE, inline="always", fastmath=FMA)
def psp(tau, alpha, beta):
    """The post-synaptic kernel h(tau) = (e^{-alpha tau} - e^{-beta tau}) / (beta - alpha), tau >= 0."""
    d = abs(beta - alpha)
    m = min(alpha, beta)
    return math.exp(-m * tau) * tau * expm1_ratio(d * tau)


@njit(cache=CACHE, inline="always", fastmath=FMA)
def psp_slope(tau, alpha, beta):
    """h'(tau) = e^{-alpha tau} - beta h(tau)  (the membrane ODE applied to a unit current)."""
    return psp_both(tau, alpha, beta)[1]


@njit(cache=CACHE, inline="always", fastmath=FMA)
def psp_both(tau, alpha, beta):
    """(h(tau), h'(tau)) with one or two transcendental calls (see :func:`span_factors`)."""
    ea, _, h = span_factors(tau, alpha, beta)
    return h, ea - beta * h


@njit(cache=CACHE, inline="always", fastmath=FMA)
def potential(i0, v0, tau, alpha, beta):
    """V after tau with no event: V0 e^{-beta tau} + I0 h(tau)."""
    return v0 * math.exp(-beta * tau) + i0 * psp(tau, alpha, beta)


@njit(cache=CACHE, inline="always", fastmath=FMA)
def span_factors(tau, alpha, beta):
    """(e^{-alpha tau}, e^{-beta tau}, h(tau)): all a neuron needs to jump over an event-free span tau.

    Neurons of a layer usually share alpha and beta, so the event loops compute these once per
    span and reuse them for every neuron. One ``exp`` when alpha ~ beta: with m = min(alpha, beta) and y = |beta - alpha| tau: h = e^{-m tau} tau E(y) and the other
    exponential is e^{-m tau} e^{-y} = e^{-m tau} (1 - y E(y)); for y < 0.05 that product has no
    cancellation (relative error ~1e-16), above it the exponential is computed directly.
    """
    d = abs(beta - alpha)
    y = d * tau
    e = expm1_ratio(y)
    em = math.exp(-min(alpha, beta) * tau)
    h = em * tau * e
    if y < 0.05:
        other = em * (1.0 - y * e)
    else:
        other = math.exp(-max(alpha, beta) * tau)
    if alpha <= beta:
        return em, other, h
    return other, em, h


@njit(cache=CACHE, fastmath=FMA)
def kernel_peak(alpha, beta):
    """(tau_h, h(tau_h)): time and height of the kernel's maximum, tau_h = log(beta/alpha)/(beta-alpha)."""
    d = beta - alpha
    tau_h = log1p_ratio(d / alpha) / alpha
    return tau_h, psp(tau_h, alpha, beta)


@numba.vectorize(["float64(float64, float64, float64)"], cache=CACHE)
def psp_causal(t, alpha, beta):
    """The kernel as a numpy ufunc (broadcasting): h(t) for t > 0, 0 for t <= 0 (before the spike)."""
    return psp(t, alpha, beta) if t > 0.0 else 0.0


@numba.vectorize(["float64(float64, float64, float64)"], cache=CACHE)
def psp_slope_causal(t, alpha, beta):
    """The kernel's slope h'(t) as a numpy ufunc: h'(t) for t > 0, 0 for t <= 0 (1/time-unit)."""
    return psp_slope(t, alpha, beta) if t > 0.0 else 0.0


@njit(cache=CACHE, fastmath=FMA)
def psp_integral(u, alpha, beta):
    """H(u) = integral of h over [0, u] (time units squared per unit current), u >= 0.

    The kernel is the membrane potential of a unit current decaying at one rate under a leak at the
    other (it is symmetric in alpha and beta), so with m = min, M = max of the two rates
    H(u) = (u E(m u) - h(u)) / M, E(y) = (1 - e^{-y}) / y. Below M u = 0.05 that difference cancels,
    and the series H(u) = sum_k (-1)^k c_k u^{k+2} / (k+2)!, c_k = sum_{i<=k} alpha^i beta^{k-i}, to
    k = 10 is used instead (truncation below 1e-19 relative).
    """
    if u <= 0.0:
        return 0.0
    m, big = min(alpha, beta), max(alpha, beta)
    if big * u < 0.05:
        total, c, p_beta, fact_pow, sign = 0.0, 0.0, 1.0, u * u / 2.0, 1.0
        for k in range(11):
            c = alpha * c + p_beta      # c_k = alpha c_{k-1} + beta^k
            total += sign * c * fact_pow
            p_beta *= beta
            fact_pow *= u / (k + 3)
            sign = -sign
        return total
    return (u * expm1_ratio(m * u) - psp(u, alpha, beta)) / big


@numba.vectorize(["float64(float64, float64, float64)"], cache=CACHE)
def psp_integral_causal(t, alpha, beta):
    """:func:`psp_integral` as a numpy ufunc: H(t) for t > 0, 0 for t <= 0."""
    return psp_integral(t, alpha, beta) if t > 0.0 else 0.0


@numba.vectorize(["float64(float64, float64)"], cache=CACHE)
def psp_peak(alpha, beta):
    """The kernel's maximum h(tau_h) as a numpy ufunc (per neuron: arrays of alpha and beta)."""
    return kernel_peak(alpha, beta)[1]


RISE_PIECES = 8   # the rise table: piecewise Chebyshev series in s = sqrt(1 - u) ...
RISE_DEGREE = 9   # ... of this degree on each of RISE_PIECES equal pieces of [0, 1]
RISE_LEN = RISE_PIECES * (RISE_DEGREE + 1) + 2  # the coefficients, then tau_h and h_peak


@njit(cache=CACHE, fastmath=FMA)
def rise_table(alpha, beta):
    """The inverse of the kernel's rising branch as piecewise Chebyshev series, plus (tau_h, h_peak).

    On [0, tau_h] the kernel h rises from 0 to its peak h_peak; tau(u) solves h(tau) = u h_peak for
    u in [0, 1]. Written in s = sqrt(1 - u) the square-root behaviour at the peak disappears and
    tau(s) is analytic on [0, 1]: degree-9 series on 8 pieces fit it to ~2e-15 tau_h (measured for
    1/10 <= alpha/beta <= 10, limited by the rounding of the nodes), i.e. to the conditioning of the
    crossing itself, so away from the peak the table *is* the root (see :func:`next_crossing`).
    Returns an array of length ``RISE_LEN``.
    """
    tau_h, h_peak = kernel_peak(alpha, beta)
    nc = RISE_DEGREE + 1
    out = np.empty(RISE_LEN)
    vals = np.empty(nc)
    for p in range(RISE_PIECES):
        for k in range(nc):
            s = (p + 0.5 * (1.0 + math.cos(math.pi * (k + 0.5) / nc))) / RISE_PIECES
            u = 1.0 - s * s
            vals[k] = _refine_crossing(1.0 / h_peak, 0.0, alpha, beta, u, tau_h, tau_h * u)
        for j in range(nc):
            acc = 0.0
            for k in range(nc):
                acc += vals[k] * math.cos(math.pi * j * (k + 0.5) / nc)
            out[p * nc + j] = 2.0 * acc / nc
        out[p * nc] *= 0.5
    out[RISE_LEN - 2] = tau_h
    out[RISE_LEN - 1] = h_peak
    return out


@njit(cache=CACHE, inline="always", fastmath=FMA)
def rise_time(rise, s):
    """tau in [0, tau_h] with h(tau) = (1 - s^2) h_peak, s in [0, 1], from a :func:`rise_table`."""
    z = s * RISE_PIECES
    p = min(int(z), RISE_PIECES - 1)
    x = 2.0 * (z - p) - 1.0
    base = p * (RISE_DEGREE + 1)
    b1 = 0.0
    b2 = 0.0
    for j in range(RISE_DEGREE, 0, -1):  # Clenshaw
        b1, b2 = 2.0 * x * b1 - b2 + rise[base + j], b1
    return x * b1 - b2 + rise[base]


@njit(cache=CACHE, fastmath=FMA)
def next_crossing(i0, v0, alpha, beta, theta, span, ea_span, eb_span, h_span, rise):
    """First tau in [0, span] with V(tau) = theta reached from below, or +inf if there is none.

    ``ea_span, eb_span, h_span`` are :func:`span_factors` of ``span`` (shared between neurons) and
    ``rise`` the neuron's :func:`rise_table` (with tau_h, h_peak): V(tau) <= max(V0, 0) + I0 h_peak,
    which rejects most intervals without a transcendental call.
    V(tau) = a e^{-alpha tau} + b e^{-beta tau} has at most one extremum on tau >= 0 and tends to 0,
    so (theta > 0):
      * V'(0) = I0 - beta V0 <= 0: V falls, and after a possible minimum rises towards 0 < theta: no crossing;
      * otherwise V rises to its maximum and falls after it. If V'(span) >= 0 the maximum is past the
        span and V(span) decides; else the maximum lies inside and its height decides. The crossing
        is the unique root on [0, min(maximum, span)], where V is increasing.
    The state is one kernel started tau0 earlier and scaled by c: V(tau) = c h(tau0 + tau), with
    c e^{-alpha tau0} = I0 and c e^{-beta tau0} = I0 - (beta - alpha) V0, i.e.
      tau0 = -log1p(-V0 d / I0) / d = (V0 / I0) log1p(y) / y,  y = -V0 d / I0,  d = beta - alpha
    (exact at d -> 0: tau0 = V0 / I0). So the maximum is c h_peak at tau_h - tau0, and the rise table
    gives the crossing: tau = tau(s) - tau0 with s = sqrt(1 - theta / (c h_peak)). Near the peak
    (s < 1/8) the crossing is ill-conditioned and the table value only seeds Halley's method, kept
    inside the bracket.
    """
    tau_h = rise[RISE_LEN - 2]
    h_peak = rise[RISE_LEN - 1]
    if i0 <= 0.0 or i0 - beta * v0 <= 0.0:
        return INF
    if v0 >= theta:
        # Only reachable through rounding at an interval boundary: the crossing is now.
        return 0.0
    if max(v0, 0.0) + i0 * h_peak < theta:
        return INF
    v_end = v0 * eb_span + i0 * h_span
    rising_at_end = i0 * ea_span - beta * v_end >= 0.0
    if rising_at_end and v_end < theta:
        return INF  # increasing over the whole span and still below theta at its end
    if v0 == 0.0:
        tau0 = 0.0
        c = i0
    else:
        r = v0 / i0
        y = -r * (beta - alpha)
        if y <= -1.0:
            return INF  # no maximum: V rises monotonically towards 0 from below
        tau0 = r * log1p_ratio(y)
        c = i0 * math.exp(alpha * tau0)
    v_max = c * h_peak
    if rising_at_end:
        hi = span
        v_hi = v_end
    else:
        if v_max < theta:
            return INF
        hi = min(tau_h - tau0, span)
        v_hi = v_max
        if hi <= 0.0:
            return INF
    s = math.sqrt(max(1.0 - theta / v_max, 0.0))
    tau = rise_time(rise, s) - tau0
    if s >= 1.0 / RISE_PIECES and 0.0 < tau <= hi:
        # Away from the peak the table is exact to the conditioning of the crossing: rounding in
        # theta / v_max moves the root by as much as the table's error, and Halley's step (whose
        # residual V - theta carries the same rounding) would not make it more accurate.
        return tau
    if not 0.0 < tau < hi:
        tau = hi * (theta - v0) / (v_hi - v0)  # the chord, should rounding put the guess outside
    return _refine_crossing(i0, v0, alpha, beta, theta, hi, tau)


@njit(cache=CACHE, fastmath=FMA)
def _refine_crossing(i0, v0, alpha, beta, theta, hi, tau):
    """The root of V(tau) = theta on [0, hi], where V increases from V0 < theta to V(hi) >= theta.

    ``tau`` is the initial guess, inside (0, hi). Halley's method (cubic convergence) kept inside a
    shrinking bracket, bisection when a step leaves it.
    """
    lo = 0.0
    for _ in range(100):
        ea, eb, h = span_factors(tau, alpha, beta)
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
            d2f = -alpha * i0 * ea - beta * df       # V'' = -alpha I - beta V'
            # Halley's step 2 f f' / (2 f'^2 - f f''), one division; Newton's if the correction
            # would more than double it (far from the root)
            den = 2.0 * df * df - f * d2f
            step = 2.0 * f * df / den if den > df * df else f / df
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
