r"""Float :class:`fpsnn.Network` -> a DYNAP-SE2 specification under Rockpool's names.

DYNAP-SE2 is analog: there is no integer program to be bit-exact about. A :class:`DynapseProgram`
holds what Rockpool's mapper + quantizer would produce for the chip (``rockpool.devices.dynapse``):
per-core bias currents, 4-bit weight codes ("bit masks") with signs and the four base weight
currents ``Iw_0 .. Iw_3`` of each core, and the core map. :meth:`DynapseProgram.spec` gives it as the
keyword dict of ``dynapsim_net_from_spec`` (the simulator) or of ``config_from_specification``
(the board; needs samna).

**Layout.** Neurons are numbered layer by layer (layer 0 first), every layer on its own cores of 256
neurons (``core_map``); a core shares one value of every current, so neurons of one layer with
different time constants or thresholds get the core's mean (reported). Connections layer
``l-1 -> l`` and recurrent ones are entries of ``weights_rec`` (Rockpool's in-device matrix);
input channels are ``weights_in``.

**Time.** One network time unit is ``time_unit_s`` seconds on the chip (default 10 ms, inside the
chip's ms-range time constants). A time constant :math:`\tau` becomes the leak current
:math:`I_\tau = (U_t/\kappa)\,C/\tau` (DynapSim's own relation, :math:`\kappa = (\kappa_n+\kappa_p)/2`),
its gain current :math:`I_{gain} = r\,I_\tau` (Rockpool's default ratios: 100 synapse, 4 membrane).

**Scale.** Below threshold DynapSim's membrane current obeys approximately
:math:`\tau_{mem}\dot I_{mem} = -I_{mem} + (I_{gain,mem}/I_{\tau,mem})\,I_{syn}`, the float model
:math:`\tau_{mem}\dot V = -V + \tau_{mem} I`. With :math:`I_{mem} = c V` and the synaptic jump per
spike :math:`(1-e^{-t_{pulse}/\tau_{syn}})(I_{gain,syn}/I_{\tau,syn})\,I_{scale}\,w_{dyn}`, a float
weight :math:`w` maps to

.. math:: w_{dyn} = g_l\,\frac{c\,\tau_{mem}\,w}{r_{mem}\,(1-e^{-t_{pulse}/\tau_{syn}})\,r_{syn}\,I_{scale}},
          \qquad I_{spkthr} = c\,\theta,

with :math:`c = I_{spkthr}^{default}/\bar\theta`. The exponential positive feedback of DynapSim's
membrane (its AdExp part) fires earlier than this linear picture; the per-layer gain :math:`g_l`
(1 by default) absorbs it and is fitted by :mod:`.calibrate`.

**Weights.** Per core, ``Iw_k = 2^k Iw_0`` with :math:`Iw_0 = \max|w_{dyn}|\,I_{scale}/15` over the
core's incoming weights; a connection's code (bit mask) is :math:`m = \mathrm{round}(|w_{dyn}|\,
I_{scale}/Iw_0) \in 0..15` and its sign is +1 (excitatory) or -1 (inhibitory). The simulator is run
with the quantized weights :math:`\pm m\,Iw_0/I_{scale}`.
"""
from __future__ import annotations

import math

import numpy as np

from ...network import Network
from ..report import QuantizationReport, check_fan_in
from .program import CONSTANTS, DEFAULT_TIME_UNIT_S, NEURONS_PER_CORE, WEIGHT_CODES, DynapseProgram

__all__ = ["DynapseProgram", "quantize_dynapse", "dequantize_dynapse", "CONSTANTS", "DEFAULT_TIME_UNIT_S", "NEURONS_PER_CORE",
           "tau_to_itau"]

def tau_to_itau(tau_s, capacitance: float) -> np.ndarray:
    r"""Leak current (A) of a DPI circuit with time constant ``tau_s`` (s): :math:`(U_t/\kappa) C/\tau`."""
    kappa = (CONSTANTS["kappa_n"] + CONSTANTS["kappa_p"]) / 2
    return (CONSTANTS["Ut"] / kappa) * capacitance / np.asarray(tau_s, dtype=np.float64)


