r"""Exact gradients of spike times and of losses of spike times (Lee, Haghighatshoar & Karbasi 2023).

Every spike :math:`f` of neuron :math:`i` satisfies its firing equation :math:`V_i(f) - \theta_i = 0`,
where :math:`V_i(f)` counts the spikes that reached :math:`i` strictly before :math:`f`. The implicit
function theorem at every spike gives

.. math:: M\,\frac{dF}{dW} = -\frac{\partial V}{\partial W},\qquad
          M_{ff} = V_i'(f^-) = \sum_j W_{ji}\sum_{g<f} h'(f-g) + \theta_i\beta_i\sum_{m<f} e^{-\beta_i(f-m)} > 0,

with :math:`M_{fg} = -W_{ji} h'(f-g)` for an input spike :math:`g` of neuron :math:`j`,
:math:`M_{fm} = -\theta_i\beta_i e^{-\beta_i(f-m)}` for an own earlier spike :math:`m` and
:math:`\partial V_f/\partial W_{ji} = \sum_{g\in F_j, g<f} h(f-g)`. In time order :math:`M` is lower
triangular with a positive diagonal (Theorem 4), so both solves are substitutions:

* ``forward`` (the paper's Forward Propagation, Algorithm 2): each spike's row
  :math:`dF_f/dW = -(\partial V_f/\partial W + \sum_{c<f} M_{fc}\,dF_c/dW)/M_{ff}` is built from the rows
  of its causes, in time order. It yields the whole Jacobian (:func:`jacobian`).
* ``adjoint``: :math:`M^T\lambda = \partial L/\partial F` solved backward in time, then
  :math:`dL/dW = -\lambda^T\,\partial V/\partial W + \partial L/\partial W`. Same numbers, cost
  proportional to the number of (spike, cause) pairs: the training fast path.

Only spike times enter (plus the parameters): the causal set of a spike is every spike that reached
its neuron strictly earlier, so times measured on a chip can replace simulated ones (``times=``).
Policy for such times: a spike whose slope :math:`M_{ff}` is not positive (impossible for simulated
times, possible for measured ones) carries no gradient; its count is reported as ``grads["n_bad_slopes"]``.

Parameter layout of the Jacobian: one flat vector, layer by layer, ``weights[l]`` (row-major,
``W[j, i]`` at ``offset + j * n_l + i``) followed by ``recurrent[l]`` when present; see
:class:`Jacobian` for the slices.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..checks import check_input_times, check_spike_times, check_theorem4  # noqa: F401
from ..runtime import threads_for
from ..simulate import _simulate
from .adjoint import _adjoint
from .forward import Jacobian, _forward, jacobian

if TYPE_CHECKING:  # annotations only: Network is a convenience over these functions, not below them
    from ..network import Network

# check_spike_times / check_theorem4 moved to fpsnn.checks; importable from here for one release
__all__ = ["value_and_grad", "jacobian", "Jacobian", "check_spike_times", "check_theorem4"]


def value_and_grad(net: Network, x, loss, mode: str = "adjoint", times=None, debug: bool = False,
                   chunks: int | None = None):
    """Loss value and its exact gradient with respect to every weight.

    Args:
        net: the network.
        x: input spike times ``(batch, n_in[, k])`` (time units; +inf = no spike).
        loss: a :class:`fpsnn.losses.Loss` or a callable ``f(output_times) -> (value, dL/d output_times)``.
        mode: ``"adjoint"`` (backward substitution, fast) or ``"forward"`` (Forward Propagation); they
            agree to rounding.
        times: spike times of every layer measured elsewhere (chip, emulator) to use instead of
            simulating; one ``(batch, n_l, k_l)`` array per layer.
        debug: check Theorem 4 (positive diagonal, firing equations) on simulated spikes (also
            switched on by ``FPSNN_DEBUG=1``).
        chunks: adjoint mode: how many partial sums the batch sum is split into (default
            :func:`fpsnn.gradients.adjoint.batch_chunks`); it changes the gradient only by rounding.

    Returns:
        ``(value, grads)``: ``value`` the loss (float) and ``grads`` a dict with the keys

        * ``"weights"``: list like ``net.weights``; ``grads["weights"][l][j, i]`` = dL/dW[j, i] of layer
          ``l`` (loss units per weight unit), summed over the batch as the loss defines it (a mean loss
          gives the mean gradient).
        * ``"recurrent"``: list like ``net.recurrent``: dL/dR per recurrent layer, None where absent.
        * ``"n_bad_slopes"``: int, how many spikes had a non-positive slope M_ff = V'(f-) and so carry
          no gradient (always 0 for simulated times; measured ``times`` can violate Theorem 4).
        * ``"inputs"`` (adjoint mode only): dL/d(input spike times), ``(batch, n_in, k)`` like the
          validated input (loss units per time unit; 0 at padding and at inputs after every spike).
    """
    from ..losses import as_loss

    if mode not in ("adjoint", "forward"):
        raise ValueError(f"mode: expected 'adjoint' or 'forward', got {mode!r}")
    if chunks is not None and (isinstance(chunks, bool) or int(chunks) != chunks or chunks < 1):
        raise ValueError(f"chunks = {chunks!r}: must be a whole number >= 1")
    loss = as_loss(loss)
    inputs = check_input_times(x, net.n_inputs)
    with threads_for(inputs.shape[0]):
        return _value_and_grad(net, inputs, loss, mode, times, debug, chunks)


def _value_and_grad(net, inputs, loss, mode, times, debug, chunks=None):
    orders = None
    if times is None:
        res = _simulate(net, inputs, debug)  # inputs checked and threads set by the caller
        times, orders = res.times, res.input_order
    else:
        times = check_spike_times(net, times, inputs.shape[0])
        # measured times need not satisfy the firing equations: Theorem 4 is checked on simulated ones
    value, d_times, d_params = loss.evaluate(net, inputs, times)
    if mode == "adjoint":
        g_w, g_r, d_inputs, n_bad = _adjoint(net, inputs, times, d_times, orders, chunks)
    else:
        g_w, g_r, n_bad = _forward(net, inputs, times, d_times)
        d_inputs = None
    if d_params:
        for l, g in enumerate(d_params.get("weights", [])):
            if g is not None:
                g_w[l] = g_w[l] + g
        for l, g in enumerate(d_params.get("recurrent", [])):
            if g is not None:
                g_r[l] = g_r[l] + g
    grads = {"weights": g_w, "recurrent": g_r, "n_bad_slopes": n_bad}
    if d_inputs is not None:
        grads["inputs"] = d_inputs
    return float(value), grads
