"""Bad arguments are rejected with a ValueError that NAMES the argument; silent outputs never give NaN.

Every check uses ``pytest.raises(ValueError, match=...)`` on the argument's name as the user wrote it
(``weights[0]``, ``x``, ``alpha``, ...), so a generic message ("invalid input") fails the test.
"""
import numpy as np
import pytest

import fpsnn
from fpsnn.losses import FirstSpikeCrossEntropy

W1 = np.full((2, 3), 3.0)
W2 = np.full((3, 2), 2.0)
X = np.array([[0.0, 0.5], [0.3, 0.2]])             # (batch=2, n_in=2)


def make(**kw):
    args = dict(weights=[W1, W2], alpha=1.0, beta=0.9, theta=1.0, t_max=4.0)
    args.update(kw)
    return fpsnn.Network(**args)


def test_valid_baseline_runs():
    # the fixtures themselves are valid: otherwise every "raises" below would prove nothing
    net = make()
    res = net.simulate(X)
    assert len(res.times) == 2 and res.times[0].shape[:2] == (2, 3)
    value, grads = net.value_and_grad(X, FirstSpikeCrossEntropy(np.array([0, 1])))
    assert np.isfinite(value)


# ------------------------------------------------------------------ weights
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_weight(bad):
    W = W1.copy()
    W[1, 2] = bad
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        make(weights=[W, W2])
    W = W2.copy()
    W[0, 0] = bad
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        make(weights=[W1, W])


def test_weights_chain_mismatch():
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        make(weights=[W1, np.ones((4, 2))])


def test_weights_not_2d_or_not_a_list():
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        make(weights=[np.ones(3), W2])
    with pytest.raises(ValueError, match=r"weights"):
        make(weights=W1)
    with pytest.raises(ValueError, match=r"weights"):
        make(weights=[])


# ------------------------------------------------------------------ recurrent
def test_recurrent_shape():
    with pytest.raises(ValueError, match=r"recurrent\[0\]"):
        make(recurrent=[np.zeros((3, 2)), None])
    with pytest.raises(ValueError, match=r"recurrent"):
        make(recurrent=[np.zeros((3, 3))])          # one entry per layer


def test_recurrent_nonzero_diagonal():
    R = np.zeros((3, 3))
    R[1, 1] = 0.5
    with pytest.raises(ValueError, match=r"recurrent\[0\]"):
        make(recurrent=[R, None])


def test_recurrent_nan():
    R = np.zeros((2, 2))
    R[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"recurrent\[1\]"):
        make(recurrent=[None, R])


# ------------------------------------------------------------------ neuron constants
@pytest.mark.parametrize("name", ["alpha", "beta", "theta"])
@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan])
def test_nonpositive_constants(name, bad):
    with pytest.raises(ValueError, match=name):
        make(**{name: bad})
    # also inside a per-layer list / per-neuron array
    with pytest.raises(ValueError, match=name):
        make(**{name: [1.0, np.array([1.0, bad])]})


@pytest.mark.parametrize("name", ["alpha", "beta"])
def test_infinite_time_constant(name):
    with pytest.raises(ValueError, match=name):
        make(**{name: np.inf})


def test_theta_wrong_length():
    with pytest.raises(ValueError, match="theta"):
        make(theta=[1.0, np.ones(5)])


@pytest.mark.parametrize("bad", [0.0, -2.0, np.nan, np.inf])
def test_t_max(bad):
    with pytest.raises(ValueError, match="t_max"):
        make(t_max=bad)


