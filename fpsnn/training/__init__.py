"""Training on the exact gradients: one resumable epoch loop, one evaluation on spike times.

* :mod:`.optimizers`: Adam, SGD, learning-rate schedules.
* :mod:`.params`: the initial network; parameters and gradients as one flat list.
* :mod:`.evaluate`: accuracy, loss, dead / silent neurons, spikes per sample from spike times.
* :mod:`.runfiles`: checkpoint and model file paths, what a resumed run must match.
* :mod:`.loop`: :class:`EpochLoop`, the loop offline training and in-the-loop fine-tuning share.
* :mod:`.trainer`: :class:`Trainer` and :func:`fit_dataset`; :mod:`.seeds`: :func:`run_seeds`.
"""
from .evaluate import SpikeMetrics, evaluate, metrics_from_times
from .loop import EpochLoop, LoopState, LoopTask, Minibatch, StepFailed, TrainResult, check_training_data
from .optimizers import SGD, Adam, learning_rate, make_optimizer
from .params import all_finite, gradient_list, init_network, parameter_list, with_parameter_list
from .runfiles import CHECKPOINT_NAME, MODEL_NAME, RunFiles, fingerprint
from .seeds import run_seeds
from .trainer import Trainer, fit_dataset

__all__ = ["Adam", "SGD", "make_optimizer", "learning_rate", "init_network", "parameter_list",
           "with_parameter_list", "gradient_list", "all_finite", "evaluate", "metrics_from_times", "SpikeMetrics",
           "EpochLoop", "LoopState", "LoopTask", "Minibatch", "StepFailed", "TrainResult", "check_training_data",
           "Trainer", "fit_dataset", "run_seeds", "RunFiles", "fingerprint", "CHECKPOINT_NAME", "MODEL_NAME"]
