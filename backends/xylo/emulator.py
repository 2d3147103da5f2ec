r"""Bit-accurate, batched emulator (numba) of the SynSense Xylo integer LIF core (xylosim 0.1.3, v2 and v1).

It reads a program only through its attributes, so this module imports no program type.

:func:`run` executes a :class:`~.program.XyloProgram` (whose docstring states the arithmetic, step by
step) on an input event raster and returns every layer's event counts and, on request, the integer
state after every step. Identity with xylosim is tested program for program (tests/backends/xylo).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from fpsnn.kernels import CACHE

from ..result import EmulatorResult

__all__ = ["run"]

_STATE_MIN, _STATE_MAX = -32768, 32767


def _csr(w: np.ndarray):
    """Non-zero entries of ``w (n_pre, n_post, n_syn)`` grouped by pre: (ptr, post, syn, weight).

    Within one pre-synaptic row the order is (post, syn) ascending, the order in which xylosim
    (and Rockpool's ``from_specification``) lists the synapses. Per target accumulator only the
    pre-synaptic order matters, and that is kept by walking the rows in index order.
    """
    pre, post, syn = np.nonzero(w)
    ptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
    np.add.at(ptr, pre + 1, 1)
    return (np.cumsum(ptr), post.astype(np.int64), syn.astype(np.int64), w[pre, post, syn].astype(np.int64))


def run(program, raster, record: bool = False) -> EmulatorResult:
    """Run on ``raster`` (int ``(batch, steps, n_inputs)`` event counts), every sample from rest.

    Returns an :class:`EmulatorResult`: ``spikes = [hidden (batch, steps, n_hidden),
    output (batch, steps, n_out)]`` (int8 counts; hidden counts include aliased events) and, with
    ``record=True``, ``state = [{"vmem": (batch, steps, n_hidden), "isyn": (batch, steps,
    n_hidden, n_syn)}, {"vmem": (batch, steps, n_out), "isyn": (batch, steps, n_out, 1)}]``
    (int16, the values after each step, as xylosim records them).
    """
    r = np.minimum(program.check_raster(raster), program.limits["input_events"]).astype(np.int32)
    batch, steps, _ = r.shape
    nh, no, ns = program.n_hidden, program.n_outputs, program.n_syn
    in_ptr, in_post, in_syn, in_w = _csr(program.weights_in_3d())
    rec_ptr, rec_post, rec_syn, rec_w = _csr(program.weights_rec_3d())
    out_ptr, out_post, out_syn, out_w = _csr(program.weights_out[:, :, None])
    alias = program.alias_lists()
    al_ptr = np.concatenate([[0], np.cumsum([len(a) for a in alias])]).astype(np.int64)
    al_idx = np.array([t for a in alias for t in a], dtype=np.int64)
    ts = steps if record else 0
    spk_h = np.zeros((batch, steps, nh), np.int8)
    spk_o = np.zeros((batch, steps, no), np.int8)
    v_h = np.zeros((batch, ts, nh), np.int16)
    i_h = np.zeros((batch, ts, nh, ns), np.int16)
    v_o = np.zeros((batch, ts, no), np.int16)
    i_o = np.zeros((batch, ts, no, 1), np.int16)
    args = (in_ptr, in_post, in_syn, _shifted(in_w, program.weight_shift_inp),
            rec_ptr, rec_post, rec_syn, _shifted(rec_w, program.weight_shift_rec),
            out_ptr, out_post, out_syn, _shifted(out_w, program.weight_shift_out),
            al_ptr, al_idx, program.dash_mem, program.dash_syn_2d(), program.threshold, program.bias,
            program.dash_mem_out, program.dash_syn_out, program.threshold_out, program.bias_out,
            program.version, record)

    def chunk(lo_hi):
        lo, hi = lo_hi
        _run_batch(r[lo:hi], *args, spk_h[lo:hi], spk_o[lo:hi], v_h[lo:hi], i_h[lo:hi], v_o[lo:hi], i_o[lo:hi])

    # samples are independent: split the batch over threads (the kernel releases the GIL). A
    # thread pool instead of numba's parallel=True keeps the first-call compile at a third.
    # NUMBA_NUM_THREADS (default: the CPU count) caps the threads, as for numba's own pool
    n_threads = max(1, min(numba.config.NUMBA_NUM_THREADS, batch // 8 or 1))
    bounds = np.linspace(0, batch, n_threads + 1).astype(int)
    parts = list(zip(bounds[:-1], bounds[1:]))
    if n_threads == 1:
        chunk(parts[0])
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(chunk, parts))
    state = ([{"vmem": v_h, "isyn": i_h}, {"vmem": v_o, "isyn": i_o}] if record else [{}, {}])
    return EmulatorResult(spikes=[spk_h, spk_o], state=state)


def _shifted(w: np.ndarray, shift: int) -> np.ndarray:
    """``int16(w << shift)``: the value xylosim passes to ``receiveSpike`` (an ``int16_t``)."""
    return ((w << shift).astype(np.int64).astype(np.int16)).astype(np.int64)


# --------------------------------------------------------------------------- the kernel
# Layout inside the kernel: states are int32 (every intermediate fits: |c*w| <= 31 * 32767,
# |sum of two currents| <= 65534), one contiguous row per synapse so the decay loop vectorizes.
@numba.njit(cache=CACHE, inline="always")
def _sat(x):
    if x > _STATE_MAX:
        return _STATE_MAX
    if x < _STATE_MIN:
        return _STATE_MIN
    return x


@numba.njit(cache=CACHE, inline="always")
def _wrap16(x):
    return ((x + 32768) & 0xFFFF) - 32768


@numba.njit(cache=CACHE, inline="always")
def _decay(x, d):
    """xylosim's ``decay``: the amount removed, ``x >> d`` or ``sign(x)`` when that is 0."""
    dx = x >> d
    if dx == 0:
        dx = (x > 0) - (x < 0)
    return dx


@numba.njit(cache=CACHE, inline="always")
def _deliver(counts, cap, ptr, post, syn, w, isyn):
    """Add ``min(count, cap)`` events of every pre-synaptic neuron, in pre-synaptic index order.

    ``c`` saturating adds of the same weight equal one clamp of ``x + c*w`` (the partial sums move
    monotonically towards the bound, so once clamped they stay clamped).
    """
    for p in range(counts.shape[0]):
        c = counts[p]
        if c == 0:
            continue
        if c > cap:
            c = cap
        for e in range(ptr[p], ptr[p + 1]):
            isyn[syn[e], post[e]] = _sat(isyn[syn[e], post[e]] + c * w[e])


@numba.njit(cache=CACHE, inline="always")
def _decay_currents(isyn, dash_syn):
    """Every synaptic current loses ``decay(I, dash_syn)`` (both versions, same arithmetic)."""
    for s in range(isyn.shape[0]):
        for j in range(isyn.shape[1]):
            isyn[s, j] -= _decay(isyn[s, j], dash_syn[s, j])


@numba.njit(cache=CACHE, inline="always")
def _current(isyn, j):
    """Neuron ``j``'s summed synaptic current (one or two synapse states)."""
    total = isyn[0, j]
    if isyn.shape[0] == 2:
        total += isyn[1, j]
    return total


@numba.njit(cache=CACHE, inline="always")
def _integrate(vmem, isyn, dash_mem, dash_syn, bias, version):
    """Sub-threshold step of every neuron of a population (module docstring, point 3)."""
    n = vmem.shape[0]
    if version == 2:
        _decay_currents(isyn, dash_syn)
        for j in range(n):
            v = vmem[j]
            dv = _wrap16(-_decay(v, dash_mem[j]))  # int16(-(-32768)) wraps in xylosim
            dv = _sat(dv + _current(isyn, j))
            dv = _sat(dv + bias[j])
            vmem[j] = _sat(v + dv)
    else:
        for j in range(n):
            vmem[j] -= _decay(vmem[j], dash_mem[j])
        _decay_currents(isyn, dash_syn)
        for j in range(n):
            vmem[j] = _sat(vmem[j] + _current(isyn, j))


@numba.njit(cache=CACHE, inline="always")
def _fire(v, th, count, cap):
    """Events of one neuron: ``while v >= th and count < cap: count += 1; v -= th``.

    Returns (v, count). A positive threshold takes the count in one division; a threshold <= 0 runs
    xylosim's loop literally (int16 wrap included), as it can only end at the cap or by wrapping.
    """
    if v < th or count >= cap:
        return v, count
    if th > 0:
        k = (v - th) // th + 1
        if k > cap - count:
            k = cap - count
        return v - k * th, count + k
    while v >= th and count < cap:
        count += 1
        v = _wrap16(v - th)
    return v, count


@numba.njit(cache=CACHE, nogil=True)
def _run_batch(raster, in_ptr, in_post, in_syn, in_w, rec_ptr, rec_post, rec_syn, rec_w,
               out_ptr, out_post, out_syn, out_w, al_ptr, al_idx, dash_mem, dash_syn, thr, bias,
               dash_mem_out, dash_syn_out, thr_out, bias_out, version, record,
               spk_h, spk_o, v_h, i_h, v_o, i_o):
    batch, steps, _ = raster.shape
    nh = dash_mem.shape[0]
    no = dash_mem_out.shape[0]
    ns = dash_syn.shape[1]
    dsyn = np.ascontiguousarray(dash_syn.T).astype(np.int32)
    dmem = dash_mem.astype(np.int32)
    dsyn_o = dash_syn_out.reshape(1, no).astype(np.int32)
    dmem_o = dash_mem_out.astype(np.int32)
    b_h = bias.astype(np.int32)
    b_o = bias_out.astype(np.int32)
    has_alias = al_idx.shape[0] > 0
    for b in range(batch):
        vmem = np.zeros(nh, np.int32)
        isyn = np.zeros((ns, nh), np.int32)
        vmem_o = np.zeros(no, np.int32)
        isyn_o = np.zeros((1, no), np.int32)
        prev = np.zeros(nh, np.int32)   # hidden events of the previous step (1-step delay)
        buf = np.zeros(nh, np.int32)
        for t in range(steps):
            _deliver(raster[b, t], 15, in_ptr, in_post, in_syn, in_w, isyn)
            _deliver(prev, 31, rec_ptr, rec_post, rec_syn, rec_w, isyn)
            _deliver(prev, 31, out_ptr, out_post, out_syn, out_w, isyn_o)
            _integrate(vmem, isyn, dmem, dsyn, b_h, version)
            _integrate(vmem_o, isyn_o, dmem_o, dsyn_o, b_o, version)
            if has_alias:
                # a neuron's count starts from what lower-index neurons aliased into it this step
                buf[:] = 0
                for j in range(nh):
                    vmem[j], n = _fire(vmem[j], thr[j], buf[j], 31)
                    buf[j] = n
                    for a in range(al_ptr[j], al_ptr[j + 1]):
                        k = al_idx[a]
                        buf[k] = 31 if buf[k] + n > 31 else buf[k] + n
            else:
                for j in range(nh):
                    vmem[j], buf[j] = _fire(vmem[j], thr[j], 0, 31)
            for j in range(no):
                vmem_o[j], spk_o[b, t, j] = _fire(vmem_o[j], thr_out[j], 0, 1)
            for j in range(nh):
                spk_h[b, t, j] = buf[j]
                prev[j] = buf[j]
            if record:
                for j in range(nh):
                    v_h[b, t, j] = vmem[j]
                    for s in range(ns):
                        i_h[b, t, j, s] = isyn[s, j]
                for j in range(no):
                    v_o[b, t, j] = vmem_o[j]
                    i_o[b, t, j, 0] = isyn_o[0, j]
