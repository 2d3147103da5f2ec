"""Offline training: :class:`Trainer` (a classifier on encoded spike times) and :func:`fit_dataset`.

The maths stays in the core: every gradient comes from ``Network.value_and_grad`` (exact, adjoint or
Forward Propagation mode). The trainer only decides *which* samples and *what* to record; the epoch
loop, checkpoints and resumption are :class:`~.loop.EpochLoop`'s.

Reproducibility: one integer seed defines a run. ``numpy.random.SeedSequence(seed)`` spawns two
independent streams, one for the weight initialisation and one for the minibatch shuffling, so changing
the batch size does not change the initial weights.

Files written to ``out_dir``: ``checkpoint.fpsnn`` (after every epoch, atomically) and ``model.fpsnn`` (at
the end: final network, metadata with hyper-parameters, metrics, history, and the initial weights as
``initial/weights/<l>`` arrays for before/after figures).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import Hyperparameters
from ..losses import classifier_loss
from ..network import Network
from .evaluate import evaluate
from .loop import EpochLoop, LoopState, LoopTask, Minibatch, TrainResult, check_training_data
from .optimizers import make_optimizer
from .params import all_finite, gradient_list, init_network, parameter_list
from .runfiles import RunFiles, fingerprint
from .silent import Recording, bump_silent, silent_masks

__all__ = ["Trainer", "TrainResult", "fit_dataset"]


@dataclass
class Trainer(RunFiles, LoopTask):
    """Train a classifier on encoded spike times with the loss of ``hyper.readout`` (first-spike cross
    entropy by default; :func:`fpsnn.losses.classifier_loss`).

    Args:
        hyper: hyper-parameters (see :class:`fpsnn.datasets.Hyperparameters`).
        train: ``(inputs, labels)``: input spike times (batch, n_in) or (batch, n_in, k) in time units,
            int labels.
        test: optional ``(inputs, labels)`` evaluated after every epoch.
        n_classes: output neurons (default: ``max(label) + 1`` over train and test).
        seed: run seed (initial weights and shuffling).
        out_dir: where checkpoints and the final model go; ``None`` keeps everything in memory.
        progress: show a rich progress bar on stderr.
        metadata: extra JSON stored in the model file (data set name, encoder settings...).
        until_accuracy: stop early once the training accuracy reaches this fraction (``None``: never).
        checkpoint_every: also checkpoint after every so many minibatches (default: at epoch ends only).
        init: start from this network's weights (e.g. a model imported from NIR, ``fpsnn train --init``)
            instead of the seed's random ones; its sizes must match the data (inputs, classes) and its
            neuron parameters replace the hyper-parameters' alpha, beta, theta. The seed still drives the
            minibatch order.
    """

    hyper: Hyperparameters
    train: tuple
    test: tuple | None = None
    n_classes: int | None = None
    seed: int = 0
    out_dir: str | Path | None = None
    progress: bool = True
    metadata: dict = field(default_factory=dict)
    until_accuracy: float | None = None
    checkpoint_every: int | None = None
    init: Network | None = None

    kind = "train"

    def __post_init__(self):
        self.x_train, self.y_train = check_training_data(self.train)
        if self.test is not None:
            self.x_test = np.ascontiguousarray(self.test[0], dtype=np.float64)
            self.y_test = np.asarray(self.test[1], dtype=np.int64)
        if self.n_classes is None:
            ys = [self.y_train] + ([self.y_test] if self.test is not None else [])
            self.n_classes = int(max(y.max() for y in ys)) + 1
        if int(self.seed) < 0:
            raise ValueError(f"seed = {self.seed}: must be >= 0")
        if self.until_accuracy is not None and not 0 < self.until_accuracy <= 1:
            raise ValueError(f"until_accuracy = {self.until_accuracy}: must be in (0, 1]")
        if self.checkpoint_every is not None and int(self.checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every = {self.checkpoint_every}: must be >= 1 minibatches (or None)")
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        if self.init is not None:
            if not isinstance(self.init, Network):
                raise ValueError(f"init: expected an fpsnn.Network, got {type(self.init).__name__}")
            if self.init.n_inputs != self.x_train.shape[1] or self.init.sizes[-1] != self.n_classes:
                raise ValueError(f"init: the network maps {self.init.n_inputs} inputs to {self.init.sizes[-1]} "
                                 f"outputs; the data have {self.x_train.shape[1]} inputs and {self.n_classes} classes")
        self.loop = EpochLoop(self)

    # ------------------------------------------------------------------ public helpers
    def fresh_state(self) -> LoopState:
        """The state of a new run: initial network and shuffling generator from the seed's two streams."""
        init_seq, shuffle_seq = np.random.SeedSequence(int(self.seed)).spawn(2)
        net = (init_network(self.hyper, self.x_train.shape[1], self.n_classes, np.random.default_rng(init_seq))
               if self.init is None else self.init)
        optimizer = make_optimizer(self.hyper, [p.shape for p in parameter_list(net)])
        return LoopState(net, [w.copy() for w in net.weights], optimizer, np.random.default_rng(shuffle_seq))

    def initial_network(self) -> Network:
        """The network a fresh run starts from (the seed's weight stream)."""
        return self.fresh_state().net

    def metrics(self, net: Network, epoch: int, loss: float | None, lr: float | None, wall: float) -> dict:
        """One history row: ``net`` on the training (and test) set after ``epoch`` epochs.

        ``loss`` is the epoch's mean minibatch loss (``None``: the training loss of ``net``), ``lr`` its
        learning rate, ``wall`` its duration (s).
        """
        tr = evaluate(net, self.x_train, self.y_train, self.hyper)
        row = {"epoch": epoch, "loss": tr["loss"] if loss is None else loss, "lr": lr,
               "train_accuracy": tr["accuracy"], "train_loss": tr["loss"],
               "dead_hidden": tr["dead_hidden"], "silent_label": tr["silent_label"],
               "silent_outputs": tr["silent_outputs"], "mean_spikes": tr["mean_spikes"], "wall_s": wall}
        if self.test is not None:
            te = evaluate(net, self.x_test, self.y_test, self.hyper)
            row.update(test_accuracy=te["accuracy"], test_loss=te["loss"])
        return row

    # ------------------------------------------------------------------ loop hooks
    def config(self) -> dict:
        # The epoch budget may grow between a run and its resumption; everything else must match.
        hyper = self.hyper.to_dict()
        hyper.pop("epochs")
        return {"seed": int(self.seed), "hyper": hyper, "data_sha256": fingerprint(self.x_train, self.y_train),
                "n_classes": int(self.n_classes),
                **({"init_sha256": fingerprint(*self.init.weights)} if self.init is not None else {})}

    def zero_sums(self) -> dict:
        return {"loss_sum": 0.0}

    def minibatch(self, state: LoopState, idx: np.ndarray, lr: float) -> Minibatch:
        hyper = self.hyper
        labels = self.y_train[idx]
        loss = Recording(classifier_loss(hyper, labels))
        value, grads = state.net.value_and_grad(self.x_train[idx], loss, mode=hyper.grad_mode)
        g = gradient_list(state.net, grads)
        if not all_finite(g):
            raise FloatingPointError(f"non-finite gradient at epoch {state.epoch + 1}, batch {state.batch + 1}")
        sums = {"loss_sum": state.sums["loss_sum"] + value * len(idx)}
        bump = float(hyper.silent_bump)
        if not bump > 0:
            return Minibatch(value, g, sums)
        masks = silent_masks(state.net, loss.times, labels)  # silent before this step's update
        sums["bumped"] = [int(c) + int(m.sum()) for c, m in
                          zip(state.sums.get("bumped", [0] * len(masks)), masks)]
        return Minibatch(value, g, sums, after_step=lambda net: bump_silent(net, masks, bump))

    def row(self, state: LoopState, epoch: int, lr: float | None, wall: float) -> dict:
        loss = None if epoch == 0 else state.sums["loss_sum"] / len(self.y_train)
        row = self.metrics(state.net, epoch, loss, lr, wall)
        if self.hyper.silent_bump > 0:
            row["bumped"] = list(state.sums.get("bumped", [0] * state.net.n_layers))  # neurons bumped, per layer
        return row

    def reached(self, row: dict) -> bool:
        return self.until_accuracy is not None and row["train_accuracy"] >= self.until_accuracy

    def model_metadata(self, result: TrainResult) -> dict:
        return dict(hyper=self.hyper.to_dict(), seed=int(self.seed), epochs=result.epochs, n_classes=self.n_classes,
                    metrics=result.final, history=result.history, stopped_early=result.stopped_early)

