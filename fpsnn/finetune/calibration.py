r"""Device calibration: measure how a device with mismatch differs from the chip network, with probe programs.

A device with mismatch (every synapse's weight, every neuron's threshold and time constants off by
fixed factors, :mod:`fpsnn.backends.mismatch`) is not the chip network its program describes, so the
fine-tuner's gradient, although taken at the measured times, is the gradient of another network, and a
neuron the mismatch silenced gets no gradient at all (a silent output counts as ``t_max`` with zero
gradient). :func:`calibrate_device` therefore measures the device on probe programs (one per
presynaptic channel: only that channel's synapses carry weight, :data:`PROBE_TRAINS` spike trains
through them) and fits, per neuron, each incoming synapse's effective weight-to-threshold gain by
least squares on the firing equation at the measured first spikes; the same fit on the chip's nominal
emulator is the reference, and the :class:`DeviceModel` is the ratio. The fine-tuner then divides the
shadow weights by the gains once (:meth:`DeviceModel.compensate`), so the device runs the network the
float model means, and takes every gradient on :meth:`DeviceModel.apply` of the chip network (weights
times gains), moving the shadow weights by the chain rule (gradient times gain).

Only what a real chip allows is used: programs sent to it, spike times read back, and the chip's
emulator. A common factor per neuron absorbs the neuron's time-constant mismatch, which first spikes
identify poorly (the PSP kernel is symmetric in the two time constants); fitting them is optional
(``time_constants=``). Calibration costs ``2 * sum(n_{l-1})`` small runs (device and reference) once
per run. Measured accuracy of the fit and what it recovers: ``docs/finetune.md``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels import psp_causal, psp_peak
from ..network import Network
from .policy import clean_times
from .targets import backend_of, resolve_target

__all__ = ["DeviceModel", "true_device_model", "calibrate_device", "TIME_CONSTANT_FITS", "PROBE_TRAINS",
           "probe_network", "probe_inputs"]


@dataclass
class DeviceModel:
    r"""Per-device corrections to the chip network: what the gradient assumes the device really is.

    A device with mismatch implements other parameters than the program says: each synapse's weight
    and each neuron's threshold, synaptic and membrane time constant are off by fixed factors
    (:mod:`fpsnn.backends.mismatch`). :meth:`apply` turns the nominal chip network
    (``backend.dequantize(program, like=shadow)``) into the network the device is estimated to implement:

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

    For experiments only: it reads the mismatch factors out of the backend's ``perturb``,
    which no real chip reports, so it bounds what :func:`calibrate_device` can achieve. ``target`` is the
    nominal chip (name or backend); the gains are measured on the :func:`probe_network` programs, whose
    probed integer weights are the largest the chip has, so they are the device's factors and not the
    rounding of one particular program's small integers.
    """
    target = resolve_target(target)
    backend = backend_of(target)
    gains = [np.ones_like(w) for w in shadow.weights]
    syn = mem = None
    for l in range(shadow.n_layers):
        for c in range(shadow.weights[l].shape[0]):
            net = probe_network(shadow, l, c)
            program, _ = target.compile(net, dt)
            nominal = backend.dequantize(program, like=net)
            device = backend.dequantize(backend.perturb(program, spread, seed), like=net)
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
    backend = backend_of(target)
    out = {}
    for l in range(shadow.n_layers):
        for c in range(shadow.weights[l].shape[0]):
            net = probe_network(shadow, l, c)
            program, _ = target.compile(net, dt)
            chip_net = backend.dequantize(program, like=net)
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
    only right when ``target`` *is* the nominal emulator; the fine-tuner passes the chip's emulator)
    gives the nominal values, and the model is the ratio device / reference: what the continuous-time
    fit misses (the time grid, pipeline delays, rounding) cancels. Factors are clipped to ``bounds``;
    a synapse the probes could not fit (its neuron never fired) keeps gain 1.

    Args:
        target: the device: a chip name or a backend-like object (``compile``, ``run``), e.g. a board
            or a ``MismatchTarget``.
        shadow: the float network being fine-tuned (sizes, time constants, thresholds, ``t_max``).
        dt: chip step (time units; default the target's); engine: engine of ``target`` to run.
        reference: the nominal chip (name or backend), run with engine ``"emulator"``.
        bounds: every factor is clipped to ``[lo, hi]`` (dimensionless).
        time_constants: ``"none"`` (default): keep the nominal time constants and fit the gains only;
            ``"shared"``: also one factor per neuron for both time constants; ``"both"``: one each
            (:func:`_fit_neuron`). First spikes identify the time constants poorly; measured
            comparisons of the three choices: ``docs/finetune.md``.
    """
    if time_constants not in TIME_CONSTANT_FITS:
        raise ValueError(f"time_constants = {time_constants!r}: must be one of {TIME_CONSTANT_FITS}")
    lo, hi = bounds
    target = resolve_target(target)
    reference = None if reference is None else resolve_target(reference)
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


