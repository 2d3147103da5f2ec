r"""Losses of spike times (and of a read-out layer's membrane potential), with their derivatives.

A loss maps the spike times of a batch to a scalar (the MEAN over the batch) and returns
dL/d(spike times) of every layer it reads (zeros at +inf padding) and, where it depends on the weights
directly, dL/dW (paper eq. 8: dL/dW = dL/dF dF/dW + partial L/partial W). The gradient code does the
rest. Write your own by subclassing :class:`Loss` (``evaluate``) or :class:`OutputLoss` (``output``),
or pass any callable ``f(output_times) -> (value, dL/d output_times)`` (wrapped by :class:`Custom`).

Silent neurons (documented policy): a neuron that never fires has no firing-time equation, so no
gradient can flow through its (non-existent) spike. Losses of first-spike times count a silent output
neuron as firing at ``t_max`` with zero derivative: the loss stays finite and the competing neurons
still receive their (exact) gradients, which push them later when the label neuron is silent.
"""
from __future__ import annotations

import numpy as np

from .kernels import psp_causal, psp_integral_causal, psp_slope_causal

#: read-outs whose output layer never fires (theta = inf): the class is read from its potential
MEMBRANE_READOUTS = ("membrane", "mean_membrane")


def readout_of(hyper) -> str:
    """The read-out name of ``hyper`` (``"first_spike"`` for None or a hyper without the field)."""
    return getattr(hyper, "readout", None) or "first_spike"


__all__ = ["MEMBRANE_READOUTS", "readout_of", "Loss", "OutputLoss", "Custom", "FirstSpikeCrossEntropy", "SpikeCount", "MembraneRegression",
           "SpikeCountCrossEntropy", "MaxMembraneCrossEntropy", "MeanMembraneCrossEntropy",
           "classifier_loss", "as_loss", "predict",
           "predict_scores"]


class Loss:
    """Base class: ``evaluate(net, inputs, times) -> (value, d_times, d_params)``.

    ``d_times`` is a list with one entry per layer (an array shaped like ``times[l]`` or None);
    ``d_params`` is None or ``{"weights": [...], "recurrent": [...]}`` of direct partial derivatives.
    """

    def evaluate(self, net, inputs, times):
        raise NotImplementedError


class OutputLoss(Loss):
    """A loss of the output layer's spike times only: implement ``output(out_times, t_max)``."""

    def output(self, out_times: np.ndarray, t_max: float):
        raise NotImplementedError

    def evaluate(self, net, inputs, times):
        value, d_out = self.output(times[-1], net.t_max)
        d_times = [None] * len(times)
        d_times[-1] = np.where(np.isfinite(times[-1]), d_out, 0.0)
        return value, d_times, None


class Custom(OutputLoss):
    """Wrap ``fn(output_times) -> (value, dL/d output_times)`` (same shape as the output times)."""

    def __init__(self, fn):
        if not callable(fn):
            raise ValueError("loss: expected a Loss or a callable f(output_times) -> (value, grad)")
        self.fn = fn

    def output(self, out_times, t_max):
        value, d_out = self.fn(out_times)
        d_out = np.asarray(d_out, dtype=np.float64)
        if d_out.shape != out_times.shape:
            raise ValueError(f"loss: the gradient has shape {d_out.shape}, the output times {out_times.shape}")
        return float(value), d_out


def as_loss(loss) -> Loss:
    return loss if isinstance(loss, Loss) else Custom(loss)


