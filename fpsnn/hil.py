r"""Hardware-in-the-loop (HIL) and quantization-aware (QAT) fine-tuning with exact spike-time gradients.

**The loop.** Every step takes a minibatch and

1. compiles the float *shadow* network (the weights being trained) for the chip:
   ``program = target.compile(shadow, dt)`` (quantize + map);
2. builds the float network that program implements, :func:`chip_network`: the program's integer
   weights and thresholds mapped back to the shadow's units and the chip's *effective* time constants
   (those of its decay codes, from the chip description), i.e. ``dequantize`` of the program;
3. measures: runs the minibatch on the target and reads back the spike times of every layer
   (``hil``), or simulates the chip network exactly in continuous time (``qat``, no chip at all);
4. cleans the measured times by the policy below and computes the exact gradient of the first-spike
   cross entropy *at those times* (``value_and_grad(chip_net, x, loss, times=measured)``: the causal
   set of every spike is every measured spike that reached its neuron strictly earlier);
5. applies the gradient to the shadow weights (straight-through estimator, below) and re-deploys at
   the next step.

Optimizer, learning-rate schedule, progress bar, checkpoint files and the per-epoch history are the
trainer's (:mod:`fpsnn.train`); a :class:`FineTuner` run resumes bit for bit like a training run.

**Weight-rounding estimator (documented choice).** The chip weights are :math:`\hat W = q(W)`
(per-channel scale, round to the integer grid, shift). The gradient is evaluated at
:math:`\hat W` (the network that actually ran) and applied to :math:`W` as if :math:`dq/dW = 1`
(straight-through estimator). No clipping term is needed: the mappings scale each channel so that its
largest weight lands on the largest integer, so no weight is ever clipped. Time constants are not
trained; they are the chip's effective ones throughout, so QAT trains the weights *for* the time
constants the chip can represent.

**QAT** (``mode="qat"``) is the same loop with step 3 done by the exact simulator on the chip
network: the float model constrained to the chip's weight grid and time constants, with exact
spike-time gradients. It models neither the time grid nor the pipeline delays nor saturation;
those are what HIL adds.

**Time step.** ``dt`` (network time units per chip step) defaults to the target's own default
(``backend.compile(net, dt=None)``): ``t_max / 64`` on Xylo, ``t_max / 128`` on Loihi
(:mod:`fpsnn.backends.stepped`). For Yin-Yang (``t_max = 2``) that is ``dt = 1/32`` on Xylo, where
decay code 5 implements :math:`\tau = 0.984` for the float model's 1.0, and ``1/64`` on Loihi, whose
12-bit codes give :math:`\tau = 1.000`. Measured times are step-end times ``(k + 1) dt``
(:mod:`fpsnn.timegrid`).

**Policy for measured spike times** (:func:`clean_times`; every case is counted in the metrics and
none stops the run): NaN times and times outside the window ``[0, t_max + slack]`` (``slack`` = one
step per layer, the longest pipeline delay of the supported chips) are dropped (treated as no
spike); each neuron's times are sorted; repeated equal times of one neuron (several events in one
chip step) are kept once, because the float model cannot fire twice at one instant; times beyond
the shadow's ``max_spikes`` are dropped. An output neuron with no spike counts as firing at
``t_max`` with zero gradient (:mod:`fpsnn.losses`), a spike whose slope is not positive carries no
gradient (``n_bad_slopes``, :mod:`fpsnn.gradients`), and a minibatch whose gradient is not finite is
skipped (``skipped_updates``). Malformed results (wrong number of layers, samples or neurons) are a
backend bug, not measurement noise: ValueError naming the layer and the shapes.

**Device calibration** (``calibrate=True``, ``fpsnn hil --calibrate``). A device with mismatch
(every synapse's weight, every neuron's threshold and time constants off by fixed factors,
:mod:`fpsnn.backends.emulator.mismatch`) is not the chip network of step 2, so the gradient of step 4,
although taken at the measured times, is the gradient of another network, and a neuron the mismatch
silenced gets no gradient at all (a silent output counts as ``t_max`` with zero gradient). Before the
first step, :func:`calibrate_device` therefore measures the device on probe programs (one per
presynaptic channel: only that channel's synapses carry weight, 19 spike trains through them) and
fits, per neuron, each incoming synapse's effective weight-to-threshold gain by least squares on the
firing equation at the measured first spikes; the same fit on the chip's nominal emulator is the
reference, and the :class:`DeviceModel` is the ratio. Then (``compensate=True``, the default) the
shadow weights are divided by the gains once, so the device runs the network the float model means
(this alone revives most outputs the mismatch silenced), and every step takes the gradient on
``DeviceModel.apply(chip network)`` (weights times gains) and moves the shadow weights by the chain
rule (gradient times gain). Only what a real chip allows is used: programs sent to it, spike times
read back, and the chip's emulator. On Yin-Yang networks with 20 % mismatch the fitted gains
correlate with the emulator's true factors at 0.96-1.0 and agree within a neuron to about 3 %; a
common factor per neuron absorbs the neuron's time-constant mismatch, which first spikes identify
poorly (the PSP kernel is symmetric in the two time constants; fitting them is optional,
``time_constants=``, and recovered less). ``tools/reproduce_hil.py`` measures what calibration
recovers, next to fine-tuning with the true factors (:func:`true_device_model`, emulator only); with
its defaults (Yin-Yang 5-30-3, 10 seeds, 20 epochs) in-the-loop training won back 1.08 / 1.01 of the
accuracy lost to 10 / 20 % mismatch on Xylo and 1.03 / 0.94 on Loihi with calibration, 0.53 / 0.31 and
0.84 / 0.60 without. Calibration costs ``2 * sum(n_{l-1})`` small runs (device and reference) once
per run.

**Losing the target.** Any exception raised by the target while compiling or running (a board
unplugged, a simulator crash) happens before the optimizer moves, so the state is exactly "after the
last completed update". With an ``out_dir``, that state is written to the checkpoint (epoch, batch,
minibatch order, shuffling generator, optimizer, history) and :class:`TargetLost` is raised naming the
epoch, batch and checkpoint; ``fit(resume=True)`` continues with the next minibatch, so no update is
lost or repeated.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io
from .datasets import Hyperparameters
from .kernels import psp_causal, psp_peak
from .losses import FirstSpikeCrossEntropy, predict
from .network import Network
from .train import (Progress, RunFiles, TrainResult, check_training_data, fingerprint, gradient_list,
                    learning_rate, make_optimizer, parameter_list, with_parameter_list)

__all__ = ["MODES", "chip_network", "DeviceModel", "true_device_model", "calibrate_device", "TIME_CONSTANT_FITS",
           "probe_network",
           "probe_inputs", "clean_times", "POLICY_COUNTS",
           "resolve_target", "evaluate_on", "FineTuner", "TargetLost", "fine_tune_file",
           "configure_cli", "run_cli"]

MODES = ("hil", "qat")
#: Keys of the measured-times policy counters (see :func:`clean_times`).
POLICY_COUNTS = ("nan", "out_of_window", "reordered", "coincident", "over_cap")


class TargetLost(RuntimeError):
    """The target failed during fine-tuning; the message names where and how to resume."""


# ------------------------------------------------------------------------------------ chip network
def chip_network(program, shadow: Network) -> Network:
    """The float network ``program`` implements, in the units of ``shadow``.

    Integer weights and thresholds come back through the chip family's ``dequantize`` (effective time
    constants of the decay codes, weights relative to the integer threshold), then each neuron's
    weights are multiplied by the shadow's threshold of that neuron, so the result has the shadow's
    thresholds, window and spike cap. Raises ValueError for a program fpsnn cannot express in float.
    """
    from .backends.emulator import LoihiProgram, XyloProgram

    if isinstance(program, XyloProgram):
        from .backends.xylo.mapping import dequantize_xylo as dequantize
    elif isinstance(program, LoihiProgram):
        from .backends.lava.mapping import dequantize_loihi as dequantize
    else:
        raise ValueError(f"program: no dequantizer for {type(program).__name__} (expected a Xylo or Loihi program)")
    net = dequantize(program, theta=1.0, t_max=shadow.t_max, max_spikes=shadow.max_spikes)
    if net.sizes != shadow.sizes:
        raise ValueError(f"program: layer sizes {net.sizes} differ from the shadow network's {shadow.sizes}")
    weights = [w * th[None, :] for w, th in zip(net.weights, shadow.theta)]
    recurrent = [None if r is None else r * th[None, :] for r, th in zip(net.recurrent, shadow.theta)]
    return Network(weights=weights, alpha=net.alpha, beta=net.beta, theta=list(shadow.theta), t_max=shadow.t_max,
                   recurrent=recurrent, max_spikes=shadow.max_spikes)


# ------------------------------------------------------------------------------------ device model
@dataclass
class DeviceModel:
    r"""Per-device corrections to the chip network: what the gradient assumes the device really is.

    A device with mismatch implements other parameters than the program says: each synapse's weight
    and each neuron's threshold, synaptic and membrane time constant are off by fixed factors
    (:mod:`fpsnn.backends.emulator.mismatch`). :meth:`apply` turns the nominal chip network
    (:func:`chip_network`) into the network the device is estimated to implement:

    .. math:: W^{dev}_{ji} = G_{ji}\,W_{ji},\qquad \tau^{dev}_{syn,i} = s_i\,\tau_{syn,i},\qquad
              \tau^{dev}_{mem,i} = m_i\,\tau_{mem,i}

    with the thresholds unchanged: a threshold factor :math:`f_\vartheta` is folded into the weight
    gains (:math:`G_{ji} = f_{w,ji} / f_{\vartheta,i}`), since only the weight-to-threshold ratio
    is observable.

    Attributes:
        weight_gain: per layer, ``(n_{l-1}, n_l)`` dimensionless factors :math:`G` (1 = nominal).
        tau_syn_factor, tau_mem_factor: per layer, ``(n_l,)`` dimensionless time-constant factors.
        source: how it was obtained: ``"probe"`` (:func:`calibrate_device`, measurable on a real chip)
            or ``"true"`` (:func:`true_device_model`: the emulator's own mismatch factors, an upper
            bound for experiments that no real chip user has).

    Recurrent weights are not calibrated (gain 1).
    """

    weight_gain: list
    tau_syn_factor: list
    tau_mem_factor: list
    source: str = "probe"

    def apply(self, chip_net: Network) -> Network:
        """The chip network with this device's weight gains and time constants (same thresholds)."""
        if [g.shape for g in self.weight_gain] != [w.shape for w in chip_net.weights]:
            raise ValueError(f"device model: weight gains {[g.shape for g in self.weight_gain]} do not fit the "
                             f"network's weights {[w.shape for w in chip_net.weights]}")
        return Network(weights=[w * g for w, g in zip(chip_net.weights, self.weight_gain)],
                       alpha=[a / s for a, s in zip(chip_net.alpha, self.tau_syn_factor)],
                       beta=[b / m for b, m in zip(chip_net.beta, self.tau_mem_factor)],
                       theta=chip_net.theta, t_max=chip_net.t_max, recurrent=chip_net.recurrent,
                       max_spikes=chip_net.max_spikes)

    def compensate(self, net: Network) -> Network:
        """``net`` with every weight divided by its gain: deployed on this device, it acts like ``net`` nominally."""
        return net.with_parameters([w / g for w, g in zip(net.weights, self.weight_gain)], net.recurrent)

    def arrays(self) -> dict:
        """The factors as named arrays (checkpoints); inverse of :meth:`from_arrays`."""
        out = {}
        for l, (g, s, m) in enumerate(zip(self.weight_gain, self.tau_syn_factor, self.tau_mem_factor)):
            out.update({f"device/weight_gain/{l}": g, f"device/tau_syn_factor/{l}": s,
                        f"device/tau_mem_factor/{l}": m})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, n_layers: int, source: str = "probe") -> "DeviceModel":
        get = lambda name: [np.asarray(arrays[f"device/{name}/{l}"], dtype=np.float64) for l in range(n_layers)]
        return cls(get("weight_gain"), get("tau_syn_factor"), get("tau_mem_factor"), source)

    def summary(self) -> dict:
        """Spread of the factors: RMS of their logarithms (0 = nominal), per kind over all layers."""
        rms = lambda arrs: float(np.sqrt(np.mean(np.concatenate([np.log(a).ravel() for a in arrs]) ** 2)))
        return {"source": self.source, "rms_log_weight_gain": rms(self.weight_gain),
                "rms_log_tau_syn_factor": rms(self.tau_syn_factor), "rms_log_tau_mem_factor": rms(self.tau_mem_factor)}