def _pulse_current(t_s: float, capacitance: float) -> float:
    """Current (A) that sets a pulse width ``t_s`` (s): DynapSim's :math:`t = V_{th} C / I`."""
    return CONSTANTS["Vth"] * capacitance / t_s


def _check_structure(net: Network, desc) -> None:
    chip = desc.name
    if any(np.all(np.isinf(t)) for t in net.theta):
        raise ValueError(f"net: a membrane read-out layer (theta = inf), but {chip} neurons always fire "
                         "(Imem > Ispkthr); train the output layer with a finite threshold")
    if net.n_layers > desc.max_layers:
        raise ValueError(f"net: {net.n_layers} layers, but {chip} allows max_layers = {desc.max_layers}")
    if net.n_inputs > desc.n_inputs:
        raise ValueError(f"net: {net.n_inputs} inputs, but {chip} has {desc.n_inputs} input tags")
    cores = sum(math.ceil(n / NEURONS_PER_CORE) for n in net.sizes)
    total_cores = desc.n_hidden // NEURONS_PER_CORE
    if cores > total_cores:
        raise ValueError(f"net: needs {cores} cores (one set of {NEURONS_PER_CORE}-neuron cores per layer), "
                         f"but {chip} has {total_cores} ({desc.n_hidden} neurons)")
    for l in range(net.n_layers):
        fan_in = (net.weights[l] != 0).sum(axis=0)
        if net.recurrent[l] is not None:
            fan_in = fan_in + (net.recurrent[l] != 0).sum(axis=0)
        check_fan_in(fan_in, desc.max_fan_in, chip, "net", l, "CAM synapses per neuron")