def fit_dataset(name, hyper: Hyperparameters | None = None, seed: int = 0, out_dir=None,
                progress: bool = False, resume: bool = False, train_subset: int | None = None,
                test_subset: int | None = None, test_split: str = "test", until_accuracy: float | None = None,
                stop_after: int | None = None, checkpoint_every: int | None = None,
                init: Network | None = None) -> TrainResult:
    """Load, encode and train a registered data set (``fpsnn.datasets.NAMES``) or a user's data.

    Args:
        name: data set name, or a :class:`fpsnn.datasets.DataSet` (``fpsnn.datasets.load_file`` /
            ``from_arrays``: the CLI's ``--data FILE``); its ``metadata()`` goes into the model file.
        hyper: overrides the data set's defaults (``None`` = the data set's own).
        train_subset, test_subset: use only the first so many training / test samples (quick runs, tests).
        test_split: the split evaluated after every epoch.
        init: a starting network (:class:`Trainer`); others as in :class:`Trainer` / :meth:`Trainer.fit`.

    The network's input count is the encoder's ``n_inputs`` (two per channel for send-on-delta), and the
    inputs may carry several spikes each (``(batch, n_in, k)``).
    """
    from .. import datasets

    for arg, value in (("train_subset", train_subset), ("test_subset", test_subset)):
        if value is not None and int(value) < 1:
            raise ValueError(f"{arg} = {value}: must be >= 1")
    if isinstance(name, datasets.DataSet):
        ds = name
        hyper = ds.default_hyper() if hyper is None else hyper
        enc, n_classes, load = ds.encoder(hyper), ds.n_classes, ds.load
        metadata = {"data": ds.metadata()}
    else:
        spec = datasets.spec(name)
        hyper = spec.hyper if hyper is None else hyper
        enc, n_classes = spec.encoder(hyper), spec.n_classes
        load = lambda split: datasets.load(name, split)  # noqa: E731
        metadata = {"dataset": name}
    x, y = load("train")
    xt, yt = load(test_split)
    x, y = x[:train_subset], y[:train_subset]  # a None bound keeps everything
    xt, yt = xt[:test_subset], yt[:test_subset]
    metadata.update({"test_split": test_split, "encoder": enc.to_dict(), "train_subset": train_subset,
                     "test_subset": test_subset})
    trainer = Trainer(hyper, (enc(x), y), (enc(xt), yt), n_classes=n_classes, seed=seed, out_dir=out_dir,
                      progress=progress, metadata=metadata, until_accuracy=until_accuracy,
                      checkpoint_every=checkpoint_every, init=init)
    return trainer.fit(resume=resume, stop_after=stop_after)
