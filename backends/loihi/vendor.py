"""Run a :class:`~.program.LoihiProgram` through Lava itself (lava-nc 0.10.0, see docs/hardware.md).

* :func:`run_lava_fixed_pt`: Lava's CPU simulator with the bit-accurate models
  (``Loihi2SimCfg(select_tag="fixed_pt")``): the reference the integer emulator is tested against.
* the same process graph on a Loihi 2 system is :mod:`.board` (``Loihi2HwCfg``, Intel's lava-loihi).

Process graph per program: ``RingBuffer`` (input raster) -> ``Dense`` -> ``LIF`` for layer 0, then
``LIF_{l-1}.s_out -> Dense -> LIF_l``, and a recurrent ``Dense`` from ``LIF_l.s_out`` to its own
``a_in`` where the program has one. Lava runs one sample at a time: the graph is built and compiled
once, the samples are laid end to end in the ring buffer, and between samples every state that could
carry over (``u``, ``v`` of each LIF and the pending ``a_buff`` of each Dense) is set back to zero.
"""
from __future__ import annotations

import numpy as np

from ..result import EmulatorResult
from .compat import import_lava
from .program import LoihiProgram

__all__ = ["run_lava_fixed_pt", "build_layers"]

def _lif_param(values: np.ndarray):
    """A scalar when all neurons share the value (Lava's LIF declares du/dv/vth as one value per
    population); otherwise the per-neuron array, which Lava's Python fixed_pt model broadcasts."""
    return int(values[0]) if np.all(values == values[0]) else values.copy()


def _dense(dense):
    """A Lava Dense process for one :class:`~.program.LoihiDense` (weights ``(n_pre, n_post)``)."""
    from lava.proc.dense.process import Dense
    from lava.utils.weightutils import SignMode

    return Dense(weights=np.ascontiguousarray(dense.weights.T), weight_exp=dense.weight_exp,
                 num_weight_bits=dense.num_weight_bits, sign_mode=SignMode[dense.sign_mode.upper()])


def build_layers(program: LoihiProgram, pre_port):
    """Dense -> LIF per layer (plus recurrent Dense) behind ``pre_port``; returns ``(lifs, denses)``."""
    from lava.proc.lif.process import LIF

    lifs, denses = [], []
    for l, layer in enumerate(program.layers):
        n = program.sizes[l]
        lif = LIF(shape=(n,), du=_lif_param(layer.du), dv=_lif_param(layer.dv),
                  vth=_lif_param(layer.vth), bias_mant=layer.bias_mant.copy(),
                  bias_exp=layer.bias_exp.copy(), u=0, v=0)
        ff = _dense(layer)
        pre_port.connect(ff.s_in)
        ff.a_out.connect(lif.a_in)
        denses.append(ff)
        if program.recurrent[l] is not None:
            rec = _dense(program.recurrent[l])
            lif.s_out.connect(rec.s_in)
            rec.a_out.connect(lif.a_in)
            denses.append(rec)
        lifs.append(lif)
        pre_port = lif.s_out
    return lifs, denses


def run_lava_fixed_pt(program: LoihiProgram, raster, record: bool = True) -> EmulatorResult:
    """Run ``program`` in Lava's bit-accurate CPU simulator, one sample after the other.

    Args:
        program: the integer program.
        raster: 0/1 input spikes, ``(batch, steps, n_inputs)``; ``raster[b, k]`` is sent at step k.
        record: also probe ``u`` and ``v`` of every layer (three Monitors per layer instead of one).

    Returns:
        :class:`EmulatorResult` with ``spikes[l]`` int8 ``(batch, steps, n_l)`` and, when ``record``,
        ``state[l] = {"u", "v"}`` int32 ``(batch, steps, n_l)`` in Lava's units -- the same layout as
        :meth:`LoihiProgram.run`.
    """
    x = program.check_raster(raster)
    batch, steps, n_in = x.shape
    if batch == 0 or steps == 0:
        raise ValueError(f"raster: Lava needs at least one sample and one step, got shape {x.shape}")
    import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    total = batch * steps
    data = np.ascontiguousarray(x.reshape(total, n_in).T.astype(np.int32))
    source = RingBuffer(data=data)
    lifs, denses = build_layers(program, source.s_out)
    # A Lava Monitor can probe one Var or port only (a second probe breaks compilation in 0.10).
    probes = []
    for lif in lifs:
        targets = [("s", lif.s_out)] + ([("u", lif.u), ("v", lif.v)] if record else [])
        for key, target in targets:
            mon = Monitor()
            mon.probe(target, total)
            probes.append((lif, key, target, mon))

    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    try:
        for b in range(batch):
            if b > 0:
                # Start every sample from rest: nothing of the previous sample may leak in.
                for lif, n in zip(lifs, program.sizes):
                    lif.u.set(np.zeros(n))
                    lif.v.set(np.zeros(n))
                for dense in denses:
                    dense.a_buff.set(np.zeros(dense.a_buff.shape))
            source.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        traces = {}
        for lif, key, target, mon in probes:
            name = target.name
            traces[(lif.name, key)] = np.asarray(mon.get_data()[lif.name][name]).reshape(batch, steps, -1)
    finally:
        source.stop()

    spikes = [traces[(lif.name, "s")].astype(np.int8) for lif in lifs]
    state = [{"u": traces[(lif.name, "u")].astype(np.int32), "v": traces[(lif.name, "v")].astype(np.int32)}
             if record else {} for lif in lifs]
    return EmulatorResult(spikes=spikes, state=state)
