"""Per-layer spike caps (``Network(max_spikes=(k_0, k_1, ...))``): honoured by the simulator, exact
gradients, the same results as one int cap when the caps are equal, clear errors for bad values.

Gradients: both modes against Richardson-extrapolated central differences in float64
(:func:`reference.central_difference`, the error analysis of ``test_gradients_fd.py``): step
``h = 1e-5 * max(1, max|W|)``, tolerance 1e-6 of the largest finite-difference entry in max-norm. The
loss is a fixed random linear combination of every recorded spike time of every layer plus the
first-spike cross entropy of the output, so a wrong row of dF/dW in any layer shows.
"""
import os
import sys

import numpy as np
import pytest

import fpsnn

sys.path.insert(0, os.path.dirname(__file__))
from reference import central_difference, simulate_reference  # noqa: E402
from test_gradients_fd import ManySpikes  # noqa: E402  (every spike time of every layer + first-spike CE)

FD_RTOL = 1e-6
ATOL = 1e-9   # spike times vs the brute-force reference (its root finder's tolerance)

# Two inputs drive two hidden neurons to fire 5 and 3 times in [0, 8], the output 6 times (uncapped).
W1 = np.array([[3.0, 1.6], [2.0, 2.2]])
W2 = np.array([[1.2], [1.0]])
X = np.array([[[0.0, 0.3], [0.2, np.inf]]])
REC = np.array([[0.0, 0.4], [-0.3, 0.0]])


def _net(caps, recurrent=None):
    return fpsnn.Network(weights=[W1, W2], alpha=1.0, beta=0.8, theta=1.0, t_max=8.0, max_spikes=caps,
                         recurrent=recurrent)


def _counts(res):
    return [np.isfinite(t).sum(axis=-1) for t in res.times]


@pytest.mark.parametrize("recurrent", [None, [REC, None]], ids=["feedforward", "recurrent"])
@pytest.mark.parametrize("caps", [(16, 1), (1, 16), (3, 2)])
def test_each_layer_keeps_its_own_cap_and_matches_the_reference(caps, recurrent):
    uncapped = _counts(_net(64, recurrent).simulate(X))
    assert uncapped[0].max() >= 3 and uncapped[1].max() >= 3          # every cap below bites somewhere
    net = _net(caps, recurrent)
    assert net.spike_caps == caps and net.max_spikes == caps
    res = net.simulate(X, debug=True)
    for l, (t, k) in enumerate(zip(res.times, caps)):
        assert t.shape[2] <= k and _counts(res)[l].max() <= k
    ref = simulate_reference([W1, W2], X[0], alpha=1.0, beta=0.8, theta=1.0, t_max=8.0, recurrent=recurrent,
                             max_spikes=caps)
    for l in range(2):
        for i in range(res.times[l].shape[1]):
            got, want = res.times[l][0, i], ref.times[l][i]
            got, want = got[np.isfinite(got)], want[np.isfinite(want)]
            assert len(got) == len(want)
            np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)


def test_a_layer_capped_at_one_never_records_a_second_spike_while_another_records_several():
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0.0, 3.0, (8, 4, 3)), axis=2)
    rec = rng.normal(0.0, 0.3, (6, 6))
    np.fill_diagonal(rec, 0.0)
    for recurrent in (None, [rec, None]):   # both compiled loops (independent and coupled neurons)
        net = fpsnn.Network([rng.normal(1.0, 0.5, (4, 6)), rng.normal(1.0, 0.5, (6, 3))], alpha=2.0, beta=1.0,
                            theta=1.0, t_max=5.0, max_spikes=[12, 1], recurrent=recurrent)
        res = net.simulate(x)
        hidden, out = _counts(res)
        assert hidden.max() >= 3 and out.max() == 1 and res.times[1].shape[2] == 1
        assert res.n_capped[1] > 0                                     # the output wanted more
        assert res.times[0].shape[2] <= 12


def test_equal_caps_are_one_int_cap_bit_for_bit():
    a, b = _net(3), _net([3, 3])
    assert b.max_spikes == 3 and isinstance(b.max_spikes, int) and b.spike_caps == (3, 3)
    ra, rb = a.simulate(X), b.simulate(X)
    assert ra.n_capped == rb.n_capped
    for ta, tb in zip(ra.times, rb.times):
        assert ta.shape == tb.shape and np.array_equal(ta, tb)
    assert repr(_net((4, 2))).endswith("max_spikes=(4, 2))")


