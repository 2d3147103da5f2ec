r"""Bit-accurate batched emulator (numba) of Lava's fixed-point Loihi LIF + Dense models (``fixed_pt``).

:func:`run` executes a :class:`~.program.LoihiProgram`. A program is a chain of layers; layer ``l`` is a Lava ``Dense`` process fed by the
spikes of layer ``l - 1`` (the input raster for ``l = 0``) that drives a Lava ``LIF`` population, plus
optionally a recurrent ``Dense`` from that population's ``s_out`` back to its own ``a_in``. Parameter
names are Lava's own. All quantities are integers in Lava's units; one step is one Lava time step of
``dt`` (the network's time unit).

Arithmetic, per step ``t`` (``lava/proc/dense/models.py``, ``lava/proc/lif/models.py``,
``lava/utils/weightutils.py``; docs/hardware.md, "Loihi 2"):

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

Timing (measured with Lava, see tests/backends/loihi/test_loihi_emulator.py): an input spike in ``raster[:, k]``
changes ``u`` and ``v`` of layer 0 at step ``k + 1``; a spike of layer ``l`` at step ``k`` reaches
layer ``l + 1`` (and, through the recurrent Dense, layer ``l`` itself) at step ``k + 1``. So an
input at step ``k`` can reach layer ``l`` at step ``k + 1 + l`` at the earliest.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from fpsnn.kernels import CACHE

from ..result import EmulatorResult

__all__ = ["run", "effective_weights"]

_DECAY_SHIFT = 12          # decays are multipliers over 2**12
_DS_OFFSET = 1             # Lava adds 1 to du (not to dv)
_ACT_SHIFT = 6             # a_in << 6
_VTH_SHIFT = 6             # vth << 6
_UV_MAX = 1 << 23          # u, v are 24-bit



def _wrap32(x: np.ndarray) -> np.ndarray:
    """int64 -> the value numpy's int32 arithmetic would hold (two's-complement wrap)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@njit(cache=CACHE)
def _w32(x):
    # scalar form of _wrap32 for the compiled neuron update
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648


@njit(cache=CACHE)
def _trunc_decay(x, keep):
    # Lava: sign(x * keep) * (|x * keep| >> 12), i.e. x * keep / 4096 rounded toward zero
    p = x * keep
    return -((-p) >> _DECAY_SHIFT) if p < 0 else p >> _DECAY_SHIFT


@njit(cache=CACHE)
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


def effective_weights(dense) -> np.ndarray:
    """The integer weights Lava's bit-accurate Dense actually multiplies with (before ``weight_exp``).

    ``(w >> k) << k`` with ``k = 8 - num_weight_bits + (sign_mode == 'mixed')``; inhibitory weights are
    truncated in magnitude (``-((-w >> k) << k)``), as ``lava.utils.weightutils.truncate_weights`` does.
    """
    # subscripts: a LoihiDense / LoihiLayer, or a dict of Lava's names (the earlier public form)
    k = 8 - dense["num_weight_bits"] + (dense["sign_mode"] == "mixed")
    w = np.asarray(dense["weights"])
    if dense["sign_mode"] == "inhibitory":
        return -(((-w) >> k) << k)
    return (w >> k) << k


def run(program, raster, record: bool = False) -> EmulatorResult:
    """Run the program on ``raster`` (``(batch, steps, n_inputs)``, 0/1), every sample from rest.

    Returns an :class:`EmulatorResult`: ``spikes[l]`` int8 ``(batch, steps, n_l)``; with
    ``record=True`` ``state[l] = {"u": ..., "v": ...}``, int32 ``(batch, steps, n_l)`` in Lava's
    units, read after each step (``v`` after the reset), exactly what a Lava Monitor reads.
    """
    x = program.check_raster(raster)
    batch, steps, _ = x.shape
    L = len(program.layers)
    w_ff = [effective_weights(layer) for layer in program.layers]
    w_rec = [None if r is None else effective_weights(r) for r in program.recurrent]
    keep_u = [4096 - (layer.du + _DS_OFFSET) for layer in program.layers]
    keep_v = [4096 - layer.dv for layer in program.layers]
    bias = [layer.bias_mant << layer.bias_exp for layer in program.layers]
    vth = [layer.vth << _VTH_SHIFT for layer in program.layers]

    u = [np.zeros((batch, n), np.int64) for n in program.sizes]
    v = [np.zeros((batch, n), np.int64) for n in program.sizes]
    spikes = [np.zeros((batch, steps, n), np.int8) for n in program.sizes]
    step_spikes = [np.zeros((batch, n), np.int8) for n in program.sizes]
    state = [{"u": np.zeros((batch, steps, n), np.int32), "v": np.zeros((batch, steps, n), np.int32)}
             if record else {} for n in program.sizes]

    # Dense a_buff: what each population receives at the next step (one-step delay); two buffers
    # swap roles every step.
    a_in = [np.zeros((batch, n), np.int64) for n in program.sizes]
    pending = [np.zeros((batch, n), np.int64) for n in program.sizes]
    for t in range(steps):
        _dense_step(x[:, t, :], w_ff[0], program.layers[0].weight_exp, pending[0], False)
        for l in range(L):
            s = step_spikes[l]
            _lif_step(a_in[l], u[l], v[l], keep_u[l], keep_v[l], bias[l], vth[l], s)
            spikes[l][:, t, :] = s
            if record:
                state[l]["u"][:, t, :] = u[l]
                state[l]["v"][:, t, :] = v[l]
            if l + 1 < L:
                _dense_step(s, w_ff[l + 1], program.layers[l + 1].weight_exp, pending[l + 1], False)
            if w_rec[l] is not None:
                _dense_step(s, w_rec[l], program.recurrent[l].weight_exp, pending[l], True)
        a_in, pending = pending, a_in
    return EmulatorResult(spikes=spikes, state=state)


@njit(cache=CACHE)
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
