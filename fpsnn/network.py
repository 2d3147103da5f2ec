r"""Network description: layered current-based LIF neurons in continuous time.

A network is a chain of layers. Layer ``l`` receives the spikes of layer ``l - 1`` (layer ``-1`` is the
input) through ``weights[l]`` of shape ``(n_{l-1}, n_l)`` and, optionally, the spikes of its own neurons
through ``recurrent[l]`` of shape ``(n_l, n_l)`` (``recurrent[l][i, j]`` is the weight from neuron ``i``
to neuron ``j``; the diagonal must be zero: a neuron's own spikes act only through its reset).

Every neuron ``i`` has its own inverse synaptic time constant :math:`\alpha_i = 1/\tau_{syn}`,
inverse membrane time constant :math:`\beta_i = 1/\tau_{mem}` (both in 1/time-unit) and threshold
:math:`\theta_i`. The synapse belongs to the *receiving* neuron, as on every digital chip fpsnn targets
(the paper indexes alpha by the sender; the two agree whenever alpha is shared within a layer, as in
all of its experiments). An input spike at time ``g`` through weight ``w`` adds

.. math:: w\,h_i(t - g),\quad h_i(t) = \frac{e^{-\alpha_i t} - e^{-\beta_i t}}{\beta_i - \alpha_i}\,u(t)
          \quad(\;= t\,e^{-\alpha_i t}\,u(t)\ \text{if}\ \alpha_i = \beta_i)

to the membrane potential :math:`V_i`. When :math:`V_i` reaches :math:`\theta_i` from below the neuron
spikes and :math:`V_i` drops by :math:`\theta_i` (equivalently resets to 0). Spikes are searched on
``[0, t_max]``. A layer whose threshold is ``+inf`` never fires: it is a linear read-out layer whose
membrane potential a loss can use (:class:`fpsnn.losses.MembraneRegression`).

``max_spikes`` caps the number of spikes per neuron (the neuron is silent after its cap, a documented
change of the model that keeps the gradients exact for the capped network); the simulator reports how
many neurons hit the cap. One int caps every layer; a sequence gives one cap per layer (e.g. many
spikes in a hidden layer, one in the output), read back per layer as :attr:`Network.spike_caps`.

All values are float64. Scalars broadcast: ``alpha=1.0`` means every neuron of every layer; a list gives
one scalar or one ``(n_l,)`` array per layer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["Network", "check_finite_array"]


def check_finite_array(name: str, value, shape: tuple | None = None, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array, or raise ValueError naming ``name``."""
    try:
        arr = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be converted to a float64 array ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name}: must be finite, found {arr[tuple(bad)]} at index {tuple(int(b) for b in bad)}")
    return arr


def _per_layer(name: str, value, sizes: Sequence[int], allow_inf: bool = False) -> list[np.ndarray]:
    """Broadcast a scalar / per-layer list to one (n_l,) float64 array per layer, all > 0."""
    if not isinstance(value, (list, tuple)):
        if np.ndim(value) != 0:
            raise ValueError(f"{name}: expected a scalar or a list with one entry per layer")
        value = [value] * len(sizes)
    if len(value) != len(sizes):
        raise ValueError(f"{name}: expected one entry per layer ({len(sizes)}), got {len(value)}")
    out = []
    for l, (v, n) in enumerate(zip(value, sizes)):
        arr = np.asarray(v, dtype=np.float64)
        try:
            arr = np.array(np.broadcast_to(arr, (n,)), dtype=np.float64)   # a writable copy, never a view
        except ValueError:
            raise ValueError(f"{name}[{l}]: expected a scalar or shape ({n},), got {arr.shape}") from None
        bad = np.isnan(arr) | (arr <= 0) | (np.isinf(arr) & (not allow_inf))
        if np.any(bad):
            i = int(np.argmax(bad))
            limit = "> 0 (inf allowed: a non-firing read-out layer)" if allow_inf else "finite and > 0"
            raise ValueError(f"{name}[{l}][{i}] = {arr[i]}: must be {limit}")
        if allow_inf and np.any(np.isinf(arr)) and not np.all(np.isinf(arr)):
            raise ValueError(f"{name}[{l}]: a layer is either firing (finite theta) or a read-out (all inf)")
        out.append(arr)
    return out


