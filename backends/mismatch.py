r"""Device mismatch for the emulators: fixed, seeded random factors on an integer chip program.

An analog chip (or a digital one with process variation in its analog front end) does not implement
the parameters it is given: every neuron's threshold and decay and every synapse's weight is off by
its own factor, fixed for that device. The bit-accurate emulators have no such gap, so in-the-loop
training would have nothing to correct beyond quantization. :func:`perturb` adds one: it returns a
copy of a :class:`~fpsnn.backends.emulator.XyloProgram` or
:class:`~fpsnn.backends.emulator.LoihiProgram` whose integers are

.. math:: w' = \mathrm{clip}(\mathrm{round}(w\,f_w)),\qquad
          \vartheta' = \mathrm{clip}(\mathrm{round}(\vartheta\,f_\vartheta)),\qquad
          \tau' = \tau_{eff}(d)\,f_\tau \ \to\ d' \ \text{(dithered, see below)},

one factor :math:`f = e^{s z}`, :math:`z \sim N(0, 1)`, per weight entry, per neuron threshold and
per neuron decay (``s`` = ``spread``; the factors' relative standard deviation is about ``s`` for
small ``s``: ``spread=0.1`` is "10 % mismatch"). Factors are lognormal so they are always positive:
a weight never changes sign and a threshold never reaches 0.

**Fixed per device.** The factors depend only on ``seed``, the parameter's name and its shape, never
on the values: re-deploying new weights to the same "chip" (same seed) perturbs every synapse and
neuron by the same factors again, as a physical device would. Each parameter array draws from its
own stream (``SeedSequence([seed, crc32(name)])``), so adding a parameter does not reshuffle others.

**Decays.** Decay codes are coarse on Xylo (a code step doubles the time constant), so rounding the
perturbed time constant to the nearest code would erase a 10 % mismatch. The perturbed
:math:`\tau'` is instead dithered between the two codes whose effective time constants bracket it,
in :math:`\log\tau`, with a fixed per-neuron uniform draw: the code's :math:`\log\tau` equals
:math:`\log\tau'` on average over neurons (Loihi's 12-bit codes make the dither negligible).
Effective time constants are those of the chip mappings (``tau_for_dash``, ``tau_syn_for_du``,
``tau_mem_for_dv``), in units of the program's ``dt``.

**What is not perturbed**: weight shifts / exponents (digital), biases (none in fpsnn programs), and
a Xylo output threshold at the int16 maximum (a membrane read-out marker).

:class:`MismatchTarget` wraps any backend-like target (``compile`` / ``run``) so that every run uses
the perturbed program while the caller keeps seeing the nominal one, which is what in-the-loop
training knows about the chip.
"""
from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np

from .loihi import LIMITS as LOIHI_LIMITS
from .loihi import WEIGHT_RANGE as LOIHI_WEIGHT_RANGE
from .loihi import LoihiProgram
from .xylo import LIMITS as XYLO_LIMITS
from .xylo import XyloProgram

__all__ = ["perturb", "factors", "MismatchTarget"]


def _check(spread, seed) -> tuple[float, int]:
    spread = float(spread)
    if not (math.isfinite(spread) and 0 <= spread <= 1):
        raise ValueError(f"spread = {spread}: must be in [0, 1] (relative std of the mismatch factors; 0.1 = 10 %)")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed = {seed!r}: must be an integer >= 0 (it identifies the emulated device)")
    return spread, int(seed)


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def factors(name: str, shape, spread: float, seed: int) -> np.ndarray:
    """The fixed mismatch factors ``exp(spread * z)`` of parameter ``name`` with ``shape`` on device ``seed``."""
    spread, seed = _check(spread, seed)
    return np.exp(spread * _stream(seed, name).standard_normal(shape))


def _dither(name: str, shape, seed: int) -> np.ndarray:
    # A second, independent stream per parameter: the uniform draw that places a perturbed time
    # constant on one of its two bracketing codes.
    return _stream(seed, name + "/dither").random(shape)


def _scale_int(name, value, spread, seed, lo, hi) -> np.ndarray:
    v = np.asarray(value, dtype=np.int64)
    return np.clip(np.round(v * factors(name, v.shape, spread, seed)), lo, hi).astype(np.int64)


