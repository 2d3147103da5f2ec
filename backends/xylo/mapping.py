r"""Float :class:`fpsnn.Network` <-> integer :class:`~fpsnn.backends.xylo.program.XyloProgram`.

**The float model** (continuous time, see ``fpsnn/network.py``): at an input spike the synaptic
current jumps by :math:`w`, then decays as :math:`e^{-\alpha t}`; the membrane follows
:math:`\dot V = -\beta V + I`; a spike when :math:`V \ge \theta`, then :math:`V \mathrel{-}= \theta`.

**The chip** (per step :math:`\Delta t`, :mod:`fpsnn.backends.xylo.program`): input events add
integer weights to :math:`I`, then :math:`I \mathrel{-}= I \gg d_{syn}`,
:math:`V \leftarrow V - (V \gg d_{mem}) + I`; an event when :math:`V \ge \vartheta`, then
:math:`V \mathrel{-}= \vartheta`.

**Scaling.** The chip's :math:`V` is a running *sum* of :math:`I` over steps, the float :math:`V` an
*integral*. With a scale :math:`s` (integer units per float unit of :math:`V`) the two agree when
:math:`V_{int} = s\,V`, :math:`I_{int} = s\,\Delta t\,I`, so

.. math:: w_{int} \ll \mathrm{shift} = \mathrm{round}(w\,\Delta t\,s), \qquad
          \vartheta_{int} = \mathrm{round}(\theta\,s).

``per_channel=True`` gives each post-synaptic neuron its own :math:`s_j` (its weights use the full
int8 range), ``False`` one :math:`s` per layer. :math:`s` is the largest value for which the
weights fit int8 (after the layer's weight shift) and the threshold stays below ``headroom * 32767``
(room above threshold so that :math:`V` does not saturate before it is compared). The weight shift
is the largest (<= the chip's maximum) that still lets every neuron's weights use the full int8
range: it trades nothing away and lifts thresholds (hence the resolution of :math:`V`) by
:math:`2^{shift}`.

**Decay codes.** A step multiplies a value by :math:`1 - 2^{-d}` (up to the integer floor and the
minimum decrement of 1), the float model by :math:`e^{-\Delta t/\tau}`. The exact match is
:math:`d^* = -\log_2(1 - e^{-\Delta t/\tau})` (Rockpool's ``LIFTorch``); Rockpool's mapper uses the
first-order form :math:`\log_2(\tau/\Delta t)`, which is off by up to half a code for short
:math:`\tau` (:math:`\tau = 2\Delta t`: 1.35 against 1.0). We pick the integer :math:`d \in [1, 15]`
whose *effective* time constant :math:`\tau_{eff}(d) = -\Delta t / \ln(1 - 2^{-d})` is closest to
:math:`\tau` in log ratio, i.e. the code that reproduces the float decay per step best; 0 is never
chosen (it erases the value within its own step). The report lists every :math:`\tau_{eff}`.

**What the chip adds that the float model lacks**: hidden -> output and recurrent connections are
delayed by one step; at most 15 input events per channel and step (31 hidden, 1 output) are seen;
states saturate at int16. The reverse map :func:`dequantize_xylo` returns the float network with the
chip's weights, thresholds and effective time constants (without the delays and saturation).
"""
from __future__ import annotations

import math

import numpy as np

from ...network import Network
from ..report import QuantizationReport, check_fan_in, round_and_count
from .program import LIMITS, XyloProgram

__all__ = ["quantize_xylo", "dequantize_xylo", "check_fits", "dash_for_tau", "tau_for_dash", "readout_scale"]

DEFAULT_HEADROOM = 0.5


# --------------------------------------------------------------------------- decay codes
def tau_for_dash(dash, dt: float) -> np.ndarray:
    r"""Effective time constant (units of ``dt``) of decay code(s) ``dash``: :math:`-\Delta t/\ln(1-2^{-d})`.

    ``dash = 0`` gives 0 (the value is removed within its step).
    """
    d = np.asarray(dash, dtype=np.float64)
    with np.errstate(divide="ignore"):
        tau = -float(dt) / np.log1p(-np.exp2(-d))
    return np.where(d == 0, 0.0, tau)


def dash_for_tau(tau, dt: float, lo: int = 1, hi: int = 15) -> np.ndarray:
    """The integer code(s) in ``[lo, hi]`` whose effective time constant is closest to ``tau`` (log ratio)."""
    tau = np.asarray(tau, dtype=np.float64)
    codes = np.arange(max(lo, 1), hi + 1)
    eff = tau_for_dash(codes, dt)
    err = np.abs(np.log(tau[..., None] / eff))
    return codes[np.argmin(err, axis=-1)].astype(np.int64)


