"""Basic Motions (UEA archive, bundled in sktime 1.2): a smartwatch's 3-axis accelerometer and gyroscope.

Each sample is 100 steps (10 s at 10 Hz) of 6 channels (accelerometer x, y, z, then gyroscope x, y, z),
a dense ``(n, 6, 100)`` float64 array; classes (in this order): standing, walking, running, badminton
-> 0 ... 3. Split: the archive's own, 40 training and 40 test samples (10 per class each); ``validation``
is the test split. Needs the ``data`` extra (sktime).

Encoding: send-on-delta (:class:`fpsnn.encoding.DeltaEncoder`) at 25 steps per time unit (the series ends
at t = 3.96), thresholds = a scale x each channel's training step-difference standard deviation, start
level = the training mean, at most 48 spikes per input; 12 inputs (fits a Xylo chip's 16). The
difference std is dominated by running and badminton; at 1 x it, standing and walking send almost no
spikes (mean 1 and 5 per sample) and cannot be told apart, at 0.4 x they send 12 and 122 while the two
vigorous classes reach the cap (about 570). The scale depends on the read-out
(:data:`THRESHOLD_SCALE`): a first-spike network stays silent on most ``standing`` samples at 0.4 x
(silent = wrong), so it gets 0.1 x, where standing sends enough spikes to be answered; the mean-potential
read-out (the default) cannot fall silent and does best at 0.4 x (docs/workloads.md).
"""
from __future__ import annotations

import numpy as np

from ..encoding import DeltaEncoder
from ..losses import readout_of
from . import TEMPORAL_BASE, Hyperparameters
from .archive import load_archive

N_FEATURES = 6  # channels
N_CLASSES = 4
CLASSES = ("standing", "walking", "running", "badminton")
SAMPLE_RATE = 25.0  # steps per time unit
DESCRIPTION = "Basic Motions (sktime/UEA): 6 IMU channels x 100 steps, 4 activities; train 40, test 40"

#: x the training step-difference std, by read-out (module docstring); other read-outs: "first_spike"'s
THRESHOLD_SCALE = {"first_spike": 0.1, "mean_membrane": 0.4}

# Defaults measured in docs/workloads.md; hidden layers fit Xylo IMU (<= 128 hidden reached by the
# inputs). "paper" preset: the first-spike recipe (the paper's loss); default: the mean output
# potential ("mean_membrane", no silent outputs), 120 hidden, 60 epochs with a cosine learning rate.
HYPERPARAMETERS = Hyperparameters(**{**TEMPORAL_BASE, **dict(
    t_input_max=4.0, t_sim=5.0, hidden=(60,), init_mean=(0.08, 0.15), init_std=(0.2, 0.1),
    lr=0.005, batch_size=10, epochs=30)})
DEFAULT_HYPERPARAMETERS = HYPERPARAMETERS.replace(readout="mean_membrane", count_scale=4.0, hidden=(120,),
                                                  epochs=60, schedule="cosine", lr_decay=0.01)


def load(split: str):
    """Dense series ``(40, 6, 100)`` float64 and int64 labels 0-3 (``validation`` = ``test``)."""
    x, y = load_archive("load_basic_motions", "basic_motions", "train" if split == "train" else "test", CLASSES)
    return np.stack(list(x)), y


def encoder(hyper: Hyperparameters) -> DeltaEncoder:
    """Send-on-delta fitted on the training split (module docstring)."""
    x, _ = load("train")
    scale = THRESHOLD_SCALE.get(readout_of(hyper), THRESHOLD_SCALE["first_spike"])
    return DeltaEncoder(sample_rate=SAMPLE_RATE, threshold_scale=scale, baseline="mean",
                        max_spikes=48).fit(x)