def _perturb_codes(name, codes, tau_of_code, code_lo, code_hi, dt, spread, seed) -> np.ndarray:
    """Decay codes whose time constants are the nominal ones times the mismatch factors (dithered)."""
    codes = np.asarray(codes, dtype=np.int64)
    all_codes = np.arange(code_lo, code_hi + 1)
    log_tau = np.log(tau_of_code(all_codes, dt))
    order = np.argsort(log_tau)  # Xylo's tau grows with the code, Loihi's du/dv shrink it
    sorted_log, sorted_codes = log_tau[order], all_codes[order]
    target = np.log(tau_of_code(codes, dt)) + spread * _stream(seed, name).standard_normal(codes.shape)
    hi_idx = np.clip(np.searchsorted(sorted_log, target), 1, sorted_log.size - 1)
    lo_idx = hi_idx - 1
    width = sorted_log[hi_idx] - sorted_log[lo_idx]
    p_hi = np.clip((target - sorted_log[lo_idx]) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    pick_hi = _dither(name, codes.shape, seed) < p_hi
    return np.where(pick_hi, sorted_codes[hi_idx], sorted_codes[lo_idx]).astype(np.int64)


def _perturb_xylo(p: XyloProgram, spread: float, seed: int) -> XyloProgram:
    from ..xylo.mapping import tau_for_dash

    wlo, whi = XYLO_LIMITS["weight"]
    tmax = XYLO_LIMITS["threshold"][1]
    dlo, dhi = max(1, XYLO_LIMITS["dash"][0]), XYLO_LIMITS["dash"][1]  # code 0 has no time constant
    w = lambda n: None if getattr(p, n) is None else _scale_int(n, getattr(p, n), spread, seed, wlo, whi)
    th_out = p.threshold_out
    readout = th_out == tmax  # a read-out marker, not a physical threshold
    th_out = np.where(readout, th_out, _scale_int("threshold_out", th_out, spread, seed, 1, tmax))

    def dash(n):
        d = getattr(p, n)
        if d is None:
            return None
        # a code 0 (value erased within its step) stays 0: there is no time constant to perturb
        return np.where(d == 0, 0, _perturb_codes(n, np.maximum(d, dlo), tau_for_dash, dlo, dhi, p.dt, spread, seed))

    return dataclasses.replace(
        p, weights_in=w("weights_in"), weights_rec=w("weights_rec"), weights_out=w("weights_out"),
        threshold=_scale_int("threshold", p.threshold, spread, seed, 1, tmax), threshold_out=th_out,
        dash_mem=dash("dash_mem"), dash_syn=dash("dash_syn"), dash_syn_2=dash("dash_syn_2"),
        dash_mem_out=dash("dash_mem_out"), dash_syn_out=dash("dash_syn_out"))


def _perturb_loihi(p: LoihiProgram, spread: float, seed: int) -> LoihiProgram:
    from ..lava.mapping import tau_mem_for_dv, tau_syn_for_du

    def dense(name, d):
        lo, hi = LOIHI_WEIGHT_RANGE[d["sign_mode"]]
        return dict(d, weights=_scale_int(name, d["weights"], spread, seed, lo, hi))

    layers, recurrent = [], []
    for l, layer in enumerate(p.layers):
        new = dense(f"layers[{l}].weights", layer)
        new["vth"] = _scale_int(f"layers[{l}].vth", layer["vth"], spread, seed, 1, LOIHI_LIMITS["vth"][1])
        # du = 4095 erases the current each step and dv = 0 means no leak: neither has a finite
        # time constant to perturb, so both are kept.
        du = np.minimum(layer["du"], 4094)
        new["du"] = np.where(layer["du"] == 4095, 4095, _perturb_codes(
            f"layers[{l}].du", du, tau_syn_for_du, 0, 4094, p.dt, spread, seed))
        dv = np.maximum(layer["dv"], 1)
        new["dv"] = np.where(layer["dv"] == 0, 0, _perturb_codes(
            f"layers[{l}].dv", dv, tau_mem_for_dv, 1, 4095, p.dt, spread, seed))
        layers.append(new)
        r = p.recurrent[l]
        recurrent.append(None if r is None else dense(f"recurrent[{l}].weights", r))
    return LoihiProgram(layers=layers, recurrent=recurrent, dt=p.dt)


def perturb(program, spread: float, seed: int = 0):
    """A copy of ``program`` with device mismatch ``spread`` (0.1 = 10 %) of device ``seed``.

    See the module docstring for what is perturbed and how. ``spread = 0`` returns an identical
    program. Raises ValueError for a bad ``spread`` / ``seed`` or an unknown program type.
    """
    spread, seed = _check(spread, seed)
    if isinstance(program, XyloProgram):
        return _perturb_xylo(program, spread, seed)
    if isinstance(program, LoihiProgram):
        return _perturb_loihi(program, spread, seed)
    raise ValueError(f"program: no mismatch model for {type(program).__name__} "
                     "(expected XyloProgram or LoihiProgram)")


class MismatchTarget:
    """A target whose runs see ``perturb(program, spread, seed)`` instead of the program given.

    ``target`` is anything with ``compile(net, dt) -> (program, report)`` and
    ``run(program, x, **kwargs) -> RunResult`` (a :class:`fpsnn.backends.Backend`, or fpsnn.hil's
    emulator target). ``compile`` is passed through unchanged: the caller keeps the nominal program,
    as a user of a real chip only knows what was sent to it.
    """

    def __init__(self, target, spread: float, seed: int = 0):
        self.spread, self.seed = _check(spread, seed)
        self.target = target
        self.name = f"{getattr(target, 'name', 'target')}+mismatch({self.spread:g}, seed {self.seed})"
        self.chip = getattr(target, "chip", None)

    def compile(self, net, dt: float, **kwargs):
        return self.target.compile(net, dt, **kwargs)

    def run(self, program, x, **kwargs):
        return self.target.run(perturb(program, self.spread, self.seed), x, **kwargs)