def test_read_out_entry_is_kept_but_unused():
    net = fpsnn.Network([W1, W2], alpha=1.0, beta=0.8, theta=[1.0, np.inf], t_max=8.0, max_spikes=(2, 7))
    assert net.spike_caps == (2, 7)
    res = net.simulate(X)
    assert res.times[0].shape[2] == 2 and res.times[1].shape[2] == 0
    same = fpsnn.Network([W1, W2], alpha=1.0, beta=0.8, theta=[1.0, np.inf], t_max=8.0, max_spikes=(2, 1))
    assert np.array_equal(same.simulate(X).times[0], res.times[0])


def test_with_parameters_keeps_the_caps():
    net = _net((5, 2))
    assert net.with_parameters([W1 * 1.01, W2]).spike_caps == (5, 2)


@pytest.mark.parametrize("mode", ["adjoint", "forward"])
@pytest.mark.parametrize("caps,recurrent", [((16, 1), None), ((3, 2), None), ((3, 1), [REC, None])],
                         ids=["output-1", "both-capped", "recurrent"])
def test_per_layer_capped_gradients_match_central_differences(mode, caps, recurrent):
    net = _net(caps, recurrent)
    res = net.simulate(X)
    base = _counts(res)
    assert sum(res.n_capped) > 0                                       # the caps change the model here
    rng = np.random.default_rng(11)
    loss = ManySpikes([rng.normal(size=(1, n, 16)) for n in net.sizes], np.array([0]))
    _, g = net.value_and_grad(X, loss, mode=mode)
    n = net.n_layers
    params = list(net.weights) + list(net.recurrent)

    def fun(p):
        trial = net.with_parameters(p[:n], p[n:])
        r = trial.simulate(X)
        assert all(np.array_equal(a, b) for a, b in zip(_counts(r), base)), "a perturbation changed a spike count"
        return loss.evaluate(trial, r.inputs, r.times)[0]

    masks = [None] * n + [None if r is None else ~np.eye(r.shape[0], dtype=bool) for r in params[n:]]
    fd = central_difference(fun, params, h_rel=1e-5, masks=masks, richardson=True)
    want = np.concatenate([a.ravel() for a in fd if a is not None])
    got = np.concatenate([w.ravel() for w in g["weights"]] + [r.ravel() for r in g["recurrent"] if r is not None])
    assert np.max(np.abs(got - want)) <= FD_RTOL * np.max(np.abs(want))


@pytest.mark.parametrize("caps,theta,match", [
    (0, 1.0, r"max_spikes = 0: must be an integer >= 1"),
    (2.5, 1.0, r"max_spikes = 2\.5: must be an integer >= 1"),
    (True, 1.0, r"max_spikes = True: must be an integer >= 1"),
    ("3", 1.0, r"max_spikes = '3': must be an integer >= 1"),
    ((3,), 1.0, r"max_spikes = \(3,\): expected an integer or one entry per layer \(2 layers\), got 1"),
    ((3, 2, 1), 1.0, r"one entry per layer \(2 layers\), got 3"),
    ((3, 0), 1.0, r"max_spikes\[1\] = 0: layer 1's spike cap must be an integer >= 1$"),
    ((3, np.nan), 1.0, r"max_spikes\[1\] = nan: layer 1's spike cap must be an integer >= 1"),
    ((0, 3), 1.0, r"max_spikes\[0\] = 0: layer 0's spike cap"),
    ((3, 0), [1.0, np.inf], r"max_spikes\[1\] = 0: .*\(layer 1 is a non-firing read-out: the entry is unused"),
    (np.array([[3, 2]]), 1.0, r"max_spikes = \[\[3, 2\]\]: expected an integer or one entry per layer"),
])
def test_bad_caps_name_max_spikes_the_layer_and_the_limit(caps, theta, match):
    with pytest.raises(ValueError, match=match):
        fpsnn.Network([W1, W2], theta=theta, max_spikes=caps)


def test_numpy_integers_and_whole_floats_are_caps():
    net = _net(np.array([4, 2]))
    assert net.spike_caps == (4, 2) and all(type(k) is int for k in net.spike_caps)
    assert _net(np.int64(5)).max_spikes == 5 and _net(5.0).max_spikes == 5