def spike_caps(value, n_layers: int, readout: bool) -> tuple:
    """``max_spikes`` (an int, or one int per layer) as one cap per layer, or ValueError naming it.

    Every entry must be a whole number >= 1 (bool, fractions, strings, NaN are refused); a non-firing
    read-out layer's entry is kept (so the value round-trips) but never used.
    """
    def whole(v) -> int | None:
        if isinstance(v, (bool, np.bool_, str, bytes)):
            return None
        try:
            i = int(v)
            return i if i == v else None
        except (TypeError, ValueError, OverflowError):
            return None

    if isinstance(value, (list, tuple, np.ndarray)):
        if np.ndim(value) != 1 or len(value) != n_layers:
            raise ValueError(f"max_spikes = {_show(value)}: expected an integer or one entry per layer "
                             f"({n_layers} layers), got {len(value) if np.ndim(value) == 1 else np.shape(value)}")
        caps = []
        for l, v in enumerate(value):
            k = whole(v)
            if k is None or k < 1:
                what = (f" (layer {l} is a non-firing read-out: the entry is unused but still checked)"
                        if readout and l == n_layers - 1 else "")
                raise ValueError(f"max_spikes[{l}] = {_show(v)}: layer {l}'s spike cap must be an integer >= 1{what}")
            caps.append(k)
        return tuple(caps)
    k = whole(value)
    if k is None or k < 1:
        raise ValueError(f"max_spikes = {_show(value)}: must be an integer >= 1 (every layer), or one per layer")
    return (k,) * n_layers


