r"""Exact gradients of spike times and of losses of spike times (Lee, Haghighatshoar & Karbasi 2023).

Every spike :math:`f` of neuron :math:`i` satisfies its firing equation :math:`V_i(f) - \theta_i = 0`,
where :math:`V_i(f)` counts the spikes that reached :math:`i` strictly before :math:`f`. The implicit
function theorem at every spike gives

.. math:: M\,\frac{dF}{dW} = -\frac{\partial V}{\partial W},\qquad
          M_{ff} = V_i'(f^-) = \sum_j W_{ji}\sum_{g<f} h'(f-g) + \theta_i\beta_i\sum_{m<f} e^{-\beta_i(f-m)} > 0,

with :math:`M_{fg} = -W_{ji} h'(f-g)` for an input spike :math:`g` of neuron :math:`j`,
:math:`M_{fm} = -\theta_i\beta_i e^{-\beta_i(f-m)}` for an own earlier spike :math:`m` and
:math:`\partial V_f/\partial W_{ji} = \sum_{g\in F_j, g<f} h(f-g)`. In time order :math:`M` is lower
triangular with a positive diagonal (Theorem 4), so both solves are substitutions:

* ``forward`` (the paper's Forward Propagation, Algorithm 2): each spike's row
  :math:`dF_f/dW = -(\partial V_f/\partial W + \sum_{c<f} M_{fc}\,dF_c/dW)/M_{ff}` is built from the rows
  of its causes, in time order. It yields the whole Jacobian (:func:`jacobian`).
* ``adjoint``: :math:`M^T\lambda = \partial L/\partial F` solved backward in time, then
  :math:`dL/dW = -\lambda^T\,\partial V/\partial W + \partial L/\partial W`. Same numbers, cost
  proportional to the number of (spike, cause) pairs: the training fast path.

Only spike times enter (plus the parameters): the causal set of a spike is every spike that reached
its neuron strictly earlier, so times measured on a chip can replace simulated ones (``times=``).
Policy for such times: a spike whose slope :math:`M_{ff}` is not positive (impossible for simulated
times, possible for measured ones) carries no gradient; its count is reported as ``grads["n_bad_slopes"]``.

Parameter layout of the Jacobian: one flat vector, layer by layer, ``weights[l]`` (row-major,
``W[j, i]`` at ``offset + j * n_l + i``) followed by ``recurrent[l]`` when present; see
:class:`Jacobian` for the slices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

from .checks import check_input_times, check_spike_times, check_theorem4, slope_and_potential  # noqa: F401
from .kernels import CACHE, FMA, psp_both, sort_batch, sorted_events, span_factors, threads_for
from .simulate import simulate

if TYPE_CHECKING:  # annotations only: Network is a convenience over these functions, not below them
    from .network import Network

# check_spike_times / check_theorem4 moved to fpsnn.checks; importable from here for one release
__all__ = ["value_and_grad", "jacobian", "Jacobian", "check_spike_times", "check_theorem4"]

_NO_REC = np.zeros((0, 0))
_N_CHUNKS = 4  # batch chunks of the adjoint's parallel loop (see _adjoint)


# ---------------------------------------------------------------------------------------------------
# adjoint mode


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
        for e in range(pt.size):
            if pt[e] >= t:
                break
            tau = t - pt[e]
            j = pj[e]
            h, hp = psp_both(tau, a, b)
            gw[j, i] -= lam * h
            src_pre[pf[e]] += lam * w[j, i] * hp
        for r in range(q):
            if st[r] >= t:
                break
            tau = t - st[r]
            j = si[r]
            if j == i:
                push[sf[r]] += lam * th * b * math.exp(-b * tau)
            else:
                h, hp = psp_both(tau, a, b)
                grec[j, i] -= lam * h
                push[sf[r]] += lam * rec[j, i] * hp
    return n_bad


@njit(parallel=True, cache=CACHE, fastmath=FMA)
def _adjoint_layer(pre, offsets, ev_t, ev_src, ev_flat, out, w, rec, has_rec, alpha, beta, theta, src, n_chunks):
    batch = pre.shape[0]
    n = w.shape[1]
    gw = np.zeros((n_chunks, w.shape[0], n))
    grec = np.zeros((n_chunks, rec.shape[0], rec.shape[1]))
    src_pre = np.empty(pre.shape)
    bad = np.zeros(batch, dtype=np.int64)
    for c in prange(n_chunks):
        for s in range(c * batch // n_chunks, (c + 1) * batch // n_chunks):
            src_pre[s] = 0.0  # zeroed here, by the thread that fills it
            lo, hi = offsets[s], offsets[s + 1]
            bad[s] = _adjoint_sample(ev_t[lo:hi], ev_src[lo:hi], ev_flat[lo:hi], out[s], w, rec, has_rec,
                                     alpha, beta, theta, src[s], gw[c], grec[c], src_pre[s])
    return gw.sum(axis=0), grec.sum(axis=0), src_pre, bad.sum()


def _adjoint(net, inputs, times, d_times, orders=None):
    """dL/dW (summed over the batch), dL/d(input times), #bad slopes, by backward substitution.

    ``orders``: every layer's input events in time order, as :func:`fpsnn.simulate.simulate` leaves
    them in ``SimulationResult.input_order`` (sorted here when not given, e.g. for measured times).
    """
    # A fixed number of partial sums, whatever the thread count: the gradient (and so a whole training
    # run) is then bitwise the same on 1 or 16 cores.
    n_chunks = max(1, min(inputs.shape[0], _N_CHUNKS))
    g_w = [np.zeros_like(w) for w in net.weights]
    g_r = [None if r is None else np.zeros_like(r) for r in net.recurrent]
    src = None  # dL/dt of the current layer's spikes, downstream contributions included
    n_bad = 0
    for l in range(net.n_layers - 1, -1, -1):
        pre = inputs if l == 0 else times[l - 1]
        own = d_times[l]
        if src is None:
            src = np.zeros(times[l].shape) if own is None else np.array(own, dtype=np.float64)
        elif own is not None:
            src = src + own
        if times[l].shape[2] == 0:  # read-out layer: no spikes, its loss terms came in d_times[l-1]
            src = None
            continue
        rec = net.recurrent[l]
        order = orders[l] if orders is not None else sort_batch(pre, math.inf)
        gw, gr, src_pre, bad = _adjoint_layer(
            pre, *order, times[l], net.weights[l], _NO_REC if rec is None else rec, rec is not None,
            net.alpha[l], net.beta[l], net.theta[l], np.ascontiguousarray(src), n_chunks)
        g_w[l] += gw
        if rec is not None:
            g_r[l] += gr
        n_bad += int(bad)
        src = src_pre
    d_inputs = np.zeros(inputs.shape) if src is None else src
    return g_w, g_r, d_inputs, n_bad


# ---------------------------------------------------------------------------------------------------
# forward mode (Forward Propagation)


@njit(cache=CACHE, fastmath=FMA)
def _forward_sample(pre_s, pre_rows, pre_compact, pre_n, pre_off_w, pre_up, out_s, w, rec, has_rec,
                    alpha, beta, theta, off_w, off_r, up, rows):
    """Rows dF/dp of one sample's spikes of one layer, in time order.

    Row layouts (``up`` = number of parameters of the layers before this one):
      * full (recurrent layer): every parameter up to this layer's recurrent block;
      * compact (non-recurrent layer): ``[upstream parameters | column i of this layer's W]``: a
        spike of neuron i depends on no other column of W, so the row keeps ``up + n_pre`` entries
        instead of ``up + n_pre * n`` (150x smaller for the paper's Yin-Yang hidden layer).
    ``pre_rows`` are the previous layer's rows (layout given by ``pre_compact``, ``pre_n``,
    ``pre_off_w``, ``pre_up``). Returns #spikes with slope <= 0 (their rows stay zero).
    """
    pt, pj, pf = sorted_events(pre_s, math.inf)
    st, si, sf = sorted_events(out_s, math.inf)
    n = w.shape[1]
    k = out_s.shape[1]
    width = rows.shape[1]
    n_bad = 0
    for q in range(st.size):
        t = st[q]
        i = si[q]
        a, b, th = alpha[i], beta[i], theta[i]
        row = rows[sf[q]]
        slope = 0.0
        for e in range(pt.size):
            if pt[e] >= t:
                break
            tau = t - pt[e]
            j = pj[e]
            h, hp = psp_both(tau, a, b)
            slope += w[j, i] * hp
            row[up + j if not has_rec else off_w + j * n + i] -= h
            if pre_rows.shape[1] == 0:
                continue
            c = w[j, i] * hp
            src_row = pre_rows[pf[e]]
            if pre_compact:
                for p in range(pre_up):
                    row[p] += c * src_row[p]
                for jj in range(src_row.size - pre_up):  # the cause's own W column, scattered
                    row[pre_off_w + jj * pre_n + j] += c * src_row[pre_up + jj]
            else:
                for p in range(src_row.size):
                    row[p] += c * src_row[p]
        if has_rec:
            for r in range(q):
                if st[r] >= t:
                    break
                tau = t - st[r]
                j = si[r]
                if j == i:
                    c = th * b * math.exp(-b * tau)
                else:
                    h, hp = psp_both(tau, a, b)
                    c = rec[j, i] * hp
                    row[off_r + j * n + i] -= h
                slope += c
                src_row = rows[sf[r]]
                for p in range(width):
                    row[p] += c * src_row[p]
        else:
            for m in range(k):
                if out_s[i, m] >= t:
                    break
                c = th * b * math.exp(-b * (t - out_s[i, m]))
                slope += c
                src_row = rows[i * k + m]
                for p in range(width):
                    row[p] += c * src_row[p]
        if not slope > 0.0:
            n_bad += 1
            row[:] = 0.0
            continue
        for p in range(width):
            row[p] /= slope
    return n_bad


@njit(parallel=True, cache=CACHE, fastmath=FMA)
def _forward_layer(pre, pre_rows, pre_compact, pre_n, pre_off_w, pre_up, out, w, rec, has_rec,
                   alpha, beta, theta, off_w, off_r, up, width):
    batch, n, k = out.shape
    rows = np.zeros((batch, n * k, width))
    bad = np.zeros(batch, dtype=np.int64)
    for s in prange(batch):
        bad[s] = _forward_sample(pre[s], pre_rows[s], pre_compact, pre_n, pre_off_w, pre_up, out[s], w, rec,
                                 has_rec, alpha, beta, theta, off_w, off_r, up, rows[s])
    return rows, bad.sum()


def _param_layout(net):
    """Offsets of every parameter block in the flat vector, and each layer's prefix width."""
    blocks, widths, off = [], [], 0
    for l in range(net.n_layers):
        w_off = off
        off += net.weights[l].size
        r_off = -1
        if net.recurrent[l] is not None:
            r_off = off
            off += net.recurrent[l].size
        blocks.append((w_off, r_off))
        widths.append(off)
    return blocks, widths, off


@dataclass
class _Rows:
    """One layer's spike rows (see :func:`_forward_sample` for the two layouts)."""

    rows: np.ndarray      # (batch, n * k, width)
    compact: bool
    n: int                # neurons of the layer
    off_w: int            # offset of the layer's W block in the flat vector
    up: int               # parameters before the layer

    def to_flat(self, d_times) -> np.ndarray:
        """sum over spikes of d_times * row, as a flat gradient of length ``up + W.size (+ R.size)``."""
        b = self.rows.shape[0]
        k = self.rows.shape[1] // self.n if self.n else 0
        d = np.asarray(d_times).reshape(b, self.n, k)
        r = self.rows.reshape(b, self.n, k, -1)
        contrib = np.einsum("bik,bikp->ip", d, r)                       # (n, width)
        if not self.compact:
            return contrib.sum(axis=0)
        flat = np.zeros(self.up + (contrib.shape[1] - self.up) * self.n)
        flat[:self.up] = contrib[:, :self.up].sum(axis=0)
        flat[self.off_w:] = contrib[:, self.up:].T.ravel()             # W[j, i] at off_w + j * n + i
        return flat

    def expand(self, total: int) -> np.ndarray:
        """Full rows ``(batch, n, k, total)`` in the flat parameter layout."""
        b = self.rows.shape[0]
        k = self.rows.shape[1] // self.n if self.n else 0
        r = self.rows.reshape(b, self.n, k, -1)
        full = np.zeros((b, self.n, k, total))
        if not self.compact:
            full[..., :r.shape[-1]] = r
            return full
        full[..., :self.up] = r[..., :self.up]
        n_pre = r.shape[-1] - self.up
        for i in range(self.n):
            view = full[:, i]                                          # (batch, k, total), a view
            view[..., self.off_w + np.arange(n_pre) * self.n + i] = r[:, i, :, self.up:]
        return full


def _forward_rows(net, inputs, times):
    """Per layer, the rows dF/dp of every spike (:class:`_Rows`); and #bad slopes."""
    blocks, widths, _ = _param_layout(net)
    out, n_bad = [], 0
    batch = inputs.shape[0]
    prev = _Rows(np.zeros((batch, inputs.shape[1] * inputs.shape[2], 0)), False, inputs.shape[1], 0, 0)
    for l in range(net.n_layers):
        pre = inputs if l == 0 else times[l - 1]
        rec = net.recurrent[l]
        up = widths[l - 1] if l else 0
        compact = rec is None
        width = up + net.weights[l].shape[0] if compact else widths[l]
        if times[l].shape[2] == 0:
            prev = _Rows(np.zeros((batch, 0, width)), compact, net.sizes[l], blocks[l][0], up)
            out.append(prev)
            continue
        rows, bad = _forward_layer(pre, prev.rows, prev.compact, prev.n, prev.off_w, prev.up, times[l],
                                   net.weights[l], _NO_REC if rec is None else rec, rec is not None,
                                   net.alpha[l], net.beta[l], net.theta[l], blocks[l][0], blocks[l][1], up, width)
        n_bad += int(bad)
        prev = _Rows(rows, compact, net.sizes[l], blocks[l][0], up)
        out.append(prev)
    return out, n_bad


def _unflatten(net, flat):
    blocks, _, _ = _param_layout(net)
    g_w, g_r = [], []
    for l, (w_off, r_off) in enumerate(blocks):
        g_w.append(flat[w_off:w_off + net.weights[l].size].reshape(net.weights[l].shape).copy())
        g_r.append(None if r_off < 0 else flat[r_off:r_off + net.recurrent[l].size].reshape(net.recurrent[l].shape).copy())
    return g_w, g_r


def _forward(net, inputs, times, d_times, max_bytes=256 * 2**20):
    """dL/dW by Forward Propagation, in batch chunks so the rows fit in ``max_bytes``."""
    _, widths, total = _param_layout(net)
    batch = inputs.shape[0]
    per_sample = sum(t.shape[1] * t.shape[2] * w for t, w in zip(times, widths)) * 8 + 1  # full-row bound
    chunk = int(max(1, min(batch, max_bytes // per_sample)))
    flat = np.zeros(total)
    n_bad = 0
    for lo in range(0, batch, chunk):
        sl = slice(lo, lo + chunk)
        layers, bad = _forward_rows(net, inputs[sl], [t[sl] for t in times])
        n_bad += bad
        for l, rows in enumerate(layers):
            if d_times[l] is None or rows.rows.shape[1] == 0:
                continue
            part = rows.to_flat(d_times[l][sl])
            flat[:part.size] += part
    g_w, g_r = _unflatten(net, flat)
    return g_w, g_r, n_bad


# ---------------------------------------------------------------------------------------------------
# public API


def value_and_grad(net: Network, x, loss, mode: str = "adjoint", times=None, debug: bool = False):
    """Loss value and its exact gradient with respect to every weight.

    Args:
        net: the network.
        x: input spike times ``(batch, n_in[, k])`` (time units; +inf = no spike).
        loss: a :class:`fpsnn.losses.Loss` or a callable ``f(output_times) -> (value, dL/d output_times)``.
        mode: ``"adjoint"`` (backward substitution, fast) or ``"forward"`` (Forward Propagation); they
            agree to rounding.
        times: spike times of every layer measured elsewhere (chip, emulator) to use instead of
            simulating; one ``(batch, n_l, k_l)`` array per layer.
        debug: check Theorem 4 (positive diagonal, firing equations) on simulated spikes (also
            switched on by ``FPSNN_DEBUG=1``).

    Returns:
        ``(value, grads)``: ``value`` the loss (float) and ``grads`` a dict with the keys

        * ``"weights"``: list like ``net.weights``; ``grads["weights"][l][j, i]`` = dL/dW[j, i] of layer
          ``l`` (loss units per weight unit), summed over the batch as the loss defines it (a mean loss
          gives the mean gradient).
        * ``"recurrent"``: list like ``net.recurrent``: dL/dR per recurrent layer, None where absent.
        * ``"n_bad_slopes"``: int, how many spikes had a non-positive slope M_ff = V'(f-) and so carry
          no gradient (always 0 for simulated times; measured ``times`` can violate Theorem 4).
        * ``"inputs"`` (adjoint mode only): dL/d(input spike times), ``(batch, n_in, k)`` like the
          validated input (loss units per time unit; 0 at padding and at inputs after every spike).
    """
    from .losses import as_loss

    if mode not in ("adjoint", "forward"):
        raise ValueError(f"mode: expected 'adjoint' or 'forward', got {mode!r}")
    loss = as_loss(loss)
    inputs = check_input_times(x, net.n_inputs)
    with threads_for(inputs.shape[0]):
        return _value_and_grad(net, inputs, loss, mode, times, debug)


def _value_and_grad(net, inputs, loss, mode, times, debug):
    orders = None
    if times is None:
        res = simulate(net, inputs, debug=debug)
        times, orders = res.times, res.input_order
    else:
        times = check_spike_times(net, times, inputs.shape[0])
        # measured times need not satisfy the firing equations: Theorem 4 is checked on simulated ones
    value, d_times, d_params = loss.evaluate(net, inputs, times)
    if mode == "adjoint":
        g_w, g_r, d_inputs, n_bad = _adjoint(net, inputs, times, d_times, orders)
    else:
        g_w, g_r, n_bad = _forward(net, inputs, times, d_times)
        d_inputs = None
    if d_params:
        for l, g in enumerate(d_params.get("weights", [])):
            if g is not None:
                g_w[l] = g_w[l] + g
        for l, g in enumerate(d_params.get("recurrent", [])):
            if g is not None:
                g_r[l] = g_r[l] + g
    grads = {"weights": g_w, "recurrent": g_r, "n_bad_slopes": n_bad}
    if d_inputs is not None:
        grads["inputs"] = d_inputs
    return float(value), grads


@dataclass
class Jacobian:
    """Exact derivatives of every spike time with respect to every weight.

    Attributes:
        times: the spike times it was computed at (one ``(batch, n_l, k_l)`` array per layer).
        d_times: one ``(batch, n_l, k_l, n_params)`` array per layer: ``d_times[l][b, i, k, p]`` is
            d(time of the k-th spike of neuron i of layer l)/d(parameter p); zero for padding entries
            and for parameters downstream of layer l.
        slices: ``{("weights", l): slice, ("recurrent", l): slice}`` of the flat parameter vector;
            inside a block, ``W[j, i]`` is at ``start + j * n_l + i`` (row-major).
        shapes: the parameter array shape of every block, same keys.
    """

    times: list
    d_times: list
    slices: dict
    shapes: dict

    def block(self, layer: int, kind: str, param_layer: int) -> np.ndarray:
        """d(times of ``layer``)/d(``kind``[param_layer]) as ``(batch, n_l, k_l, *param.shape)``."""
        d = self.d_times[layer][..., self.slices[(kind, param_layer)]]
        return d.reshape(d.shape[:3] + tuple(self.shapes[(kind, param_layer)]))

    def contract(self, d_times: list) -> np.ndarray:
        """sum over spikes of dL/dF * dF/dp: the flat gradient of a loss with ``d_times`` = dL/dF."""
        total = self.d_times[0].shape[-1]
        g = np.zeros(total)
        for dt, jac in zip(d_times, self.d_times):
            if dt is not None and jac.shape[2]:
                g += np.einsum("bik,bikp->p", dt, jac)
        return g


def jacobian(net: Network, x, times=None) -> Jacobian:
    """The full spike-time Jacobian dF/dW by Forward Propagation (memory: batch x spikes x weights).

    ``times`` as in :func:`value_and_grad` (measured spike times), else the network is simulated.
    """
    inputs = check_input_times(x, net.n_inputs)
    times = simulate(net, inputs).times if times is None else check_spike_times(net, times, inputs.shape[0])
    with threads_for(inputs.shape[0]):
        layers, _ = _forward_rows(net, inputs, times)
    blocks, _, total = _param_layout(net)
    d_times = [rows.expand(total) for rows in layers]
    slices, shapes = {}, {}
    for l, (w_off, r_off) in enumerate(blocks):
        slices[("weights", l)] = slice(w_off, w_off + net.weights[l].size)
        shapes[("weights", l)] = net.weights[l].shape
        if r_off >= 0:
            slices[("recurrent", l)] = slice(r_off, r_off + net.recurrent[l].size)
            shapes[("recurrent", l)] = net.recurrent[l].shape
    return Jacobian(times=times, d_times=d_times, slices=slices, shapes=shapes)