# --------------------------------------------------------------------------- fit checks
def _check_structure(desc, n_in, n_hid, n_out, n_syn, w_in, w_rec, w_out, where):
    """Raise ValueError naming the chip limit that a network / program structure violates.

    ``w_*`` are (any dtype) ``(pre, post[, syn])`` arrays; only their non-zero pattern is used.
    """
    chip = desc.name
    for label, n, lim in (("inputs", n_in, desc.n_inputs), ("hidden neurons", n_hid, desc.n_hidden),
                          ("output neurons", n_out, desc.n_outputs)):
        if n > lim:
            raise ValueError(f"{where}: {n} {label}, but {chip} has {lim}")
    if n_syn > desc.syn_per_hidden:
        raise ValueError(f"{where}: {n_syn} synapse states per hidden neuron, but {chip} has {desc.syn_per_hidden}")
    if w_rec is not None and np.any(w_rec) and not desc.recurrent:
        raise ValueError(f"{where}: recurrent weights, but {chip} has no recurrent connections")
    nz_in = np.abs(w_in).reshape(n_in, n_hid, -1).sum(axis=2) != 0
    nz_rec = (np.zeros((n_hid, n_hid), bool) if w_rec is None
              else np.abs(w_rec).reshape(n_hid, n_hid, -1).sum(axis=2) != 0)
    nz_out = w_out != 0
    if n_hid > desc.input_targets and np.any(nz_in[:, desc.input_targets:]):
        j = desc.input_targets + int(np.argmax(nz_in[:, desc.input_targets:].any(axis=0)))
        raise ValueError(f"{where}: input weights reach hidden neuron {j}, but on {chip} inputs reach only "
                         f"the first {desc.input_targets} hidden neurons (input_targets)")
    first_src = n_hid - desc.output_sources
    if first_src > 0 and np.any(nz_out[:first_src]):
        i = int(np.argmax(nz_out[:first_src].any(axis=1)))
        raise ValueError(f"{where}: hidden neuron {i} projects to the outputs, but on {chip} only the last "
                         f"{desc.output_sources} hidden neurons do (output_sources)")
    check_fan_in(nz_in.sum(axis=0) + nz_rec.sum(axis=0), desc.max_fan_in, chip, where)
    fan_out = nz_rec.sum(axis=1) + nz_out.sum(axis=1)
    if fan_out.size and fan_out.max() > desc.max_fan_out:
        i = int(np.argmax(fan_out))
        raise ValueError(f"{where}: hidden neuron {i} has fan-out {int(fan_out[i])}, but {chip} allows "
                         f"max_fan_out = {desc.max_fan_out}")


def check_fits(program: XyloProgram, desc) -> None:
    """Raise ValueError naming the limit when ``program`` does not fit chip ``desc``."""
    if desc.family != "xylo":
        raise ValueError(f"desc: {desc.name} is a {desc.family} chip, not a Xylo")
    if program.version != desc.version:
        raise ValueError(f"program: version {program.version}, but {desc.name} runs Xylo v{desc.version} arithmetic")
    for name in ("weight_shift_inp", "weight_shift_rec", "weight_shift_out"):
        if getattr(program, name) > desc.weight_shift_max:
            raise ValueError(f"program: {name} = {getattr(program, name)}, but {desc.name} allows "
                             f"at most weight_shift_max = {desc.weight_shift_max}")
    _check_structure(desc, program.n_inputs, program.n_hidden, program.n_outputs, program.n_syn,
                     program.weights_in, program.weights_rec, program.weights_out, "program")


# --------------------------------------------------------------------------- quantize
def _layer_scale(maxw, theta, dt, shift_max, headroom, per_channel):
    """Scale(s) s (integer V units per float V unit), the weight shift, and where the threshold binds.

    ``maxw`` (n,) largest |float weight| into each neuron, ``theta`` (n,) float thresholds.
    """
    w_cap = LIMITS["weight"][1]
    th_cap = headroom * LIMITS["threshold"][1]
    s_theta = th_cap / theta                                  # threshold just fits
    with np.errstate(divide="ignore"):
        s_w0 = np.where(maxw > 0, w_cap / (dt * maxw), np.inf)  # weights fill int8 with shift 0
    if not per_channel:
        s_theta, s_w0 = np.full_like(s_theta, s_theta.min()), np.full_like(s_w0, s_w0.min())
    ratio = s_theta / s_w0
    finite = np.isfinite(ratio) & (ratio > 0)
    shift = 0
    if np.any(finite):
        # largest shift with which every neuron's weights still fill int8 (s_w <= s_theta)
        shift = int(np.clip(math.floor(math.log2(ratio[finite].min())), 0, shift_max))
    scale = np.minimum(s_w0 * 2 ** shift, s_theta)
    return scale, shift, s_theta < s_w0 * 2 ** shift