def _show(value) -> str:
    """``value`` for an error message: numpy scalars and arrays as plain Python values."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    return repr(value)


def _summary(values: list) -> str:
    """One number per layer when the layer is uniform, else its range: ``[1, 0.5..2]``."""
    parts = []
    for v in values:
        lo, hi = float(np.min(v)), float(np.max(v))
        parts.append(f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}")
    return "[" + ", ".join(parts) + "]"


@dataclass(repr=False)
class Network:
    """A layered LIF network (see the module docstring for the equations and units).

    Args:
        weights: list of ``(n_{l-1}, n_l)`` arrays, layer 0 first.
        alpha: inverse synaptic time constant(s), 1/time-unit, > 0.
        beta: inverse membrane time constant(s), 1/time-unit, > 0.
        theta: firing threshold(s), > 0; ``inf`` for a non-firing read-out layer.
        t_max: end of the simulated window (time units), > 0.
        recurrent: optional list (one entry per layer, ``None`` where absent) of ``(n_l, n_l)`` arrays.
        max_spikes: most spikes recorded per neuron (>= 1): an int for every layer, or a sequence with
            one int per layer (output last); a non-firing read-out layer (theta = inf) records no spikes,
            so its entry is kept but ignored. Afterwards the attribute is the int when every layer has
            the same cap, else the tuple of per-layer caps (:attr:`spike_caps` is always the tuple).
    """

    weights: list
    alpha: object = 1.0
    beta: object = 1.0
    theta: object = 1.0
    t_max: float = 1.0
    recurrent: list | None = None
    max_spikes: int | tuple = 16
    sizes: tuple = field(init=False)

    def __post_init__(self):
        if isinstance(self.weights, np.ndarray) or not isinstance(self.weights, (list, tuple)) or not self.weights:
            raise ValueError("weights: expected a non-empty list of 2-d arrays, one per layer")
        self.weights = [check_finite_array(f"weights[{l}]", w, ndim=2) for l, w in enumerate(self.weights)]
        if self.weights[0].shape[0] == 0:
            raise ValueError("weights[0]: has 0 rows; the network needs at least 1 input channel")
        for l, w in enumerate(self.weights):
            if w.shape[1] == 0:
                raise ValueError(f"weights[{l}]: layer {l} has 0 neurons (shape {w.shape}); every layer needs >= 1")
        for l in range(1, len(self.weights)):
            if self.weights[l].shape[0] != self.weights[l - 1].shape[1]:
                raise ValueError(
                    f"weights[{l}]: has {self.weights[l].shape[0]} rows but layer {l - 1} has "
                    f"{self.weights[l - 1].shape[1]} neurons")
        sizes = tuple(int(w.shape[1]) for w in self.weights)
        self.sizes = sizes
        if self.recurrent is None:
            self.recurrent = [None] * len(sizes)
        if len(self.recurrent) != len(sizes):
            raise ValueError(f"recurrent: expected one entry per layer ({len(sizes)}), got {len(self.recurrent)}")
        rec = []
        for l, r in enumerate(self.recurrent):
            if r is None:
                rec.append(None)
                continue
            r = check_finite_array(f"recurrent[{l}]", r, shape=(sizes[l], sizes[l]))
            if np.any(np.diag(r) != 0):
                raise ValueError(f"recurrent[{l}]: the diagonal must be zero (a neuron's own spikes act through its reset)")
            rec.append(r)
        self.recurrent = rec
        self.alpha = _per_layer("alpha", self.alpha, sizes)
        self.beta = _per_layer("beta", self.beta, sizes)
        self.theta = _per_layer("theta", self.theta, sizes, allow_inf=True)
        for l in range(len(sizes) - 1):
            if np.any(np.isinf(self.theta[l])):
                raise ValueError(f"theta[{l}]: only the last layer may be a non-firing read-out (theta = inf)")
        if np.any(np.isinf(self.theta[-1])) and self.recurrent[-1] is not None:
            raise ValueError("recurrent[-1]: a non-firing read-out layer cannot have recurrent weights")
        t_max = float(self.t_max)
        if not np.isfinite(t_max) or t_max <= 0:
            raise ValueError(f"t_max = {self.t_max}: must be finite and > 0")
        self.t_max = t_max
        caps = spike_caps(self.max_spikes, len(sizes), bool(np.all(np.isinf(self.theta[-1]))))
        self.max_spikes = caps[0] if len(set(caps)) == 1 else caps

    def __repr__(self) -> str:
        """One line: sizes, per-layer alpha / beta / theta (a range where neurons differ), recurrence."""
        rec = [l for l, r in enumerate(self.recurrent) if r is not None]
        return (f"Network(sizes={self.n_inputs}-" + "-".join(str(n) for n in self.sizes)
                + f", alpha={_summary(self.alpha)}, beta={_summary(self.beta)}, theta={_summary(self.theta)}"
                + f", t_max={self.t_max:g}, recurrent_layers={rec}, max_spikes={self.max_spikes})")

    # ------------------------------------------------------------------ shape helpers
    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def n_layers(self) -> int:
        return len(self.sizes)

    @property
    def spike_caps(self) -> tuple:
        """Most spikes recorded per neuron, one int per layer (output last). A non-firing read-out
        layer's entry is what was given and is never used (it records no spikes)."""
        if np.ndim(self.max_spikes) == 0:
            return (int(self.max_spikes),) * self.n_layers
        return tuple(int(k) for k in self.max_spikes)

    @property
    def readout(self) -> bool:
        """True when the last layer is a non-firing (membrane) read-out."""
        return bool(np.all(np.isinf(self.theta[-1])))

    def parameters(self) -> dict:
        """The trainable arrays: ``{"weights": [...], "recurrent": [... or None]}`` (views, not copies)."""
        return {"weights": self.weights, "recurrent": self.recurrent}

    def with_parameters(self, weights, recurrent=None) -> "Network":
        """A copy of this network with other weights (same time constants, thresholds, t_max, spike caps)."""
        return Network(weights=[np.array(w) for w in weights], alpha=self.alpha, beta=self.beta,
                       theta=self.theta, t_max=self.t_max,
                       recurrent=None if recurrent is None else [None if r is None else np.array(r) for r in recurrent],
                       max_spikes=self.max_spikes)

    # ------------------------------------------------------------------ the work (thin wrappers)
    def simulate(self, x, debug: bool = False):
        """Exact event-driven forward pass; see :func:`fpsnn.simulate.simulate`."""
        from .simulate import simulate
        return simulate(self, x, debug=debug)

    def value_and_grad(self, x, loss, mode: str = "adjoint", times=None, debug: bool = False):
        """``(value, grads)``: the loss and its exact gradient; see :func:`fpsnn.gradients.value_and_grad`
        (which documents every key of ``grads``)."""
        from .gradients import value_and_grad
        return value_and_grad(self, x, loss, mode=mode, times=times, debug=debug)

    def jacobian(self, x, times=None):
        """Exact d(spike times)/d(weights); see :func:`fpsnn.gradients.jacobian`."""
        from .gradients import jacobian
        return jacobian(self, x, times=times)
