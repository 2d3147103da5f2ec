"""XOR: the four binary patterns, label = a XOR b.

Every split is the same four patterns (the task is to fit them; paper section 5.1). Bits are encoded
as spike times 0.0 (bit 0, early) and 2.0 (bit 1, late), no bias input.

Two hyper-parameter sets (``tools/reproduce_xor.py --variant``):

* ``HYPERPARAMETERS``: the paper's Table 1 as printed, including the late-label penalty
  ``gamma (e^{f_label/tau1} - 1)`` with ``gamma = 0.2``.
* ``CROSS_ENTROPY_HYPERPARAMETERS``: the same with ``gamma = 0``, i.e. the loss that section 5.1 describes
  for XOR: "a cross-entropy loss based on first spike times of the output neurons" (the penalty term is
  introduced only in section 5.3, for Yin-Yang, "as in [50, 21]"). This is a departure from Table 1's
  gamma row, supported by the text and by the measurements below.

Measured (fpsnn at commit 5604e54's simulator, seeds 0-999, at most 200 iterations, one iteration = one
Adam step on the full batch, accuracy checked after each step, an init already at 100 % counts 0):

* Table 1 (gamma 0.2): 955/1000 converge, mean 32.3, median 23, max 186 iterations (paper: 1000/1000,
  mean 17.52, max 98). The 45 failures sit at 75 % (one of (0,1)/(1,0) lost) with weights grown to
  |W| ~ 10-14, 55-68 spikes per sample and output first spikes at 0.12-0.2: the penalty keeps pushing every
  label spike earlier (its gradient gamma e^{f/tau1} is 0.2-1.8 per sample, pattern (1,1) can never
  answer before its inputs at t = 2), Adam normalises the summed gradient, and the network ends in a
  saturated, high-rate regime where the cross entropy's ranking signal makes almost no progress.
  Over seeds 0-299, 280 of the 285 converged runs decide (0,1)/(1,0) before the late input (mean 36
  iterations); the penalty all but rules out the solutions that wait for it.
* Cross entropy only (gamma 0): 1000/1000 converge, mean 17.13, median 15, max 164 (3 inits above 98).
  86 of 300 runs (seeds 0-299) then decide (0,1)/(1,0) after the late input (mean 20.8 iterations), the
  rest before it (mean 17.2). gamma 0.02: 1000/1000, mean 18.1; gamma 0.05 (Table 1's value divided by the
  batch of 4, one reading of the printed bracket): 996/1000, mean 20.4; gamma 0.1 (100 inits): 97/100,
  mean 41.7.

Other differences examined, none of which explains the gap (gamma 0.2 unless stated; 100 inits give
96/100, mean 34.9 for Table 1 as printed):

* Simulation window: ``t_sim`` = 3, 4 or 20 give identical runs with gamma 0.2. With gamma 0, 3.0 leaves 2
  of 1000 inits unconverged ((1,1)'s outputs fire after 3), while 4.0 and 20.0 (with ``max_spikes`` 64,
  i.e. an unbounded output-spike search) give identical runs. A window ending at T = 2 (late inputs have
  no effect, (1,1) is all silent and only counts as correct if a tie goes to class 0): 89/100, mean 54.
* ``max_spikes``: 2, 3, 4, 16 or 64 give (nearly) identical runs (only spikes before the first output
  spike matter); 1: 991/1000, mean 22.7 (with gamma 0: 997/1000, mean 13.0).
* The penalty with the printed sign (rewarding late label spikes): 73/100, the others fall silent.
* Batch sum instead of mean: the same (Adam is scale invariant up to eps). Adam is PyTorch's
  (bias-corrected, eps outside the square root). Counting the accuracy check before each step instead
  of after it gives the same counts (the same network is checked). Negative initial weights are rare
  (hidden N(3, 1): 0.13 % per weight) and were not clipped in the paper's description.
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
# could never be learnt. Simulating to 2 T lets late spikes drive the network; measured: 4.0 and 20.0 give
# identical training runs over 1000 inits (3.0 is too short for 2 of them with gamma = 0), so 4.0 is as
# good as an unbounded window here.
HYPERPARAMETERS = Hyperparameters(
    alpha=1.0, beta=0.99, theta=1.0, t_input_max=2.0, t_sim=4.0, t_early=0.0,
    hidden=(4,), init_mean=(3.0, 2.0), init_std=(1.0, 0.1),
    lr=0.1, gamma=0.2, tau0=0.1, tau1=1.0, batch_size=None, epochs=100)

# Section 5.1's loss for XOR: first-spike cross entropy without the late-label penalty (module docstring).
CROSS_ENTROPY_HYPERPARAMETERS = HYPERPARAMETERS.replace(gamma=0.0)


def load(split: str):
    """The four patterns ``[[0,0],[0,1],[1,0],[1,1]]`` and labels ``[0,1,1,0]`` (any split)."""
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return x, np.array([0, 1, 1, 0], dtype=np.int64)


def encoder(hyper: Hyperparameters) -> LatencyEncoder:
    """Direct encoding: bit 0 -> ``t_early`` (0.0), bit 1 -> ``t_max`` (2.0)."""
    return LatencyEncoder(t_max=hyper.t_input_max, t_early=hyper.t_early, t_bias=hyper.t_bias)
