r"""Float :class:`fpsnn.Network` <-> integer :class:`~fpsnn.backends.loihi.program.LoihiProgram` (Lava units).

**The float model** (``fpsnn/network.py``): an input spike makes the synaptic current jump by
:math:`w`, which then decays as :math:`e^{-\alpha t}`; :math:`\dot V = -\beta V + I`; a spike when
:math:`V \ge \theta`, then :math:`V` drops to 0 (reset by subtraction and to zero coincide at the
crossing).

**The chip** (per step :math:`\Delta t`, :mod:`fpsnn.backends.loihi.emulator`):
:math:`u \leftarrow u(4095 - du)/4096 + (a_{in} \ll 6)` with
:math:`a_{in} = \sum w_{eff}\,s \cdot 2^{weight\_exp}`, :math:`v \leftarrow v(4096 - dv)/4096 + u`,
a spike when :math:`v > vth \ll 6`, then :math:`v = 0`.

**Scaling.** :math:`v` is a running *sum* of :math:`u`, the float :math:`V` an *integral* of
:math:`I`. With :math:`S_j` integer ``v`` units per float unit of :math:`V` of neuron ``j``:
:math:`v = S_j V`, :math:`u = S_j \Delta t\, I`, hence

.. math:: w_{eff,ij}\,2^{e} = \mathrm{round}(w_{ij}\,\Delta t\,S_j / 64), \qquad
          vth_j = \mathrm{round}(\theta_j S_j / 64).

:math:`S_j` is the largest scale for which (a) the threshold stays below ``headroom`` times the
17-bit maximum (room for ``u`` and ``v`` above threshold before they wrap / clip at
:math:`2^{23}`) and (b) the weights fit the 8-bit mantissa at the largest weight exponent.
The weight exponent ``e`` of each Dense is the smallest that fits its largest scaled weight into the
mantissa, so the largest weight uses the mantissa's top bit. ``per_channel=True`` then raises each
neuron's :math:`S_j` until its own threshold or its own largest weight hits its limit (Lava has one
``weight_exp`` per Dense, so per-channel scaling lives in ``vth`` and the weight columns);
``per_channel=False`` uses one :math:`S` per layer. A membrane read-out layer (``theta = inf``)
always gets one scale (its potentials are compared with each other), weight exponent 0 and ``vth``
at its maximum, so it fires only if ``v`` reaches ``vth << 6`` (its range's end); its weights fill
the mantissa unless a ``readout_range`` :math:`R` asks for a smaller scale
:math:`S \le (vth_{max} \ll 6) / R`, so that potentials up to :math:`|V| = R` stay below it.

**Decays.** :math:`du` is the integer whose per-step factor :math:`(4095-du)/4096` (Lava adds 1 to
``du``) gives the effective :math:`\tau_{syn} = -\Delta t/\ln((4095-du)/4096)` closest to
:math:`1/\alpha` in log ratio; :math:`dv` likewise with :math:`(4096-dv)/4096`, never 0 (no leak).
Representable: :math:`\tau` up to about :math:`4096\,\Delta t`.

**Weights.** Mixed-sign layers use ``num_weight_bits = 8`` with ``sign_mode = MIXED``, whose
mantissa is even (Lava drops the LSB): :math:`w_{eff} \in \{-256, -254, \dots, 254\}`; a layer
whose weights are all >= 0 (<= 0) uses EXCITATORY (INHIBITORY) with the full 0..255 magnitude.

**What the chip adds that the float model lacks**: every Dense delays by one step (an input at step
``k`` reaches layer ``l`` at step ``k + 1 + l``), a spike needs :math:`v >` rather than :math:`\ge`
the threshold, the current enters :math:`v` one step at a time (Euler), ``u`` wraps and ``v``
clips at :math:`2^{23}`. :func:`dequantize_loihi` returns the float network of the integer
parameters (without the delays).
"""
from __future__ import annotations

import math

import numpy as np

from ...network import Network
from ..report import QuantizationReport, check_fan_in, round_and_count
from .program import LoihiProgram, effective_weights

