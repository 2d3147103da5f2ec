r"""Bit-accurate batched emulator (numba) of Lava's fixed-point Loihi LIF + Dense models (``fixed_pt``).

A :class:`LoihiProgram` is a chain of layers; layer ``l`` is a Lava ``Dense`` process fed by the
spikes of layer ``l - 1`` (the input raster for ``l = 0``) that drives a Lava ``LIF`` population, plus
optionally a recurrent ``Dense`` from that population's ``s_out`` back to its own ``a_in``. Parameter
names are Lava's own. All quantities are integers in Lava's units; one step is one Lava time step of
``dt`` (the network's time unit).

Arithmetic, per step ``t`` (``lava/proc/dense/models.py``, ``lava/proc/lif/models.py``,
``lava/utils/weightutils.py``; /work/shared/hardware.md section 4):

* Dense: the weights Lava uses are ``w_eff = (w >> k) << k`` with ``k = 8 - num_weight_bits + mixed``
  (for inhibitory weights applied to ``-w``), so 8-bit mixed-sign weights lose their LSB. The
  accumulated input is ``A = sum_i w_eff[i, j] s_i(t)``, shifted by ``weight_exp`` (left when > 0,
  arithmetic right when < 0) and sent at step ``t + 1`` (Dense's one-step delay).
* LIF, with ``a_in`` the sum of every Dense feeding the population:
  ``u = trunc0(u (4096 - (du + 1)) / 4096) + (a_in << 6)``; ``u`` wraps once by ``2^24`` when it
  leaves ``(-2^23, 2^23]``;
  ``v = clip(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)``;
  spike when ``v > vth << 6``; then ``v = 0`` (``u`` is kept).
* Lava keeps ``a_in``, ``u``, ``v`` in int32 numpy arrays; the emulator reproduces int32 wrap-around
  at the same operations, so huge fan-ins behave as in Lava too.

Timing (measured with Lava, see tests/test_loihi_emulator.py): an input spike in ``raster[:, k]``
changes ``u`` and ``v`` of layer 0 at step ``k + 1``; a spike of layer ``l`` at step ``k`` reaches
layer ``l + 1`` (and, through the recurrent Dense, layer ``l`` itself) at step ``k + 1``. So an
input at step ``k`` can reach layer ``l`` at step ``k + 1 + l`` at the earliest.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .result import EmulatorResult

__all__ = ["LoihiProgram", "LIMITS", "effective_weights"]

# Register widths of Lava's fixed-point models (LavaPyType precisions and the PyLifModelBitAcc
# docstring): (lo, hi), inclusive.
LIMITS = {
    "du": (0, 4095),               # 12-bit unsigned
    "dv": (0, 4095),               # 12-bit unsigned
    "vth": (0, 131071),            # 17-bit unsigned mantissa, applied as vth << 6
    "bias_mant": (-4096, 4095),    # 13-bit signed
    "bias_exp": (0, 7),            # 3-bit unsigned
    "weight_exp": (-8, 7),         # Loihi's 4-bit signed weight exponent (Lava itself checks none)
    "num_weight_bits": (1, 8),
}
# Weight range Dense accepts per sign mode (clip_weights(num_bits=8)); outside it Lava would clip
# silently, which the program rejects instead.
WEIGHT_RANGE = {"mixed": (-256, 255), "excitatory": (0, 255), "inhibitory": (-255, 0)}

_DECAY_SHIFT = 12          # decays are multipliers over 2**12
_DS_OFFSET = 1             # Lava adds 1 to du (not to dv)
_ACT_SHIFT = 6             # a_in << 6
_VTH_SHIFT = 6             # vth << 6
_UV_MAX = 1 << 23          # u, v are 24-bit


def _wrap32(x: np.ndarray) -> np.ndarray:
    """int64 -> the value numpy's int32 arithmetic would hold (two's-complement wrap)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@njit(cache=True)
def _w32(x):
    # scalar form of _wrap32 for the compiled neuron update
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648


@njit(cache=True)
def _trunc_decay(x, keep):
    # Lava: sign(x * keep) * (|x * keep| >> 12), i.e. x * keep / 4096 rounded toward zero
    p = x * keep
    return -((-p) >> _DECAY_SHIFT) if p < 0 else p >> _DECAY_SHIFT