def true_device_model(target, shadow: Network, spread: float, seed: int = 0, dt: float | None = None) -> DeviceModel:
    """The exact :class:`DeviceModel` of emulated device ``seed`` with mismatch ``spread`` (``source="true"``).

    For experiments only: it reads the mismatch factors out of :func:`fpsnn.backends.emulator.mismatch.perturb`,
    which no real chip reports, so it bounds what :func:`calibrate_device` can achieve. ``target`` is the
    nominal chip (name or backend); the gains are measured on the :func:`probe_network` programs, whose
    probed integer weights are the largest the chip has, so they are the device's factors and not the
    rounding of one particular program's small integers.
    """
    from .backends.emulator.mismatch import perturb

    target = resolve_target(target)
    gains = [np.ones_like(w) for w in shadow.weights]
    syn = mem = None
    for l in range(shadow.n_layers):
        for c in range(shadow.weights[l].shape[0]):
            net = probe_network(shadow, l, c)
            program, _ = target.compile(net, dt)
            nominal, device = chip_network(program, net), chip_network(perturb(program, spread, seed), net)
            gains[l][c] = device.weights[l][c] / nominal.weights[l][c]
            if syn is None:
                syn = [a / d for a, d in zip(nominal.alpha, device.alpha)]
                mem = [b / d for b, d in zip(nominal.beta, device.beta)]
    return DeviceModel(gains, syn, mem, source="true")


