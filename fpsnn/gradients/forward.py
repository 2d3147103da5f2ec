"""Forward mode (the paper's Forward Propagation, Algorithm 2): the rows dF/dW of every spike, in time
order, from the rows of its causes; the whole spike-time Jacobian (:func:`jacobian`).

See :mod:`fpsnn.gradients` for the maths and the flat parameter layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba import njit, prange

from ..checks import check_input_times, check_spike_times
from ..kernels import CACHE, FMA, psp_both, sorted_events, uniform_tuple
from ..runtime import next_task, threads_for
from ..simulate import simulate

if TYPE_CHECKING:  # annotations only
    from ..network import Network

_NO_REC = np.zeros((0, 0))


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
        for e in range(np.searchsorted(pt, t)):   # the causal set: strictly earlier inputs
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
            for r in range(np.searchsorted(st[:q], t)):
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
def _forward_batch(pre, out, w, rec, has_rec, alpha, beta, theta, off_w, off_r, up, compact, sizes, rows, bad,
                   n_threads):
    """Rows of every layer of every sample: ONE parallel region per batch, one sample per task.

    Per-layer tuples over the layers ``l``: ``pre[l]`` input times, ``out[l]`` spikes; ``rows[l + 1]``
    (zeroed by the caller) receives layer l's rows, ``rows[0]`` is the inputs' (width 0). Layout
    entries ``compact, sizes, off_w, up`` are indexed like ``rows`` (entry 0: the inputs). The
    ``n_threads`` threads take the samples one at a time (:func:`fpsnn.runtime.next_task`).
    """
    batch = out[0].shape[0]
    task = np.zeros(1, dtype=np.int64)
    for _ in prange(n_threads):
        s = next_task(task)
        while s < batch:
            for l in range(len(out)):
                bad[l, s] = _forward_sample(pre[l][s], rows[l][s], compact[l], sizes[l], off_w[l], up[l], out[l][s],
                                            w[l], rec[l], has_rec[l], alpha[l], beta[l], theta[l], off_w[l + 1],
                                            off_r[l], up[l + 1], rows[l + 1][s])
            s = next_task(task)


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
    batch, n_lay = inputs.shape[0], net.n_layers
    compact = [False] + [r is None for r in net.recurrent]
    sizes = [inputs.shape[1]] + list(net.sizes)
    off_w = [0] + [blocks[l][0] for l in range(n_lay)]
    up = [0] + [widths[l - 1] if l else 0 for l in range(n_lay)]
    width = [0] + [up[l + 1] + net.weights[l].shape[0] if compact[l + 1] else widths[l] for l in range(n_lay)]
    rows = [np.zeros((batch, inputs.shape[1] * inputs.shape[2], 0))]
    rows += [np.zeros((batch, net.sizes[l] * times[l].shape[2], width[l + 1])) for l in range(n_lay)]
    bad = np.zeros((n_lay, batch), dtype=np.int64)
    _forward_batch(uniform_tuple([inputs] + list(times[:-1])), uniform_tuple(times), uniform_tuple(net.weights),
                   uniform_tuple(_NO_REC if r is None else r for r in net.recurrent),
                   np.array([r is not None for r in net.recurrent]), uniform_tuple(net.alpha),
                   uniform_tuple(net.beta), uniform_tuple(net.theta), np.array(off_w, dtype=np.int64),
                   np.array([blocks[l][1] for l in range(n_lay)], dtype=np.int64), np.array(up, dtype=np.int64),
                   np.array(compact), np.array(sizes, dtype=np.int64), tuple(rows), bad, numba.get_num_threads())
    out = [_Rows(rows[l + 1], compact[l + 1], net.sizes[l], off_w[l + 1], up[l + 1]) for l in range(n_lay)]
    return out, int(bad.sum())


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
