"""One evaluation of a classifier on spike times, whoever produced them.

The float simulator, a chip run (measured times, after the fine-tuner's clean-up policy) and a
fine-tuning epoch all end in the same question: given the spike times of every layer and the labels,
how good is the network? :class:`SpikeMetrics` answers it chunk by chunk (so a large split never needs
all its times in memory at once) and :func:`metrics_from_times` in one call; :func:`evaluate` first
simulates a float network.

Prediction and loss follow the run's read-out (``hyper.readout``, :func:`fpsnn.losses.classifier_loss`):
by default the first output spike (:func:`fpsnn.losses.predict`: the earliest output neuron, -1 when no
output neuron fires) and the first-spike cross entropy (``tau0``, ``tau1``, ``gamma`` of the
hyper-parameters, a silent output counting as a spike at the window's end ``t_max``); ``spike_count``:
the most active output; ``membrane``: the highest peak potential of the non-firing output layer (needs
the network and its inputs, so only the float simulator can feed it).
"""
from __future__ import annotations

import numpy as np

from ..losses import MEMBRANE_READOUTS, classifier_loss, predict_scores, readout_of
from ..network import Network

__all__ = ["SpikeMetrics", "metrics_from_times", "evaluate"]


class _FirstSpike:
    """Loss settings of the plain first-spike read-out, for metrics without hyper-parameters."""
    readout, tau0, tau1, gamma = "first_spike", 0.2, 1.0, 0.005


_FIRST_SPIKE = _FirstSpike()


class _Window:
    """The one thing the time-only read-outs need of a network: its window ``t_max`` (time units)."""

    def __init__(self, t_max: float):
        self.t_max = t_max