#: Probe spike trains (spike times as fractions of ``t_max``): one spike, then 2-6 spikes at several spacings.
PROBE_TRAINS = ((0.0,),) + tuple(tuple(i * gap for i in range(k)) for k in (2, 3, 4) for gap in (0.03, 0.06, 0.12, 0.25)) \
    + (tuple(i * 0.05 for i in range(6)), tuple(i * 0.1 for i in range(5)))
#: Log-spaced grid of time-constant factors searched by the calibration fit (then refined around the best).
CALIBRATION_GRID = np.exp(np.linspace(np.log(0.4), np.log(2.5), 15))


def probe_network(shadow: Network, layer: int, channel: int, gain: float = 1.3, relay: float = 3.0) -> Network:
    """The calibration network that isolates the synapses from ``channel`` of layer ``layer - 1`` (or the input).

    Layer ``layer`` gets weight ``gain * theta_i / h_max,i`` from ``channel`` to every neuron ``i``
    (one spike peaks at ``gain`` times the threshold; ``h_max`` the PSP kernel's peak) and 0 elsewhere.
    Every other layer gets ``relay * theta / h_max`` from its neuron 0 only: the layers below relay the
    probe (input 0 -> neuron 0 -> ...) so that neuron ``channel`` of layer ``layer - 1`` fires at measured
    times, and the layers above just stay deployable. Same sizes and time constants as ``shadow``, so
    the chip maps it to the same physical synapses and neurons.
    """
    weights = []
    for m, w in enumerate(shadow.weights):
        W = np.zeros_like(w)
        scale = shadow.theta[m] / psp_peak(shadow.alpha[m], shadow.beta[m])
        W[channel if m == layer else 0, :] = (gain if m == layer else relay) * scale
        weights.append(W)
    return Network(weights=weights, alpha=shadow.alpha, beta=shadow.beta, theta=shadow.theta, t_max=shadow.t_max,
                   max_spikes=shadow.max_spikes)


def probe_inputs(n_inputs: int, channel: int, t_max: float) -> np.ndarray:
    """Input spike times ``(len(PROBE_TRAINS), n_inputs, k)`` (time units): one probe train per sample on ``channel``."""
    k = max(len(p) for p in PROBE_TRAINS)
    x = np.full((len(PROBE_TRAINS), n_inputs, k), np.inf)
    for s, train in enumerate(PROBE_TRAINS):
        x[s, channel, :len(train)] = np.asarray(train) * t_max
    return x


def _measure_probes(target, shadow: Network, dt, engine: str) -> dict:
    """``{(layer, channel): (inputs, clean measured times, chip network)}`` of every probe program on ``target``."""
    out = {}
    for l in range(shadow.n_layers):
        for c in range(shadow.weights[l].shape[0]):
            net = probe_network(shadow, l, c)
            program, _ = target.compile(net, dt)
            chip_net = chip_network(program, net)
            x = probe_inputs(shadow.n_inputs, c if l == 0 else 0, shadow.t_max)
            raw = target.run(program, x, engine=engine, t_max=shadow.t_max).times
            out[(l, c)] = (x, clean_times(raw, chip_net, len(x), program.dt)[0], chip_net)
    return out


def _fit_neuron(pres, firsts, alpha, beta, theta, time_constants: str = "none", grid=CALIBRATION_GRID):
    """Least-squares fit of one neuron's firing equation at its measured first spikes.

    ``pres[c]`` ``(S, k)``: input spike times of probe ``c`` (one presynaptic channel active);
    ``firsts[c]`` ``(S,)``: the neuron's first spike (inf: none). Model:
    :math:`g_c \\sum_k h(t^* - t_k; \\alpha/s, \\beta/m) = \\vartheta`. For every ``(s, m)`` of the grid the
    gains have a closed form; the pair with the least mean squared residual (over all probes) wins,
    then a finer grid around it. ``time_constants``: ``"both"`` fits ``s`` and ``m``; ``"shared"`` one
    factor ``s = m`` (near ``alpha = beta`` first spikes only fix a symmetric combination of the two,
    so separate factors are mostly noise); ``"none"`` keeps ``s = m = 1``. Returns ``(s, m, gains)``
    (gain NaN: fewer than 3 spikes to fit).
    """
    def score(s_grid, m_grid):
        if time_constants == "shared":
            A, B = (alpha / s_grid)[:, None], (beta / s_grid)[:, None]
        else:
            A, B = np.broadcast_arrays(alpha / s_grid[:, None], beta / m_grid[None, :])
        total, gains = np.zeros(A.shape), []
        for p, t in zip(pres, firsts):
            ok = np.isfinite(t)
            if ok.sum() < 3:
                gains.append(None)
                continue
            lag = t[ok][:, None] - p[ok]
            valid = np.isfinite(lag) & (lag > 0)
            V = np.where(valid, psp_causal(np.where(valid, lag, 0.0), A[..., None, None], B[..., None, None]), 0.0).sum(-1)
            vv = (V * V).sum(-1)
            g = theta * V.sum(-1) / np.where(vv > 0, vv, np.inf)
            total += ((g[..., None] * V - theta) ** 2).mean(-1) / theta ** 2
            gains.append(g)
        return total, gains

    if time_constants == "none":
        _, gains = score(np.ones(1), np.ones(1))
        return 1.0, 1.0, np.array([np.nan if g is None else g[0, 0] for g in gains])
    total, _ = score(grid, grid)
    i, j = np.unravel_index(np.argmin(total), total.shape)
    step = np.log(grid[1] / grid[0])
    fine_s, fine_m = (grid[i] * np.exp(np.linspace(-step, step, 11)), grid[j] * np.exp(np.linspace(-step, step, 11)))
    total, gains = score(fine_s, fine_m)
    i, j = np.unravel_index(np.argmin(total), total.shape)
    if time_constants == "shared":
        return fine_s[i], fine_s[i], np.array([np.nan if g is None else g[i, 0] for g in gains])
    a, b = alpha / fine_s[i], beta / fine_m[j]
    if a != b and (a < b) != (alpha < beta):
        # the PSP kernel is symmetric in (alpha, beta): keep the nominal order of the two time constants
        a, b = b, a
    return alpha / a, beta / b, np.array([np.nan if g is None else g[i, j] for g in gains])


def _fit_probes(measured: dict, shadow: Network, time_constants: str) -> list:
    fits = []
    for l in range(shadow.n_layers):
        n_pre, n = shadow.weights[l].shape
        gain, s, m = np.full((n_pre, n), np.nan), np.ones(n), np.ones(n)
        net = measured[(l, 0)][2]
        for i in range(n):
            pres = [measured[(l, c)][0][:, c, :] if l == 0 else measured[(l, c)][1][l - 1][:, c, :] for c in range(n_pre)]
            firsts = [measured[(l, c)][1][l][:, i, 0] for c in range(n_pre)]
            s[i], m[i], gain[:, i] = _fit_neuron(pres, firsts, net.alpha[l][i], net.beta[l][i], net.theta[l][i],
                                                 time_constants)
        fits.append((gain, s, m))
    return fits


