r"""The integer program of a SynSense Xylo core (xylosim v2, and v1): :class:`XyloProgram`.

A :class:`XyloProgram` holds the integer arrays of a Xylo network under Rockpool's specification
names, validated against the core's limits (:data:`LIMITS`); :meth:`XyloProgram.run` runs it on the
bit-accurate emulator (:mod:`.emulator`). The arithmetic below is xylosim 0.1.3's, read from its C++
source (docs/hardware.md, "Xylo") and tested against it program for program.

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

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["XyloProgram", "LIMITS"]

#: Integer limits of the Xylo core as xylosim 0.1.3 implements them (docs/hardware.md, "Xylo").
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
_set = object.__setattr__   # __post_init__ of a frozen dataclass stores the validated values


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


# --------------------------------------------------------------------------- the program
@dataclass(frozen=True, eq=False)
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

    #: the core's integer limits (:data:`LIMITS`), for code that gets a program and no chip
    limits: ClassVar[dict] = LIMITS

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
        _set(self, "weights_in", _int_array("weights_in", self.weights_in, (2, 3), wlo, whi))
        n_in, n_hid = self.weights_in.shape[:2]
        n_syn = 1 if self.weights_in.ndim == 2 else self.weights_in.shape[2]
        if n_syn not in (1, 2):
            raise ValueError(f"weights_in: a hidden neuron has 1 or 2 synapse states, got {n_syn} (shape {self.weights_in.shape})")
        if n_in < 1 or n_hid < 1:
            raise ValueError(f"weights_in: need >= 1 input and >= 1 hidden neuron, got shape {self.weights_in.shape}")
        _set(self, "weights_out", _int_array("weights_out", self.weights_out, (2,), wlo, whi))
        if self.weights_out.shape[0] != n_hid or self.weights_out.shape[1] < 1:
            raise ValueError(f"weights_out: expected shape ({n_hid}, n_out >= 1), got {self.weights_out.shape}")
        n_out = self.weights_out.shape[1]
        if self.weights_rec is not None:
            _set(self, "weights_rec", _int_array("weights_rec", self.weights_rec, (2, 3), wlo, whi))
            want = (n_hid, n_hid) if self.weights_rec.ndim == 2 else (n_hid, n_hid, n_syn)
            if self.weights_rec.shape != want:
                raise ValueError(f"weights_rec: expected shape {want} (or ({n_hid}, {n_hid})), got {self.weights_rec.shape}")
        dlo, dhi = LIMITS["dash"]
        _set(self, "dash_mem", _per_neuron("dash_mem", self.dash_mem, n_hid, dlo, dhi))
        _set(self, "dash_syn", _per_neuron("dash_syn", self.dash_syn, n_hid, dlo, dhi))
        if n_syn == 2:
            if self.dash_syn_2 is None:
                raise ValueError("dash_syn_2: required when weights_in has 2 synapse states (shape "
                                 f"{self.weights_in.shape}); no default, 0 would erase synapse 1's input")
            _set(self, "dash_syn_2", _per_neuron("dash_syn_2", self.dash_syn_2, n_hid, dlo, dhi))
        elif self.dash_syn_2 is not None:
            raise ValueError("dash_syn_2: must be None when weights_in is 2-d (one synapse state)")
        _set(self, "dash_mem_out", _per_neuron("dash_mem_out", self.dash_mem_out, n_out, dlo, dhi))
        _set(self, "dash_syn_out", _per_neuron("dash_syn_out", self.dash_syn_out, n_out, dlo, dhi))
        tlo, thi = LIMITS["threshold"]
        _set(self, "threshold", _per_neuron("threshold", self.threshold, n_hid, tlo, thi))
        _set(self, "threshold_out", _per_neuron("threshold_out", self.threshold_out, n_out, tlo, thi))
        blo, bhi = LIMITS["bias"]
        _set(self, "bias", np.zeros(n_hid, np.int64) if self.bias is None else _per_neuron("bias", self.bias, n_hid, blo, bhi))
        _set(self, "bias_out", np.zeros(n_out, np.int64) if self.bias_out is None
             else _per_neuron("bias_out", self.bias_out, n_out, blo, bhi))
        _set(self, "weight_shift_inp", _shift("weight_shift_inp", self.weight_shift_inp))
        _set(self, "weight_shift_rec", _shift("weight_shift_rec", self.weight_shift_rec))
        _set(self, "weight_shift_out", _shift("weight_shift_out", self.weight_shift_out))
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
            _set(self, "aliases", clean)
        dt = float(self.dt)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt = {self.dt}: must be finite and > 0 (time units per step)")
        _set(self, "dt", dt)

    # ----------------------------------------------------------------- shape helpers
    @property
    def n_inputs(self) -> int:
        """Input channels."""
        return int(self.weights_in.shape[0])

    @property
    def n_outputs(self) -> int:
        """Output neurons."""
        return int(self.weights_out.shape[1])

    @property
    def sizes(self) -> tuple:
        """Neurons per layer: ``(n_hidden, n_outputs)``."""
        return (self.n_hidden, self.n_outputs)

    @property
    def n_in(self) -> int:
        """Deprecated name of :attr:`n_inputs`."""
        return self.n_inputs

    @property
    def n_hidden(self) -> int:
        """Hidden neurons."""
        return int(self.weights_in.shape[1])

    @property
    def n_out(self) -> int:
        """Deprecated name of :attr:`n_outputs`."""
        return self.n_outputs

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
        return self.weights_in.reshape(self.n_inputs, self.n_hidden, self.n_syn)

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
        if r.ndim != 3 or r.shape[2] != self.n_inputs or r.shape[1] < 1:
            raise ValueError(f"raster: expected shape (batch, steps >= 1, {self.n_inputs}), got {np.shape(raster)}")
        if r.dtype.kind not in "iu":
            if r.dtype.kind != "f" or not np.all(np.isfinite(r)) or np.any(r != np.round(r)):
                raise ValueError(f"raster: expected integer event counts, got dtype {r.dtype}")
        r = r.astype(np.int64)
        if np.any(r < 0):
            i = tuple(int(v) for v in np.argwhere(r < 0)[0])
            raise ValueError(f"raster{list(i)} = {r[i]}: event counts must be >= 0")
        return r

    def run(self, raster, record: bool = False):
        """Run on the bit-accurate emulator: :func:`.emulator.run` (``(batch, steps, n_inputs)`` counts)."""
        from .emulator import run

        return run(self, raster, record)