def quantize_xylo(net: Network, desc, dt: float, per_channel: bool = True,
                  headroom: float = DEFAULT_HEADROOM, readout_range: float | None = None):
    """Map a float two-layer network (hidden, output) onto a Xylo chip.

    Args:
        net: ``fpsnn.Network`` with exactly two layers: layer 0 = hidden (optional recurrent
            weights), layer 1 = output (no recurrence; ``theta = inf`` maps to the largest threshold,
            a membrane read-out).
        desc: a Xylo :class:`fpsnn.backends.chips.ChipDescription` (or a chip name).
        dt: chip step in the network's time unit, > 0.
        per_channel: one scale per post-synaptic neuron (True) or one per layer (False).
        headroom: thresholds are kept <= ``headroom * 32767`` (0 < headroom <= 1).
        readout_range: a membrane read-out only: the largest ``|V|`` (float potential units) its
            potential must reach below the int16 state limit 32767. The read-out is then scaled as a
            neuron whose threshold is ``readout_range`` (headroom 1), so ``V = readout_range`` maps to
            32767. None: weight shift 0 and weights filling int8 (the finest weights); the potential
            range that leaves is reported in ``binding_limits``.

    Returns:
        ``(XyloProgram, QuantizationReport)``.

    Raises:
        ValueError: the network does not fit (names the limit and the numbers) or bad arguments.
    """
    from .. import chips

    desc = chips.load(desc)
    if desc.family != "xylo":
        raise ValueError(f"desc: {desc.name} is a {desc.family} chip; quantize_xylo maps Xylo chips only")
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt = {dt}: must be finite and > 0 (network time units per chip step)")
    if not 0 < headroom <= 1:
        raise ValueError(f"headroom = {headroom}: must be in (0, 1]")
    if not isinstance(net, Network):
        raise ValueError(f"net: expected an fpsnn.Network, got {type(net).__name__}")
    if net.n_layers != 2 or net.n_layers > desc.max_layers:
        raise ValueError(f"net: {net.n_layers} layers, but a Xylo program holds exactly 2 (one hidden "
                         f"population and one output population; {desc.name} max_layers = {desc.max_layers})")
    if net.recurrent[1] is not None and np.any(net.recurrent[1]):
        raise ValueError(f"net: recurrent weights on the output layer, but {desc.name} output neurons have no recurrence")
    w_in, w_out = net.weights
    w_rec = net.recurrent[0]
    n_in, n_hid = w_in.shape
    n_out = w_out.shape[1]
    _check_structure(desc, n_in, n_hid, n_out, 1, w_in, w_rec, w_out, "net")

    report = QuantizationReport(chip=desc.name, dt=dt)
    limits = report.binding_limits
    shift_max = min(desc.weight_shift_max, LIMITS["weight_shift"][1])

    # hidden layer: input and recurrent weights share the neuron's scale and the weight shift
    maxw_h = np.abs(w_in).max(axis=0)
    if w_rec is not None:
        maxw_h = np.maximum(maxw_h, np.abs(w_rec).max(axis=0))
    s_h, sh_h, bound_h = _layer_scale(maxw_h, net.theta[0], dt, shift_max, headroom, per_channel)
    readout = net.readout
    maxw_o = np.abs(w_out).max(axis=0)
    if readout and readout_range is None:
        # the range at which the scale that fills int8 without shift meets the state limit
        with np.errstate(divide="ignore"):
            theta_out = np.where(maxw_o > 0, LIMITS["threshold"][1] * dt * maxw_o / LIMITS["weight"][1], 1.0)
    elif readout:
        if not (math.isfinite(readout_range) and readout_range > 0):
            raise ValueError(f"readout_range = {readout_range}: must be finite and > 0 (float potential units)")
        theta_out = np.full(n_out, float(readout_range))
    else:
        theta_out = net.theta[1]
    s_o, sh_o, bound_o = _layer_scale(maxw_o, theta_out, dt, shift_max, 1.0 if readout else headroom, per_channel)
    wlo, whi = LIMITS["weight"]
    tlo, thi = LIMITS["threshold"]
    q_in = round_and_count("weights_in", w_in * dt * s_h / 2 ** sh_h, wlo, whi, report)
    q_rec = None if w_rec is None else round_and_count("weights_rec", w_rec * dt * s_h / 2 ** sh_h, wlo, whi, report)
    q_out = round_and_count("weights_out", w_out * dt * s_o / 2 ** sh_o, wlo, whi, report)
    q_th = round_and_count("threshold", net.theta[0] * s_h, 1, thi, report)
    if readout:
        q_th_out = np.full(n_out, thi, dtype=np.int64)
        report.clipped["threshold_out"] = 0
        report.rounded_to_zero["threshold_out"] = 0
        span = thi / np.asarray(s_o, dtype=np.float64)
        limits.append(f"output layer is a membrane read-out (theta = inf): threshold_out = {thi}, read vmem, not "
                      f"events; potentials up to +-{span.min():.4g} float units fit the int16 state"
                      + ("" if readout_range is None else f" (readout_range {readout_range:.4g})"))
    else:
        q_th_out = round_and_count("threshold_out", theta_out * s_o, 1, thi, report)

    # decay codes and what they implement
    d_syn = dash_for_tau(1.0 / net.alpha[0], dt, 1, desc.decay_max)
    d_mem = dash_for_tau(1.0 / net.beta[0], dt, 1, desc.decay_max)
    d_syn_o = dash_for_tau(1.0 / net.alpha[1], dt, 1, desc.decay_max)
    d_mem_o = dash_for_tau(1.0 / net.beta[1], dt, 1, desc.decay_max)
    report.effective_tau_syn = [tau_for_dash(d_syn, dt), tau_for_dash(d_syn_o, dt)]
    report.effective_tau_mem = [tau_for_dash(d_mem, dt), tau_for_dash(d_mem_o, dt)]
    tau_lo, tau_hi = tau_for_dash(1, dt), tau_for_dash(desc.decay_max, dt)
    for label, taus in (("tau_syn", [1 / a for a in net.alpha]), ("tau_mem", [1 / b for b in net.beta])):
        for l, tau in enumerate(taus):
            if np.any(tau < tau_lo / math.sqrt(2)) or np.any(tau > tau_hi * math.sqrt(2)):
                limits.append(f"{label}[{l}] in [{tau.min():.4g}, {tau.max():.4g}] lies outside the encodable "
                              f"[{tau_lo:.4g}, {tau_hi:.4g}] (decay codes 1..{desc.decay_max} at dt = {dt})")

    report.weight_scale = [s_h * dt / 2 ** sh_h if per_channel else float(s_h[0] * dt / 2 ** sh_h),
                           s_o * dt / 2 ** sh_o if per_channel else float(s_o[0] * dt / 2 ** sh_o)]
    if readout and readout_range is not None and np.any(bound_o):
        limits.append(f"output layer: readout_range {readout_range:.4g} binds for {int(np.sum(bound_o))} read-out "
                      "neuron(s): their weights do not fill the int8 range")
    for name, bound in (("hidden", bound_h), ("output", np.zeros(0, bool) if readout else bound_o)):
        if np.any(bound):
            limits.append(f"{name} layer: threshold cap (headroom * {thi}) binds for {int(np.sum(bound))} "
                          "neuron(s): their weights do not fill the int8 range")
    if sh_h == shift_max or sh_o == shift_max:
        limits.append(f"weight shift at the chip maximum ({shift_max})")
    if w_rec is not None:
        limits.append("recurrent connections are delayed by one step (dt) on the chip")
    limits.append("hidden -> output connections are delayed by one step (dt) on the chip")

    prog = XyloProgram(
        weights_in=q_in, weights_rec=q_rec, weights_out=q_out,
        dash_mem=d_mem, dash_syn=d_syn, dash_syn_2=None, dash_mem_out=d_mem_o, dash_syn_out=d_syn_o,
        threshold=q_th, threshold_out=q_th_out, bias=None, bias_out=None,
        weight_shift_inp=sh_h, weight_shift_rec=sh_h if q_rec is not None else 0, weight_shift_out=sh_o,
        aliases=None, version=desc.version, dt=dt)
    check_fits(prog, desc)
    return prog, report


