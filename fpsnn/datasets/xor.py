"""XOR: the four binary patterns, label = a XOR b.

Every split is the same four patterns (the task is to fit them; paper section 5.1). Bits are encoded
as spike times 0.0 (bit 0, early) and 2.0 (bit 1, late), no bias input.
"""
from __future__ import annotations

import numpy as np

from ..encoding import LatencyEncoder
from . import Hyperparameters

N_FEATURES = 2
N_CLASSES = 2
DESCRIPTION = "XOR: the 4 binary patterns (every split); bits -> spike at 0.0 or 2.0"

# Paper appendix, Table 1. "Full batch" of the 4 patterns; one epoch = one iteration. The paper trains
# until convergence (max 98 iterations over 1000 inits), so 100 epochs is the default budget.
# t_sim = 4.0 (not T = 2.0): a "late" input spike sits exactly at T = 2.0, and a window ending there would
# give it no effect at all, so pattern (1, 1) would leave every neuron silent (predicted class -1) and XOR
# could never be learnt. Simulating to 2 T lets late spikes drive the network; measured: 3.0 and 4.0 give
# identical training runs, so the value past ~3 does not matter.
HYPERPARAMETERS = Hyperparameters(
    alpha=1.0, beta=0.99, theta=1.0, t_max=2.0, t_sim=4.0, t_early=0.0,
    hidden=(4,), init_mean=(3.0, 2.0), init_std=(1.0, 0.1),
    lr=0.1, gamma=0.2, tau0=0.1, tau1=1.0, batch_size=None, epochs=100)


def load(split: str):
    """The four patterns ``[[0,0],[0,1],[1,0],[1,1]]`` and labels ``[0,1,1,0]`` (any split)."""
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return x, np.array([0, 1, 1, 0], dtype=np.int64)


def encoder(hyper: Hyperparameters) -> LatencyEncoder:
    """Direct encoding: bit 0 -> ``t_early`` (0.0), bit 1 -> ``t_max`` (2.0)."""
    return LatencyEncoder(t_max=hyper.t_max, t_early=hyper.t_early, t_bias=hyper.t_bias)
