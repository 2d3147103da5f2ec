"""Per-sample results and gradients are bitwise the same for any thread count.

The simulator gives each sample to one task; the adjoint sums a fixed number of batch chunks (not
one per thread) in a fixed order. So 1 thread and 2 threads must agree exactly, for spike times,
gradients (both modes) and dL/d(input times), also with recurrence and a read-out layer.
"""
import numba
import numpy as np
import pytest

import fpsnn
from fpsnn.losses import FirstSpikeCrossEntropy, MembraneRegression

BATCH = 64  # >= 2 x runtime.MIN_SAMPLES_PER_THREAD, so threads_for keeps 2 threads


def _cases():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 2.0, (BATCH, 4))
    labels = rng.integers(0, 3, BATCH)
    plain = fpsnn.Network([rng.normal(1.5, 0.7, (4, 20)), rng.normal(1.2, 0.6, (20, 3))],
                          alpha=0.999, beta=1.0, theta=1.0, t_max=3.0)
    rec = rng.normal(0.0, 0.3, (20, 20))
    np.fill_diagonal(rec, 0.0)
    recurrent = plain.with_parameters(plain.weights, [rec, None])
    readout = fpsnn.Network([plain.weights[0], plain.weights[1]], alpha=[0.999, 1.0], beta=1.0,
                            theta=[1.0, np.inf], t_max=3.0)
    return x, [(plain, FirstSpikeCrossEntropy(labels)), (recurrent, FirstSpikeCrossEntropy(labels)),
               (readout, MembraneRegression(rng.normal(0.5, 0.2, (BATCH, 3))))]


def _run(net, x, loss):
    res = net.simulate(x)
    out = [t.copy() for t in res.times]
    for mode in ("adjoint", "forward"):
        value, g = net.value_and_grad(x, loss, mode=mode)
        out += [np.array(value)] + [w.copy() for w in g["weights"]]
        out += [r.copy() for r in g["recurrent"] if r is not None]
        if "inputs" in g:
            out.append(g["inputs"].copy())
    return out


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has a single thread here")
def test_one_and_two_threads_agree_bitwise():
    x, cases = _cases()
    before = numba.get_num_threads()
    try:
        for net, loss in cases:
            numba.set_num_threads(1)
            one = _run(net, x, loss)
            numba.set_num_threads(2)
            two = _run(net, x, loss)
            assert len(one) == len(two)
            for a, b in zip(one, two):
                np.testing.assert_array_equal(a, b)
            assert any(np.isfinite(t).any() for t in one[:net.n_layers])  # the network does fire
    finally:
        numba.set_num_threads(before)
