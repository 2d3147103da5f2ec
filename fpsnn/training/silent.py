"""The silent-neuron bump: revive neurons that the exact gradient cannot reach.

A neuron that never fires has no firing-time equation, so its incoming weights get no gradient from
spike timing (Lee et al., AISTATS 2023, section 3): once a hidden neuron falls silent for every input
it stays dead, and a label output that is silent for a sample gets no push from that sample (the loss
counts it as firing at ``t_max`` with zero gradient, :mod:`fpsnn.losses`). With the paper's Yin-Yang
settings this is how a run collapses (most hidden neurons dead late in training).

The remedy, after Goeltz et al. (2021, Nature Machine Intelligence, "weight bumping"): after each
optimizer step, every incoming weight of

* a hidden neuron that fired for none of the minibatch's samples, and
* an output neuron that stayed silent for a sample whose label it is (not for a non-firing read-out)

grows by ``bump`` (weight units, ``Hyperparameters.silent_bump``). The gradient step itself is the
exact one, untouched; the bump is a separate, documented update rule that only acts on neurons the
gradient cannot see. Silence is read from the spike times the minibatch's gradient was computed on, so
the bump costs no extra simulation. The measured effect is in ``docs/training-presets.md``.
"""
from __future__ import annotations

import numpy as np

from ..losses import Loss
from ..network import Network

__all__ = ["Recording", "silent_masks", "bump_silent"]


class Recording(Loss):
    """``loss`` unchanged, keeping the spike times of every layer it was evaluated on (``times``)."""

    def __init__(self, loss: Loss):
        self.loss, self.times = loss, None

    def evaluate(self, net, inputs, times):
        self.times = times
        return self.loss.evaluate(net, inputs, times)


def silent_masks(net: Network, times: list, labels: np.ndarray) -> list:
    """Per layer, a boolean ``(n_l,)`` mask of the neurons to bump (module docstring).

    ``times``: the minibatch's spike times of every layer, ``(batch, n_l, k_l)``, +inf = none;
    ``labels``: its classes ``(batch,)``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    masks = []
    for l, t in enumerate(times):
        fired = np.isfinite(t[:, :, 0]) if t.shape[2] else np.zeros(t.shape[:2], dtype=bool)
        if l < net.n_layers - 1:
            masks.append(~fired.any(axis=0))
            continue
        silent = np.zeros(t.shape[1], dtype=bool)
        if not net.readout:  # a non-firing read-out layer is silent by design
            silent[np.unique(labels[~fired[np.arange(len(labels)), labels]])] = True
        masks.append(silent)
    return masks


def bump_silent(net: Network, masks: list, bump: float) -> Network:
    """``net`` with every incoming (feed-forward) weight of the masked neurons raised by ``bump``."""
    if not bump > 0 or not any(m.any() for m in masks):
        return net
    weights = [np.array(w) for w in net.weights]
    for w, m in zip(weights, masks):
        w[:, m] += bump
    return net.with_parameters(weights, net.recurrent)
