"""Run a :class:`~fpsnn.backends.xylo.program.XyloProgram` in SynSense's bit-accurate C++ simulator.

``xylosim`` (PyPI, 0.1.3; ``pip install fpsnn[xylo]``) is the vendor's own model of the Xylo core and
the reference the fpsnn emulator is tested against; ``fpsnn deploy`` can use it as the "vendor
simulator" engine. It is imported only when a function here is called.

The layer is built directly from the program (not through Rockpool, whose Xylo package cannot be
imported without samna): every non-zero weight becomes one ``XyloSynapse(post, syn, w)``, listed per
pre-synaptic neuron in (post, syn) order, as Rockpool's ``XyloSim.from_specification`` lists them.
``XyloLayer`` keeps raw ``XyloSynapse*`` pointers, so the Python synapse objects are kept alive for as
long as the layer is (:class:`XyloSimLayer` owns both).
"""
from __future__ import annotations

import numpy as np

from ..result import EmulatorResult

__all__ = ["XyloSimLayer", "run_xylosim", "xylosim_available"]


def xylosim_available() -> tuple[bool, str]:
    """``(True, "")`` when xylosim can be imported, else ``(False, reason)``."""
    try:
        import xylosim.v2  # noqa: F401
    except ImportError as exc:
        return False, f"xylosim is not installed ({exc}); install it with `pip install xylosim==0.1.3` or `pip install fpsnn[xylo]`"
    return True, ""


def _import_xylosim(version: int):
    ok, reason = xylosim_available()
    if not ok:
        raise ImportError(reason)
    import xylosim.v1
    import xylosim.v2

    return xylosim.v2 if version == 2 else xylosim.v1


def _synapse_lists(mod, w3: np.ndarray) -> list:
    """One list of ``XyloSynapse`` per pre-synaptic neuron from ``w3 (n_pre, n_post, n_syn)``."""
    lists = []
    for pre in range(w3.shape[0]):
        post, syn = np.nonzero(w3[pre])
        lists.append([mod.XyloSynapse(int(p), int(s), int(w3[pre, p, s])) for p, s in zip(post, syn)])
    return lists


class XyloSimLayer:
    """A ``xylosim.v{1,2}.XyloLayer`` built from a program, owning the synapse objects it points to."""

    def __init__(self, program):
        self.program = program
        mod = _import_xylosim(program.version)
        p = program
        # keep every XyloSynapse referenced from this object: the C++ layer stores bare pointers
        self._syn_in = _synapse_lists(mod, p.weights_in_3d())
        self._syn_rec = _synapse_lists(mod, p.weights_rec_3d())
        self._syn_out = _synapse_lists(mod, p.weights_out[:, :, None])
        dash_syns = [[int(d) for d in row] for row in p.dash_syn_2d()]
        dash_syns_out = [[int(d)] for d in p.dash_syn_out]
        common = dict(
            synapses_in=self._syn_in, synapses_rec=self._syn_rec, synapses_out=self._syn_out,
            aliases=[list(a) for a in p.alias_lists()],
            threshold=[int(v) for v in p.threshold], threshold_out=[int(v) for v in p.threshold_out],
            weight_shift_inp=p.weight_shift_inp, weight_shift_rec=p.weight_shift_rec,
            weight_shift_out=p.weight_shift_out,
            dash_mem=[int(v) for v in p.dash_mem], dash_mem_out=[int(v) for v in p.dash_mem_out],
            dash_syns=dash_syns, dash_syns_out=dash_syns_out, name="fpsnn")
        if p.version == 2:
            # Rockpool's rule: the bias path is on when any bias is non-zero
            common.update(has_bias=p.has_bias, bias=[int(v) for v in p.bias],
                          bias_out=[int(v) for v in p.bias_out])
        self.layer = mod.XyloLayer(**common)

    def run_one(self, raster_2d: np.ndarray, record: bool):
        """Run one sample ``(steps, n_in)`` from rest; returns (hidden, output, state-or-None)."""
        layer = self.layer
        layer.reset_all()
        # the C++ input type is uint8: counts above 255 cannot be passed, and the chip clips at 15
        inp = np.minimum(raster_2d, 255).astype(np.int64).tolist()
        out = layer.evolve(inp)
        hid = np.asarray(layer.rec_recurrent_spikes, dtype=np.int8).reshape(len(inp), self.program.n_hidden)
        outs = np.asarray(out, dtype=np.int8).reshape(len(inp), self.program.n_outputs)
        if not record:
            return hid, outs, None
        steps = len(inp)
        vmem = np.asarray(layer.rec_v_mem, dtype=np.int16).reshape(-1, steps).T
        isyn = [np.asarray(layer.rec_i_syn, dtype=np.int16).reshape(-1, steps).T]
        if self.program.n_syn == 2:
            isyn.append(np.asarray(layer.rec_i_syn2, dtype=np.int16).reshape(-1, steps).T)
        vmem_o = np.asarray(layer.rec_v_mem_out, dtype=np.int16).reshape(-1, steps).T
        isyn_o = np.asarray(layer.rec_i_syn_out, dtype=np.int16).reshape(-1, steps).T
        return hid, outs, (vmem, np.stack(isyn, axis=-1), vmem_o, isyn_o[:, :, None])


def run_xylosim(program, raster, record: bool = False) -> EmulatorResult:
    """Run ``program`` in xylosim on ``raster`` (int ``(batch, steps, n_in)``), each sample from rest.

    Returns the same :class:`EmulatorResult` layout as the emulator's ``program.run`` (int8 counts,
    int16 states). Raises ImportError with an install hint when xylosim is missing.
    """
    r = program.check_raster(raster)
    sim = XyloSimLayer(program)
    batch, steps, _ = r.shape
    spk_h = np.zeros((batch, steps, program.n_hidden), np.int8)
    spk_o = np.zeros((batch, steps, program.n_outputs), np.int8)
    if record:
        v_h = np.zeros((batch, steps, program.n_hidden), np.int16)
        i_h = np.zeros((batch, steps, program.n_hidden, program.n_syn), np.int16)
        v_o = np.zeros((batch, steps, program.n_outputs), np.int16)
        i_o = np.zeros((batch, steps, program.n_outputs, 1), np.int16)
    for b in range(batch):
        hid, outs, st = sim.run_one(r[b], record)
        spk_h[b], spk_o[b] = hid, outs
        if record:
            v_h[b], i_h[b], v_o[b], i_o[b] = st
    state = [{"vmem": v_h, "isyn": i_h}, {"vmem": v_o, "isyn": i_o}] if record else [{}, {}]
    return EmulatorResult(spikes=[spk_h, spk_o], state=state)