__all__ = ["quantize_loihi", "dequantize_loihi", "check_fits", "du_for_tau", "dv_for_tau",
           "tau_syn_for_du", "tau_mem_for_dv", "readout_scale", "DEFAULT_HEADROOM"]

DEFAULT_HEADROOM = 0.25


def _scalings(desc) -> tuple[int, int]:
    """(vth_shift, activation_shift) of the chip description (Lava: 6 and 6)."""
    s = desc.scalings or {}
    return int(s.get("vth_shift", 6)), int(s.get("activation_shift", 6))


# --------------------------------------------------------------------------- decay codes
def tau_syn_for_du(du, dt: float) -> np.ndarray:
    """Effective synaptic time constant (units of ``dt``) of Lava's ``du``: ``-dt/ln((4095-du)/4096)``.

    ``du = 4095`` gives 0 (the current lives for one step only).
    """
    keep = (4095 - np.asarray(du, np.float64)) / 4096
    with np.errstate(divide="ignore"):
        return np.where(keep > 0, -float(dt) / np.log(np.where(keep > 0, keep, 1.0)), 0.0)


def tau_mem_for_dv(dv, dt: float) -> np.ndarray:
    """Effective membrane time constant (units of ``dt``) of Lava's ``dv``: ``-dt/ln((4096-dv)/4096)``.

    ``dv = 0`` gives ``inf`` (no leak).
    """
    keep = (4096 - np.asarray(dv, np.float64)) / 4096
    with np.errstate(divide="ignore"):
        return -float(dt) / np.log(keep)


def _closest_code(tau, dt, tau_of_code, offset, lo, hi):
    """Integer code in [lo, hi] whose effective tau is closest to ``tau`` in log ratio, and whether
    the ideal (real-valued) code lay outside [lo, hi]."""
    tau = np.asarray(tau, np.float64)
    ideal = offset - 4096 * np.exp(-dt / tau)      # the real code with exactly this per-step factor
    base = np.clip(np.floor(ideal), lo, hi)
    cands = np.clip(np.stack([base - 1, base, base + 1]), lo, hi).astype(np.int64)
    with np.errstate(divide="ignore"):
        err = np.abs(np.log(tau_of_code(cands, dt) / tau))
    err = np.where(np.isnan(err), np.inf, err)
    code = np.take_along_axis(cands, np.argmin(err, axis=0)[None], axis=0)[0]
    return code, (ideal < lo - 0.5) | (ideal > hi + 0.5)


def du_for_tau(tau_syn, dt: float):
    """Lava ``du`` (0..4095) for synaptic time constant(s) ``tau_syn``; also the out-of-range mask."""
    return _closest_code(tau_syn, dt, tau_syn_for_du, 4095, 0, 4095)


def dv_for_tau(tau_mem, dt: float):
    """Lava ``dv`` (1..4095) for membrane time constant(s) ``tau_mem``; also the out-of-range mask."""
    return _closest_code(tau_mem, dt, tau_mem_for_dv, 4096, 1, 4095)


# --------------------------------------------------------------------------- fit checks
def _check_structure(desc, n_in, sizes, nonzero_ff, nonzero_rec, where):
    """ValueError naming the chip limit that the layer structure violates."""
    chip = desc.name
    if desc.family != "loihi":
        raise ValueError(f"desc: {chip} is a {desc.family} chip, not a Loihi")
    if len(sizes) > desc.max_layers:
        raise ValueError(f"{where}: {len(sizes)} layers, but {chip} allows max_layers = {desc.max_layers}")
    if n_in > desc.n_inputs:
        raise ValueError(f"{where}: {n_in} inputs, but {chip} has {desc.n_inputs}")
    if sum(sizes[:-1]) > desc.n_hidden:
        raise ValueError(f"{where}: {sum(sizes[:-1])} hidden neurons, but {chip} has {desc.n_hidden}")
    if sizes[-1] > desc.n_outputs:
        raise ValueError(f"{where}: {sizes[-1]} output neurons, but {chip} has {desc.n_outputs}")
    for l, (ff, rec) in enumerate(zip(nonzero_ff, nonzero_rec)):
        if rec is not None and np.any(rec) and not desc.recurrent:
            raise ValueError(f"{where}: recurrent weights in layer {l}, but {chip} has no recurrent connections")
        check_fan_in(ff.sum(axis=0) + (0 if rec is None else rec.sum(axis=0)), desc.max_fan_in, chip, where, l)