def readout_scale(program: XyloProgram, report) -> np.ndarray:
    r"""Integer ``vmem`` units per float potential unit of each output neuron, ``(n_out,)``.

    The inverse of :func:`quantize_xylo`'s output scale: ``report.weight_scale[1]`` is
    :math:`s_o\,\Delta t / 2^{shift}` (integer weight per float weight), so
    :math:`s_o = \mathrm{weight\_scale} \cdot 2^{shift} / \Delta t` (``vmem = s_o V``). ``report`` is the
    :class:`~fpsnn.backends.report.QuantizationReport` (or its ``to_dict()``) of ``program``.
    """
    ws = report["weight_scale"] if isinstance(report, dict) else report.weight_scale
    if len(ws) != 2:
        raise ValueError(f"report: {len(ws)} weight scales, a Xylo program has 2 layers")
    scale = np.broadcast_to(np.asarray(ws[1], dtype=np.float64), (program.n_outputs,))
    return scale * 2.0 ** program.weight_shift_out / program.dt


# --------------------------------------------------------------------------- dequantize
def dequantize_xylo(program: XyloProgram, desc=None, theta: float = 1.0, t_max: float | None = None,
                    max_spikes: int | tuple = 16) -> Network:
    r"""The float network a Xylo program implements (up to the chip's delays and saturation).

    The integer state has no float unit: the result is scaled so that every firing neuron's
    threshold is ``theta``: :math:`w = (w_{int} \ll shift) / (\Delta t\,\vartheta_{int})\,\theta`.
    Time constants are the effective ones of the decay codes (:func:`tau_for_dash`), in the time
    unit of ``program.dt``. An output layer whose thresholds are all 32767 (a read-out) comes back
    with ``theta = inf`` and weights in units of ``theta`` per 32767.

    Args:
        program: the integer program; ``desc`` (optional) is checked to fit it.
        theta: float threshold of the result, > 0.
        t_max: simulation window of the result (default: 256 steps).
        max_spikes: the result's per-neuron spike cap: an int, or one per layer.

    Raises:
        ValueError: the program uses what the float model cannot express (bias, aliases, two
            synapse states with weights on synapse 1, a decay code 0, thresholds <= 0).
    """
    from .. import chips

    if desc is not None:
        check_fits(program, chips.load(desc))
    p = program
    if p.has_bias:
        raise ValueError("program: bias is not part of the float model (fpsnn.Network has no bias)")
    if p.aliases is not None and any(p.aliases):
        raise ValueError("program: aliases are not part of the float model")
    w_in3, w_rec3 = p.weights_in_3d(), p.weights_rec_3d()
    if p.n_syn == 2 and (np.any(w_in3[:, :, 1]) or np.any(w_rec3[:, :, 1])):
        raise ValueError("program: weights on synapse 2, but the float model has one synapse state per neuron")
    for name in ("dash_mem", "dash_syn", "dash_mem_out", "dash_syn_out"):
        if np.any(getattr(p, name) == 0):
            raise ValueError(f"program: {name} contains 0 (the value is erased within its step: no float time constant)")
    if np.any(p.threshold <= 0) or np.any(p.threshold_out <= 0):
        raise ValueError("program: thresholds must be >= 1 for a float threshold to exist")
    theta = float(theta)
    if not (math.isfinite(theta) and theta > 0):
        raise ValueError(f"theta = {theta}: must be finite and > 0")
    dt = p.dt
    readout = bool(np.all(p.threshold_out == LIMITS["threshold"][1]))
    th_h = p.threshold.astype(np.float64)
    th_o = p.threshold_out.astype(np.float64)
    w_in = (w_in3[:, :, 0] << p.weight_shift_inp) / (dt * th_h) * theta
    w_out = (p.weights_out << p.weight_shift_out) / (dt * th_o) * theta
    rec = None
    if p.weights_rec is not None:
        rec = (w_rec3[:, :, 0] << p.weight_shift_rec) / (dt * th_h) * theta
        if np.any(np.diag(rec)):
            raise ValueError("program: self-connections in weights_rec are not part of the float model")
    t_max = 256 * dt if t_max is None else t_max
    return Network(
        weights=[w_in, w_out],
        alpha=[1.0 / tau_for_dash(p.dash_syn, dt), 1.0 / tau_for_dash(p.dash_syn_out, dt)],
        beta=[1.0 / tau_for_dash(p.dash_mem, dt), 1.0 / tau_for_dash(p.dash_mem_out, dt)],
        theta=[theta, np.inf if readout else theta], t_max=t_max,
        recurrent=[rec, None], max_spikes=max_spikes)
