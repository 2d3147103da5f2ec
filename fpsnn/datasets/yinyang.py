"""Yin-Yang (Kriener, Goltz & Petrovici 2022), generated exactly as the official generator does.

Splits: train 5000 samples (seed 42), validation 1000 (seed 41), test 1000 (seed 40); radii
``r_small = 0.1``, ``r_big = 0.5``. One ``numpy.random.RandomState(seed)`` serves a whole split: for each
sample draw the wanted class, then draw points in the bounding square until one inside the big circle
has that class. Features are ``[x, y, 1 - x, 1 - y]`` (dimensionless, in [0, 1]); classes: 0 = yang,
1 = yin, 2 = dots. Check value: the training split's class counts are ``[1681, 1702, 1617]``.

Encoding (Goltz et al.'s direction): ``t = 0.15 + v (2.0 - 0.15)`` per feature, plus a bias input spike at
``t_bias = 0.9``: 5 inputs.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..encoding import LatencyEncoder
from . import Hyperparameters

N_FEATURES = 4
N_CLASSES = 3
R_SMALL = 0.1
R_BIG = 0.5
SPLIT_SIZES_SEEDS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}
DESCRIPTION = "Yin-Yang (official generator): train 5000 (seed 42), validation 1000 (41), test 1000 (40)"

# Paper appendix, Table 3.
HYPERPARAMETERS = Hyperparameters(
    alpha=0.999, beta=1.0, theta=1.0, t_input_max=2.0, t_early=0.15, t_bias=0.9,
    hidden=(150,), init_mean=(1.5, 2.0), init_std=(0.8, 0.1),
    lr=0.0005, gamma=0.005, tau0=0.2, tau1=1.0, batch_size=150, epochs=300)

# The default preset (``fpsnn train yinyang``): Table 3 with the silent-neuron bump on (the paper's
# settings leave most hidden neurons of some seeds dead late in training, with no gradient to revive
# them; fpsnn.training.silent) and Adam at lr 2e-3 with a cosine decay to 2e-5 over the 300 epochs
# instead of a constant 5e-4. Measured figures: docs/training-presets.md.
DEFAULT_HYPERPARAMETERS = HYPERPARAMETERS.replace(silent_bump=0.005, lr=0.002, schedule="cosine", lr_decay=0.01)


def which_class(x: float, y: float, r_small: float = R_SMALL, r_big: float = R_BIG) -> int:
    """Class of the point (x, y) inside the big circle: 0 yang, 1 yin, 2 dots."""
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    is_yin = (d_right <= r_small) or (r_small < d_left <= 0.5 * r_big) or (y > r_big and d_right > 0.5 * r_big)
    if d_right < r_small or d_left < r_small:
        return 2
    return int(is_yin)


def generate(size: int, seed: int, r_small: float = R_SMALL, r_big: float = R_BIG):
    """``size`` samples from ``RandomState(seed)``; the official generator's draw order (see docstring)."""
    rng = np.random.RandomState(seed)
    features = np.empty((size, 4))
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2 * r_big
            # Points outside the big circle are rejected (and consume their draws, as in the original).
            if np.hypot(x - r_big, y - r_big) > r_big:
                continue
            if which_class(x, y, r_small, r_big) == goal:
                break
        features[i] = (x, y, 1 - x, 1 - y)
        labels[i] = goal
    return features, labels


@lru_cache(maxsize=None)
def _split(split: str):
    size, seed = SPLIT_SIZES_SEEDS[split]
    return generate(size, seed)


def load(split: str):
    """Features and labels of ``split`` (generated once per process, then cached)."""
    return _split(split)


def encoder(hyper: Hyperparameters) -> LatencyEncoder:
    """Direct encoding on [t_early, T] plus the bias spike at ``t_bias``."""
    return LatencyEncoder(t_max=hyper.t_input_max, t_early=hyper.t_early, t_bias=hyper.t_bias)