def check_fits(program: LoihiProgram, desc) -> None:
    """Raise ValueError naming the limit when ``program`` does not fit chip ``desc``."""
    for l, dense in enumerate(list(program.layers) + [r for r in program.recurrent if r is not None]):
        if abs(dense.weight_exp) > desc.weight_shift_max:
            raise ValueError(f"program: weight_exp = {dense['weight_exp']}, but {desc.name} allows "
                             f"|weight_exp| <= weight_shift_max = {desc.weight_shift_max}")
    vth_max = (1 << desc.threshold_bits) - 1
    for l, layer in enumerate(program.layers):
        if layer.vth.max() > vth_max:
            raise ValueError(f"program: layers[{l}].vth = {int(layer['vth'].max())}, but {desc.name} allows "
                             f"at most {vth_max} ({desc.threshold_bits} bits)")
    _check_structure(desc, program.n_inputs, program.sizes,
                     [layer.weights != 0 for layer in program.layers],
                     [None if r is None else r.weights != 0 for r in program.recurrent], "program")


# --------------------------------------------------------------------------- quantize
def _sign_mode(w: np.ndarray) -> str:
    if np.all(w >= 0):
        return "excitatory"
    return "inhibitory" if np.all(w <= 0) else "mixed"


def _mantissa_cap(mode: str) -> int:
    # Largest |w_eff| the sign mode reaches with 8 weight bits: mixed loses its LSB (-256..254 even;
    # +254 is the binding side), excitatory / inhibitory reach 255.
    return 254 if mode == "mixed" else 255


def _exponent(qmax: float, cap: int, e_max: int) -> int:
    """Smallest weight exponent in [-e_max, e_max] with ``qmax / 2**e <= cap``."""
    if qmax <= 0:
        return 0
    return int(np.clip(math.ceil(math.log2(qmax / cap) - 1e-12), -e_max, e_max))


def _mantissa(q: np.ndarray, mode: str, name: str, report: QuantizationReport) -> np.ndarray:
    """Round scaled weights ``q`` (already divided by 2**e) to Lava weights, counting losses."""
    lo, hi = {"mixed": (-256, 254), "excitatory": (0, 255), "inhibitory": (-255, 0)}[mode]
    step = 2 if mode == "mixed" else 1               # mixed: Lava keeps even weights only
    return round_and_count(name, q, lo, hi, report, step)


