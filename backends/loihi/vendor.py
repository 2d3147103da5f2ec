"""Run a :class:`~fpsnn.backends.emulator.LoihiProgram` through Lava itself.

* :func:`run_lava_fixed_pt`: Lava's CPU simulator with the bit-accurate models
  (``Loihi2SimCfg(select_tag="fixed_pt")``): the reference the integer emulator is tested against.
* :func:`run_lava_board`: the same process graph on a Loihi 2 system (``Loihi2HwCfg``); needs Intel's
  lava-loihi extension (not public; absent here, so only its error path is tested).

Process graph per program: ``RingBuffer`` (input raster) -> ``Dense`` -> ``LIF`` for layer 0, then
``LIF_{l-1}.s_out -> Dense -> LIF_l``, and a recurrent ``Dense`` from ``LIF_l.s_out`` to its own
``a_in`` where the program has one. Lava runs one sample at a time: the graph is built and compiled
once, the samples are laid end to end in the ring buffer, and between samples every state that could
carry over (``u``, ``v`` of each LIF and the pending ``a_buff`` of each Dense) is set back to zero.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..emulator.loihi import LoihiProgram
from ..emulator.result import EmulatorResult
from .compat import import_lava

__all__ = ["run_lava_fixed_pt", "run_lava_board", "lava_loihi_available", "LAVA_LOIHI_HINT"]

LAVA_LOIHI_HINT = (
    "run_lava_board needs Intel's lava-loihi extension (it provides the Loihi 2 compiler, "
    "lava.magma.compiler.subcompilers.nc, and lava.proc.embedded_io); it is distributed to Intel "
    "Neuromorphic Research Community members only and is not installed here. Use "
    "run_lava_fixed_pt (Lava's CPU simulator) or the emulator (fpsnn.backends.emulator) instead."
)


def lava_loihi_available() -> bool:
    """True when lava-loihi (the Loihi 2 hardware compiler) is importable."""
    import_lava()
    return importlib.util.find_spec("lava.magma.compiler.subcompilers.nc") is not None


def _lif_param(values: np.ndarray):
    """A scalar when all neurons share the value (Lava's LIF declares du/dv/vth as one value per
    population); otherwise the per-neuron array, which Lava's Python fixed_pt model broadcasts."""
    return int(values[0]) if np.all(values == values[0]) else values.copy()


def _dense(dense: dict):
    """A Lava Dense process for one canonical dense dict (weights ``(n_pre, n_post)``)."""
    from lava.proc.dense.process import Dense
    from lava.utils.weightutils import SignMode

    return Dense(weights=np.ascontiguousarray(dense["weights"].T), weight_exp=dense["weight_exp"],
                 num_weight_bits=dense["num_weight_bits"], sign_mode=SignMode[dense["sign_mode"].upper()])


def _build_layers(program: LoihiProgram, pre_port):
    """Dense -> LIF per layer (plus recurrent Dense) behind ``pre_port``; returns ``(lifs, denses)``."""
    from lava.proc.lif.process import LIF

    lifs, denses = [], []
    for l, layer in enumerate(program.layers):
        n = program.sizes[l]
        lif = LIF(shape=(n,), du=_lif_param(layer["du"]), dv=_lif_param(layer["dv"]),
                  vth=_lif_param(layer["vth"]), bias_mant=layer["bias_mant"].copy(),
                  bias_exp=layer["bias_exp"].copy(), u=0, v=0)
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
    lifs, denses = _build_layers(program, source.s_out)
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


def run_lava_board(program: LoihiProgram, raster, **run_cfg_kwargs) -> EmulatorResult:
    """Run ``program`` on a Loihi 2 system through lava-loihi (``Loihi2HwCfg``); spikes only.

    Raises ImportError with installation guidance when lava-loihi is missing. The graph is the one
    :func:`run_lava_fixed_pt` builds, with the input and the read-back crossing the host/chip
    boundary through lava-loihi's ``PyToNxAdapter`` / ``NxToPyAdapter``. Not exercised here (no
    lava-loihi, no board): treat its first run on a board as a test.
    """
    if not lava_loihi_available():
        raise ImportError(LAVA_LOIHI_HINT)
    x = program.check_raster(raster)
    batch, steps, n_in = x.shape
    for l, layer in enumerate(program.layers):
        for key in ("du", "dv", "vth"):
            if np.unique(layer[key]).size > 1:
                raise ValueError(f"program: layers[{l}].{key} differs between neurons, but Lava's LIF has one "
                                 f"{key} per population; split the layer into populations of equal {key}")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.proc.embedded_io.spike import NxToPyAdapter, PyToNxAdapter
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer

    spikes = []
    for b in range(batch):
        # A fresh graph per sample: no assumption about resetting chip state through Var.set.
        source = RingBuffer(data=np.ascontiguousarray(x[b].T.astype(np.int32)))
        to_chip = PyToNxAdapter(shape=(n_in,))
        source.s_out.connect(to_chip.inp)
        lifs, _ = _build_layers(program, to_chip.out)
        sinks = []
        for lif, n in zip(lifs, program.sizes):
            to_host = NxToPyAdapter(shape=(n,))
            sink = Sink(shape=(n,), buffer=steps)
            lif.s_out.connect(to_host.inp)
            to_host.out.connect(sink.a_in)
            sinks.append(sink)
        try:
            source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2HwCfg(**run_cfg_kwargs))
            spikes.append([np.asarray(s.data.get()).T.astype(np.int8) for s in sinks])
        finally:
            source.stop()
    return EmulatorResult(spikes=[np.stack([s[l] for s in spikes]) for l in range(len(program.layers))])
