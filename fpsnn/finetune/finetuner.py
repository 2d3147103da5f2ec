r"""In-the-loop (``hil``) and quantization-aware (``qat``) fine-tuning with exact spike-time gradients.

:class:`FineTuner` runs on the same epoch loop as offline training (:class:`fpsnn.training.EpochLoop`:
optimizer, schedule, progress, checkpoints, bit-identical resumption); only its minibatch gradient
and its extra checkpoint arrays (the device model) differ. Every minibatch

1. compiles the float *shadow* network (the weights being trained) for the chip and builds the chip
   network the program implements (:mod:`.targets`);
2. measures: runs the minibatch on the target and reads back the spike times of every layer
   (``hil``), or simulates the chip network exactly (``qat``, no chip at all);
3. cleans the measured times (:mod:`.policy`) and computes the exact gradient of the loss *at those
   times* (``value_and_grad(chip_net, x, loss, times=measured)``: the causal set of every spike is
   every measured spike that reached its neuron strictly earlier), for the device model when there
   is one (:mod:`.calibration`);
4. applies the gradient to the shadow weights (straight-through estimator, below).

**Weight-rounding estimator (documented choice).** The chip weights are :math:`\hat W = q(W)`
(per-channel scale, round to the integer grid, shift). The gradient is evaluated at :math:`\hat W`
(the network that actually ran) and applied to :math:`W` as if :math:`dq/dW = 1` (straight-through
estimator). No clipping term is needed: the mappings scale each channel so that its largest weight
lands on the largest integer, so no weight is ever clipped. Time constants are not trained; they are
the chip's effective ones throughout, so QAT trains the weights *for* the time constants the chip
can represent.

**Loss.** A network with a firing output layer is fine-tuned with the first-spike cross entropy
(:class:`fpsnn.losses.FirstSpikeCrossEntropy` with ``hyper``'s ``tau0``, ``tau1``, ``gamma``). A
network whose output layer is a membrane read-out (``theta = inf``, ``hyper.readout`` in
:data:`fpsnn.losses.MEMBRANE_READOUTS`) is fine-tuned with its own read-out loss
(:func:`fpsnn.losses.classifier_loss`): a closed-form function of the last hidden layer's measured
spike times and the read-out weights, so the chip's hidden spike times are all the gradient needs
(the read-out layer's times are the empty ``(batch, n_out, 0)`` array the simulator gives it). Each
minibatch is compiled with the ``readout_range`` ``fpsnn deploy`` would use on those samples, and the
chip's answer is scored from its recorded output potential (:mod:`.targets`): ``train_accuracy`` /
``test_accuracy`` are the chip's read-out, ``*_accuracy_at_chip_times`` the float read-out of the chip
network at the chip's hidden times (the loss's view), ``readout_saturated`` the samples whose output
potential hit the chip's state limit. Calibration probes first spikes and is refused for a read-out
layer (it never fires); DYNAP-SE2 cannot map one (its neurons always fire): ValueError on creation.

**Time step.** ``dt`` (network time units per chip step) defaults to the target's own
(``backend.default_dt(net)``); measured times are step-end times ``(k + 1) dt``.

**Losing the target.** Any exception raised by the target while compiling or running happens before
the optimizer moves, so the state is exactly "after the last completed update". With an ``out_dir``
that state is written to the checkpoint and :class:`TargetLost` is raised naming the epoch, the
minibatch and the checkpoint; ``fit(resume=True)`` continues with the next minibatch, so no update is
lost or repeated. Measured results: ``docs/finetune.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import Hyperparameters
from ..losses import FirstSpikeCrossEntropy, classifier_loss
from ..network import Network
from ..training import (EpochLoop, LoopState, LoopTask, Minibatch, RunFiles, SpikeMetrics, TrainResult, all_finite,
                        check_training_data, fingerprint, gradient_list, make_optimizer, parameter_list)
from .calibration import DeviceModel, calibrate_device
from .policy import POLICY_COUNTS, clean_times
from .targets import (CHIP_READOUT_COUNTS, MODES, TargetFailure, add_measured, finish_metrics, make_source,
                      measure_metrics, measurement_range, membrane_readout)

__all__ = ["FineTuner", "TargetLost"]

#: Counters of a fine-tuning epoch besides the metrics (policy counts, then the gradient's).
EPOCH_COUNTS = POLICY_COUNTS + ("n_bad_slopes", "skipped_updates")


class TargetLost(RuntimeError):
    """The target failed during fine-tuning; the message names where and how to resume."""


@dataclass
class FineTuner(RunFiles, LoopTask):
    """Fine-tune a trained float network for a chip: in the loop (``hil``) or offline (``qat``).

    Args:
        net: the trained float network; its weights initialise the shadow weights. Its output layer
            fires (first-spike loss) or is a membrane read-out (its read-out loss; module docstring).
        hyper: optimizer, ``lr``, ``schedule``, ``batch_size``, ``epochs``, loss settings (``readout``;
            ``tau0``, ``tau1``, ``gamma`` for a firing output layer, ``count_scale`` and ``n_read`` for a
            read-out) and ``grad_mode`` (see :class:`fpsnn.datasets.Hyperparameters`).
        train: ``(inputs, labels)``: input spike times ``(batch, n_in)`` (time units), int labels.
        target: chip name (``"xylo-audio2"``, ``"loihi2"``) or a backend-like object (``compile``, ``run``
            and ``dequantize`` or a ``chip`` description). In ``qat`` mode only its ``compile`` is used.
        mode: ``"hil"`` or ``"qat"`` (module docstring).
        test: optional ``(inputs, labels)`` measured after every epoch (on the target in ``hil`` mode,
            on the exact chip network in ``qat`` mode).
        dt: chip step (time units); default: the target's.
        engine: target engine (``"auto"``, ``"emulator"``, ``"vendor"``, ``"board"``).
        mismatch, mismatch_seed: emulate device mismatch of this spread on device ``mismatch_seed``
            (:mod:`fpsnn.backends.mismatch`); ``hil`` mode only.
        seed: minibatch shuffling seed.
        out_dir: checkpoints and the final model (``None``: in memory, no resume).
        checkpoint_every: also checkpoint after every so many minibatches (default: only at epoch
            ends and when the target fails).
        progress: rich progress bar on stderr; metadata: extra JSON for the model file.
        calibrate: ``hil`` only: before the first step, estimate the device's weight gains with probe
            programs (:func:`~.calibration.calibrate_device`, reference: the chip's emulator) and
            compute every gradient for that :class:`~.calibration.DeviceModel`.
        device_model: ``hil`` only: a given :class:`~.calibration.DeviceModel` instead (e.g.
            :func:`~.calibration.true_device_model` for an upper bound in experiments); not together
            with ``calibrate``.
        compensate: with a device model (calibrated or given), start from the shadow weights divided
            by the device's weight gains (:meth:`~.calibration.DeviceModel.compensate`), so that the
            device first runs what the float network means; ``False`` keeps the weights and only
            corrects the gradients.

    :meth:`fit` raises :class:`TargetLost` when the target fails (the state after the last completed
    update is checkpointed); :meth:`save` writes the fine-tuned shadow network as a model file.
    """

    net: Network
    hyper: Hyperparameters
    train: tuple
    target: object
    mode: str = "hil"
    test: tuple | None = None
    dt: float | None = None
    engine: str = "auto"
    mismatch: float = 0.0
    mismatch_seed: int = 0
    seed: int = 0
    out_dir: str | Path | None = None
    checkpoint_every: int | None = None
    progress: bool = False
    metadata: dict = field(default_factory=dict)
    calibrate: bool = False
    device_model: DeviceModel | None = None
    compensate: bool = True

    kind = "fine-tune"

    def __post_init__(self):
        if not isinstance(self.net, Network):
            raise ValueError(f"net: expected an fpsnn.Network, got {type(self.net).__name__}")
        self.membrane = membrane_readout(self.net, self.hyper)
        if self.membrane and self.calibrate:
            raise ValueError("calibrate: the probes fit firing equations at measured spikes, and a membrane read-out "
                             "layer (theta = inf) never fires; fine-tune without --calibrate")
        if self.mode not in MODES:
            raise ValueError(f"mode = {self.mode!r}: must be one of {MODES}")
        self.x_train, self.y_train = check_training_data(self.train)
        if self.x_train.shape[1] != self.net.n_inputs:
            raise ValueError(f"train: inputs have {self.x_train.shape[1]} channels, the network {self.net.n_inputs}")
        if self.y_train.max() >= self.net.sizes[-1] or self.y_train.min() < 0:
            raise ValueError(f"train: labels must lie in [0, {self.net.sizes[-1] - 1}] (one per output neuron)")
        if self.test is not None:
            self.x_test = np.ascontiguousarray(self.test[0], dtype=np.float64)
            self.y_test = np.asarray(self.test[1], dtype=np.int64)
        self.dt = None if self.dt is None else float(self.dt)
        if self.dt is not None and not (math.isfinite(self.dt) and 0 < self.dt <= self.net.t_max):
            raise ValueError(f"dt = {self.dt}: must be in (0, t_max = {self.net.t_max}] (time units per chip step)")
        if self.checkpoint_every is not None and int(self.checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every = {self.checkpoint_every}: must be >= 1 minibatches (or None)")
        if int(self.seed) < 0:
            raise ValueError(f"seed = {self.seed}: must be >= 0")
        if self.calibrate and self.device_model is not None:
            raise ValueError("calibrate: not together with a given device_model (one or the other)")
        if self.device_model is not None and not isinstance(self.device_model, DeviceModel):
            raise ValueError(f"device_model: expected a DeviceModel, got {type(self.device_model).__name__}")
        if self.mode == "qat" and (self.calibrate or self.device_model is not None):
            raise ValueError("calibrate / device_model: describe a device (mode 'hil'); QAT never runs the target")
        if self.mode == "qat" and self.mismatch:
            raise ValueError("mismatch: applies to a target run (mode 'hil'); QAT never runs the target")
        self.source = make_source(self.target, self.mode, self.engine, self.mismatch, self.mismatch_seed)
        if self.membrane:
            self._check_readout_target()
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        self.loop = EpochLoop(self)

    def _check_readout_target(self) -> None:
        """Before any run: the target maps a read-out layer (DYNAP-SE2 does not: ValueError, the chip's
        own message) and the engine asked for returns the output potential (RuntimeError), rather than a
        lost target in epoch 1."""
        backend = self.source.backend
        if callable(getattr(backend, "check_fits", None)):
            backend.check_fits(self.net)
        if self.mode == "hil" and self.engine != "auto" and callable(getattr(backend, "potential_available", None)):
            ok, why = backend.potential_available(self.engine)
            if not ok:
                raise RuntimeError(f"engine {self.engine!r}: cannot fine-tune a membrane read-out on "
                                   f"{self.source.name}: {why}")

    # ------------------------------------------------------------------ loop hooks: state and files
    def config(self) -> dict:
        """Everything a resumed run must share with the interrupted one (the epoch budget may grow)."""
        hyper = self.hyper.to_dict()
        hyper.pop("epochs")
        config = {"mode": self.mode, "target": self.source.name, "dt": self.dt, "mismatch": float(self.mismatch),
                  "mismatch_seed": int(self.mismatch_seed), "seed": int(self.seed), "hyper": hyper,
                  "data_sha256": fingerprint(self.x_train, self.y_train)}
        if self.calibrate:  # only when set: checkpoints written before the option still resume
            config["calibrate"] = True
        if self.device_model is not None:
            config["device_model"] = self.device_model.source
        if (self.calibrate or self.device_model is not None) and not self.compensate:
            config["compensate"] = False
        return config

    def fresh_state(self) -> LoopState:
        net = self.net.with_parameters(self.net.weights, self.net.recurrent)
        initial = [w.copy() for w in net.weights]
        if self.device_model is not None and self.compensate:
            net = self.device_model.compensate(net)
        return LoopState(net, initial, make_optimizer(self.hyper, [p.shape for p in parameter_list(net)]),
                         np.random.default_rng(np.random.SeedSequence(int(self.seed))),
                         extra={"device": self.device_model})

    def checkpoint_extra(self, state: LoopState) -> tuple[dict, dict]:
        device = state.extra.get("device")
        return ({} if device is None else device.arrays(),
                {"calls": self.source.calls, "device_source": None if device is None else device.source})

    def restore_extra(self, state: LoopState, arrays: dict, metadata: dict) -> None:
        self.source.calls = int(metadata.get("calls", 0))
        source = metadata.get("device_source")
        state.extra["device"] = DeviceModel.from_arrays(arrays, state.net.n_layers, source) if source else None

    def prepare(self, state: LoopState) -> None:
        """Calibrate the device once per run (a resumed run has its model from the checkpoint)."""
        if self.calibrate and state.extra.get("device") is None:
            device = self._calibrate(state.net)
            state.net = device.compensate(state.net) if self.compensate else state.net
            state.extra["device"] = device

    def _calibrate(self, net: Network) -> DeviceModel:
        """:func:`calibrate_device` on the target, with the chip's nominal emulator as the reference."""
        from ..backends.mismatch import MismatchTarget

        device = self.source.target
        reference = device.target if isinstance(device, MismatchTarget) else device
        try:
            return calibrate_device(device, net, self.dt, self.engine, reference=reference)
        except Exception as exc:  # as for a minibatch: the target failed, nothing has moved yet
            raise TargetFailure(exc) from exc

    def failed(self, state: LoopState, exc: BaseException) -> Exception:
        where = f"epoch {state.epoch + 1}, after {state.batch} completed minibatch(es)"
        saved = (f"the state after the last completed update is saved in {self.checkpoint_path}; "
                 "resume with --resume (FineTuner.fit(resume=True))" if self.out_dir is not None
                 else "no out_dir: nothing was saved, the run cannot be resumed")
        return TargetLost(f"target {self.source.name} failed at {where} (target call {self.source.calls}): "
                          f"{type(exc).__name__}: {exc}; {saved}")

    # ------------------------------------------------------------------ loop hooks: one minibatch, one row
    def zero_sums(self) -> dict:
        return self._epoch_metrics().state()

    def _epoch_metrics(self, sums: dict | None = None) -> SpikeMetrics:
        sizes, t_max = self.net.sizes, self.net.t_max
        if sums is None:
            counts = EPOCH_COUNTS + (CHIP_READOUT_COUNTS if self.membrane else ())
            return SpikeMetrics(sizes, t_max, self.hyper).count(**dict.fromkeys(counts, 0))
        return SpikeMetrics.from_state(sums, sizes, t_max, self.hyper)

    def minibatch(self, state: LoopState, idx: np.ndarray, lr: float) -> Minibatch:
        """Deploy, measure, exact gradient at the measured times (for the device model, if any)."""
        net = state.net
        x, y = self.x_train[idx], self.y_train[idx]
        if self.membrane:  # compiled as deploy would for these samples; the run records the read-out
            program, report = self.source.compile(net, self.dt, measurement_range(net, self.hyper, x))
            chip_net = self.source.chip_network(program, net)
            raw, chip = self.source.measure_readout(program, report, chip_net, x, y, self.hyper)
        else:
            program, _ = self.source.compile(net, self.dt)
            chip_net = self.source.chip_network(program, net)
            raw, chip = self.source.measure(program, chip_net, x), None
        # --- nothing below talks to the target: from here on the step always completes
        times, counts = clean_times(raw, chip_net, len(y), program.dt)
        if self.membrane:  # reads the last hidden layer's times and the read-out weights
            loss = classifier_loss(self.hyper, y)
        else:
            loss = FirstSpikeCrossEntropy(y, tau0=self.hyper.tau0, tau1=self.hyper.tau1, gamma=self.hyper.gamma)
        device = state.extra.get("device")
        grad_net = chip_net if device is None else device.apply(chip_net)
        with np.errstate(invalid="ignore"):  # the +inf padding makes inf - inf in the sortedness check
            value, grads = grad_net.value_and_grad(x, loss, mode=self.hyper.grad_mode, times=times)
        g = gradient_list(grad_net, grads)
        if device is not None:
            # chain rule through the device's weights G * W: dL/dW = G * dL/d(G W)
            g = [a * gain for a, gain in zip(g, device.weight_gain)] + g[len(device.weight_gain):]
        finite = all_finite(g)  # straight-through: the gradient at the chip's weights moves the shadow weights
        sums = add_measured(self._epoch_metrics(state.sums), times, y, grad_net, x, chip).count(
            n_bad_slopes=int(grads.get("n_bad_slopes", 0)), skipped_updates=0 if finite else 1, **counts)
        return Minibatch(value, g if finite else None, sums.state())

    def row(self, state: LoopState, epoch: int, lr, wall: float) -> dict:
        row = {"epoch": epoch, "lr": lr, "wall_s": wall, "target_calls": self.source.calls}
        device = state.extra.get("device")
        if epoch == 0 and device is not None:
            row["device_model"] = device.summary()
        if epoch:
            tr = finish_metrics(self._epoch_metrics(state.sums).result())
        else:  # before any update: measure the training set once
            tr = measure_metrics(self.source, state.net, self.x_train, self.y_train, self.hyper, self.dt)
            tr.update(n_bad_slopes=0, skipped_updates=0)
        row.update(loss=tr["loss"], train_accuracy=tr["accuracy"], **{k: tr[k] for k in EPOCH_COUNTS})
        if self.membrane:
            row.update(train_accuracy_at_chip_times=tr["accuracy_at_chip_times"], readout_events=tr["readout_events"],
                       readout_saturated=tr["readout_saturated"])
        if self.test is not None:
            te = measure_metrics(self.source, state.net, self.x_test, self.y_test, self.hyper, self.dt)
            row.update(test_accuracy=te["accuracy"], test_loss=te["loss"], silent_outputs=te["silent_outputs"],
                       silent_label=te["silent_label"], dead_hidden=te["dead_hidden"], mean_spikes=te["mean_spikes"])
            if self.membrane:
                row.update(test_accuracy_at_chip_times=te["accuracy_at_chip_times"],
                           test_readout_saturated=te["readout_saturated"])
        return row

    def model_metadata(self, result: TrainResult) -> dict:
        config = self.config()
        config.pop("data_sha256")
        metadata = dict(hyper=self.hyper.to_dict(), fine_tune=config, epochs=result.epochs, metrics=result.final,
                        history=result.history)
        chip = self._mapping_record(result.net)
        if chip:
            metadata["chip"] = chip
        return metadata

    def _mapping_record(self, net: Network) -> dict | None:
        """``{"target", "dt", "compile"}`` when the target fitted part of its mapping while fine-tuning
        (``backend.mapping_settings``, e.g. DYNAP-SE2's weight gains): ``fpsnn deploy`` of the model file
        then compiles with the same settings and step (:func:`~.chipaware.recorded_compile`) instead of
        fitting them again on the fine-tuned weights. None for a target without such settings, or when
        the target cannot compile now."""
        settings = getattr(self.source.backend, "mapping_settings", None)
        if self.mode != "hil" or not callable(settings):
            return None
        try:
            program, _ = self.source.compile(net, self.dt)
        except TargetFailure:
            return None
        compile_kwargs = settings(program)
        if not compile_kwargs:
            return None
        return {"target": self.source.backend.name, "dt": float(program.dt), "compile": compile_kwargs}
