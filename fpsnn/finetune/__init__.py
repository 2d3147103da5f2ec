"""Fine-tuning a trained network for a chip from spike times measured on it (``hil``) or offline (``qat``).

* :mod:`.targets`: where spike times are measured (a chip, or the exact simulation of its network).
* :mod:`.policy`: what happens to measured times before the exact gradient uses them.
* :mod:`.calibration`: probe programs that measure a device's mismatch (:class:`DeviceModel`).
* :mod:`.finetuner`: :class:`FineTuner`, on the same epoch loop as offline training.
* :mod:`.command`: ``fpsnn hil`` (model file in, fine-tuned model file out).

Measured results (recovery under device mismatch, with and without calibration): ``docs/finetune.md``.
"""
from .calibration import (PROBE_TRAINS, TIME_CONSTANT_FITS, DeviceModel, calibrate_device, probe_inputs, probe_network,
                          true_device_model)
from .command import configure_cli, fine_tune_file, run_cli
from .finetuner import FineTuner, TargetLost
from .policy import POLICY_COUNTS, clean_times
from .targets import MODES, chip_network, evaluate_on, measure_metrics, resolve_target

__all__ = ["MODES", "chip_network", "DeviceModel", "true_device_model", "calibrate_device", "TIME_CONSTANT_FITS",
           "PROBE_TRAINS", "probe_network", "probe_inputs", "clean_times", "POLICY_COUNTS", "resolve_target",
           "evaluate_on", "measure_metrics", "FineTuner", "TargetLost", "fine_tune_file", "configure_cli", "run_cli"]
