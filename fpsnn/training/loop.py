"""THE epoch loop: offline training (:class:`~.trainer.Trainer`) and in-the-loop fine-tuning
(:class:`fpsnn.finetune.FineTuner`) both run on :class:`EpochLoop`; they differ only in their
:class:`LoopTask` hooks, above all in how one minibatch's gradient is measured.

Per epoch the loop draws the sample order from the run's seeded generator, takes the learning rate
of the schedule (:func:`~.optimizers.learning_rate`), and for every minibatch asks the task for the
gradient, applies one optimizer step, and sums what the task records; then it appends the task's
metrics row to the history and writes the checkpoint (also every ``checkpoint_every`` minibatches).

**Resumption is bit for bit.** A checkpoint holds the whole :class:`LoopState`: network, initial
weights, optimizer moments, the generator's state, the epoch's sample order, the minibatch reached, the
epoch's sums and the history, plus the task's own arrays. A run resumed from it continues exactly as
if it had never stopped. Each update (optimizer step, sums, minibatch counter) is committed with
Ctrl-C held back until it is whole, so a ``KeyboardInterrupt`` (which writes the checkpoint) always
saves the state after the last completed update. A task hook that loses an outside resource (a chip)
raises :class:`StepFailed` before anything moved: the loop writes the checkpoint and raises the
task's own error (:meth:`LoopTask.failed`).

**A stop says where it stopped.** Ctrl-C (also when it lands inside a compiled numba function, which
reports it as a ``SystemError`` whose cause is the ``KeyboardInterrupt``) writes the checkpoint and
raises :class:`Interrupted` naming the epoch and the checkpoint. A run that diverges (a non-finite
loss or gradient, or an update that would make a weight non-finite or larger than
:data:`DIVERGED_WEIGHT` thresholds) raises :class:`Diverged` *without* writing: the checkpoint on
disk stays the last good one.
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import io
from ..network import Network
from .optimizers import learning_rate, make_optimizer
from .params import parameter_list, with_parameter_list
from .progress import Progress
from .runfiles import config_differences, initial_arrays, initial_weights, save_model_file


def hyper_defaults() -> dict:
    """Every hyper-parameter that has a default, as stored in a checkpoint (tuples as lists)."""
    import dataclasses

    from ..datasets import Hyperparameters

    return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(Hyperparameters) if f.default is not dataclasses.MISSING}

__all__ = ["LoopState", "Minibatch", "LoopTask", "StepFailed", "EpochLoop", "TrainResult", "check_training_data",
           "Interrupted", "Diverged", "DIVERGED_WEIGHT", "is_interrupt"]

#: An update that makes any weight larger than this many firing thresholds (in magnitude) is divergence.
DIVERGED_WEIGHT = 1e6


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; the checkpoint (if the run has one) holds the last completed update."""


class Diverged(FloatingPointError):
    """The run diverged; nothing of the diverged update was written (the checkpoint is the last good one)."""