# ------------------------------------------------------------------ inputs
@pytest.mark.parametrize("bad", [np.nan, -0.5, -np.inf])
def test_bad_input_times(bad):
    net = make()
    x = X.copy()
    x[1, 0] = bad
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.simulate(x)
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.value_and_grad(x, FirstSpikeCrossEntropy(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.jacobian(x)


def test_input_channel_count_mismatch():
    net = make()
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.simulate(np.zeros((2, 3)))       # W1 has 2 rows
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.simulate(np.zeros((2, 3, 2)))


def test_input_wrong_ndim():
    net = make()
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.simulate(np.zeros((2, 2, 2, 2)))


def test_input_unsorted_spike_train():
    net = make()
    x = np.array([[[0.5, 0.1], [0.0, np.inf]]])
    with pytest.raises(ValueError, match=r"\bx\b"):
        net.simulate(x)


def test_inf_means_no_spike_is_accepted():
    net = make()
    res = net.simulate(np.full((1, 2), np.inf))
    assert not np.any(np.isfinite(res.times[0])) and not np.any(np.isfinite(res.times[1]))


# ------------------------------------------------------------------ gradient mode
@pytest.mark.parametrize("mode", ["backward", "", "Adjoint ", None])
def test_unknown_mode(mode):
    net = make()
    with pytest.raises(ValueError, match="mode"):
        net.value_and_grad(X, FirstSpikeCrossEntropy(np.array([0, 1])), mode=mode)


# ------------------------------------------------------------------ silent outputs never give NaN
@pytest.mark.parametrize("mode", ["adjoint", "forward"])
def test_silent_output_neuron_gives_finite_loss_and_grads(mode):
    W2z = W2.copy()
    W2z[:, 1] = 0.0              # output neuron 1 can never fire
    net = make(weights=[W1, W2z])
    res = net.simulate(X)
    assert not np.any(np.isfinite(res.times[1][:, 1]))
    assert np.all(np.isfinite(res.times[1][:, 0, 0]))      # the other output does fire (a real test)
    labels = np.array([1, 0])                                # sample 0's label neuron is the silent one
    value, grads = net.value_and_grad(X, FirstSpikeCrossEntropy(labels), mode=mode)
    assert np.isfinite(value)
    for g in grads["weights"]:
        assert np.all(np.isfinite(g))
    # the silent neuron's incoming weights carry no gradient (no firing equation), the policy in losses.py
    assert np.all(grads["weights"][1][:, 1] == 0.0)
    # the competing (firing) output still gets a gradient
    assert np.any(grads["weights"][1][:, 0] != 0.0)


@pytest.mark.parametrize("mode", ["adjoint", "forward"])
def test_all_silent_network_gives_finite_loss_and_zero_grads(mode):
    net = make(weights=[np.zeros((2, 3)), W2])
    value, grads = net.value_and_grad(X, FirstSpikeCrossEntropy(np.array([0, 1])), mode=mode)
    assert np.isfinite(value)
    for g in grads["weights"]:
        assert np.all(g == 0.0)


# ------------------------------------------------------------------ empty layers
def test_zero_neuron_layer_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"weights\[0\]: layer 0 has 0 neurons"):
        make(weights=[np.ones((2, 0)), np.ones((0, 2))])
    with pytest.raises(ValueError, match=r"weights\[1\]: layer 1 has 0 neurons"):
        make(weights=[W1, np.ones((3, 0))])
    with pytest.raises(ValueError, match=r"weights\[0\]: has 0 rows"):
        make(weights=[np.ones((0, 3)), W2])


def test_repr_is_one_line_without_weights():
    net = make(weights=[np.full((2, 3), 1.2345678), W2], alpha=[1.0, np.array([0.5, 2.0])],
               recurrent=[np.zeros((3, 3)), None])
    text = repr(net)
    assert "\n" not in text and "1.2345678" not in text and len(text) < 200
    assert "sizes=2-3-2" in text and "alpha=[1, 0.5..2]" in text and "recurrent_layers=[0]" in text


def test_per_neuron_array_and_scalar_layers_mix():
    """A per-neuron (n,) array in one layer and a scalar in another give one writable array type."""
    rng = np.random.default_rng(0)
    net = fpsnn.Network(weights=[np.ones((3, 5)), np.ones((5, 2))], alpha=[rng.uniform(0.5, 2, 5), 0.999],
                        theta=[1.0, 0.7], t_max=2.0)
    assert all(a.flags.writeable for a in net.alpha + net.beta + net.theta)
    res = net.simulate(np.zeros((1, 3)))
    assert res.times[-1].shape[:2] == (1, 2)
