"""The trainable parameters of a network as one flat list, and the initial network of a training run.

The optimizers (:mod:`.optimizers`) work on a list of arrays; :func:`parameter_list` fixes its order
(feed-forward weights layer by layer, then the recurrent matrices that exist), :func:`gradient_list`
puts ``Network.value_and_grad``'s gradients in the same order, and :func:`with_parameter_list` builds
the network back. Time constants and thresholds are not trained.
"""
from __future__ import annotations

import numpy as np

from ..losses import MEMBRANE_READOUTS, readout_of
from ..network import Network

__all__ = ["init_network", "parameter_list", "with_parameter_list", "gradient_list", "all_finite"]


def init_network(hyper, n_inputs: int, n_outputs: int, rng: np.random.Generator) -> Network:
    """A network with Normal(init_mean[l], init_std[l]) weights, drawn layer by layer.

    ``hyper`` (:class:`fpsnn.datasets.Hyperparameters`) gives the hidden sizes, which hidden layers are
    recurrent (Normal(0, ``recurrent_std``) weights, zero diagonal, drawn after all feed-forward
    weights so a feed-forward run's weights do not depend on it), the neuron model, the read-out
    (``"membrane"``: the output layer never fires, theta = inf), the simulation window
    (``hyper.simulation_window``, time units) and the spike caps (``hyper.max_spikes``: one for every
    layer, or one per layer).
    """
    sizes = (int(n_inputs),) + tuple(hyper.hidden) + (int(n_outputs),)
    weights = [rng.normal(hyper.init_mean[l], hyper.init_std[l], size=(sizes[l], sizes[l + 1]))
               for l in range(len(sizes) - 1)]
    flags = tuple(getattr(hyper, "recurrent", ())) or (False,) * len(hyper.hidden)
    recurrent = []
    for l, on in enumerate(flags):
        r = None
        if on:
            r = rng.normal(0.0, hyper.recurrent_std, size=(sizes[l + 1], sizes[l + 1]))
            np.fill_diagonal(r, 0.0)
        recurrent.append(r)
    theta = [float(hyper.theta)] * len(hyper.hidden)
    theta.append(np.inf if readout_of(hyper) in MEMBRANE_READOUTS else float(hyper.theta))
    return Network(weights=weights, alpha=hyper.alpha, beta=hyper.beta, theta=theta,
                   t_max=hyper.simulation_window, max_spikes=hyper.max_spikes,
                   recurrent=recurrent + [None] if any(flags) else None)


def parameter_list(net: Network) -> list:
    """The trainable arrays in a fixed order: weights, then the recurrent matrices that exist."""
    return list(net.weights) + [r for r in net.recurrent if r is not None]


def with_parameter_list(net: Network, params: list) -> Network:
    """A copy of ``net`` with the arrays of :func:`parameter_list` replaced by ``params``."""
    n = net.n_layers
    rest = iter(params[n:])
    recurrent = [None if r is None else next(rest) for r in net.recurrent]
    return net.with_parameters(params[:n], recurrent)


def gradient_list(net: Network, grads: dict) -> list:
    """``value_and_grad``'s gradients in the order of :func:`parameter_list`."""
    return list(grads["weights"]) + [g for g, r in zip(grads["recurrent"], net.recurrent) if r is not None]


def all_finite(arrays) -> bool:
    """Whether every entry of every array is finite (a gradient the optimizer may apply)."""
    return all(np.all(np.isfinite(a)) for a in arrays)
