r"""Device mismatch shared by the digital families: fixed, seeded random factors on an integer program.

An analog chip (or a digital one with process variation in its analog front end) does not implement
the parameters it is given: every neuron's threshold and decay and every synapse's weight is off by
its own factor, fixed for that device. The bit-accurate emulators have no such gap, so in-the-loop
training would have nothing to correct beyond quantization. each family's ``mismatch.perturb`` (``backend.perturb``) adds one with the helpers here: it returns a
copy of a program whose integers are

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

import math
import zlib

import numpy as np

__all__ = ["perturb", "factors", "check_spread", "scale_int", "perturb_codes", "MismatchTarget"]


def check_spread(spread, seed) -> tuple[float, int]:
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
    spread, seed = check_spread(spread, seed)
    return np.exp(spread * _stream(seed, name).standard_normal(shape))


def _dither(name: str, shape, seed: int) -> np.ndarray:
    # A second, independent stream per parameter: the uniform draw that places a perturbed time
    # constant on one of its two bracketing codes.
    return _stream(seed, name + "/dither").random(shape)


def scale_int(name, value, spread, seed, lo, hi) -> np.ndarray:
    v = np.asarray(value, dtype=np.int64)
    return np.clip(np.round(v * factors(name, v.shape, spread, seed)), lo, hi).astype(np.int64)


def perturb_codes(name, codes, tau_of_code, code_lo, code_hi, dt, spread, seed) -> np.ndarray:
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


def perturb(program, spread: float, seed: int = 0):
    """A copy of ``program`` with device mismatch ``spread`` of device ``seed``, by its family's model.

    Deprecated entry point kept for callers that hold a program but no backend: it finds the family
    from the program's type (:func:`fpsnn.backends.registry.mismatch_model`); use
    ``backend.perturb(program, spread, seed)``.
    """
    from .registry import mismatch_model

    return mismatch_model(program).perturb(program, spread, seed)


class MismatchTarget:
    """A target whose runs see ``target.perturb(program, spread, seed)`` instead of the program given.

    ``target`` is a :class:`fpsnn.backends.Backend` (anything with ``compile(net, dt) -> (program,
    report)``, ``run(program, x, **kwargs) -> RunResult`` and ``perturb``). ``compile`` is passed
    through unchanged: the caller keeps the nominal program, as a user of a real chip only knows what
    was sent to it.
    """

    def __init__(self, target, spread: float, seed: int = 0):
        self.spread, self.seed = check_spread(spread, seed)
        self.target = target
        self.name = f"{getattr(target, 'name', 'target')}+mismatch({self.spread:g}, seed {self.seed})"
        self.chip = getattr(target, "chip", None)

    def compile(self, net, dt: float, **kwargs):
        return self.target.compile(net, dt, **kwargs)

    def run(self, program, x, **kwargs):
        return self.target.run(self.target.perturb(program, self.spread, self.seed), x, **kwargs)
