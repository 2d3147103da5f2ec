r"""Bit-accurate, batched emulator of the SynSense Xylo integer LIF core (xylosim v2, and v1).

A :class:`XyloProgram` holds the integer arrays of a Xylo network under Rockpool's specification
names; :meth:`XyloProgram.run` runs it on an input event raster and returns every layer's event
counts (and, on request, the integer state after every step). The arithmetic is xylosim 0.1.3's, read
from its C++ source (``/work/shared/hardware.md`` section 1) and tested against it program for program.

Per step ``t`` (all values int16 unless noted; :math:`\mathrm{sat}` clamps to [-32768, 32767]):

1. every input channel's count is clipped to 15; each event adds
   :math:`\mathrm{wrap_{16}}(w_{in} \ll s_{in})` to its target synaptic current, one saturating add
   per event, channels in index order;
2. hidden events of step ``t-1`` are delivered the same way through ``weights_rec`` (to hidden
   neurons) and ``weights_out`` (to output neurons): both paths have a one-step delay;
3. hidden neurons evolve in index order, then output neurons. With
   :math:`\delta(x, d) = x \gg d` (arithmetic shift) replaced by :math:`\mathrm{sign}(x)` when it is 0:

   * v2: :math:`I_s \mathrel{-}= \delta(I_s, d_s)`;
     :math:`\Delta V = \mathrm{sat}(\mathrm{sat}(\mathrm{wrap_{16}}(-\delta(V, d_m)) + \sum_s I_s) + b)`;
     :math:`V = \mathrm{sat}(V + \Delta V)`. (The wrap matters only for :math:`V = -32768` with
     :math:`d_m = 0`, where V then stays at -32768.)
   * v1 (no bias): :math:`V \mathrel{-}= \delta(V, d_m)`; :math:`I_s \mathrel{-}= \delta(I_s, d_s)`;
     :math:`V = \mathrm{sat}(V + \sum_s I_s)` (the sum in ``long``).

   then ``while V >= threshold`` and the neuron's count is below its cap (31 hidden, 1 output):
   count one event and :math:`V \mathrel{-}= \vartheta` (subtractive reset, surplus kept).
   A hidden neuron's count starts from the events aliased into it earlier in the same step; after it
   evolves, its count is added to each of its alias targets' counts, capped at 31.

Units: ``dt`` is the step length (metadata: the integer dynamics are per step).
Decay codes ("dash") act per step: a value loses about :math:`2^{-d}` of itself each step.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from .result import EmulatorResult

__all__ = ["XyloProgram", "LIMITS"]

#: Integer limits of the Xylo core as xylosim implements them (hardware.md section 1).
LIMITS = {
    "weight": (-128, 127),          # int8
    "threshold": (-32768, 32767),   # int16
    "bias": (-32768, 32767),        # int16
    "dash": (0, 15),                # 4-bit bitshift decay code
    "weight_shift": (0, 8),         # int8 << 8 still fits int16; xylosim wraps larger shifts
    "input_events": 15,             # per input channel and step
    "hidden_events": 31,            # per hidden neuron and step
    "output_events": 1,             # per output neuron and step
}
_STATE_MIN, _STATE_MAX = -32768, 32767


# --------------------------------------------------------------------------- validation helpers
def _int_array(name: str, value, ndims: tuple, lo: int, hi: int) -> np.ndarray:
    """``value`` as an int64 array with one of ``ndims``, every entry in [lo, hi], else ValueError."""
    arr = np.asarray(value)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name}: expected an integer array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = np.argwhere(~np.isfinite(arr) | (arr != np.round(arr)))[0]
            raise ValueError(f"{name}{list(bad)} = {arr[tuple(bad)]}: expected an integer")
    if arr.ndim not in ndims:
        raise ValueError(f"{name}: expected a {' or '.join(map(str, ndims))}-d array, got shape {arr.shape}")
    out = arr.astype(np.int64)
    bad = (out < lo) | (out > hi)
    if np.any(bad):
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(i)} = {out[i]}: out of range [{lo}, {hi}]")
    return out


def _per_neuron(name: str, value, n: int, lo: int, hi: int) -> np.ndarray:
    """A scalar or ``(n,)`` integer parameter as an int64 ``(n,)`` array in [lo, hi]."""
    arr = _int_array(name, value, (0, 1), lo, hi)
    if arr.ndim == 0:
        return np.full(n, int(arr), dtype=np.int64)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected a scalar or shape ({n},), got {arr.shape}")
    return arr


def _shift(name: str, value) -> int:
    lo, hi = LIMITS["weight_shift"]
    if isinstance(value, (bool, np.bool_)) or int(value) != value or not lo <= value <= hi:
        raise ValueError(f"{name} = {value!r}: must be an integer in [{lo}, {hi}] "
                         f"(int8 << {hi} is the widest shift that fits int16)")
    return int(value)


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


# --------------------------------------------------------------------------- the program
@dataclass
class XyloProgram:
    r"""An integer Xylo network (Rockpool specification names; see the module docstring).

    Args:
        weights_in: int8 ``(n_in, n_hidden, n_syn)`` or ``(n_in, n_hidden)`` (= one synapse state).
        weights_rec: int8 ``(n_hidden, n_hidden[, n_syn])`` hidden -> hidden, or None (no
            recurrence). A 2-d array targets synapse 0. ``weights_rec[i, j]`` is from ``i`` to ``j``.
        weights_out: int8 ``(n_hidden, n_out)`` hidden -> output.
        dash_mem, dash_syn: per hidden neuron (or a scalar), membrane and synapse-0 decay codes 0..15.
        dash_syn_2: decay codes of synapse 1 when ``n_syn == 2``; must be None when ``n_syn == 1``.
        dash_mem_out, dash_syn_out: per output neuron (or a scalar), decay codes 0..15.
        threshold, threshold_out: int16 per hidden / output neuron (or a scalar), state units.
        bias, bias_out: int16 per hidden / output neuron added to the membrane every step (state
            units per step), or None for no bias. Xylo v1 has no bias.
        weight_shift_inp, weight_shift_rec, weight_shift_out: global left shifts 0..8 applied to
            every weight of the projection (integer weight ``w`` adds ``w * 2**shift``).
        aliases: None or one list per hidden neuron of hidden neurons that copy its events.
        version: 2 (xylosim.v2, XyloAudio 2/3 and IMU) or 1 (xylosim.v1, the first Xylo).
        dt: step length (metadata for converting steps to times), > 0, in the time unit of the
            network it was quantized from; Rockpool reads it as seconds.
    """

    weights_in: np.ndarray
    weights_rec: np.ndarray | None
    weights_out: np.ndarray
    dash_mem: object
    dash_syn: object
    dash_syn_2: object
    dash_mem_out: object
    dash_syn_out: object
    threshold: object
    threshold_out: object
    bias: object = None
    bias_out: object = None
    weight_shift_inp: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    aliases: list | None = None
    version: int = 2
    dt: float = 1e-3

    def __post_init__(self):
        wlo, whi = LIMITS["weight"]
        self.weights_in = _int_array("weights_in", self.weights_in, (2, 3), wlo, whi)
        n_in, n_hid = self.weights_in.shape[:2]
        n_syn = 1 if self.weights_in.ndim == 2 else self.weights_in.shape[2]
        if n_syn not in (1, 2):
            raise ValueError(f"weights_in: a hidden neuron has 1 or 2 synapse states, got {n_syn} (shape {self.weights_in.shape})")
        if n_in < 1 or n_hid < 1:
            raise ValueError(f"weights_in: need >= 1 input and >= 1 hidden neuron, got shape {self.weights_in.shape}")
        self.weights_out = _int_array("weights_out", self.weights_out, (2,), wlo, whi)
        if self.weights_out.shape[0] != n_hid or self.weights_out.shape[1] < 1:
            raise ValueError(f"weights_out: expected shape ({n_hid}, n_out >= 1), got {self.weights_out.shape}")
        n_out = self.weights_out.shape[1]
        if self.weights_rec is not None:
            self.weights_rec = _int_array("weights_rec", self.weights_rec, (2, 3), wlo, whi)
            want = (n_hid, n_hid) if self.weights_rec.ndim == 2 else (n_hid, n_hid, n_syn)
            if self.weights_rec.shape != want:
                raise ValueError(f"weights_rec: expected shape {want} (or ({n_hid}, {n_hid})), got {self.weights_rec.shape}")
        dlo, dhi = LIMITS["dash"]
        self.dash_mem = _per_neuron("dash_mem", self.dash_mem, n_hid, dlo, dhi)
        self.dash_syn = _per_neuron("dash_syn", self.dash_syn, n_hid, dlo, dhi)
        if n_syn == 2:
            if self.dash_syn_2 is None:
                raise ValueError("dash_syn_2: required when weights_in has 2 synapse states (shape "
                                 f"{self.weights_in.shape}); no default, 0 would erase synapse 1's input")
            self.dash_syn_2 = _per_neuron("dash_syn_2", self.dash_syn_2, n_hid, dlo, dhi)
        elif self.dash_syn_2 is not None:
            raise ValueError("dash_syn_2: must be None when weights_in is 2-d (one synapse state)")
        self.dash_mem_out = _per_neuron("dash_mem_out", self.dash_mem_out, n_out, dlo, dhi)
        self.dash_syn_out = _per_neuron("dash_syn_out", self.dash_syn_out, n_out, dlo, dhi)
        tlo, thi = LIMITS["threshold"]
        self.threshold = _per_neuron("threshold", self.threshold, n_hid, tlo, thi)
        self.threshold_out = _per_neuron("threshold_out", self.threshold_out, n_out, tlo, thi)
        blo, bhi = LIMITS["bias"]
        self.bias = np.zeros(n_hid, np.int64) if self.bias is None else _per_neuron("bias", self.bias, n_hid, blo, bhi)
        self.bias_out = (np.zeros(n_out, np.int64) if self.bias_out is None
                         else _per_neuron("bias_out", self.bias_out, n_out, blo, bhi))
        self.weight_shift_inp = _shift("weight_shift_inp", self.weight_shift_inp)
        self.weight_shift_rec = _shift("weight_shift_rec", self.weight_shift_rec)
        self.weight_shift_out = _shift("weight_shift_out", self.weight_shift_out)
        if self.version not in (1, 2) or isinstance(self.version, bool):
            raise ValueError(f"version = {self.version!r}: must be 1 (xylosim.v1) or 2 (xylosim.v2)")
        if self.version == 1 and (np.any(self.bias) or np.any(self.bias_out)):
            raise ValueError("bias: Xylo v1 has no bias; bias and bias_out must be None or all zero")
        if self.aliases is not None:
            if len(self.aliases) != n_hid:
                raise ValueError(f"aliases: expected one list per hidden neuron ({n_hid}), got {len(self.aliases)}")
            clean = []
            for i, targets in enumerate(self.aliases):
                t = _int_array(f"aliases[{i}]", np.asarray(list(targets), dtype=np.int64), (1,), 0, n_hid - 1)
                clean.append([int(v) for v in t])
            self.aliases = clean
        dt = float(self.dt)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt = {self.dt}: must be finite and > 0 (time units per step)")
        self.dt = dt

    # ----------------------------------------------------------------- shape helpers
    @property
    def n_in(self) -> int:
        """Input channels."""
        return int(self.weights_in.shape[0])

    @property
    def n_hidden(self) -> int:
        """Hidden neurons."""
        return int(self.weights_in.shape[1])

    @property
    def n_out(self) -> int:
        """Output neurons."""
        return int(self.weights_out.shape[1])

    @property
    def n_syn(self) -> int:
        """Synapse states per hidden neuron (1 or 2)."""
        return 1 if self.weights_in.ndim == 2 else int(self.weights_in.shape[2])

    @property
    def has_bias(self) -> bool:
        """Whether any bias is non-zero (xylosim's ``has_bias``, as Rockpool sets it)."""
        return bool(np.any(self.bias) or np.any(self.bias_out))

    def weights_in_3d(self) -> np.ndarray:
        """``weights_in`` as ``(n_in, n_hidden, n_syn)``."""
        return self.weights_in.reshape(self.n_in, self.n_hidden, self.n_syn)

    def weights_rec_3d(self) -> np.ndarray:
        """``weights_rec`` as ``(n_hidden, n_hidden, n_syn)`` (zeros when absent; 2-d -> synapse 0)."""
        w = np.zeros((self.n_hidden, self.n_hidden, self.n_syn), dtype=np.int64)
        if self.weights_rec is not None:
            if self.weights_rec.ndim == 2:
                w[:, :, 0] = self.weights_rec
            else:
                w[...] = self.weights_rec
        return w

    def dash_syn_2d(self) -> np.ndarray:
        """Synaptic decay codes ``(n_hidden, n_syn)``."""
        cols = [self.dash_syn] if self.n_syn == 1 else [self.dash_syn, self.dash_syn_2]
        return np.stack(cols, axis=1)

    def alias_lists(self) -> list:
        """Alias targets of every hidden neuron (empty lists when there are none)."""
        return self.aliases if self.aliases is not None else [[] for _ in range(self.n_hidden)]

    def check_raster(self, raster) -> np.ndarray:
        """``raster`` as an int64 ``(batch, steps, n_in)`` array of counts >= 0, else ValueError.

        A 2-d ``(steps, n_in)`` raster is taken as a batch of one. Counts above 15 are allowed: the
        chip clips them (per channel and step).
        """
        r = np.asarray(raster)
        if r.ndim == 2:
            r = r[None]
        if r.ndim != 3 or r.shape[2] != self.n_in or r.shape[1] < 1:
            raise ValueError(f"raster: expected shape (batch, steps >= 1, {self.n_in}), got {np.shape(raster)}")
        if r.dtype.kind not in "iu":
            if r.dtype.kind != "f" or not np.all(np.isfinite(r)) or np.any(r != np.round(r)):
                raise ValueError(f"raster: expected integer event counts, got dtype {r.dtype}")
        r = r.astype(np.int64)
        if np.any(r < 0):
            i = tuple(int(v) for v in np.argwhere(r < 0)[0])
            raise ValueError(f"raster{list(i)} = {r[i]}: event counts must be >= 0")
        return r

    # ----------------------------------------------------------------- the work
    def run(self, raster, record: bool = False) -> EmulatorResult:
        """Run on ``raster`` (int ``(batch, steps, n_in)`` event counts), every sample from rest.

        Returns an :class:`EmulatorResult`: ``spikes = [hidden (batch, steps, n_hidden),
        output (batch, steps, n_out)]`` (int8 counts; hidden counts include aliased events) and, with
        ``record=True``, ``state = [{"vmem": (batch, steps, n_hidden), "isyn": (batch, steps,
        n_hidden, n_syn)}, {"vmem": (batch, steps, n_out), "isyn": (batch, steps, n_out, 1)}]``
        (int16, the values after each step, as xylosim records them).
        """
        r = np.minimum(self.check_raster(raster), LIMITS["input_events"]).astype(np.int32)
        batch, steps, _ = r.shape
        nh, no, ns = self.n_hidden, self.n_out, self.n_syn
        in_ptr, in_post, in_syn, in_w = _csr(self.weights_in_3d())
        rec_ptr, rec_post, rec_syn, rec_w = _csr(self.weights_rec_3d())
        out_ptr, out_post, out_syn, out_w = _csr(self.weights_out[:, :, None])
        alias = self.alias_lists()
        al_ptr = np.concatenate([[0], np.cumsum([len(a) for a in alias])]).astype(np.int64)
        al_idx = np.array([t for a in alias for t in a], dtype=np.int64)
        ts = steps if record else 0
        spk_h = np.zeros((batch, steps, nh), np.int8)
        spk_o = np.zeros((batch, steps, no), np.int8)
        v_h = np.zeros((batch, ts, nh), np.int16)
        i_h = np.zeros((batch, ts, nh, ns), np.int16)
        v_o = np.zeros((batch, ts, no), np.int16)
        i_o = np.zeros((batch, ts, no, 1), np.int16)
        args = (in_ptr, in_post, in_syn, _shifted(in_w, self.weight_shift_inp),
                rec_ptr, rec_post, rec_syn, _shifted(rec_w, self.weight_shift_rec),
                out_ptr, out_post, out_syn, _shifted(out_w, self.weight_shift_out),
                al_ptr, al_idx, self.dash_mem, self.dash_syn_2d(), self.threshold, self.bias,
                self.dash_mem_out, self.dash_syn_out, self.threshold_out, self.bias_out,
                self.version, record)

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
@numba.njit(cache=True, inline="always")
def _sat(x):
    if x > _STATE_MAX:
        return _STATE_MAX
    if x < _STATE_MIN:
        return _STATE_MIN
    return x


@numba.njit(cache=True, inline="always")
def _wrap16(x):
    return ((x + 32768) & 0xFFFF) - 32768


@numba.njit(cache=True, inline="always")
def _decay(x, d):
    """xylosim's ``decay``: the amount removed, ``x >> d`` or ``sign(x)`` when that is 0."""
    dx = x >> d
    if dx == 0:
        dx = (x > 0) - (x < 0)
    return dx


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _decay_currents(isyn, dash_syn):
    """Every synaptic current loses ``decay(I, dash_syn)`` (both versions, same arithmetic)."""
    for s in range(isyn.shape[0]):
        for j in range(isyn.shape[1]):
            isyn[s, j] -= _decay(isyn[s, j], dash_syn[s, j])


@numba.njit(cache=True, inline="always")
def _current(isyn, j):
    """Neuron ``j``'s summed synaptic current (one or two synapse states)."""
    total = isyn[0, j]
    if isyn.shape[0] == 2:
        total += isyn[1, j]
    return total


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, nogil=True)
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