def quantize_loihi(net: Network, desc, dt: float, per_channel: bool = True,
                   headroom: float = DEFAULT_HEADROOM, readout_range: float | None = None):
    """Map a float network onto Loihi 2 (Lava's fixed-point LIF + Dense), see the module docstring.

    Args:
        net: ``fpsnn.Network``, any number of layers, optional recurrent weights; a last layer with
            ``theta = inf`` becomes a membrane read-out.
        desc: a Loihi :class:`fpsnn.backends.chips.ChipDescription` or a chip name (``"loihi2"``).
        dt: chip step in the network's time unit, > 0.
        per_channel: one scale per post-synaptic neuron (True) or one per layer (False).
        headroom: thresholds stay <= ``headroom * (2**17 - 1)`` (0 < headroom <= 1).
        readout_range: a membrane read-out only: the largest ``|V|`` (float potential units) its
            potential must reach below ``vth << 6`` (where it would fire and reset); None: the weights
            fill the mantissa at exponent 0 (the report's ``binding_limits`` give the range left).

    Returns:
        ``(LoihiProgram, QuantizationReport)``; ``report.weight_scale[l]`` maps a float feed-forward
        weight to Lava weight units (``w_eff ~ w * scale``); for recurrent weights multiply by
        ``2**(weight_exp - recurrent weight_exp)``.

    Raises:
        ValueError: the network does not fit (sizes, fan-in, recurrence, a threshold that would
            round to 0 because the weights are too large for it), naming the limit and the numbers.
    """
    from .. import chips

    desc = chips.load(desc) if isinstance(desc, str) else desc
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt = {dt}: must be finite and > 0 (time units per step)")
    headroom = float(headroom)
    if not (0 < headroom <= 1):
        raise ValueError(f"headroom = {headroom}: must be in (0, 1]")
    _check_structure(desc, net.n_inputs, net.sizes, [w != 0 for w in net.weights],
                     [None if r is None else r != 0 for r in net.recurrent], "net")
    if readout_range is not None and not (math.isfinite(readout_range) and readout_range > 0):
        raise ValueError(f"readout_range = {readout_range}: must be finite and > 0 (float potential units)")
    if desc.weight_bits != 8:
        raise ValueError(f"desc: weight_bits = {desc.weight_bits}; Lava's Dense has 8-bit weights")
    vth_shift, act_shift = _scalings(desc)
    unit = 2.0 ** act_shift                               # a_in << 6: one weight unit = 64 in u
    vth_max = (1 << desc.threshold_bits) - 1
    e_max = int(desc.weight_shift_max)
    report = QuantizationReport(chip=desc.name, dt=dt)
    layers, recurrent = [], []

    for l in range(net.n_layers):
        n = net.sizes[l]
        w_ff, w_rec, theta = net.weights[l], net.recurrent[l], net.theta[l]
        readout = bool(np.all(np.isinf(theta)))
        modes = [_sign_mode(w_ff)] + ([] if w_rec is None else [_sign_mode(w_rec)])
        caps = [_mantissa_cap(m) for m in modes]
        colmax = [np.abs(w_ff).max(axis=0)] + ([] if w_rec is None else [np.abs(w_rec).max(axis=0)])
        # (b): the scale at which a neuron's largest weight fills the mantissa at the exponent limit
        e_lim = 0 if readout else e_max
        with np.errstate(divide="ignore"):
            s_w = np.min([np.where(m > 0, c * 2.0 ** e_lim * unit / (dt * m), np.inf)
                          for m, c in zip(colmax, caps)], axis=0)
            # (a): the threshold at the headroom limit; a read-out: its range below vth_max << 6
            if readout:
                s_th = np.full(n, np.inf if readout_range is None else vth_max * 2.0 ** vth_shift / readout_range)
            else:
                s_th = headroom * vth_max * 2.0 ** vth_shift / theta
        scale = np.minimum(s_w, s_th)
        if not np.all(np.isfinite(scale)):
            j = int(np.argmax(~np.isfinite(scale)))
            raise ValueError(f"net: layer {l} neuron {j} is a read-out with no incoming weights: no scale exists")
        if not per_channel or readout:
            scale = np.full(n, scale.min())
        # The exponents fit the largest scaled weight into the mantissa ...
        exps = [0 if readout else _exponent(float((m * dt * scale / unit).max()), c, e_max)
                for m, c in zip(colmax, caps)]
        if per_channel and not readout:
            # ... and a neuron whose weights then leave mantissa unused grows its scale (up to its
            # threshold limit), so its weights and threshold gain resolution.
            with np.errstate(divide="ignore"):
                grow = np.min([np.where(m > 0, c * 2.0 ** e * unit / (dt * m), np.inf)
                               for m, c, e in zip(colmax, caps, exps)], axis=0)
            scale = np.minimum(s_th, grow)
        binds = ("readout_range" if readout else "threshold headroom") if np.all(s_th <= s_w) else "weight mantissa"
        report.binding_limits.append(
            f"layer {l}: scale set by the {binds} ({'read-out, exponent 0' if readout else f'vth <= {headroom:g} * {vth_max}'}"
            f"; weight_exp {exps[0]}{'' if w_rec is None else f', recurrent weight_exp {exps[1]}'})")
        if readout:
            report.binding_limits.append(
                f"layer {l} is a membrane read-out (theta = inf): vth = {vth_max}, read v, not events; potentials "
                f"up to +-{vth_max * 2.0 ** vth_shift / scale[0]:.4g} float units stay below vth << {vth_shift}"
                + ("" if readout_range is None else f" (readout_range {readout_range:.4g})"))
        for e in exps:
            if abs(e) == e_max:
                report.binding_limits.append(f"layer {l}: weight_exp reached the chip limit +-{e_max} "
                                             "(weight_shift_max): the mantissa is under- or over-used")

        dense = []
        for k, (w, mode, e) in enumerate(zip([w_ff] + ([] if w_rec is None else [w_rec]), modes, exps)):
            name = f"weights[{l}]" if k == 0 else f"recurrent[{l}]"
            q = w * dt * scale[None, :] / unit / 2.0 ** e
            dense.append(dict(weights=_mantissa(q, mode, name, report), weight_exp=e, num_weight_bits=8,
                              sign_mode=mode))
        report.weight_scale.append(dt * scale / unit / 2.0 ** exps[0] if per_channel and not readout
                                   else float(dt * scale[0] / unit / 2.0 ** exps[0]))

        if readout:
            vth = np.full(n, vth_max, np.int64)
        else:
            vth_f = theta * scale / 2.0 ** vth_shift
            vth = np.round(vth_f).astype(np.int64)
            if np.any(vth < 1):
                j = int(np.argmin(vth))
                raise ValueError(
                    f"net: layer {l} neuron {j}: threshold {theta[j]:g} against weights up to "
                    f"{max(float(m[j]) for m in colmax):g} (dt = {dt:g}) needs vth = {vth_f[j]:.3g} < 1: the "
                    f"largest weight exceeds the threshold by more than the 8-bit mantissa << {e_max} "
                    f"(weight_shift_max) can express; scale the weights down or raise theta")
            report.clipped[f"vth[{l}]"] = 0
            report.rounded_to_zero[f"vth[{l}]"] = 0

        du, du_out = du_for_tau(1.0 / net.alpha[l], dt)
        dv, dv_out = dv_for_tau(1.0 / net.beta[l], dt)
        report.clipped[f"du[{l}]"] = int(du_out.sum())
        report.clipped[f"dv[{l}]"] = int(dv_out.sum())
        if du_out.any() or dv_out.any():
            report.binding_limits.append(
                f"layer {l}: decay codes clipped to 0..4095 (du: {int(du_out.sum())}, dv: {int(dv_out.sum())} "
                f"neurons): representable time constants are about {dt:g}/4096 .. {4096 * dt:g}")
        if np.unique(du).size > 1 or np.unique(dv).size > 1:
            report.binding_limits.append(
                f"layer {l}: per-neuron du/dv; Lava's LIF declares one du and dv per population (its "
                "Python fixed_pt model accepts per-neuron values; on a board split the layer by decay)")
        report.effective_tau_syn.append(tau_syn_for_du(du, dt))
        report.effective_tau_mem.append(tau_mem_for_dv(dv, dt))

        layers.append(dict(dense[0], du=du, dv=dv, vth=vth, bias_mant=0, bias_exp=0))
        recurrent.append(dense[1] if len(dense) > 1 else None)

    program = LoihiProgram(layers=layers, recurrent=recurrent, dt=dt)
    check_fits(program, desc)
    return program, report


