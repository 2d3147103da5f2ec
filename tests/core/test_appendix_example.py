r"""The paper's appendix 7.3 example: 3 neurons, 6 spikes, and the causal structure of dV/dF and dF/dW.

The appendix's causal structure (neuron 1 fires f_1^1 < f_2^1 < f_3^1, neuron 2 fires f_1^2, f_2^2,
neuron 3 fires f_1^3; in global time order f_1^1 < f_1^2 < f_2^1 < f_3^1 < f_2^2 < f_1^3, like the
appendix's 1, 1.5, 2, 3, 3.5, 4), rows/columns in the appendix's order
(f_1^1, f_2^1, f_3^1, f_1^2, f_2^2, f_1^3)::

    f_1^1 : x
    f_2^1 : x x
    f_3^1 : x x x
    f_1^2 : x . . x
    f_2^2 : x x x x x
    f_1^3 : . . . x x x

(the appendix's "Eq. for f_2^2" lines are garbled; this matrix is the part that is right).

Realisability.  In the literal chain input -> N1 -> N2 -> N3 with one weight per link this pattern is
impossible: N2's first spike needs w2 supra-threshold for ONE presynaptic spike from rest; after N2's
reset its potential w2 h(t - f_1^1) - theta e^{-beta (t - f_1^2)} stays >= 0 (both for alpha = beta and
alpha != beta, by direct computation), so f_2^1 alone again drives N2 over threshold within the same
latency L; avoiding a spike between f_2^1 and f_3^1 forces f_3^1 - f_2^1 < L, and the pair then
carries enough charge for TWO more N2 spikes (checked numerically over alpha/beta in {1/1, 4/1, 1/4, 10/1},
weights 1.001..1.3x the single-spike threshold, pair gaps up to the kernel peak: no solution). So N2 needs
an extra, non-spiking cause: one inhibitory input spike between f_1^2 and f_2^1 that blocks N2's response
to f_2^1. Input spike times are constants (not unknowns), so this leaves the 6 x 6 pattern above unchanged.

Construction (fpsnn layers): layer 0 = [N1, N2] with recurrent weight N1 -> N2 (= w2); input channel 0
(3 spikes) drives N1 (= w1), input channel 1 (1 spike) inhibits N2 (= v < 0); layer 1 = [N3] fed by N2
(= w3). The remaining entries of W0, R0 and W1 are zero-VALUED parameters (no synapse), which the
Jacobian must still treat as parameters: dF/dW_ji is non-zero whenever a spike of j precedes a spike of
i that is (an ancestor of) the differentiated spike.
"""
import os
import sys

import numpy as np
import pytest

import fpsnn
from fpsnn.losses import FirstSpikeCrossEntropy, Loss

sys.path.insert(0, os.path.dirname(__file__))
from reference import central_difference, reference_jacobian, simulate_reference  # noqa: E402

ALPHA, BETA, THETA, T_MAX = 2.0, 1.0, 1.0, 8.0
W1_, W2_, V_, W3_ = 4.4, 4.8, -8.0, 3.68          # w_peak = 4.0 for alpha = 2, beta = 1
W0 = np.array([[W1_, 0.0], [0.0, V_]])             # ch0 -> N1 (w1), ch1 -> N2 (v)
R0 = np.array([[0.0, W2_], [0.0, 0.0]])            # N1 -> N2 (w2)
W1 = np.array([[0.0], [W3_]])                      # N2 -> N3 (w3)
X = np.array([[[0.0, 1.2, 3.0], [1.0, np.inf, np.inf]]])

# global time order of the 6 spikes: (layer, neuron) = N1, N2, N1, N1, N2, N3
ORDER = [(0, 0), (0, 1), (0, 0), (0, 0), (0, 1), (1, 0)]
# appendix order (by neuron) -> index in time order
APPENDIX_ROWS = [0, 2, 3, 1, 4, 5]
APPENDIX_DVDF = np.array([[1, 0, 0, 0, 0, 0],
                          [1, 1, 0, 0, 0, 0],
                          [1, 1, 1, 0, 0, 0],
                          [1, 0, 0, 1, 0, 0],
                          [1, 1, 1, 1, 1, 0],
                          [0, 0, 0, 1, 1, 1]], dtype=bool)
# dF/d(w1, w2, w3) in appendix order: N1 spikes depend on w1 only, N2 on w1, w2, N3 on all three
APPENDIX_DFDW = np.array([[1, 0, 0]] * 3 + [[1, 1, 0]] * 2 + [[1, 1, 1]], dtype=bool)


def network():
    return fpsnn.Network(weights=[W0, W1], alpha=ALPHA, beta=BETA, theta=THETA, t_max=T_MAX,
                         recurrent=[R0, None], max_spikes=8)


@pytest.fixture(scope="module")
def ref():
    r = simulate_reference([W0, W1], X[0], alpha=ALPHA, beta=BETA, theta=THETA, t_max=T_MAX,
                           recurrent=[R0, None], max_spikes=8)
    # well away from any spike-count discontinuity (see ReferenceResult.margins)
    assert r.margins["min_slope"] > 0.1 and r.margins["min_miss"] > 0.05 and r.margins["capped"] == 0
    return r


def events_of(times):
    ev = [(float(t), l, i) for l, T in enumerate(times) for i in range(T.shape[1]) for t in T[0, i] if np.isfinite(t)]
    return sorted(ev)