def _check_labels(labels, batch: int, n_out: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (batch,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels: expected {batch} integer class labels, got shape {labels.shape} dtype {labels.dtype}")
    if np.any(labels < 0) or np.any(labels >= n_out):
        raise ValueError(f"labels: must lie in [0, {n_out - 1}] (one class per output neuron)")
    return labels


def predict(first_spikes: np.ndarray) -> np.ndarray:
    """Predicted class = the output neuron that fires first; -1 when all outputs are silent."""
    first_spikes = np.asarray(first_spikes)
    pred = np.argmin(first_spikes, axis=1)
    pred[np.all(np.isinf(first_spikes), axis=1)] = -1
    return pred


def predict_scores(scores: np.ndarray) -> np.ndarray:
    """Predicted class = the largest score per row; -1 where a row is all ``-inf`` (no evidence at all)."""
    scores = np.asarray(scores, dtype=np.float64)
    pred = np.argmax(scores, axis=1)
    pred[np.all(np.isneginf(scores), axis=1)] = -1
    return pred


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple:
    """Mean softmax cross entropy of ``logits`` (batch, n) and ``(p - onehot) / batch`` (its gradient)."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    grad = np.exp(logp)
    grad[rows, labels] -= 1.0
    return float(-np.mean(logp[rows, labels])), grad / len(labels)


class FirstSpikeCrossEntropy(OutputLoss):
    r"""First-spike cross entropy with the late-label penalty (paper section 5, sign corrected).

    .. math:: L = \frac1N\sum_n \Big[-\log\frac{e^{-f_{n,l_n}/\tau_0}}{\sum_j e^{-f_{n,j}/\tau_0}}
              + \gamma\,\big(e^{f_{n,l_n}/\tau_1} - 1\big)\Big]

    ``f_{n,j}`` is the first spike time of output ``j`` (``t_max`` if silent, see the module docstring);
    ``tau0``, ``tau1`` in time units.
    """

    def __init__(self, labels, tau0: float = 0.2, tau1: float = 1.0, gamma: float = 0.005):
        for name, v in (("tau0", tau0), ("tau1", tau1)):
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} = {v}: must be finite and > 0")
        if not np.isfinite(gamma) or gamma < 0:
            raise ValueError(f"gamma = {gamma}: must be finite and >= 0")
        self.labels = np.asarray(labels)
        self.tau0, self.tau1, self.gamma = float(tau0), float(tau1), float(gamma)

    predict = staticmethod(predict)

    def scores(self, net, inputs, times) -> np.ndarray:
        """Higher = more likely: minus the first output spike time (``-inf`` for a silent output)."""
        out = times[-1]
        return -(out[:, :, 0] if out.shape[2] else np.full(out.shape[:2], np.inf))

    def output(self, out_times, t_max):
        batch, n_out = out_times.shape[:2]
        labels = _check_labels(self.labels, batch, n_out)
        first = out_times[:, :, 0] if out_times.shape[2] else np.full((batch, n_out), np.inf)
        fired = np.isfinite(first)
        f = np.where(fired, first, t_max)
        z = -f / self.tau0
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        p = np.exp(logp)
        rows = np.arange(batch)
        f_lab = f[rows, labels]
        penalty = self.gamma * np.expm1(f_lab / self.tau1)
        value = np.mean(-logp[rows, labels] + penalty)
        onehot = np.zeros_like(p)
        onehot[rows, labels] = 1.0
        d_first = -(p - onehot) / self.tau0
        d_first[rows, labels] += self.gamma / self.tau1 * np.exp(f_lab / self.tau1)
        d_first = np.where(fired, d_first, 0.0) / batch
        d_out = np.zeros(out_times.shape)
        if out_times.shape[2]:
            d_out[:, :, 0] = d_first
        return float(value), d_out


class SpikeCount(OutputLoss):
    r"""Mean squared error between (soft) output spike counts and target counts.

    A spike count is piecewise constant in the weights, so its exact gradient is zero almost
    everywhere. This loss counts each spike at time ``t`` as
    :math:`c(t) = 1 - e^{-(t_{max} - t)/\tau_c}` (``tau_c`` in time units): a spike early in the window
    counts almost 1, one at the end 0, so the count becomes differentiable in the spike times and
    tends to the plain count as ``tau_c -> 0``. ``targets``: ``(batch, n_out)`` wanted counts.
    """

    def __init__(self, targets, tau_c: float = 0.1):
        if not np.isfinite(tau_c) or tau_c <= 0:
            raise ValueError(f"tau_c = {tau_c}: must be finite and > 0")
        self.targets = np.asarray(targets, dtype=np.float64)
        self.tau_c = float(tau_c)

    def output(self, out_times, t_max):
        if self.targets.shape != out_times.shape[:2]:
            raise ValueError(f"targets: expected shape {out_times.shape[:2]}, got {self.targets.shape}")
        fin = np.isfinite(out_times)
        decay = np.where(fin, np.exp(-(t_max - np.where(fin, out_times, t_max)) / self.tau_c), 0.0)
        counts = np.where(fin, 1.0 - decay, 0.0).sum(axis=2)
        err = counts - self.targets
        batch = out_times.shape[0]
        value = float(np.mean(np.sum(err**2, axis=1)))
        # d c(t)/dt = -e^{-(t_max - t)/tau_c} / tau_c
        d_out = 2.0 * err[:, :, None] * (-decay / self.tau_c) / batch
        return value, d_out


class MembraneRegression(Loss):
    r"""Squared error of a non-firing read-out layer's membrane potential (paper eqs. 6-7).

    The last layer must be a read-out (``theta = inf``): its potential
    :math:`V_o(t) = \sum_j W_{jo}\sum_{g\in F_j, g<t} h_o(t - g)` is linear in the weights. The loss is

    .. math:: L = \frac1N\sum_n \frac1{R}\sum_{o,r} \big(V_o(t_r) - y_{n,o,r}\big)^2

    at read-out times ``t_read`` (time units; default ``[t_max]``); ``targets`` is ``(batch, n_out)``
    (one per read-out time broadcast) or ``(batch, n_out, R)``. Choosing many read-out times turns it
    into a quadrature of the paper's integral loss.
    """

    def __init__(self, targets, t_read=None):
        self.targets = np.asarray(targets, dtype=np.float64)
        self.t_read = None if t_read is None else np.atleast_1d(np.asarray(t_read, dtype=np.float64))

    def evaluate(self, net, inputs, times):
        if not net.readout:
            raise ValueError("MembraneRegression: the last layer must be a non-firing read-out (theta = inf)")
        pre = inputs if net.n_layers == 1 else times[-2]
        t_read = np.array([net.t_max]) if self.t_read is None else self.t_read
        batch, n_out, n_r = pre.shape[0], net.sizes[-1], t_read.size
        y = self.targets
        if y.ndim == 2:
            y = np.repeat(y[:, :, None], n_r, axis=2)
        if y.shape != (batch, n_out, n_r):
            raise ValueError(f"targets: expected shape ({batch}, {n_out}) or ({batch}, {n_out}, {n_r}), got {self.targets.shape}")
        a, b = net.alpha[-1], net.beta[-1]
        w = net.weights[-1]
        # tau[n, j, k, r] = t_r - g; only strictly earlier input spikes count
        tau = t_read[None, None, None, :] - pre[..., None]
        tau = np.where(np.isfinite(tau), tau, 0.0)[..., None]        # padding: no spike, no term
        h = psp_causal(tau, a, b)                                    # (n, j, k, r, o); 0 unless g < t_r
        hp = psp_slope_causal(tau, a, b)
        y_kernel = h.sum(axis=2)                                     # (n, j, r, o): dV/dW
        v = np.einsum("njro,jo->nor", y_kernel, w)
        err = v - y
        value = float(np.mean(np.sum(err**2, axis=(1, 2)) / n_r))
        d_v = 2.0 * err / (n_r * batch)                              # (n, o, r)
        d_w = np.einsum("nor,njro->jo", d_v, y_kernel)
        d_pre = -np.einsum("nor,njkro,jo->njk", d_v, hp, w)          # dV/dg = -W h'(t - g)
        d_times = [None] * len(times)
        if net.n_layers > 1:
            d_times[-2] = d_pre
        d_params = {"weights": [None] * (net.n_layers - 1) + [d_w]}
        return value, d_times, d_params



class SpikeCountCrossEntropy(OutputLoss):
    r"""Cross entropy of the output spike counts: the most active output neuron is the class.

    Each spike at time ``t`` counts :math:`c(t) = 1 - e^{-(t_{max} - t)/\tau_c}` (as in
    :class:`SpikeCount`: a plain count is piecewise constant, its exact gradient zero almost everywhere;
    this one tends to it as ``tau_c -> 0``), so

    .. math:: L = -\frac1N\sum_n \log\operatorname{softmax}_{l_n}\big(s\,C_{n,\cdot}\big),\quad
              C_{n,o} = \sum_{t\in F_{n,o}} c(t)

    with ``scale`` :math:`s` (1/spike) and ``tau_c`` (time units). A spike cap (``max_spikes``) bounds
    each count. Prediction: the largest soft count, ``-1`` when no output fires.
    """

    def __init__(self, labels, tau_c: float = 0.1, scale: float = 1.0):
        for name, v in (("tau_c", tau_c), ("scale", scale)):
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} = {v}: must be finite and > 0")
        self.labels = np.asarray(labels)
        self.tau_c, self.scale = float(tau_c), float(scale)

    def _counts(self, out_times, t_max):
        fin = np.isfinite(out_times)
        decay = np.where(fin, np.exp(-(t_max - np.where(fin, out_times, t_max)) / self.tau_c), 0.0)
        return np.where(fin, 1.0 - decay, 0.0).sum(axis=2), decay

    def scores(self, net, inputs, times) -> np.ndarray:
        """The soft counts (``-inf`` in rows where no output fired, so they predict -1)."""
        counts, _ = self._counts(times[-1], net.t_max)
        silent = ~np.isfinite(times[-1]).any(axis=(1, 2))
        counts[silent] = -np.inf
        return counts

    def output(self, out_times, t_max):
        batch, n_out = out_times.shape[:2]
        labels = _check_labels(self.labels, batch, n_out)
        counts, decay = self._counts(out_times, t_max)
        value, d_logits = _cross_entropy(self.scale * counts, labels)
        # d c(t) / dt = -e^{-(t_max - t)/tau_c} / tau_c
        return value, self.scale * d_logits[:, :, None] * (-decay / self.tau_c)


class MaxMembraneCrossEntropy(Loss):
    r"""Cross entropy of the peak membrane potential of a non-firing read-out layer (``theta = inf``).

    The read-out potential :math:`V_o(t)` (see :class:`MembraneRegression`) is sampled at ``n_read``
    evenly spaced times :math:`t_r = r\,t_{max}/R`, ``r = 1..R``; the class is the output whose
    sampled peak :math:`m_o = \max_r V_o(t_r)` is largest, and

    .. math:: L = -\frac1N\sum_n \log\operatorname{softmax}_{l_n}(s\,m_{n,\cdot})

    with ``scale`` :math:`s` (1/potential unit). The gradient is exact for this sampled maximum
    (the derivative at the sample that attains it; the maximum of finitely many smooth functions is
    differentiable wherever the attaining sample is unique). The grid keeps the cost at
    ``O(batch x pre-spikes x R x outputs)`` and matches a chip that reads the potential once per step.
    """

    def __init__(self, labels, n_read: int = 64, scale: float = 1.0):
        if int(n_read) < 1:
            raise ValueError(f"n_read = {n_read}: must be >= 1")
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale = {scale}: must be finite and > 0")
        self.labels = np.asarray(labels)
        self.n_read, self.scale = int(n_read), float(scale)

    def _kernels(self, net, inputs, times):
        """Pre-synaptic times (n, j, k), read times (R,), and V's kernel sums y (n, j, R, o)."""
        if not net.readout:
            raise ValueError("readout = 'membrane': the last layer must be a non-firing read-out (theta = inf)")
        pre = inputs if net.n_layers == 1 else times[-2]
        if pre.ndim == 2:
            pre = pre[:, :, None]
        t_read = net.t_max * np.arange(1, self.n_read + 1) / self.n_read
        a, b = net.alpha[-1], net.beta[-1]
        tau = t_read[None, None, None, :] - pre[..., None]          # (n, j, k, R)
        tau = np.where(np.isfinite(tau), tau, 0.0)                   # padding: no spike, no term
        y = np.empty(pre.shape[:2] + (self.n_read, net.sizes[-1]))
        for o in range(net.sizes[-1]):                               # bounded memory: one output at a time
            y[..., o] = psp_causal(tau, a[o], b[o]).sum(axis=2)
        return pre, t_read, y

    def peaks(self, net, inputs, times):
        """``(m (n, o), argmax read index (n, o), kernels)``: the sampled peak of every output's potential."""
        pre, t_read, y = self._kernels(net, inputs, times)
        v = np.einsum("njro,jo->nor", y, net.weights[-1])
        r_star = np.argmax(v, axis=2)
        return np.take_along_axis(v, r_star[:, :, None], axis=2)[:, :, 0], r_star, (pre, t_read, y)

    def scores(self, net, inputs, times) -> np.ndarray:
        """The sampled peak potentials (potential units)."""
        return self.peaks(net, inputs, times)[0]

    def evaluate(self, net, inputs, times):
        m, r_star, (pre, t_read, y) = self.peaks(net, inputs, times)
        batch, n_out = m.shape
        labels = _check_labels(self.labels, batch, n_out)
        value, d_logits = _cross_entropy(self.scale * m, labels)
        d_m = self.scale * d_logits                                  # (n, o)
        w = net.weights[-1]
        y_star = np.take_along_axis(y, r_star[:, None, None, :], axis=2)[:, :, 0, :]   # (n, j, o)
        d_w = np.einsum("no,njo->jo", d_m, y_star)
        tau = t_read[r_star][:, None, None, :] - pre[..., None]      # (n, j, k, o)
        hp = psp_slope_causal(np.where(np.isfinite(tau), tau, 0.0), net.alpha[-1], net.beta[-1])
        d_pre = -np.einsum("no,njko,jo->njk", d_m, hp, w)             # dV/dg = -W h'(t - g)
        d_times = [None] * len(times)
        if net.n_layers > 1:
            d_times[-2] = np.where(np.isfinite(times[-2]), d_pre, 0.0)
        d_params = {"weights": [None] * (net.n_layers - 1) + [d_w]}
        return value, d_times, d_params


class MeanMembraneCrossEntropy(Loss):
    r"""Cross entropy of the time-averaged membrane potential of a non-firing read-out layer.

    The read-out potential :math:`V_o(t) = \sum_j W_{jo}\sum_{g\in F_j} h_o(t - g)` averaged over the
    window :math:`[0, t_{max}]` is, in closed form,

    .. math:: \bar V_o = \frac1{t_{max}}\sum_j W_{jo}\sum_{g\in F_j,\,g<t_{max}} H_o(t_{max} - g),
              \qquad H_o(u) = \int_0^u h_o,

    (:func:`fpsnn.kernels.psp_integral`), and :math:`L = -\frac1N\sum_n\log\operatorname{softmax}_{l_n}
    (s\,\bar V_{n,\cdot})` with ``scale`` :math:`s` (1/potential unit). Every pre-synaptic spike carries
    a gradient, :math:`\partial\bar V_o/\partial g = -W_{jo} h_o(t_{max} - g)/t_{max}`, so a read-out
    class cannot fall silent (the failure of first-spike losses on long inputs), and the cost is
    ``O(batch x pre-spikes x outputs)``, no read-out grid. What a chip that sums its output neurons'
    potential every step computes (one step's rounding aside).
    """

    def __init__(self, labels, scale: float = 1.0):
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale = {scale}: must be finite and > 0")
        self.labels = np.asarray(labels)
        self.scale = float(scale)

    def _pre(self, net, inputs, times):
        if not net.readout:
            raise ValueError("readout = 'mean_membrane': the last layer must be a non-firing read-out (theta = inf)")
        pre = inputs if net.n_layers == 1 else times[-2]
        pre = pre[:, :, None] if pre.ndim == 2 else pre
        u = net.t_max - pre                                          # (n, j, k); <= 0 or inf: no term
        return pre, np.where(np.isfinite(u), u, 0.0)

    def scores(self, net, inputs, times) -> np.ndarray:
        """The mean potentials over the window (potential units), ``(n, o)``."""
        _, u = self._pre(net, inputs, times)
        return self._mean(net, u)[0]

    def _mean(self, net, u):
        a, b, w = net.alpha[-1], net.beta[-1], net.weights[-1]
        y = np.stack([psp_integral_causal(u, a[o], b[o]).sum(axis=2) for o in range(w.shape[1])], axis=2)
        return np.einsum("njo,jo->no", y, w) / net.t_max, y           # y: (n, j, o)

    def evaluate(self, net, inputs, times):
        pre, u = self._pre(net, inputs, times)
        v, y = self._mean(net, u)
        labels = _check_labels(self.labels, *v.shape)
        value, d_logits = _cross_entropy(self.scale * v, labels)
        d_v = self.scale * d_logits / net.t_max                      # dL/d(sum, not mean)
        w = net.weights[-1]
        d_w = np.einsum("no,njo->jo", d_v, y)
        a, b = net.alpha[-1], net.beta[-1]
        d_pre = np.zeros(pre.shape)
        for o in range(w.shape[1]):                                  # dH(t_max - g)/dg = -h(t_max - g)
            d_pre -= d_v[:, None, None, o] * w[None, :, None, o] * psp_causal(u, a[o], b[o])
        d_times = [None] * len(times)
        if net.n_layers > 1:
            d_times[-2] = np.where(np.isfinite(times[-2]), d_pre, 0.0)
        d_params = {"weights": [None] * (net.n_layers - 1) + [d_w]}
        return value, d_times, d_params


def classifier_loss(hyper, labels) -> Loss:
    """The classification loss of ``hyper.readout`` (``"first_spike"`` when the field is absent) for
    ``labels``, with its settings from ``hyper`` (:class:`fpsnn.datasets.Hyperparameters`)."""
    readout = readout_of(hyper)
    if readout == "first_spike":
        return FirstSpikeCrossEntropy(labels, tau0=hyper.tau0, tau1=hyper.tau1, gamma=hyper.gamma)
    if readout == "spike_count":
        return SpikeCountCrossEntropy(labels, tau_c=hyper.tau_count, scale=hyper.count_scale)
    if readout == "membrane":
        return MaxMembraneCrossEntropy(labels, n_read=hyper.n_read, scale=hyper.count_scale)
    if readout == "mean_membrane":
        return MeanMembraneCrossEntropy(labels, scale=hyper.count_scale)
    raise ValueError(f"readout = {readout!r}: must be one of 'first_spike', 'spike_count', 'membrane', "
                     "'mean_membrane'")