TIME_CONSTANT_FITS = ("shared", "both", "none")


def calibrate_device(target, shadow: Network, dt: float | None = None, engine: str = "auto", reference=None,
                     bounds: tuple = (0.25, 4.0), time_constants: str = "none") -> DeviceModel:
    r"""Estimate a device's :class:`DeviceModel` from spike times measured on probe programs.

    For every layer ``l`` and presynaptic channel ``c``, :func:`probe_network` isolates the synapses
    from ``c`` (input channel, or neuron ``c`` of layer ``l - 1`` relayed from input 0) and
    :func:`probe_inputs` sends ``len(PROBE_TRAINS)`` spike trains through them. Each neuron's measured
    first spikes then fix, by least squares on its firing equation (:func:`_fit_neuron`), one gain per
    presynaptic channel and its two time-constant factors (``sum(n_{l-1})`` programs, a few dozen
    samples each).

    The same fit on the nominal chip's bit-accurate ``reference`` (default: ``target`` itself, which is
    only right when ``target`` *is* the nominal emulator; :class:`FineTuner` passes the chip's emulator)
    gives the nominal values, and the model is the ratio device / reference: what the continuous-time
    fit misses (the time grid, pipeline delays, rounding) cancels. Factors are clipped to ``bounds``;
    a synapse the probes could not fit (its neuron never fired) keeps gain 1.

    Args:
        target: the device (backend-like: ``compile``, ``run``), e.g. a board or a ``MismatchTarget``.
        shadow: the float network being fine-tuned (sizes, time constants, thresholds, ``t_max``).
        dt: chip step (time units; default the target's); engine: engine of ``target`` to run.
        reference: the nominal chip, run with engine ``"emulator"``.
        bounds: every factor is clipped to ``[lo, hi]`` (dimensionless).
        time_constants: ``"none"`` (default): keep the nominal time constants and fit the gains only;
            ``"shared"``: also one factor per neuron for both time constants; ``"both"``: one each
            (:func:`_fit_neuron`). First spikes identify the time constants poorly (the fitted factors
            scatter more than the true ones), and on the Yin-Yang networks (5-6 seeds, 10 % and 20 %
            mismatch, both chips) fine-tuning recovered more with ``"none"`` than with ``"both"``.
    """
    if time_constants not in TIME_CONSTANT_FITS:
        raise ValueError(f"time_constants = {time_constants!r}: must be one of {TIME_CONSTANT_FITS}")
    lo, hi = bounds
    device = _fit_probes(_measure_probes(target, shadow, dt, engine), shadow, time_constants)
    nominal = _fit_probes(_measure_probes(target if reference is None else reference, shadow, dt,
                                          engine if reference is None else "emulator"), shadow, time_constants)
    gains, syn, mem = [], [], []
    for (gd, sd, md), (gn, sn, mn) in zip(device, nominal):
        with np.errstate(invalid="ignore", divide="ignore"):
            r = gd / gn
        gains.append(np.where(np.isfinite(r) & (r > 0), np.clip(r, lo, hi), 1.0))
        syn.append(np.clip(sd / sn, lo, hi))
        mem.append(np.clip(md / mn, lo, hi))
    return DeviceModel(gains, syn, mem, source="probe")


# ------------------------------------------------------------------------------------ measured times
def clean_times(times, net: Network, batch: int, dt: float, slack_steps: int | None = None):
    """Apply the measured-times policy (module docstring) to one result.

    Args:
        times: one ``(batch, n_l[, k])`` array per layer, as a target reports them (time units).
        net: the chip network the gradient will use (sizes, ``t_max``, ``max_spikes``).
        batch: number of samples run.
        dt, slack_steps: the window is ``[0, t_max + slack_steps * dt]`` (``dt``: the chip step in time
            units); ``slack_steps`` defaults to one step per layer.

    Returns:
        ``(times, counts)``: clean float64 ``(batch, n_l, k_l)`` arrays (sorted, ``+inf`` padded,
        ``1 <= k_l <= max_spikes``) and a dict with one count per :data:`POLICY_COUNTS` key (spike
        entries dropped or re-sorted rows).

    Raises:
        ValueError: wrong number of layers, samples or neurons (names the layer and both shapes).
    """
    if not isinstance(times, (list, tuple)) or len(times) != net.n_layers:
        raise ValueError(f"times: expected {net.n_layers} layers of measured spike times, got "
                         f"{len(times) if isinstance(times, (list, tuple)) else type(times).__name__}")
    dt = float(dt)
    slack = (net.n_layers if slack_steps is None else int(slack_steps)) * dt
    t_end = net.t_max + slack
    counts = dict.fromkeys(POLICY_COUNTS, 0)
    out = []
    for l, t in enumerate(times):
        arr = np.array(t, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[:2] != (batch, net.sizes[l]):
            raise ValueError(f"times[{l}]: expected shape ({batch}, {net.sizes[l]}, k) (batch, neurons of "
                             f"layer {l}, spikes), got {np.shape(t)}")
        nan = np.isnan(arr)
        outside = ~nan & ~np.isposinf(arr) & ((arr < 0) | (arr > t_end))
        counts["nan"] += int(nan.sum())
        counts["out_of_window"] += int(outside.sum())
        arr[nan | outside] = np.inf
        srt = np.sort(arr, axis=2)
        counts["reordered"] += int(np.any(srt != arr, axis=2).sum())
        arr = srt
        if arr.shape[2] > 1:
            dup = np.zeros(arr.shape, dtype=bool)
            dup[:, :, 1:] = np.isfinite(arr[:, :, 1:]) & (arr[:, :, 1:] == arr[:, :, :-1])
            counts["coincident"] += int(dup.sum())
            arr[dup] = np.inf
            arr = np.sort(arr, axis=2)
        width = max(1, min(arr.shape[2], net.max_spikes))
        counts["over_cap"] += int(np.isfinite(arr[:, :, width:]).sum())
        out.append(np.ascontiguousarray(arr[:, :, :width]))
    return out, counts


# ------------------------------------------------------------------------------------ targets
def resolve_target(target, mismatch: float = 0.0, mismatch_seed: int = 0):
    """The backend of a chip name (:func:`fpsnn.backends.get`), or ``target`` itself when it is an object.

    With ``mismatch > 0`` the target is wrapped in
    :class:`fpsnn.backends.emulator.mismatch.MismatchTarget` (device ``mismatch_seed``).
    """
    if isinstance(target, str):
        from . import backends

        target = backends.get(target)
    for name in ("compile", "run"):
        if not callable(getattr(target, name, None)):
            raise ValueError(f"target: expected a chip name or an object with compile() and run(), got "
                             f"{type(target).__name__}")
    if mismatch:
        from .backends.emulator.mismatch import MismatchTarget

        target = MismatchTarget(target, mismatch, mismatch_seed)
    return target


class _TargetFailure(Exception):
    """Internal: the target raised (the original exception is ``__cause__``)."""


class _ChipSource:
    """Measurement by running the program on a target (``hil``)."""

    def __init__(self, target, engine: str):
        self.target, self.engine = target, engine
        self.name = getattr(target, "name", type(target).__name__)
        self.calls = 0

    def compile(self, net, dt):
        self.calls += 1
        try:
            return self.target.compile(net, dt)
        except Exception as exc:  # whatever a board or simulator raises: all mean "no result"
            raise _TargetFailure(exc) from exc

    def measure(self, program, chip_net, x):
        self.calls += 1
        try:
            return self.target.run(program, x, engine=self.engine, t_max=chip_net.t_max).times
        except Exception as exc:
            raise _TargetFailure(exc) from exc


class _SimulatedSource:
    """Measurement by exact simulation of the chip network (``qat``): the target only compiles."""

    def __init__(self, target):
        self.target = resolve_target(target)
        self.name = getattr(self.target, "name", type(self.target).__name__)
        self.calls = 0

    def compile(self, net, dt):
        return self.target.compile(net, dt)

    def measure(self, program, chip_net, x):
        return chip_net.simulate(x).times


# ------------------------------------------------------------------------------------ metrics
def _measured_metrics(times, labels, hyper, t_max) -> dict:
    out = times[-1]
    first = out[:, :, 0] if out.shape[2] else np.full(out.shape[:2], np.inf)
    pred = predict(first)
    n = len(labels)
    loss = FirstSpikeCrossEntropy(labels, tau0=hyper.tau0, tau1=hyper.tau1, gamma=hyper.gamma)
    return {"correct": int(np.sum(pred == labels)), "loss_sum": loss.output(out, t_max)[0] * n,
            "silent_outputs": int(np.all(np.isinf(first), axis=1).sum()),
            "silent_label": int(np.isinf(first[np.arange(n), labels]).sum()),
            "spikes": int(sum(np.isfinite(t).sum() for t in times))}


def evaluate_on(target, net: Network, x, y, hyper: Hyperparameters, dt: float | None = None,
                chunk: int = 500, engine: str = "auto", mode: str = "hil") -> dict:
    """Deploy ``net`` once and measure classification metrics on ``(x, y)``.

    ``target`` is a chip name or a backend-like object (:func:`resolve_target`). ``mode="hil"`` runs
    the program on it with ``engine``; ``mode="qat"`` only compiles there and simulates the chip
    network exactly (what QAT optimises). Returns ``accuracy``, ``loss``, ``silent_outputs``,
    ``silent_label`` (fractions), ``mean_spikes`` per sample, ``dead_hidden`` (per hidden layer,
    neurons silent on every sample) and the policy counts of :func:`clean_times`.
    """
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r}: must be one of {MODES}")
    source = _SimulatedSource(target) if mode == "qat" else _ChipSource(resolve_target(target), engine)
    try:
        return _evaluate(source, net, x, y, hyper, dt, chunk)
    except _TargetFailure as failure:
        raise failure.__cause__