@njit(cache=True)
def _lif_step(a_in, u, v, keep_u, keep_v, bias, vth_scaled, spikes):
    """One LIF step of Lava's PyLifModelBitAcc for a (batch, n) population, in place.

    ``a_in`` is the int32 sum of the Dense outputs; ``u``, ``v`` int64 holding int32 values;
    ``spikes`` (batch, n) int8 output. The int32 wraps sit where Lava's int32 numpy arithmetic wraps.
    """
    batch, n = u.shape
    for b in range(batch):
        for j in range(n):
            uj = _w32(_trunc_decay(u[b, j], keep_u[j]) + _w32(a_in[b, j] << _ACT_SHIFT))
            if uj > _UV_MAX:             # 24-bit wrap, applied once (Lava's two np.where)
                uj = _w32(uj - 2 * _UV_MAX)
            elif uj <= -_UV_MAX:
                uj = _w32(uj + 2 * _UV_MAX)
            vj = _w32(_trunc_decay(v[b, j], keep_v[j]) + uj + bias[j])
            vj = min(max(vj, -_UV_MAX + 1), _UV_MAX - 1)
            fired = vj > vth_scaled[j]
            u[b, j] = uj
            v[b, j] = 0 if fired else vj
            spikes[b, j] = fired


def _sign_mode(name: str, value, weights: np.ndarray) -> str:
    """Canonical sign mode: 'mixed' | 'excitatory' | 'inhibitory' (None: Lava's determine_sign_mode)."""
    if value is None:
        if weights.size == 0 or weights.min() >= 0:
            return "excitatory"
        return "inhibitory" if weights.max() <= 0 else "mixed"
    # Accept Lava's SignMode enum (by name or value) without importing Lava.
    by_value = {1: "mixed", 2: "excitatory", 3: "inhibitory"}
    key = getattr(value, "name", value)
    if isinstance(key, str) and key.lower() in WEIGHT_RANGE:
        return key.lower()
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and int(key) in by_value:
        return by_value[int(key)]
    raise ValueError(f"{name}: must be None, 'mixed', 'excitatory', 'inhibitory' or a lava SignMode "
                     f"(MIXED=1, EXCITATORY=2, INHIBITORY=3), got {value!r}")


def _int_param(name: str, value, shape, lo: int, hi: int) -> np.ndarray:
    """``value`` broadcast to ``shape`` as int64, or ValueError naming the argument, limit and value."""
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name}: expected integers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name}: expected integer values, got non-integer {arr[arr != np.round(arr)][:3]}")
    try:
        arr = np.broadcast_to(arr, shape).astype(np.int64)
    except ValueError:
        raise ValueError(f"{name}: expected a scalar or shape {tuple(shape)}, got shape {np.shape(value)}") from None
    bad = (arr < lo) | (arr > hi)
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: must lie in [{lo}, {hi}], got {int(arr[idx])} at index {idx}")
    return arr  # astype made a C-contiguous copy (ascontiguousarray would turn a scalar into 1-d)


def _dense(name: str, spec: dict, n_pre: int, n_post: int, defaults: dict | None = None) -> dict:
    """Validate one Dense process's parameters (``weights`` is ``(n_pre, n_post)``)."""
    defaults = defaults or {}
    w = np.asarray(spec["weights"])
    if w.shape != (n_pre, n_post):
        raise ValueError(f"{name}.weights: expected shape ({n_pre}, {n_post}) (n_pre, n_post), got {w.shape}")
    w = _int_param(f"{name}.weights", w, w.shape, -256, 255)
    mode = _sign_mode(f"{name}.sign_mode", spec.get("sign_mode", defaults.get("sign_mode")), w)
    lo, hi = WEIGHT_RANGE[mode]
    _int_param(f"{name}.weights (sign_mode {mode!r})", w, w.shape, lo, hi)
    exp = int(_int_param(f"{name}.weight_exp", spec.get("weight_exp", defaults.get("weight_exp", 0)), (),
                         *LIMITS["weight_exp"]))
    nwb = int(_int_param(f"{name}.num_weight_bits", spec.get("num_weight_bits", defaults.get("num_weight_bits", 8)),
                         (), *LIMITS["num_weight_bits"]))
    return {"weights": w, "weight_exp": exp, "num_weight_bits": nwb, "sign_mode": mode}


def effective_weights(dense: dict) -> np.ndarray:
    """The integer weights Lava's bit-accurate Dense actually multiplies with (before ``weight_exp``).

    ``(w >> k) << k`` with ``k = 8 - num_weight_bits + (sign_mode == 'mixed')``; inhibitory weights are
    truncated in magnitude (``-((-w >> k) << k)``), as ``lava.utils.weightutils.truncate_weights`` does.
    """
    k = 8 - dense["num_weight_bits"] + (dense["sign_mode"] == "mixed")
    w = dense["weights"]
    if dense["sign_mode"] == "inhibitory":
        return -(((-w) >> k) << k)
    return (w >> k) << k