def quantize_dynapse(net: Network, desc, dt: float, time_unit_s: float = DEFAULT_TIME_UNIT_S,
                     gains=None) -> tuple[DynapseProgram, QuantizationReport]:
    """Map ``net`` to DYNAP-SE2 (see the module docstring).

    Args:
        net: any layered network with firing layers (no read-out), optional recurrence.
        desc: the DYNAP-SE2 chip description (or its name).
        dt: simulator step in network time units, > 0.
        time_unit_s: seconds per network time unit, > 0.
        gains: per-layer weight gains :math:`g_l` (default all 1).

    Raises:
        ValueError: the network does not fit (names the limit) or bad arguments.
    """
    from .. import chips

    desc = chips.load(desc)
    if desc.family != "dynapse":
        raise ValueError(f"desc: {desc.name} is a {desc.family} chip; quantize_dynapse maps DYNAP-SE2 only")
    for name, v in (("dt", dt), ("time_unit_s", time_unit_s)):
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise ValueError(f"{name} = {v}: must be finite and > 0")
    if not isinstance(net, Network):
        raise ValueError(f"net: expected an fpsnn.Network, got {type(net).__name__}")
    _check_structure(net, desc)
    gains = np.ones(net.n_layers) if gains is None else np.asarray(gains, dtype=np.float64)
    if gains.shape != (net.n_layers,) or not np.all(np.isfinite(gains) & (gains > 0)):
        raise ValueError(f"gains: expected {net.n_layers} finite values > 0, got {gains!r}")
    dt_s = float(dt) * time_unit_s
    if dt_s <= CONSTANTS["t_pulse"]:
        raise ValueError(f"dt = {dt} ({dt_s:.3g} s): DynapSim's synaptic pulse ({CONSTANTS['t_pulse']:.0e} s) "
                         "must be shorter than one step; raise dt or time_unit_s")

    sizes = net.sizes
    n = sum(sizes)
    report = QuantizationReport(chip=desc.name, dt=float(dt))
    core_map, first_core = [], 0
    for n_l in sizes:
        core_map.extend(first_core + np.arange(n_l) // NEURONS_PER_CORE)
        first_core += math.ceil(n_l / NEURONS_PER_CORE)
    core_map = np.asarray(core_map, dtype=np.int64)
    n_cores = first_core

    tau_syn = np.concatenate([1.0 / a for a in net.alpha])            # network time units
    tau_mem = np.concatenate([1.0 / b for b in net.beta])
    theta = np.concatenate(net.theta)
    c = CONSTANTS
    scale_c = c["Ispkthr"] / float(np.mean(theta))                    # A per float potential unit
    f_charge = 1.0 - np.exp(-c["t_pulse"] / (tau_syn * time_unit_s))
    per_neuron = {
        "Itau_syn": tau_to_itau(tau_syn * time_unit_s, c["C_syn"]),
        "Itau_mem": tau_to_itau(tau_mem * time_unit_s, c["C_mem"]),
        "Ispkthr": scale_c * theta,
    }
    per_neuron["Igain_syn"] = c["r_gain_syn"] * per_neuron["Itau_syn"]
    per_neuron["Igain_mem"] = c["r_gain_mem"] * per_neuron["Itau_mem"]
    itau_ahp = float(tau_to_itau(c["tau_ahp"], c["C_ahp"]))
    const = {"Idc": c["Io"], "If_nmda": c["Io"], "Igain_ahp": c["r_gain_ahp"] * itau_ahp,
             "Ipulse_ahp": _pulse_current(c["t_pulse_ahp"], c["C_pulse_ahp"]),
             "Ipulse": _pulse_current(c["t_pulse"], c["C_pulse"]),
             # refractory period of one step: the float model has none
             "Iref": _pulse_current(dt_s, c["C_ref"]), "Itau_ahp": itau_ahp, "Iw_ahp": c["Iw_ahp"]}
    currents = {k: np.full(n_cores, v) for k, v in const.items()}
    spread = []
    for k, v in per_neuron.items():
        means = np.array([v[core_map == q].mean() for q in range(n_cores)])
        currents[k] = means
        rel = np.abs(v / means[core_map] - 1)
        if rel.max() > 1e-9:
            spread.append(f"{k} up to {100 * rel.max():.1f} %")
    if spread:
        report.binding_limits.append("per-core currents: neurons of a core share one value, so per-neuron "
                                     f"time constants / thresholds were averaged ({', '.join(spread)} off)")

    # float weight -> DynapSim weight (Iscale units) for each post-synaptic neuron
    w_unit = scale_c * tau_mem / (c["r_gain_mem"] * f_charge * c["r_gain_syn"] * c["Iscale"])
    slices = np.cumsum((0,) + tuple(sizes))
    w_in = np.zeros((net.n_inputs, n))
    w_rec = np.zeros((n, n))
    for l in range(net.n_layers):
        post = slice(slices[l], slices[l + 1])
        factor = gains[l] * w_unit[post][None, :]
        if l == 0:
            w_in[:, post] = net.weights[0] * factor
        else:
            w_rec[slices[l - 1]:slices[l], post] = net.weights[l] * factor
        if net.recurrent[l] is not None:
            w_rec[post, post] = net.recurrent[l] * factor
        report.weight_scale.append(gains[l] * w_unit[post])
    iw0 = np.zeros(n_cores)
    for q in range(n_cores):
        cols = core_map == q
        top = max(np.abs(w_in[:, cols]).max(initial=0.0), np.abs(w_rec[:, cols]).max(initial=0.0))
        iw0[q] = top * c["Iscale"] / WEIGHT_CODES if top > 0 else c["Io"]
    unit = iw0[core_map] / c["Iscale"]
    masks, signs = [], []
    for name, w in (("weights_in", w_in), ("weights_rec", w_rec)):
        m = np.round(np.abs(w) / unit[None, :]).astype(np.int64)
        report.clipped[name] = int(np.count_nonzero(m > WEIGHT_CODES))
        m = np.minimum(m, WEIGHT_CODES)
        report.rounded_to_zero[name] = int(np.count_nonzero((m == 0) & (w != 0)))
        masks.append(m)
        signs.append(np.where(m > 0, np.sign(w), 0).astype(np.int64))
    report.effective_tau_syn = [1.0 / a for a in net.alpha]
    report.effective_tau_mem = [1.0 / b for b in net.beta]
    report.binding_limits += [
        f"analog target: time constants set by leak currents (1 time unit = {time_unit_s:g} s); "
        "no bit-accurate emulator, DynapSim (forward Euler, optional mismatch) is the model",
        "4-bit weights: each core has 4 base weight currents Iw_0..Iw_3 = Iw_0 * (1, 2, 4, 8); "
        "a connection's bit mask selects which of them it sums",
        "DynapSim's single combined synapse clips a step's net synaptic drive at Io: inhibitory "
        "weights act only in steps where excitatory input arrives too",
        f"every connection between neurons is delayed by one step (dt = {dt:g})",
    ]
    program = DynapseProgram(
        sizes=tuple(int(s) for s in sizes), n_inputs=int(net.n_inputs), core_map=core_map, currents=currents,
        masks_in=masks[0], masks_rec=masks[1], signs_in=signs[0], signs_rec=signs[1], iw0=iw0,
        Iscale=c["Iscale"], dt=float(dt), time_unit_s=float(time_unit_s), gains=tuple(float(g) for g in gains))
    return program, report


def dequantize_dynapse(program: DynapseProgram, t_max: float, max_spikes: int | tuple = 16) -> Network:
    r"""The float network ``program`` was mapped from, with every threshold 1 (the inverse of the scale).

    From the quantized weights (:meth:`DynapseProgram.weights`) and the per-core currents (time
    constants :math:`\tau = (U_t/\kappa)\,C/I_\tau`, threshold :math:`I_{spkthr}`), inverting the
    module docstring's relation:

    .. math:: w_{ij}/\theta_j = \frac{w_{dyn,ij}\,r_{mem}\,(1-e^{-t_{pulse}/\tau_{syn,j}})\,r_{syn}\,I_{scale}}
              {g_l\,\tau_{mem,j}\,I_{spkthr,j}}

    (:math:`\tau_{mem}` in network time units). The per-layer gains :math:`g_l` are divided out, so
    the result is the network the mapping means, not DynapSim's AdExp membrane; recurrent blocks
    without any connection come back as None.
    """
    c = CONSTANTS
    core = program.core_map
    cur = {k: np.asarray(program.currents[k], dtype=np.float64)[core] for k in ("Itau_syn", "Itau_mem", "Ispkthr")}
    tau_syn_s = tau_to_itau(cur["Itau_syn"], c["C_syn"])        # the relation is its own inverse
    tau_mem_s = tau_to_itau(cur["Itau_mem"], c["C_mem"])
    tau_mem = tau_mem_s / program.time_unit_s
    f_charge = 1.0 - np.exp(-c["t_pulse"] / tau_syn_s)
    per_post = c["r_gain_mem"] * f_charge * c["r_gain_syn"] * program.Iscale / (tau_mem * cur["Ispkthr"])
    w_in, w_rec = program.weights()
    sl = program.layer_slices()
    gains = program.gains or (1.0,) * len(sl)
    weights, recurrent = [], []
    for l, post in enumerate(sl):
        unit = per_post[post][None, :] / gains[l]
        weights.append((w_in[:, post] if l == 0 else w_rec[sl[l - 1], post]) * unit)
        block = w_rec[post, post]
        recurrent.append(block * unit if np.any(block) else None)
    to_time = lambda tau_s: tau_s / program.time_unit_s
    return Network(weights=weights, alpha=[1.0 / to_time(tau_syn_s[s]) for s in sl],
                   beta=[1.0 / tau_mem[s] for s in sl], theta=1.0, t_max=t_max, recurrent=recurrent,
                   max_spikes=max_spikes)