def test_reference_has_the_appendix_structure(ref):
    # the oracle itself: ordering and the dV/dF pattern (dense, from the firing equations)
    assert [(l, i) for _, l, i in ref.events] == ORDER
    L = reference_jacobian(ref, [W0, W1], [R0, None])["L"]
    pattern = (L != 0)[np.ix_(APPENDIX_ROWS, APPENDIX_ROWS)]
    np.testing.assert_array_equal(pattern, APPENDIX_DVDF)
    assert np.all(np.diag(L) > 0)                       # Theorem 4: positive diagonal


def test_spike_times_and_ordering(ref):
    res = network().simulate(X)
    ev = events_of(res.times)
    assert [(l, i) for _, l, i in ev] == ORDER
    np.testing.assert_allclose([t for t, _, _ in ev], [t for t, _, _ in ref.events], rtol=0, atol=1e-9)


def structural_pattern(ref):
    """Which dF_k/dp can be non-zero: p = W[j, i] enters the equation of a spike a of neuron i iff a spike
    of j precedes a (zero-valued weights included); dF_k/dp != 0 iff such an a is k or a causal ancestor of
    k, where the causal edges are the structurally non-zero entries of dV/dF (non-zero weights only)."""
    J = reference_jacobian(ref, [W0, W1], [R0, None])
    L = J["L"] != 0
    n = L.shape[0]
    anc = np.eye(n, dtype=bool)
    for k in range(n):                                   # time order: ancestors of earlier spikes are known
        for c in range(k):
            if L[k, c]:
                anc[k] |= anc[c]
    P = J["P"] != 0                                      # dV_a/dp structurally non-zero (y_ji(a) > 0)
    return (anc.astype(int) @ P.astype(int)) > 0, J


def test_jacobian_sparsity_matches_causal_paths(ref):
    jac = network().jacobian(X)
    structural, dense = structural_pattern(ref)
    ev = events_of(jac.times)
    idx_in_layer = {}
    rows = []
    for t, l, i in ev:
        k = idx_in_layer.get((l, i), 0)
        idx_in_layer[(l, i)] = k + 1
        rows.append(np.concatenate([jac.block(l, "weights", 0)[0, i, k].ravel(),
                                    jac.block(l, "recurrent", 0)[0, i, k].ravel(),
                                    jac.block(l, "weights", 1)[0, i, k].ravel()]))
    core = np.array(rows)                                # (6, 4 + 4 + 2) in reference parameter layout
    scale = np.max(np.abs(core))
    nonzero = np.abs(core) > 1e-12 * scale
    np.testing.assert_array_equal(nonzero, structural)
    # the appendix's 6 x 3 block: w1 = W0[0,0] (col 0), w2 = R0[0,1] (col 5), w3 = W1[1,0] (col 9)
    np.testing.assert_array_equal(nonzero[np.ix_(APPENDIX_ROWS, [0, 5, 9])], APPENDIX_DFDW)
    # and the values agree with the dense implicit-function-theorem solve of the reference
    dense_flat = np.concatenate([dense["weights"][0].reshape(6, -1), dense["recurrent"][0].reshape(6, -1),
                                 dense["weights"][1].reshape(6, -1)], axis=1)
    np.testing.assert_allclose(core, dense_flat, rtol=0, atol=1e-9 * scale)
    # no gradient on the recurrent diagonal (not a parameter)
    assert np.all(core[:, [4, 7]] == 0)


class AllTimes(Loss):
    """sum_k c_k f_k over the 6 spikes (each layer's times) + first-spike cross entropy on N3."""

    def __init__(self):
        self.c = [np.array([[[0.3, -1.1, 0.7], [1.3, 0.4, 0.0]]]), np.array([[[0.9, 0.0, 0.0]]])]
        self.ce = FirstSpikeCrossEntropy(np.array([0]), tau0=0.5, tau1=2.0, gamma=0.1)

    def evaluate(self, net, inputs, times):
        value, d_ce, _ = self.ce.evaluate(net, inputs, times)
        d = []
        for l, t in enumerate(times):
            c = self.c[l][:, :, :t.shape[2]]
            fin = np.isfinite(t)
            value += float(np.sum(np.where(fin, c * np.where(fin, t, 0.0), 0.0)))
            d.append(np.where(fin, c, 0.0) + (0.0 if d_ce[l] is None else d_ce[l]))
        return value, d, None


@pytest.mark.parametrize("mode", ["adjoint", "forward"])
def test_gradients_match_finite_differences(mode):
    net = network()
    loss = AllTimes()
    base = [np.sum(np.isfinite(t)) for t in net.simulate(X).times]
    _, g = net.value_and_grad(X, loss, mode=mode)

    def fun(p):
        trial = net.with_parameters([p[0], p[2]], [p[1], None])
        res = trial.simulate(X)
        assert [np.sum(np.isfinite(t)) for t in res.times] == base   # margins are >= 5 %: cannot change
        return loss.evaluate(trial, res.inputs, res.times)[0]

    masks = [None, ~np.eye(2, dtype=bool), None]
    fd = central_difference(fun, [W0, R0, W1], h_rel=1e-5, masks=masks, richardson=True)
    got = [g["weights"][0], g["recurrent"][0], g["weights"][1]]
    scale = max(np.max(np.abs(f)) for f in fd)
    for name, a, b in zip(["weights[0]", "recurrent[0]", "weights[1]"], got, fd):
        # Richardson FD: truncation O(h^4), rounding ~1e-10 (see tests/core/test_gradients_fd.py)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * scale, err_msg=name)
