r"""The integer program of Loihi 2 in Lava's units: :class:`LoihiProgram` of :class:`LoihiLayer` s.

A program is a chain of layers; layer ``l`` is a Lava ``Dense`` process fed by the spikes of layer
``l - 1`` (the input raster for ``l = 0``) that drives a Lava ``LIF`` population, plus optionally a
recurrent ``Dense`` (:class:`LoihiDense`) from that population's ``s_out`` back to its own ``a_in``.
Parameter names are Lava's own (lava-nc 0.10.0); all quantities are integers in Lava's units; one
step is one Lava time step of ``dt`` (the network's time unit). :mod:`.emulator` states the
arithmetic and runs it bit-accurately.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .emulator import effective_weights

__all__ = ["LoihiProgram", "LoihiLayer", "LoihiDense", "LIMITS", "WEIGHT_RANGE", "effective_weights"]

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

_set = object.__setattr__   # __post_init__ of a frozen dataclass stores the validated values


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


class _ByName:
    """Deprecated mapping access (``layer["vth"]``) for callers written when layers were dicts."""

    def __getitem__(self, key: str):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def keys(self):
        return [f.name for f in fields(self)]

    def to_dict(self) -> dict:
        """Lava's parameter names -> values (what :class:`LoihiProgram` also accepts as a layer)."""
        return {k: getattr(self, k) for k in self.keys()}


@dataclass(frozen=True, eq=False)
class LoihiDense(_ByName):
    """One Lava ``Dense`` process, validated: ``weights`` int64 ``(n_pre, n_post)`` (Lava's Dense wants
    the transpose), ``weight_exp`` (the accumulated input is scaled by ``2**weight_exp``),
    ``num_weight_bits`` (1..8) and ``sign_mode`` ('mixed' / 'excitatory' / 'inhibitory')."""

    weights: np.ndarray
    weight_exp: int
    num_weight_bits: int
    sign_mode: str


@dataclass(frozen=True, eq=False)
class LoihiLayer(_ByName):
    """One layer: the ``Dense`` feeding it and its ``LIF`` population (per-neuron int64 ``(n,)`` arrays).

    ``du``, ``dv``: decay codes 0..4095 (``u`` keeps ``(4095 - du)/4096`` of itself per step, ``v``
    keeps ``(4096 - dv)/4096``); ``vth``: 0..131071, compared as ``vth << 6``; bias
    ``bias_mant << bias_exp`` added to ``v`` every step.
    """

    weights: np.ndarray
    weight_exp: int
    num_weight_bits: int
    sign_mode: str
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray

    @property
    def dense(self) -> LoihiDense:
        """The layer's input ``Dense`` alone."""
        return LoihiDense(self.weights, self.weight_exp, self.num_weight_bits, self.sign_mode)


def _spec(value, what: str) -> dict:
    """A layer / recurrent entry as a dict of Lava names (a dataclass given back as its fields)."""
    if isinstance(value, _ByName):
        return value.to_dict()
    if not isinstance(value, dict) or "weights" not in value:
        raise ValueError(f"{what}: expected a LoihiLayer / LoihiDense or a dict with at least 'weights'")
    return value


@dataclass(frozen=True, eq=False)
class LoihiProgram:
    """An integer Loihi 2 program in Lava's units (see :mod:`.emulator` for the arithmetic).

    Args:
        layers: one :class:`LoihiLayer` per layer, or a dict with Lava's parameter names:
            ``weights`` int ``(n_pre, n_post)`` (note: Lava's Dense wants the transpose),
            ``weight_exp`` (int, default 0), ``num_weight_bits`` (1..8, default 8), ``sign_mode``
            (None = as Lava determines it from the weights, or 'mixed' / 'excitatory' / 'inhibitory' /
            lava ``SignMode``), ``du``, ``dv`` (0..4095), ``vth`` (0..131071), ``bias_mant``
            (-4096..4095), ``bias_exp`` (0..7); ``du``/``dv``/``vth``/bias are scalars or one value per neuron.
        recurrent: None, or one entry per layer: None, an int ``(n_l, n_l)`` matrix (``[i, j]``: from
            neuron ``i`` to neuron ``j``; same ``weight_exp`` and ``num_weight_bits`` as the layer,
            sign mode determined from the matrix), a :class:`LoihiDense`, or a dict with ``weights`` and
            optional ``weight_exp`` / ``num_weight_bits`` / ``sign_mode``.
        dt: duration of one step in the network's time unit (> 0); used to report spike times.

    After construction ``layers`` is a tuple of :class:`LoihiLayer` and ``recurrent`` a tuple of
    :class:`LoihiDense` or None (int64 arrays, per-neuron parameters broadcast to ``(n_l,)``).
    """

    layers: tuple
    recurrent: tuple | None = None
    dt: float = 1e-3

    def __post_init__(self):
        if not isinstance(self.layers, (list, tuple)) or len(self.layers) == 0:
            raise ValueError("layers: expected a non-empty list of layers (LoihiLayer or dicts), one per layer")
        canon = []
        n_pre = None
        for l, value in enumerate(self.layers):
            spec = _spec(value, f"layers[{l}]")
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
            canon.append(LoihiLayer(**layer))
            n_pre = n
        _set(self, "layers", tuple(canon))
        sizes = self.sizes

        rec = self.recurrent if self.recurrent is not None else [None] * len(canon)
        if not isinstance(rec, (list, tuple)) or len(rec) != len(canon):
            raise ValueError(f"recurrent: expected None or one entry per layer ({len(canon)})")
        out = []
        for l, r in enumerate(rec):
            if r is None:
                out.append(None)
                continue
            spec = _spec(r, f"recurrent[{l}]") if isinstance(r, (dict, _ByName)) else {"weights": r}
            defaults = {"weight_exp": canon[l].weight_exp, "num_weight_bits": canon[l].num_weight_bits}
            out.append(LoihiDense(**_dense(f"recurrent[{l}]", spec, sizes[l], sizes[l], defaults)))
        _set(self, "recurrent", tuple(out))

        dt = float(self.dt)
        if not np.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt = {self.dt}: must be finite and > 0")
        _set(self, "dt", dt)

    @property
    def sizes(self) -> tuple:
        """Neurons per layer."""
        return tuple(int(layer.weights.shape[1]) for layer in self.layers)

    @property
    def n_inputs(self) -> int:
        """Input channels."""
        return int(self.layers[0].weights.shape[0])

    @property
    def n_outputs(self) -> int:
        """Neurons of the last layer."""
        return self.sizes[-1]

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

    def run(self, raster, record: bool = False):
        """Run on the bit-accurate emulator: :func:`.emulator.run` (``(batch, steps, n_inputs)``, 0/1)."""
        from .emulator import run

        return run(self, raster, record)
