"""Iris (scikit-learn's bundled copy, 150 samples, 4 features, 3 classes).

Split: a fixed stratified split made with ``sklearn.model_selection.train_test_split(test_size=30,
stratify=labels, random_state=SPLIT_SEED)``: 120 training samples (40 per class) and 30 test samples
(10 per class). The paper reports only a test accuracy, so ``validation`` is the same 30 samples as
``test`` (no model selection is done on it in fpsnn's runs).

Encoding (paper section 5.2): :math:`t = T (1 - (n - \\min n)/(\\max n - \\min n))` per feature with min and
max over the whole data set (all 150 samples, as the paper states), ``T = 16``: the largest value spikes
first.

Measured limits of the paper's settings (fpsnn, seed 0, this split): ~83 % train / 90 % test accuracy,
not the paper's 100 %, and no epoch count, learning rate or gamma we tried changed that. Reason: without a
reference spike the network is shift-equivariant (delaying every input spike by d delays every output
spike by d), so the first-spike winner only sees *differences* of the encoded features, and Iris's
versicolor/virginica differ mostly in overall size. Classifiers given only those differences
(``u - max(u)``) reach 87-89 % in 10-fold cross-validation (SVM, random forest, k-NN), against 95-97 % on
the full features. ``REFERENCE_SPIKE_HYPERPARAMETERS`` adds a bias input spike at t = 0 (an absolute time
reference) and settings that keep training stable; measured 93.3 % train / 96.7 % test (seed 0, 120
epochs). The paper's values stay the defaults; use the variant with
``fpsnn train iris --t-bias 0 --gamma 0 --init-mean 1 2 --init-std 1 0.5 --tau0 0.5 --schedule step
--lr-step 70 --lr-decay 0.1 --epochs 120``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..encoding import LatencyEncoder
from . import Hyperparameters

N_FEATURES = 4
N_CLASSES = 3
SPLIT_SEED = 42
N_TEST = 30
DESCRIPTION = f"Iris (sklearn): stratified 120 train / 30 test (seed {SPLIT_SEED}); validation = test"

# Paper appendix, Table 2. The table gives no batch size or epoch count: full batch, 100 epochs (accuracy
# is flat after ~50 epochs with these settings, see the module docstring).
HYPERPARAMETERS = Hyperparameters(
    alpha=1.0, beta=0.9, theta=1.0, t_max=16.0, t_early=0.0,
    hidden=(10,), init_mean=(3.0, 2.0), init_std=(1.0, 0.1),
    lr=0.05, gamma=0.1, tau0=1.0, tau1=1.0, batch_size=None, epochs=100)


# fpsnn's variant (see the module docstring): reference spike at t = 0, hidden weights that need several
# coincident inputs to fire (mean 1.0 instead of 3.0, so the bias alone does not fire them), no
# late-label penalty (gamma (e^{f/tau1} - 1) is ~1e6 at f ~ 14 with tau1 = 1 and swamps the cross
# entropy), and a 10x step decay at epoch 70 against the late-training collapse seen at constant lr.
REFERENCE_SPIKE_HYPERPARAMETERS = HYPERPARAMETERS.replace(
    t_bias=0.0, gamma=0.0, init_mean=(1.0, 2.0), init_std=(1.0, 0.5), tau0=0.5, schedule="step", lr_step=70,
    lr_decay=0.1, epochs=120)


@lru_cache(maxsize=1)
def _all():
    from sklearn.datasets import load_iris

    data = load_iris()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target, dtype=np.int64)


@lru_cache(maxsize=1)
def _split_indices():
    from sklearn.model_selection import train_test_split

    _, y = _all()
    train, test = train_test_split(np.arange(len(y)), test_size=N_TEST, stratify=y, random_state=SPLIT_SEED)
    return np.sort(train), np.sort(test)


def load(split: str):
    """Features (cm) and labels of ``split`` (``validation`` = ``test``, see the module docstring)."""
    x, y = _all()
    train, test = _split_indices()
    idx = train if split == "train" else test
    return x[idx], y[idx]


def encoder(hyper: Hyperparameters) -> LatencyEncoder:
    """Mirrored min/max encoding with min/max over all 150 samples (paper section 5.2)."""
    x, _ = _all()
    return LatencyEncoder.fit_minmax(x, t_max=hyper.t_max, t_early=hyper.t_early, t_bias=hyper.t_bias,
                                     mirrored=True)