class SpikeMetrics:
    """Classification metrics accumulated over chunks of spike times (see :meth:`result`).

    Args:
        sizes: neurons per layer (hidden first, output last).
        t_max: end of the simulated window (time units): where a silent output neuron counts as firing.
        hyper: read-out and loss settings (``readout``, ``tau0``, ``tau1``, ``gamma``...;
            :class:`fpsnn.datasets.Hyperparameters`); ``None``: first-spike prediction, no loss.
        keep_first: keep every sample's first output spike times for :meth:`result`'s ``first_spikes``.

    Extra integer counters (e.g. a measurement policy's) are summed with :meth:`count` and reported
    as they are. :meth:`state` / :meth:`from_state` round-trip everything but the kept first spikes
    through JSON, so a run can checkpoint a half-accumulated epoch.
    """

    def __init__(self, sizes, t_max: float, hyper=None, keep_first: bool = False):
        self.sizes, self.t_max = tuple(int(s) for s in sizes), float(t_max)
        self.hyper, self.keep_first = hyper, keep_first
        self.n = self.correct = self.silent_outputs = self.silent_label = self.spikes = 0
        self.loss_sum = 0.0
        self.fired = [np.zeros(s, dtype=bool) for s in self.sizes[:-1]]
        self.counts: dict = {}
        self.first: list = []

    def add(self, times, labels, net=None, inputs=None) -> "SpikeMetrics":
        """Add one chunk: ``times``, one ``(batch, n_l, k_l)`` array per layer (sorted, +inf padded, time
        units), and ``labels`` ``(batch,)``; the ``membrane`` read-out also needs the float ``net`` and
        its ``inputs`` (the other read-outs use the times only)."""
        labels = np.asarray(labels)
        out = times[-1]
        n = len(labels)
        first = out[:, :, 0] if out.shape[2] else np.full(out.shape[:2], np.inf)
        readout = readout_of(self.hyper)
        if readout in MEMBRANE_READOUTS and net is None:
            raise ValueError(f"readout = {readout!r}: metrics need the network and its inputs (net=, inputs=)")
        loss = classifier_loss(self.hyper if self.hyper is not None else _FIRST_SPIKE, labels)
        if net is None:
            net = _Window(self.t_max)
        self.n += n
        self.correct += int(np.sum(predict_scores(loss.scores(net, inputs, times)) == labels))
        if readout not in MEMBRANE_READOUTS:  # a potential read-out always answers: nothing is silent
            self.silent_outputs += int(np.all(np.isinf(first), axis=1).sum())
            self.silent_label += int(np.isinf(first[np.arange(n), labels]).sum())
        self.spikes += int(sum(int(np.isfinite(t).sum()) for t in times))
        for l in range(len(self.fired)):
            self.fired[l] |= np.isfinite(times[l][:, :, :1]).any(axis=(0, 2))
        if self.hyper is not None:
            self.loss_sum += loss.evaluate(net, inputs, times)[0] * n
        if self.keep_first:
            self.first.append(first)
        return self

    def count(self, **counts) -> "SpikeMetrics":
        """Add integer counters (created at 0 on first use)."""
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + int(v)
        return self

    def result(self) -> dict:
        """The metrics so far.

        ``accuracy`` (fraction of samples whose class by the read-out is the label), ``loss`` (mean
        loss of the read-out; only with ``hyper``), ``silent_label`` (fraction whose label neuron
        never fires), ``silent_outputs`` (fraction with no output spike at all; both 0 for the membrane
        read-outs, whose output layer never fires by design and always answers), ``dead_hidden`` (per
        hidden layer, neurons that fired for none of the samples), ``mean_spikes`` (spikes of all
        layers per sample), ``n`` (samples), the extra counters, and with ``keep_first``
        ``first_spikes`` ((n, n_out) time units, inf = silent). Fractions are NaN when ``n = 0``.
        """
        n = self.n
        frac = (lambda k: k / n) if n else (lambda k: float("nan"))
        out = {"accuracy": frac(self.correct), "silent_label": frac(self.silent_label),
               "silent_outputs": frac(self.silent_outputs), "dead_hidden": [int((~f).sum()) for f in self.fired],
               "mean_spikes": self.spikes / max(n, 1), "n": n, **self.counts}
        if self.hyper is not None:
            out["loss"] = self.loss_sum / max(n, 1)
        if self.keep_first:
            out["first_spikes"] = np.concatenate(self.first) if self.first else np.zeros((0, self.sizes[-1]))
        return out

    def state(self) -> dict:
        """The sums as JSON data (without kept first spikes)."""
        return {"n": self.n, "correct": self.correct, "loss_sum": self.loss_sum, "silent_outputs": self.silent_outputs,
                "silent_label": self.silent_label, "spikes": self.spikes,
                "fired": [f.tolist() for f in self.fired], "counts": dict(self.counts)}

    @classmethod
    def from_state(cls, state: dict, sizes, t_max: float, hyper=None) -> "SpikeMetrics":
        """The accumulator :meth:`state` described."""
        m = cls(sizes, t_max, hyper)
        for k in ("n", "correct", "silent_outputs", "silent_label", "spikes"):
            setattr(m, k, int(state[k]))
        m.loss_sum = float(state["loss_sum"])
        m.fired = [np.array(f, dtype=bool) for f in state["fired"]]
        m.counts = {k: int(v) for k, v in state["counts"].items()}
        return m


def metrics_from_times(times, labels, t_max: float, hyper=None) -> dict:
    """:meth:`SpikeMetrics.result` of one batch of spike times (one array per layer) and its labels."""
    return SpikeMetrics([t.shape[1] for t in times], t_max, hyper).add(times, labels).result()


def evaluate(net: Network, inputs: np.ndarray, labels: np.ndarray, hyper=None, chunk: int = 1000) -> dict:
    """Classification metrics of float network ``net`` on encoded ``inputs`` (batch, n_in[, k]) with ``labels``.

    Simulates in chunks of ``chunk`` samples (bounded memory) and returns :meth:`SpikeMetrics.result`
    with ``first_spikes``; ``loss`` only with ``hyper``.
    """
    labels = np.asarray(labels)
    metrics = SpikeMetrics(net.sizes, net.t_max, hyper, keep_first=True)
    for start in range(0, len(labels), chunk):
        x = inputs[start:start + chunk]
        metrics.add(net.simulate(x).times, labels[start:start + chunk], net=net, inputs=x)
    return metrics.result()