def is_interrupt(exc: BaseException) -> bool:
    """True for a KeyboardInterrupt, or an error (numba's ``SystemError``) raised because of one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _divergence(params: list, scale: float) -> str | None:
    """Why the proposed parameters count as diverged, or None."""
    for p in params:
        a = np.asarray(p)
        if not np.all(np.isfinite(a)):
            return "a weight became non-finite"
        top = float(np.max(np.abs(a), initial=0.0))
        if top > DIVERGED_WEIGHT * scale:
            return f"max |weight| = {top:.3g} > {DIVERGED_WEIGHT:.0e} x threshold {scale:g}"
    return None


def check_training_data(train, name: str = "train") -> tuple:
    """``(inputs, labels (batch,))`` as float64 / int64 arrays, or ValueError naming ``name``.

    Inputs are spike times in time units: ``(batch, n_in)`` (one spike per input, ``+inf`` = none) or
    ``(batch, n_in, k)`` (up to ``k`` spikes per input, sorted, ``+inf`` padded), as the encoders emit.
    """
    x, y = train
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim not in (2, 3) or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"{name}: expected inputs (batch, n_in) or (batch, n_in, k) and labels (batch,), "
                         f"got {x.shape} and {y.shape}")
    return x, y


@dataclass
class LoopState:
    """Everything the loop changes: what a checkpoint holds.

    Attributes:
        net: the network being trained (the fine-tuner's float shadow network).
        initial: its weights at the start of the run (kept for before/after figures).
        optimizer: :class:`~.optimizers.Adam` or :class:`~.optimizers.SGD` with its moments.
        rng: the generator that draws every epoch's sample order.
        epoch: completed epochs.
        batch: completed minibatches of the current epoch.
        order: the current epoch's sample order (``None`` between epochs: drawn when the epoch starts).
        sums: the task's per-epoch accumulators (JSON data, committed with every update).
        history: metrics rows, one per completed epoch; entry 0 describes the network before any update.
        extra: values the task owns (the fine-tuner's device model), checkpointed by its hooks.
    """

    net: Network
    initial: list
    optimizer: object
    rng: np.random.Generator
    epoch: int = 0
    batch: int = 0
    order: np.ndarray | None = None
    sums: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class Minibatch:
    """What a task's gradient hook measured on one minibatch.

    Attributes:
        value: the minibatch loss (progress display).
        grads: gradients in :func:`~.params.parameter_list` order; ``None`` skips the update.
        sums: the epoch's sums including this minibatch (committed together with the update).
        after_step: an update rule applied to the network after the optimizer step (``net -> net``),
            e.g. :func:`~.silent.bump_silent`; ``None``: none.
    """

    value: float
    grads: list | None
    sums: dict
    after_step: Callable | None = None


class StepFailed(Exception):
    """A task hook lost an outside resource before anything moved (the original error is ``__cause__``)."""


@dataclass
class TrainResult:
    """What a run produced: final network, per-epoch history (entry 0 = the initial network), paths."""

    net: Network
    initial_weights: list
    history: list
    epochs: int
    wall_s: float
    stopped_early: bool = False
    model_path: Path | None = None
    checkpoint_path: Path | None = None

    @property
    def final(self) -> dict:
        return self.history[-1]


class LoopTask:
    """The hooks of a run on :class:`EpochLoop` (base class: the defaults).

    A task has ``hyper`` (:class:`fpsnn.datasets.Hyperparameters`: optimizer, schedule, ``batch_size``,
    ``epochs``), ``y_train`` (the labels; the loop only needs their number), ``progress`` (bool),
    ``checkpoint_every`` (minibatches or ``None``), ``metadata`` (JSON for the model file), ``loop``
    (its :class:`EpochLoop`) and the :class:`~.runfiles.RunFiles` paths.
    """

    kind = "train"

    def config(self) -> dict:
        """Every setting a resumed run must share with the interrupted one (JSON data)."""
        raise NotImplementedError

    def fresh_state(self) -> LoopState:
        """The state before the first epoch of a new run."""
        raise NotImplementedError

    def prepare(self, state: LoopState) -> None:
        """Called before the loop on fresh and resumed runs alike, inside its failure handling."""

    def zero_sums(self) -> dict:
        """The per-epoch sums at the start of an epoch."""
        return {}

    def minibatch(self, state: LoopState, idx: np.ndarray, lr: float) -> Minibatch:
        """The gradient of the samples ``idx`` (must not change ``state``: the loop commits)."""
        raise NotImplementedError

    def row(self, state: LoopState, epoch: int, lr: float | None, wall: float) -> dict:
        """The metrics row after ``epoch`` epochs (0: before any update; ``lr`` None), ``wall`` seconds."""
        raise NotImplementedError

    def reached(self, row: dict) -> bool:
        """Stop early after this row."""
        return False

    def checkpoint_extra(self, state: LoopState) -> tuple[dict, dict]:
        """``(arrays, metadata)`` the task adds to every checkpoint."""
        return {}, {}

    def restore_extra(self, state: LoopState, arrays: dict, metadata: dict) -> None:
        """Undo :meth:`checkpoint_extra` on a resumed state."""

    def failed(self, state: LoopState, exc: BaseException) -> Exception:
        """The error to raise when a hook raised :class:`StepFailed` (the checkpoint is written)."""
        return exc if isinstance(exc, Exception) else RuntimeError(str(exc))

    def model_metadata(self, result: TrainResult) -> dict:
        """What the final model file records besides the task's ``metadata`` (hyper-parameters, history...)."""
        raise NotImplementedError

    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Run for ``hyper.epochs`` epochs (or resume from ``out_dir``'s checkpoint); see :meth:`EpochLoop.fit`.

        Args:
            resume: continue from ``out_dir/checkpoint.fpsnn`` if it exists (a fresh start otherwise).
            stop_after: return after this epoch without writing the final model, exactly as if the
                process had been killed there (used to test resumption).
        """
        return self.loop.fit(resume=resume, stop_after=stop_after)

    def save(self, result: TrainResult, path=None) -> Path:
        """Write the final model file (default ``out_dir/model.fpsnn``): network, initial weights, metadata."""
        path = self.model_path if path is None else Path(path)
        if path is None:
            raise ValueError("path: needed when the run has no out_dir")
        metadata = dict(self.metadata)
        metadata.update(self.model_metadata(result))
        return save_model_file(path, result.net, result.initial_weights, metadata)


@contextmanager
def _uninterrupted():
    """Hold back a Ctrl-C that arrives inside the block until the block is done (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(*caught[0])
            else:
                raise KeyboardInterrupt


def _threshold_scale(net: Network) -> float:
    """The largest finite firing threshold of ``net`` (1 when none is finite): the unit of weights."""
    finite = [float(np.max(t[np.isfinite(t)])) for t in (np.atleast_1d(np.asarray(x, dtype=float)) for x in net.theta)
              if np.any(np.isfinite(t))]
    return max(finite + [1.0]) if finite else 1.0


class EpochLoop:
    """Runs ``task`` epoch by epoch: fresh or resumed from ``task.checkpoint_path``, to ``hyper.epochs``."""

    def __init__(self, task: LoopTask):
        self.task = task
        self._saved_epoch = None  # epoch of the last checkpoint written (None: none yet in this process)

    # ------------------------------------------------------------------ checkpoint
    def save(self, state: LoopState) -> None:
        """Write ``state`` to the task's checkpoint (no-op without an ``out_dir``)."""
        task = self.task
        if task.checkpoint_path is None:
            return
        arrays, scalars = state.optimizer.state()
        arrays.update(initial_arrays(state.initial))
        if state.order is not None:
            arrays["order"] = state.order
        extra_arrays, extra_metadata = task.checkpoint_extra(state)
        arrays.update(extra_arrays)
        self._saved_epoch = state.epoch
        io.save_checkpoint(task.checkpoint_path, state.net, arrays=arrays, metadata={
            "kind": task.kind, "config": task.config(), "epoch": state.epoch, "batch": state.batch,
            "sums": state.sums, "optimizer": scalars, "rng_state": state.rng.bit_generator.state,
            "history": state.history, **extra_metadata})

    def load(self) -> LoopState:
        """The state in the task's checkpoint; ValueError if it belongs to another kind of run or settings."""
        task, path = self.task, self.task.checkpoint_path
        ck = io.load_checkpoint(path)
        md = ck.metadata
        if md.get("kind") != task.kind:
            raise ValueError(f"{path}: cannot resume, it is a {md.get('kind') or 'older fpsnn'} checkpoint and this "
                             f"is a {task.kind} run")
        diff = config_differences(task.config(), md.get("config", {}), defaults={"hyper": hyper_defaults()})
        if diff:
            raise ValueError(f"{path}: cannot resume, settings differ: {diff}")
        net = ck.net
        optimizer = make_optimizer(task.hyper, [p.shape for p in parameter_list(net)])
        optimizer.load_state(ck.arrays, md["optimizer"])
        rng = np.random.default_rng()
        rng.bit_generator.state = md["rng_state"]
        state = LoopState(net, initial_weights(ck.arrays, net.n_layers), optimizer, rng, epoch=int(md["epoch"]),
                          batch=int(md["batch"]), order=ck.arrays.get("order"), sums=md["sums"],
                          history=list(md["history"]))
        task.restore_extra(state, ck.arrays, md)
        return state

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Run to ``hyper.epochs`` epochs (or until the task's stop rule) and write the final model.

        Args:
            resume: continue from the checkpoint if it exists (a fresh start otherwise).
            stop_after: return after this epoch without writing the final model, exactly as if the
                process had been killed there (tests of resumption).
        """
        t_start = time.perf_counter()
        task = self.task
        if resume and task.checkpoint_path is None:
            raise ValueError("resume: needs out_dir (where the checkpoint lives)")
        state = self.load() if resume and task.checkpoint_path.exists() else task.fresh_state()
        if resume and task.checkpoint_path.exists():
            self._saved_epoch = state.epoch
        stopped, done = self._run(state, stop_after)
        result = TrainResult(state.net, state.initial, state.history, state.epoch, time.perf_counter() - t_start,
                             stopped_early=stopped, checkpoint_path=task.checkpoint_path)
        if done and task.out_dir is not None:
            result.model_path = task.save(result)
        return result

    def _run(self, state: LoopState, stop_after) -> tuple[bool, bool]:
        """Advance ``state`` in place; ``(stopped early, finished)``."""
        task, hyper = self.task, self.task.hyper
        n = len(task.y_train)
        batch_size = n if hyper.batch_size is None else min(int(hyper.batch_size), n)
        n_batches = -(-n // batch_size)
        epochs = int(hyper.epochs)
        every = None if task.checkpoint_every is None else int(task.checkpoint_every)
        with Progress(task.progress, epochs, n_batches, state.epoch) as bar:
            try:
                task.prepare(state)
                if not state.history:
                    state.history.append(task.row(state, 0, None, 0.0))
                stopped = task.reached(state.history[-1])
                bar.show(state.history[-1])
                while state.epoch < epochs and not stopped:
                    t_epoch = time.perf_counter()
                    if state.order is None:
                        with _uninterrupted():
                            state.order, state.batch, state.sums = state.rng.permutation(n), 0, task.zero_sums()
                    lr = learning_rate(hyper, state.epoch, epochs)
                    bar.start_epoch(state.epoch)
                    while state.batch < n_batches:
                        b = state.batch
                        step = task.minibatch(state, state.order[b * batch_size:(b + 1) * batch_size], lr)
                        if not np.isfinite(step.value):
                            raise FloatingPointError(f"the minibatch loss is {step.value}")
                        with _uninterrupted():
                            if step.grads is not None:
                                params = state.optimizer.step(parameter_list(state.net), step.grads, lr)
                                why = _divergence(params, _threshold_scale(state.net))
                                if why is not None:
                                    raise FloatingPointError(why)
                                state.net = with_parameter_list(state.net, params)
                                if step.after_step is not None:
                                    state.net = step.after_step(state.net)
                            state.sums, state.batch = step.sums, b + 1
                        bar.advance_batch(step.value)
                        if every and state.batch % every == 0:
                            self.save(state)
                    row = task.row(state, state.epoch + 1, lr, time.perf_counter() - t_epoch)
                    with _uninterrupted():
                        state.history.append(row)
                        state.epoch += 1
                        state.batch, state.order, state.sums = 0, None, task.zero_sums()
                    self.save(state)
                    bar.end_epoch(row)
                    stopped = task.reached(row)
                    if stop_after is not None and stop_after <= state.epoch < epochs and not stopped:
                        return False, False
            except StepFailed as failure:
                self.save(state)
                raise task.failed(state, failure.__cause__) from failure.__cause__
            except FloatingPointError as exc:
                # not saved: the checkpoint on disk is the last good state
                kept = (f"checkpoint {task.checkpoint_path} (epoch {self._saved_epoch}) kept"
                        if task.checkpoint_path is not None and self._saved_epoch is not None else "nothing written")
                raise Diverged(f"training diverged at epoch {state.epoch + 1}, batch {state.batch + 1} ({exc}); "
                               f"{kept}; lower the learning rate (lr = {getattr(hyper, 'lr', '?')})") from None
            except (KeyboardInterrupt, SystemError) as exc:
                if not is_interrupt(exc):
                    raise
                with _uninterrupted():
                    self.save(state)
                kept = (f"checkpoint {task.checkpoint_path} kept; resume with --resume"
                        if task.checkpoint_path is not None else "no checkpoint (no output directory)")
                raise Interrupted(f"interrupted at epoch {state.epoch + 1} of {epochs} (batch {state.batch} of "
                                  f"{n_batches} done); {kept}") from None
        return stopped, True