def _evaluate(source, net, x, y, hyper, dt, chunk=500) -> dict:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    program, _ = source.compile(net, dt)
    chip_net = chip_network(program, net)
    totals = dict.fromkeys(POLICY_COUNTS, 0)
    sums = {"correct": 0, "loss_sum": 0.0, "silent_outputs": 0, "silent_label": 0, "spikes": 0}
    fired = [np.zeros(s, dtype=bool) for s in net.sizes[:-1]]
    for start in range(0, len(y), chunk):
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        times, counts = clean_times(source.measure(program, chip_net, xs), chip_net, len(ys), program.dt)
        for k, v in counts.items():
            totals[k] += v
        for k, v in _measured_metrics(times, ys, hyper, net.t_max).items():
            sums[k] += v
        for l in range(net.n_layers - 1):
            fired[l] |= np.isfinite(times[l][:, :, 0]).any(axis=0)
    n = max(len(y), 1)
    return {"accuracy": sums["correct"] / n, "loss": sums["loss_sum"] / n,
            "silent_outputs": sums["silent_outputs"] / n, "silent_label": sums["silent_label"] / n,
            "mean_spikes": sums["spikes"] / n, "dead_hidden": [int((~f).sum()) for f in fired], **totals}


# ------------------------------------------------------------------------------------ the loop
@dataclass
class FineTuner(RunFiles):
    """Fine-tune a trained float network for a chip: in the loop (``hil``) or offline (``qat``).

    Args:
        net: the trained float network; its weights initialise the shadow weights.
        hyper: optimizer, ``lr``, ``schedule``, ``batch_size``, ``epochs``, loss settings (``tau0``,
            ``tau1``, ``gamma``) and ``grad_mode`` (see :class:`fpsnn.datasets.Hyperparameters`).
        train: ``(inputs, labels)``: input spike times ``(batch, n_in)`` (time units), int labels.
        target: chip name (``"xylo-audio2"``, ``"loihi2"``) or a backend-like object (``compile``, ``run``).
            In ``qat`` mode only its ``compile`` is used.
        mode: ``"hil"`` or ``"qat"`` (module docstring).
        test: optional ``(inputs, labels)`` measured after every epoch (on the target in ``hil`` mode,
            on the exact chip network in ``qat`` mode).
        dt: chip step (time units); default: the target's (module docstring).
        engine: target engine (``"auto"``, ``"emulator"``, ``"vendor"``, ``"board"``).
        mismatch, mismatch_seed: emulate device mismatch of this spread on device ``mismatch_seed``
            (:mod:`fpsnn.backends.emulator.mismatch`); ``hil`` mode only.
        seed: minibatch shuffling seed.
        out_dir: checkpoints and the final model (``None``: in memory, no resume).
        checkpoint_every: also checkpoint after every so many minibatches (default: only at epoch
            ends and when the target fails).
        progress: rich progress bar on stderr; metadata: extra JSON for the model file.
        calibrate: ``hil`` only: before the first step, estimate the device's weight gains with probe
            programs (:func:`calibrate_device`, reference: the chip's emulator) and
            compute every gradient for that :class:`DeviceModel` (module docstring, "Device calibration").
        device_model: ``hil`` only: a given :class:`DeviceModel` instead (e.g. :func:`true_device_model`
            for an upper bound in experiments); not together with ``calibrate``.
        compensate: with a device model (calibrated or given), start from the shadow weights divided
            by the device's weight gains (:meth:`DeviceModel.compensate`), so that the device first
            runs what the float network means; ``False`` keeps the weights and only corrects the gradients.
    """

    net: Network
    hyper: Hyperparameters
    train: tuple
    target: object
    mode: str = "hil"
    test: tuple | None = None
    dt: float | None = None
    engine: str = "auto"
    mismatch: float = 0.0
    mismatch_seed: int = 0
    seed: int = 0
    out_dir: str | Path | None = None
    checkpoint_every: int | None = None
    progress: bool = False
    metadata: dict = field(default_factory=dict)
    calibrate: bool = False
    device_model: DeviceModel | None = None
    compensate: bool = True

    def __post_init__(self):
        if not isinstance(self.net, Network):
            raise ValueError(f"net: expected an fpsnn.Network, got {type(self.net).__name__}")
        if self.net.readout:
            raise ValueError("net: the last layer is a membrane read-out (theta = inf); fine-tuning uses first-spike "
                             "classification and needs a firing output layer")
        if self.mode not in MODES:
            raise ValueError(f"mode = {self.mode!r}: must be one of {MODES}")
        self.x_train, self.y_train = check_training_data(self.train)
        if self.x_train.shape[1] != self.net.n_inputs:
            raise ValueError(f"train: inputs have {self.x_train.shape[1]} channels, the network {self.net.n_inputs}")
        if self.y_train.max() >= self.net.sizes[-1] or self.y_train.min() < 0:
            raise ValueError(f"train: labels must lie in [0, {self.net.sizes[-1] - 1}] (one per output neuron)")
        if self.test is not None:
            self.x_test = np.ascontiguousarray(self.test[0], dtype=np.float64)
            self.y_test = np.asarray(self.test[1], dtype=np.int64)
        self.dt = None if self.dt is None else float(self.dt)
        if self.dt is not None and not (math.isfinite(self.dt) and 0 < self.dt <= self.net.t_max):
            raise ValueError(f"dt = {self.dt}: must be in (0, t_max = {self.net.t_max}] (time units per chip step)")
        if self.checkpoint_every is not None and int(self.checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every = {self.checkpoint_every}: must be >= 1 minibatches (or None)")
        if int(self.seed) < 0:
            raise ValueError(f"seed = {self.seed}: must be >= 0")
        if self.calibrate and self.device_model is not None:
            raise ValueError("calibrate: not together with a given device_model (one or the other)")
        if self.device_model is not None and not isinstance(self.device_model, DeviceModel):
            raise ValueError(f"device_model: expected a DeviceModel, got {type(self.device_model).__name__}")
        if self.mode == "qat":
            if self.calibrate or self.device_model is not None:
                raise ValueError("calibrate / device_model: describe a device (mode 'hil'); QAT never runs the target")
            if self.mismatch:
                raise ValueError("mismatch: applies to a target run (mode 'hil'); QAT never runs the target")
            self.source = _SimulatedSource(self.target)
        else:
            self.source = _ChipSource(resolve_target(self.target, self.mismatch, self.mismatch_seed), self.engine)
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)

    # ------------------------------------------------------------------ paths and resume

    def _config(self) -> dict:
        """Everything a resumed run must share with the interrupted one (the epoch budget may grow)."""
        hyper = self.hyper.to_dict()
        hyper.pop("epochs")
        config = {"mode": self.mode, "target": self.source.name, "dt": self.dt, "mismatch": float(self.mismatch),
                  "mismatch_seed": int(self.mismatch_seed), "seed": int(self.seed), "hyper": hyper,
                  "data_sha256": fingerprint(self.x_train, self.y_train)}
        if self.calibrate:  # only when set: checkpoints written before the option still resume
            config["calibrate"] = True
        if self.device_model is not None:
            config["device_model"] = self.device_model.source
        if (self.calibrate or self.device_model is not None) and not self.compensate:
            config["compensate"] = False
        return config

    def _save(self, s: dict) -> None:
        if self.out_dir is None:
            return
        arrays, scalars = s["optimizer"].state()
        arrays.update({f"initial/weights/{l}": w for l, w in enumerate(s["initial"])})
        if s["order"] is not None:
            arrays["order"] = s["order"]
        if s["device"] is not None:
            arrays.update(s["device"].arrays())
        io.save_checkpoint(self.checkpoint_path, s["net"], arrays=arrays, metadata={
            "kind": "fine-tune", "config": self._config(), "epoch": s["epoch"], "batch": s["batch"],
            "sums": s["sums"], "optimizer": scalars, "rng_state": s["rng"].bit_generator.state,
            "history": s["history"], "calls": self.source.calls,
            "device_source": None if s["device"] is None else s["device"].source})

    def _fresh(self) -> dict:
        net = self.net.with_parameters(self.net.weights, self.net.recurrent)
        initial = [w.copy() for w in net.weights]
        if self.device_model is not None and self.compensate:
            net = self.device_model.compensate(net)
        return {"net": net, "initial": initial,
                "optimizer": make_optimizer(self.hyper, [p.shape for p in parameter_list(net)]),
                "rng": np.random.default_rng(np.random.SeedSequence(int(self.seed))),
                "epoch": 0, "batch": 0, "order": None, "sums": _zero_sums(), "history": [],
                "device": self.device_model}

    def _resume(self) -> dict:
        ck = io.load_checkpoint(self.checkpoint_path)
        md = ck.metadata
        if md.get("kind") != "fine-tune":
            raise ValueError(f"{self.checkpoint_path}: is a training checkpoint, not a fine-tuning one")
        mine, theirs = self._config(), md.get("config", {})
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if diff:
            raise ValueError(f"{self.checkpoint_path}: cannot resume, settings differ: {diff}")
        net = ck.net
        optimizer = make_optimizer(self.hyper, [p.shape for p in parameter_list(net)])
        optimizer.load_state(ck.arrays, md["optimizer"])
        rng = np.random.default_rng()
        rng.bit_generator.state = md["rng_state"]
        self.source.calls = int(md.get("calls", 0))
        return {"net": net, "initial": [ck.arrays[f"initial/weights/{l}"] for l in range(net.n_layers)],
                "optimizer": optimizer, "rng": rng, "epoch": int(md["epoch"]), "batch": int(md["batch"]),
                "order": ck.arrays.get("order"), "sums": md["sums"], "history": list(md["history"]),
                "device": (DeviceModel.from_arrays(ck.arrays, net.n_layers, md["device_source"])
                           if md.get("device_source") else None)}

    # ------------------------------------------------------------------ one step
    def _step(self, s: dict, idx: np.ndarray, lr: float) -> float:
        """One minibatch: deploy, measure, exact gradient at the measured times, update (in place on ``s``)."""
        net = s["net"]
        x, y = self.x_train[idx], self.y_train[idx]
        program, _ = self.source.compile(net, self.dt)
        chip_net = chip_network(program, net)
        raw = self.source.measure(program, chip_net, x)
        # --- nothing below talks to the target: from here on the step always completes
        times, counts = clean_times(raw, chip_net, len(y), program.dt)
        loss = FirstSpikeCrossEntropy(y, tau0=self.hyper.tau0, tau1=self.hyper.tau1, gamma=self.hyper.gamma)
        device = s["device"]
        # the gradient at the measured times, for the network the device implements (as far as known)
        grad_net = chip_net if device is None else device.apply(chip_net)
        with np.errstate(invalid="ignore"):  # the +inf padding makes inf - inf in the sortedness check
            value, grads = grad_net.value_and_grad(x, loss, mode=self.hyper.grad_mode, times=times)
        g = gradient_list(grad_net, grads)
        if device is not None:
            # chain rule through the device's weights G * W: dL/dW = G * dL/d(G W)
            g = [a * gain for a, gain in zip(g, device.weight_gain)] + g[len(device.weight_gain):]
        sums = s["sums"]
        if all(np.all(np.isfinite(a)) for a in g):
            # straight-through: the gradient at the chip's weights moves the shadow weights
            s["net"] = with_parameter_list(net, s["optimizer"].step(parameter_list(net), g, lr))
        else:
            sums["skipped_updates"] += 1
        m = _measured_metrics(times, y, self.hyper, net.t_max)
        sums["correct"] += m["correct"]
        sums["loss_sum"] += m["loss_sum"]
        sums["n"] += len(y)
        sums["n_bad_slopes"] += int(grads.get("n_bad_slopes", 0))
        for k, v in counts.items():
            sums[k] += v
        return value

    def _calibrate(self, net: Network) -> DeviceModel:
        """:func:`calibrate_device` on the target, with the chip's nominal emulator as the reference."""
        from .backends.emulator.mismatch import MismatchTarget

        device = self.source.target
        reference = device.target if isinstance(device, MismatchTarget) else device
        try:
            return calibrate_device(device, net, self.dt, self.engine, reference=reference)
        except Exception as exc:  # as for a minibatch: the target failed, nothing has moved yet
            raise _TargetFailure(exc) from exc

    def _row(self, s: dict, epoch: int, lr, wall: float) -> dict:
        sums = s["sums"]
        row = {"epoch": epoch, "lr": lr, "wall_s": wall, "target_calls": self.source.calls}
        if epoch == 0 and s["device"] is not None:
            row["device_model"] = s["device"].summary()
        if sums["n"]:
            row.update(loss=sums["loss_sum"] / sums["n"], train_accuracy=sums["correct"] / sums["n"],
                       **{k: sums[k] for k in ("n_bad_slopes", "skipped_updates") + POLICY_COUNTS})
        else:  # before any update: measure the training set once
            tr = _evaluate(self.source, s["net"], self.x_train, self.y_train, self.hyper, self.dt)
            row.update(loss=tr["loss"], train_accuracy=tr["accuracy"], n_bad_slopes=0, skipped_updates=0,
                       **{k: tr[k] for k in POLICY_COUNTS})
        if self.test is not None:
            te = _evaluate(self.source, s["net"], self.x_test, self.y_test, self.hyper, self.dt)
            row.update(test_accuracy=te["accuracy"], test_loss=te["loss"], silent_outputs=te["silent_outputs"],
                       silent_label=te["silent_label"], dead_hidden=te["dead_hidden"], mean_spikes=te["mean_spikes"])
        return row

    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Fine-tune for ``hyper.epochs`` epochs (or resume from ``out_dir``'s checkpoint).

        Args:
            resume: continue from ``out_dir/checkpoint.fpsnn`` if it exists (a fresh start otherwise).
            stop_after: return after this epoch without writing the final model (tests of resumption).

        Raises:
            TargetLost: the target raised; the state after the last completed update is checkpointed.
        """
        t_start = time.perf_counter()
        if resume and self.checkpoint_path is None:
            raise ValueError("resume: needs out_dir (where the checkpoint lives)")
        s = self._resume() if resume and self.checkpoint_path.exists() else self._fresh()
        n = len(self.y_train)
        batch_size = n if self.hyper.batch_size is None else min(int(self.hyper.batch_size), n)
        n_batches = -(-n // batch_size)
        epochs = int(self.hyper.epochs)
        with Progress(self.progress, epochs, n_batches, s["epoch"]) as bar:
            try:
                if self.calibrate and s["device"] is None:  # a fresh run (a resumed one has its model)
                    s["device"] = self._calibrate(s["net"])
                    if self.compensate:
                        s["net"] = s["device"].compensate(s["net"])
                if not s["history"]:
                    s["history"].append(self._row(s, 0, None, 0.0))
                bar.show(s["history"][-1])
                while s["epoch"] < epochs:
                    t_epoch = time.perf_counter()
                    if s["order"] is None:
                        s["order"] = s["rng"].permutation(n)
                        s["batch"], s["sums"] = 0, _zero_sums()
                    lr = learning_rate(self.hyper, s["epoch"], epochs)
                    bar.start_epoch(s["epoch"])
                    while s["batch"] < n_batches:
                        b = s["batch"]
                        value = self._step(s, s["order"][b * batch_size:(b + 1) * batch_size], lr)
                        s["batch"] = b + 1
                        bar.advance_batch(value)
                        if self.checkpoint_every and s["batch"] % int(self.checkpoint_every) == 0:
                            self._save(s)
                    s["history"].append(self._row(s, s["epoch"] + 1, lr, time.perf_counter() - t_epoch))
                    s["epoch"] += 1
                    s["batch"], s["order"], s["sums"] = 0, None, _zero_sums()
                    self._save(s)
                    bar.end_epoch(s["history"][-1])
                    if stop_after is not None and stop_after <= s["epoch"] < epochs:
                        return TrainResult(s["net"], s["initial"], s["history"], s["epoch"],
                                           time.perf_counter() - t_start, checkpoint_path=self.checkpoint_path)
            except _TargetFailure as failure:
                self._save(s)
                exc = failure.__cause__
                where = f"epoch {s['epoch'] + 1}, after {s['batch']} completed minibatch(es)"
                saved = (f"the state after the last completed update is saved in {self.checkpoint_path}; "
                         "resume with --resume (FineTuner.fit(resume=True))" if self.out_dir is not None
                         else "no out_dir: nothing was saved, the run cannot be resumed")
                raise TargetLost(f"target {self.source.name} failed at {where} (target call {self.source.calls}): "
                                 f"{type(exc).__name__}: {exc}; {saved}") from exc
            except KeyboardInterrupt:
                self._save(s)
                raise
        result = TrainResult(s["net"], s["initial"], s["history"], s["epoch"], time.perf_counter() - t_start,
                             checkpoint_path=self.checkpoint_path)
        if self.out_dir is not None:
            result.model_path = self.save(result)
        return result

    def save(self, result: TrainResult, path=None) -> Path:
        """Write the fine-tuned shadow network as a model file (default ``out_dir/model.fpsnn``)."""
        path = self.model_path if path is None else Path(path)
        if path is None:
            raise ValueError("path: needed when the fine-tuner has no out_dir")
        metadata = dict(self.metadata)
        metadata.update(hyper=self.hyper.to_dict(), fine_tune=self._config(), epochs=result.epochs,
                        metrics=result.final, history=result.history)
        metadata["fine_tune"].pop("data_sha256")
        arrays = {f"initial/weights/{l}": w for l, w in enumerate(result.initial_weights)}
        return io.save_model(path, result.net, metadata, arrays=arrays)


def _zero_sums() -> dict:
    return {"correct": 0, "loss_sum": 0.0, "n": 0, "n_bad_slopes": 0, "skipped_updates": 0,
            **dict.fromkeys(POLICY_COUNTS, 0)}


# ------------------------------------------------------------------------------------ files and CLI
def fine_tune_file(model, target: str, data: str | None = None, mode: str = "hil", epochs: int = 5,
                   out_dir=None, resume: bool = False, seed: int = 0, dt: float | None = None,
                   engine: str = "auto", mismatch: float = 0.0, mismatch_seed: int = 0, lr: float | None = None,
                   batch_size: int | None = None, train_subset: int | None = None, test_subset: int | None = None,
                   checkpoint_every: int | None = None, progress: bool = False,
                   calibrate: bool = False, compensate: bool = True) -> TrainResult:
    """Fine-tune the model file ``model`` (written by ``fpsnn train``) for chip ``target``.

    The data set (``data``, default: the model's own), its encoder and the loss settings come from the
    model file; ``epochs``, ``lr`` and ``batch_size`` override its hyper-parameters (the training
    ``lr`` is kept when ``lr`` is None). Other arguments as in :class:`FineTuner`.
    """
    from . import datasets
    from .cli import model_context

    for arg, value in (("epochs", epochs), ("train_subset", train_subset), ("test_subset", test_subset)):
        if value is not None and (int(value) != value or value < (0 if arg == "epochs" else 1)):
            raise ValueError(f"{arg} = {value}: must be an integer >= {0 if arg == 'epochs' else 1}")
    net, metadata, name, enc, hyper = model_context(model, data)
    x, y = datasets.load(name, "train")
    xt, yt = datasets.load(name, metadata.get("test_split", "test"))
    if enc.n_inputs(x.shape[1]) != net.n_inputs:
        raise ValueError(f"--data {name}: encodes to {enc.n_inputs(x.shape[1])} inputs, the model has {net.n_inputs}")
    changes = {"epochs": int(epochs)}
    if lr is not None:
        changes["lr"] = lr
    if batch_size is not None:
        changes["batch_size"] = batch_size
    hyper = hyper.replace(**changes)
    tuner = FineTuner(net, hyper, (enc(x[:train_subset]), y[:train_subset]), target, mode=mode,
                      test=(enc(xt[:test_subset]), yt[:test_subset]), dt=dt, engine=engine, mismatch=mismatch,
                      mismatch_seed=mismatch_seed, seed=seed, out_dir=out_dir, checkpoint_every=checkpoint_every,
                      progress=progress, calibrate=calibrate, compensate=compensate, metadata={"dataset": name, "encoder": enc.to_dict(),
                                                   "source_model": str(model), "train_subset": train_subset,
                                                   "test_subset": test_subset})
    return tuner.fit(resume=resume)


def configure_cli(p) -> None:
    """Arguments of ``fpsnn hil`` (see :func:`fine_tune_file`)."""
    from .datasets import NAMES

    p.add_argument("model", help="model file written by 'fpsnn train'")
    p.add_argument("--target", required=True, help="chip name (see hw_configs/), e.g. xylo-audio2, loihi2")
    p.add_argument("--data", choices=NAMES, help="data set (default: the one in the model file)")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (default 5)")
    p.add_argument("--mode", choices=MODES, default="hil",
                   help="hil: measure on the target; qat: offline, exact simulation of the quantized network")
    p.add_argument("--engine", choices=("auto", "emulator", "vendor", "board"), default="auto",
                   help="which engine of the target runs the minibatches (default auto)")
    p.add_argument("--dt", type=float, help="chip step in the model's time units (default: the target's)")
    p.add_argument("--mismatch", type=float, default=0.0, metavar="S",
                   help="emulate device mismatch of relative spread S (e.g. 0.1) on the target")
    p.add_argument("--mismatch-seed", type=int, default=0, help="which emulated device (seed of the mismatch)")
    p.add_argument("--calibrate", action="store_true",
                   help="hil: first estimate the device's weight gains with probe programs, "
                        "divide the weights by the gains, then compute the gradients for that device "
                        "(recommended with device mismatch)")
    p.add_argument("--no-compensate", action="store_true",
                   help="with --calibrate: keep the weights, only correct the gradients")
    p.add_argument("--lr", type=float, help="learning rate (default: the model's)")
    p.add_argument("--batch-size", type=int, help="minibatch size (default: the model's)")
    p.add_argument("--train-subset", type=int, metavar="N", help="use only the first N training samples")
    p.add_argument("--test-subset", type=int, metavar="N", help="measure only the first N test samples per epoch")
    p.add_argument("--checkpoint-every", type=int, metavar="B", help="also checkpoint every B minibatches")
    p.add_argument("--seed", type=int, default=0, help="minibatch shuffling seed (default 0)")
    p.add_argument("--out", metavar="DIR", help="output directory (default: runs/hil-<target>-seed<seed>)")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.fpsnn if present")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results on stdout")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args) -> int:
    """``fpsnn hil``: exit 0 when done, 3 when the target was lost (resume with ``--resume``)."""
    import json
    import sys

    out = Path(args.out) if args.out else Path("runs") / f"{args.mode}-{args.target}-seed{args.seed}"
    t0 = time.perf_counter()
    try:
        result = fine_tune_file(args.model, args.target, data=args.data, mode=args.mode, epochs=args.epochs,
                                out_dir=out, resume=args.resume, seed=args.seed, dt=args.dt, engine=args.engine,
                                mismatch=args.mismatch, mismatch_seed=args.mismatch_seed, lr=args.lr,
                                batch_size=args.batch_size, train_subset=args.train_subset,
                                test_subset=args.test_subset, checkpoint_every=args.checkpoint_every,
                                progress=not args.no_progress, calibrate=args.calibrate,
                                compensate=not args.no_compensate)
    except TargetLost as exc:
        print(f"fpsnn: error: {exc}", file=sys.stderr)
        return 3
    first, final = result.history[0], result.final
    summary = {"model": str(result.model_path), "target": args.target, "mode": args.mode, "epochs": result.epochs,
               "test_accuracy_before": first.get("test_accuracy"), "test_accuracy": final.get("test_accuracy"),
               "history": result.history, "wall_s": time.perf_counter() - t0}
    if args.json:
        print(json.dumps(summary, default=io.json_default))
    else:
        print(f"{args.mode} on {args.target}: {result.epochs} epochs, test accuracy "
              f"{100 * (first.get('test_accuracy') or 0):.2f} % -> {100 * (final.get('test_accuracy') or 0):.2f} %, "
              f"{summary['wall_s']:.1f} s -> {result.model_path}")
    return 0