@dataclass
class LoihiProgram:
    """An integer Loihi 2 program in Lava's units (see the module docstring for the arithmetic).

    Args:
        layers: one dict per layer with Lava's parameter names:
            ``weights`` int ``(n_pre, n_post)`` (note: Lava's Dense wants the transpose),
            ``weight_exp`` (int, default 0; the accumulated input is scaled by ``2**weight_exp``),
            ``num_weight_bits`` (1..8, default 8), ``sign_mode`` (None = as Lava determines it from
            the weights, or 'mixed' / 'excitatory' / 'inhibitory' / lava ``SignMode``),
            ``du``, ``dv`` (decay codes 0..4095: ``u`` keeps ``(4095 - du)/4096`` of itself per step,
            ``v`` keeps ``(4096 - dv)/4096``), ``vth`` (0..131071, compared as ``vth << 6``),
            ``bias_mant`` (-4096..4095), ``bias_exp`` (0..7): bias ``bias_mant << bias_exp`` added to
            ``v`` every step. ``du``/``dv``/``vth``/bias are scalars or one value per neuron.
        recurrent: None, or one entry per layer: None, an int ``(n_l, n_l)`` matrix (``[i, j]``: from
            neuron ``i`` to neuron ``j``; same ``weight_exp`` and ``num_weight_bits`` as the layer,
            sign mode determined from the matrix), or a dict with ``weights`` and optional
            ``weight_exp`` / ``num_weight_bits`` / ``sign_mode``.
        dt: duration of one step in the network's time unit (> 0); used to report spike times.

    After construction ``layers`` and ``recurrent`` hold the validated, canonical values (int64
    arrays, per-neuron parameters broadcast to ``(n_l,)``, sign modes as strings).
    """

    layers: list
    recurrent: list | None = None
    dt: float = 1e-3
    sizes: tuple = field(init=False)

    def __post_init__(self):
        if not isinstance(self.layers, (list, tuple)) or len(self.layers) == 0:
            raise ValueError("layers: expected a non-empty list of dicts, one per layer")
        canon = []
        n_pre = None
        for l, spec in enumerate(self.layers):
            if not isinstance(spec, dict) or "weights" not in spec:
                raise ValueError(f"layers[{l}]: expected a dict with at least 'weights'")
            unknown = set(spec) - {"weights", "weight_exp", "num_weight_bits", "sign_mode", "du", "dv",
                                   "vth", "bias_mant", "bias_exp"}
            if unknown:
                raise ValueError(f"layers[{l}]: unknown keys {sorted(unknown)}")
            w_shape = np.shape(spec["weights"])
            if len(w_shape) != 2:
                raise ValueError(f"layers[{l}].weights: expected a 2-d (n_pre, n_post) array, got shape {w_shape}")
            if n_pre is not None and w_shape[0] != n_pre:
                raise ValueError(f"layers[{l}].weights: has {w_shape[0]} rows but layer {l - 1} has {n_pre} neurons")
            n = int(w_shape[1])
            layer = _dense(f"layers[{l}]", spec, int(w_shape[0]), n)
            for key, default in (("du", 0), ("dv", 0), ("vth", 10), ("bias_mant", 0), ("bias_exp", 0)):
                layer[key] = _int_param(f"layers[{l}].{key}", spec.get(key, default), (n,), *LIMITS[key])
            canon.append(layer)
            n_pre = n
        self.layers = canon
        self.sizes = tuple(int(layer["weights"].shape[1]) for layer in canon)

        rec = self.recurrent if self.recurrent is not None else [None] * len(canon)
        if not isinstance(rec, (list, tuple)) or len(rec) != len(canon):
            raise ValueError(f"recurrent: expected None or one entry per layer ({len(canon)})")
        self.recurrent = []
        for l, r in enumerate(rec):
            if r is None:
                self.recurrent.append(None)
                continue
            spec = r if isinstance(r, dict) else {"weights": r}
            defaults = {"weight_exp": canon[l]["weight_exp"], "num_weight_bits": canon[l]["num_weight_bits"]}
            self.recurrent.append(_dense(f"recurrent[{l}]", spec, self.sizes[l], self.sizes[l], defaults))

        dt = float(self.dt)
        if not np.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt = {self.dt}: must be finite and > 0")
        self.dt = dt

    @property
    def n_inputs(self) -> int:
        return int(self.layers[0]["weights"].shape[0])

    def check_raster(self, raster) -> np.ndarray:
        """``raster`` as an int8 ``(batch, steps, n_inputs)`` array of 0/1, or ValueError."""
        arr = np.asarray(raster)
        if arr.ndim != 3 or arr.shape[2] != self.n_inputs:
            raise ValueError(f"raster: expected shape (batch, steps, {self.n_inputs}), got {arr.shape}")
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            # Dense reads binary spikes (num_message_bits = 0): a count > 1 would silently become 1.
            bad = arr[(arr != 0) & (arr != 1)][0]
            raise ValueError(f"raster: Loihi input spikes are binary (0 or 1 per step and channel), found {bad}")
        return arr.astype(np.int8)

    def run(self, raster, record: bool = False) -> EmulatorResult:
        """Run the program on ``raster`` (``(batch, steps, n_inputs)``, 0/1), every sample from rest.

        Returns an :class:`EmulatorResult`: ``spikes[l]`` int8 ``(batch, steps, n_l)``; with
        ``record=True`` ``state[l] = {"u": ..., "v": ...}``, int32 ``(batch, steps, n_l)`` in Lava's
        units, read after each step (``v`` after the reset), exactly what a Lava Monitor reads.
        """
        x = self.check_raster(raster)
        batch, steps, _ = x.shape
        L = len(self.layers)
        w_ff = [effective_weights(layer) for layer in self.layers]
        w_rec = [None if r is None else effective_weights(r) for r in self.recurrent]
        keep_u = [4096 - (layer["du"] + _DS_OFFSET) for layer in self.layers]
        keep_v = [4096 - layer["dv"] for layer in self.layers]
        bias = [layer["bias_mant"] << layer["bias_exp"] for layer in self.layers]
        vth = [layer["vth"] << _VTH_SHIFT for layer in self.layers]

        u = [np.zeros((batch, n), np.int64) for n in self.sizes]
        v = [np.zeros((batch, n), np.int64) for n in self.sizes]
        spikes = [np.zeros((batch, steps, n), np.int8) for n in self.sizes]
        step_spikes = [np.zeros((batch, n), np.int8) for n in self.sizes]
        state = [{"u": np.zeros((batch, steps, n), np.int32), "v": np.zeros((batch, steps, n), np.int32)}
                 if record else {} for n in self.sizes]

        # Dense a_buff: what each population receives at the next step (one-step delay); two buffers
        # swap roles every step.
        a_in = [np.zeros((batch, n), np.int64) for n in self.sizes]
        pending = [np.zeros((batch, n), np.int64) for n in self.sizes]
        for t in range(steps):
            _dense_step(x[:, t, :], w_ff[0], self.layers[0]["weight_exp"], pending[0], False)
            for l in range(L):
                s = step_spikes[l]
                _lif_step(a_in[l], u[l], v[l], keep_u[l], keep_v[l], bias[l], vth[l], s)
                spikes[l][:, t, :] = s
                if record:
                    state[l]["u"][:, t, :] = u[l]
                    state[l]["v"][:, t, :] = v[l]
                if l + 1 < L:
                    _dense_step(s, w_ff[l + 1], self.layers[l + 1]["weight_exp"], pending[l + 1], False)
                if w_rec[l] is not None:
                    _dense_step(s, w_rec[l], self.recurrent[l]["weight_exp"], pending[l], True)
            a_in, pending = pending, a_in
        return EmulatorResult(spikes=spikes, state=state)


@njit(cache=True)
def _dense_step(s, w_eff, weight_exp, out, add):
    """One Dense step of Lava's PyDenseModelBitAcc into ``out`` (batch, n_post) int64.

    ``A = sum_i w_eff[i, j] s_i`` (binary spikes), shifted by ``weight_exp`` (left when > 0, arithmetic
    right otherwise), as the int32 that Lava's channel carries. With ``add`` the result is added to
    ``out`` with int32 wrap: Lava sums every Dense arriving at one InPort in int32.
    """
    batch, n_pre = s.shape
    n_post = w_eff.shape[1]
    acc = np.zeros(n_post, np.int64)
    for b in range(batch):
        acc[:] = 0
        for i in range(n_pre):
            if s[b, i] != 0:
                for j in range(n_post):
                    acc[j] += w_eff[i, j]
        for j in range(n_post):
            a = acc[j] << weight_exp if weight_exp > 0 else acc[j] >> -weight_exp
            out[b, j] = _w32(out[b, j] + _w32(a)) if add else _w32(a)