def readout_scale(program: LoihiProgram, report, desc=None) -> np.ndarray:
    r"""Integer ``v`` units per float potential unit of each neuron of the last layer, ``(n,)``.

    The inverse of :func:`quantize_loihi`'s scale :math:`S`: ``report.weight_scale[-1]`` is
    :math:`\Delta t\,S / 2^{activation\_shift} / 2^{weight\_exp}` (Lava weight per float weight), so
    :math:`S = \mathrm{weight\_scale} \cdot 2^{activation\_shift + weight\_exp} / \Delta t`
    (``v = S V``). ``report`` is the :class:`~fpsnn.backends.report.QuantizationReport` (or its
    ``to_dict()``) of ``program``; ``desc`` the chip description (default: Lava's shifts).
    """
    ws = report["weight_scale"] if isinstance(report, dict) else report.weight_scale
    if len(ws) != len(program.layers):
        raise ValueError(f"report: {len(ws)} weight scales, the program has {len(program.layers)} layers")
    _, act_shift = _scalings(desc) if desc is not None else (6, 6)
    scale = np.broadcast_to(np.asarray(ws[-1], dtype=np.float64), (program.sizes[-1],))
    return scale * 2.0 ** (act_shift + program.layers[-1].weight_exp) / program.dt


# --------------------------------------------------------------------------- dequantize
def dequantize_loihi(program: LoihiProgram, desc=None, theta: float = 1.0, t_max: float | None = None,
                     max_spikes: int | tuple = 16) -> Network:
    r"""The float network a Loihi program implements (up to the Dense delays, Euler steps, wrap/clip).

    The integer state has no float unit: the result is scaled so that every firing neuron's threshold
    is ``theta``, :math:`w_{ij} = w_{eff,ij}\,2^{e}\,64\,\theta / (\Delta t\,(vth_j \ll 6))`. A last
    layer whose ``vth`` are all at the maximum is a read-out: ``theta = inf`` and weights in units of
    ``theta`` per maximal threshold. Time constants are the effective ones of ``du`` and ``dv``
    (:func:`tau_syn_for_du`, :func:`tau_mem_for_dv`), in the time unit of ``program.dt``.

    Args:
        program: the integer program; ``desc`` (optional, a description or a name) is checked to fit it.
        theta: float threshold of the result, > 0.
        t_max: simulation window of the result (default: 256 steps).
        max_spikes: the result's per-neuron spike cap: an int, or one per layer.

    Raises:
        ValueError: the program uses what the float model cannot express: a bias, ``du = 4095``
            (current erased within its step), ``dv = 0`` (no leak), ``vth = 0``, recurrent
            self-connections.
    """
    from .. import chips

    if desc is not None:
        desc = chips.load(desc) if isinstance(desc, str) else desc
        check_fits(program, desc)
        vth_shift, act_shift = _scalings(desc)
        vth_max = (1 << desc.threshold_bits) - 1
    else:
        vth_shift, act_shift, vth_max = 6, 6, 131071
    theta = float(theta)
    if not (math.isfinite(theta) and theta > 0):
        raise ValueError(f"theta = {theta}: must be finite and > 0")
    dt = program.dt
    weights, rec, alpha, beta, thetas = [], [], [], [], []
    for l, layer in enumerate(program.layers):
        if np.any(layer.bias_mant != 0):
            raise ValueError(f"program: layers[{l}].bias_mant is non-zero, but fpsnn.Network has no bias")
        if np.any(layer.du == 4095):
            raise ValueError(f"program: layers[{l}].du = 4095 erases the current within its step (no float tau_syn)")
        if np.any(layer.dv == 0):
            raise ValueError(f"program: layers[{l}].dv = 0 means no leak, but the float model needs beta > 0")
        if np.any(layer.vth == 0):
            raise ValueError(f"program: layers[{l}].vth = 0 has no float threshold")
        readout = l == len(program.layers) - 1 and bool(np.all(layer.vth == vth_max))
        # integer v units per float V unit
        scale = layer.vth * 2.0 ** vth_shift / theta
        to_float = lambda d: effective_weights(d) * 2.0 ** d.weight_exp * 2.0 ** act_shift / (dt * scale[None, :])
        weights.append(to_float(layer))
        if program.recurrent[l] is None:
            rec.append(None)
        else:
            r = to_float(program.recurrent[l])
            if np.any(np.diag(r)):
                raise ValueError(f"program: recurrent[{l}] has self-connections, which the float model lacks")
            rec.append(r)
        alpha.append(1.0 / tau_syn_for_du(layer.du, dt))
        beta.append(1.0 / tau_mem_for_dv(layer.dv, dt))
        thetas.append(np.inf if readout else theta)
    return Network(weights=weights, alpha=alpha, beta=beta, theta=thetas,
                   t_max=256 * dt if t_max is None else t_max, recurrent=rec, max_spikes=max_spikes)
