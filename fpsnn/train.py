"""Trainer: optimizers, minibatches, metrics, checkpoints and resumption, progress display.

The maths stays in the core: every gradient comes from ``Network.value_and_grad`` (exact, adjoint or
Forward Propagation mode). This module only decides *which* samples, *which* step size and *what* to
record.

Reproducibility: one integer seed defines a run. ``numpy.random.SeedSequence(seed)`` spawns two
independent streams, one for the weight initialisation and one for the minibatch shuffling, so changing
the batch size does not change the initial weights. A checkpoint written after every epoch holds the
network, the optimizer moments, the shuffling generator's state and the history; a run resumed from it
continues bit for bit as if it had never stopped.

Files written to ``out_dir``: ``checkpoint.fpsnn`` (after every epoch, atomically) and ``model.fpsnn`` (at
the end: final network, metadata with hyper-parameters, metrics, history, and the initial weights as
``initial/weights/<l>`` arrays for before/after figures).
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io
from .datasets import Hyperparameters
from .losses import FirstSpikeCrossEntropy, predict
from .network import Network

__all__ = ["Adam", "SGD", "make_optimizer", "learning_rate", "init_network", "evaluate", "Trainer",
           "TrainResult", "fit_dataset", "run_seeds", "CHECKPOINT_NAME", "MODEL_NAME"]

CHECKPOINT_NAME = "checkpoint.fpsnn"
MODEL_NAME = "model.fpsnn"


# --------------------------------------------------------------------------------------------- optimizers
class Adam:
    """Adam (Kingma & Ba) with bias correction; state = first/second moments per parameter + step count."""

    def __init__(self, shapes, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = [np.zeros(s) for s in shapes]
        self.v = [np.zeros(s) for s in shapes]
        self.t = 0

    def step(self, params: list, grads: list, lr: float) -> list:
        """New parameter arrays after one step of size ``lr`` (inputs are not modified)."""
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g
            out.append(p - lr * (self.m[i] / c1) / (np.sqrt(self.v[i] / c2) + self.eps))
        return out

    def state(self) -> tuple[dict, dict]:
        """``(arrays, scalars)`` to store in a checkpoint."""
        arrays = {f"adam/m/{i}": m for i, m in enumerate(self.m)}
        arrays.update({f"adam/v/{i}": v for i, v in enumerate(self.v)})
        return arrays, {"t": self.t}

    def load_state(self, arrays: dict, scalars: dict) -> None:
        self.m = [np.array(arrays[f"adam/m/{i}"]) for i in range(len(self.m))]
        self.v = [np.array(arrays[f"adam/v/{i}"]) for i in range(len(self.v))]
        self.t = int(scalars["t"])


class SGD:
    """Stochastic gradient descent with optional (heavy-ball) momentum."""

    def __init__(self, shapes, momentum: float = 0.0):
        self.momentum = float(momentum)
        self.velocity = [np.zeros(s) for s in shapes]

    def step(self, params: list, grads: list, lr: float) -> list:
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.velocity[i] = self.momentum * self.velocity[i] + g
            out.append(p - lr * self.velocity[i])
        return out

    def state(self) -> tuple[dict, dict]:
        return {f"sgd/velocity/{i}": v for i, v in enumerate(self.velocity)}, {}

    def load_state(self, arrays: dict, scalars: dict) -> None:
        self.velocity = [np.array(arrays[f"sgd/velocity/{i}"]) for i in range(len(self.velocity))]


def make_optimizer(hyper: Hyperparameters, shapes):
    """The optimizer named by ``hyper.optimizer`` for parameters of the given shapes."""
    if hyper.optimizer == "adam":
        return Adam(shapes, hyper.beta1, hyper.beta2, hyper.eps)
    return SGD(shapes, hyper.momentum)


def learning_rate(hyper: Hyperparameters, epoch: int, epochs: int | None = None) -> float:
    """Step size for (0-based) ``epoch``: constant (paper), step decay, or cosine to ``lr * lr_decay``."""
    if hyper.schedule == "step":
        return hyper.lr * hyper.lr_decay ** (epoch // hyper.lr_step)
    if hyper.schedule == "cosine":
        total = max(int(epochs if epochs is not None else hyper.epochs), 1)
        lr_min = hyper.lr * hyper.lr_decay
        return lr_min + 0.5 * (hyper.lr - lr_min) * (1.0 + math.cos(math.pi * min(epoch, total) / total))
    return hyper.lr


# --------------------------------------------------------------------------------------------- network
def init_network(hyper: Hyperparameters, n_inputs: int, n_outputs: int, rng: np.random.Generator) -> Network:
    """A feed-forward network with Normal(init_mean[l], init_std[l]) weights, drawn layer by layer."""
    sizes = (int(n_inputs),) + tuple(hyper.hidden) + (int(n_outputs),)
    weights = [rng.normal(hyper.init_mean[l], hyper.init_std[l], size=(sizes[l], sizes[l + 1]))
               for l in range(len(sizes) - 1)]
    return Network(weights=weights, alpha=hyper.alpha, beta=hyper.beta, theta=hyper.theta,
                   t_max=hyper.simulation_window, max_spikes=hyper.max_spikes)


def parameter_list(net: Network) -> list:
    """The trainable arrays in a fixed order: weights, then the recurrent matrices that exist."""
    return list(net.weights) + [r for r in net.recurrent if r is not None]


def with_parameter_list(net: Network, params: list) -> Network:
    """A copy of ``net`` with the arrays of :func:`parameter_list` replaced by ``params``."""
    n = net.n_layers
    rest = iter(params[n:])
    recurrent = [None if r is None else next(rest) for r in net.recurrent]
    return net.with_parameters(params[:n], recurrent)


def gradient_list(net: Network, grads: dict) -> list:
    """``value_and_grad``'s gradients in the order of :func:`parameter_list`."""
    return list(grads["weights"]) + [g for g, r in zip(grads["recurrent"], net.recurrent) if r is not None]


# --------------------------------------------------------------------------------------------- metrics
def evaluate(net: Network, inputs: np.ndarray, labels: np.ndarray, hyper: Hyperparameters | None = None,
             chunk: int = 1000) -> dict:
    """Classification metrics of ``net`` on encoded ``inputs`` (batch, n_in) with ``labels`` (batch,).

    Returns a dict: ``accuracy`` (fraction), ``loss`` (mean first-spike cross entropy, only with
    ``hyper``), ``silent_label`` (fraction of samples whose label neuron never fires),
    ``silent_outputs`` (fraction with no output spike at all: predicted class -1), ``dead_hidden``
    (per hidden layer, neurons that fire for none of the samples), ``mean_spikes`` (hidden + output
    spikes per sample) and ``first_spikes`` ((batch, n_out) time units, inf = silent).
    Simulated in chunks of ``chunk`` samples to bound memory.
    """
    labels = np.asarray(labels)
    n = len(labels)
    first, fired_any, spikes, loss_sum = [], [np.zeros(s, dtype=bool) for s in net.sizes[:-1]], 0.0, 0.0
    for start in range(0, n, chunk):
        res = net.simulate(inputs[start:start + chunk])
        first.append(res.first_spikes())
        for l in range(net.n_layers - 1):
            fired_any[l] |= np.isfinite(res.times[l][:, :, :1]).any(axis=(0, 2))
        spikes += sum(int(np.isfinite(t).sum()) for t in res.times)
        if hyper is not None:
            loss = FirstSpikeCrossEntropy(labels[start:start + chunk], tau0=hyper.tau0, tau1=hyper.tau1,
                                          gamma=hyper.gamma)
            loss_sum += loss.output(res.times[-1], net.t_max)[0] * len(first[-1])
    first = np.concatenate(first) if first else np.zeros((0, net.sizes[-1]))
    pred = predict(first)
    out = {
        "accuracy": float(np.mean(pred == labels)) if n else float("nan"),
        "silent_label": float(np.mean(np.isinf(first[np.arange(n), labels]))) if n else float("nan"),
        "silent_outputs": float(np.mean(np.all(np.isinf(first), axis=1))) if n else float("nan"),
        "dead_hidden": [int((~f).sum()) for f in fired_any],
        "mean_spikes": spikes / max(n, 1),
        "first_spikes": first,
    }
    if hyper is not None:
        out["loss"] = loss_sum / max(n, 1)
    return out


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


def fingerprint(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------- trainer
def check_training_data(train) -> tuple:
    """``train = (inputs (batch, n_in), labels (batch,))`` as float64 / int64 arrays, or ValueError."""
    x, y = train
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError(f"train: expected inputs (batch, n_in) and labels (batch,), got {x.shape} and {y.shape}")
    return x, y


class RunFiles:
    """Where a run with an ``out_dir`` keeps its files (training and fine-tuning alike)."""

    out_dir: Path | None

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / CHECKPOINT_NAME

    @property
    def model_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / MODEL_NAME


@dataclass
class Trainer(RunFiles):
    """Train a classifier on encoded spike times with first-spike cross entropy.

    Args:
        hyper: hyper-parameters (see :class:`fpsnn.datasets.Hyperparameters`).
        train: ``(inputs, labels)``: input spike times (batch, n_in) in time units, int labels.
        test: optional ``(inputs, labels)`` evaluated after every epoch.
        n_classes: output neurons (default: ``max(label) + 1`` over train and test).
        seed: run seed (initial weights and shuffling).
        out_dir: where checkpoints and the final model go; ``None`` keeps everything in memory.
        progress: show a rich progress bar on stderr.
        metadata: extra JSON stored in the model file (data set name, encoder settings...).
        until_accuracy: stop early once the training accuracy reaches this fraction (``None``: never).
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
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)

    # ------------------------------------------------------------------ paths and state

    def _data_fingerprint(self) -> str:
        return fingerprint(self.x_train, self.y_train)

    def _fresh_state(self):
        init_seq, shuffle_seq = np.random.SeedSequence(int(self.seed)).spawn(2)
        net = init_network(self.hyper, self.x_train.shape[1], self.n_classes, np.random.default_rng(init_seq))
        optimizer = make_optimizer(self.hyper, [p.shape for p in parameter_list(net)])
        return net, optimizer, np.random.default_rng(shuffle_seq)

    def _save_checkpoint(self, net, initial, optimizer, rng, epoch, history) -> None:
        arrays, scalars = optimizer.state()
        arrays.update({f"initial/weights/{l}": w for l, w in enumerate(initial)})
        io.save_checkpoint(self.checkpoint_path, net, arrays=arrays, metadata={
            "epoch": epoch, "seed": int(self.seed), "hyper": self._comparable_hyper(),
            "optimizer": scalars, "rng_state": rng.bit_generator.state, "history": history,
            "data_sha256": self._data_fingerprint(), "n_classes": self.n_classes})

    def _comparable_hyper(self) -> dict:
        # The epoch budget may grow between a run and its resumption; everything else must match.
        d = self.hyper.to_dict()
        d.pop("epochs")
        return d

    def _resume_state(self):
        ck = io.load_checkpoint(self.checkpoint_path)
        md = ck.metadata
        problems = []
        if md.get("seed") != int(self.seed):
            problems.append(f"seed {md.get('seed')} != {self.seed}")
        if md.get("hyper") != self._comparable_hyper():
            diff = sorted(k for k in set(md.get("hyper", {})) | set(self._comparable_hyper())
                          if md.get("hyper", {}).get(k) != self._comparable_hyper().get(k))
            problems.append(f"hyper-parameters differ: {diff}")
        if md.get("data_sha256") != self._data_fingerprint():
            problems.append("the training data differ")
        if problems:
            raise ValueError(f"{self.checkpoint_path}: cannot resume: " + "; ".join(problems))
        net = ck.net
        optimizer = make_optimizer(self.hyper, [p.shape for p in parameter_list(net)])
        optimizer.load_state(ck.arrays, md["optimizer"])
        rng = np.random.default_rng()
        rng.bit_generator.state = md["rng_state"]
        initial = [ck.arrays[f"initial/weights/{l}"] for l in range(net.n_layers)]
        return net, initial, optimizer, rng, int(md["epoch"]), list(md["history"])

    # ------------------------------------------------------------------ metrics
    def _metrics(self, net: Network, epoch: int, loss: float | None, lr: float | None, wall: float) -> dict:
        tr = evaluate(net, self.x_train, self.y_train, self.hyper)
        row = {"epoch": epoch, "loss": tr["loss"] if loss is None else loss, "lr": lr,
               "train_accuracy": tr["accuracy"], "train_loss": tr["loss"],
               "dead_hidden": tr["dead_hidden"], "silent_label": tr["silent_label"],
               "silent_outputs": tr["silent_outputs"], "mean_spikes": tr["mean_spikes"], "wall_s": wall}
        if self.test is not None:
            te = evaluate(net, self.x_test, self.y_test, self.hyper)
            row.update(test_accuracy=te["accuracy"], test_loss=te["loss"])
        return row

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train for ``hyper.epochs`` epochs (or resume from ``out_dir``'s checkpoint).

        Args:
            resume: continue from ``out_dir/checkpoint.fpsnn`` if it exists (a fresh start otherwise).
            stop_after: return after this epoch without writing the final model, exactly as if the
                process had been killed there (used to test resumption).
        """
        t_start = time.perf_counter()
        hyper = self.hyper
        if resume and self.checkpoint_path is None:
            raise ValueError("resume: needs out_dir (where the checkpoint lives)")
        if resume and self.checkpoint_path.exists():
            net, initial, optimizer, rng, epoch, history = self._resume_state()
        else:
            net, optimizer, rng = self._fresh_state()
            initial = [w.copy() for w in net.weights]
            epoch, history = 0, [self._metrics(net, 0, None, None, 0.0)]
        n = len(self.y_train)
        batch_size = n if hyper.batch_size is None else min(int(hyper.batch_size), n)
        n_batches = -(-n // batch_size)
        stopped_early = self._reached(history[-1])
        with Progress(self.progress, hyper.epochs, n_batches, epoch) as bar:
            bar.show(history[-1])
            while epoch < hyper.epochs and not stopped_early:
                t_epoch = time.perf_counter()
                lr = learning_rate(hyper, epoch)
                order = rng.permutation(n)
                loss_sum = 0.0
                bar.start_epoch(epoch)
                for b in range(n_batches):
                    idx = order[b * batch_size:(b + 1) * batch_size]
                    loss = FirstSpikeCrossEntropy(self.y_train[idx], tau0=hyper.tau0, tau1=hyper.tau1,
                                                  gamma=hyper.gamma)
                    value, grads = net.value_and_grad(self.x_train[idx], loss, mode=hyper.grad_mode)
                    g = gradient_list(net, grads)
                    if not all(np.all(np.isfinite(a)) for a in g):
                        raise FloatingPointError(f"non-finite gradient at epoch {epoch + 1}, batch {b + 1}")
                    net = with_parameter_list(net, optimizer.step(parameter_list(net), g, lr))
                    loss_sum += value * len(idx)
                    bar.advance_batch(value)
                epoch += 1
                history.append(self._metrics(net, epoch, loss_sum / n, lr, time.perf_counter() - t_epoch))
                stopped_early = self._reached(history[-1])
                if self.out_dir is not None:
                    self._save_checkpoint(net, initial, optimizer, rng, epoch, history)
                bar.end_epoch(history[-1])
                if stop_after is not None and epoch >= stop_after and epoch < hyper.epochs and not stopped_early:
                    return TrainResult(net, initial, history, epoch, time.perf_counter() - t_start,
                                       checkpoint_path=self.checkpoint_path)
        result = TrainResult(net, initial, history, epoch, time.perf_counter() - t_start,
                             stopped_early=stopped_early, checkpoint_path=self.checkpoint_path)
        if self.out_dir is not None:
            result.model_path = self.save(result)
        return result

    def _reached(self, row: dict) -> bool:
        return self.until_accuracy is not None and row["train_accuracy"] >= self.until_accuracy

    def save(self, result: TrainResult, path=None) -> Path:
        """Write the final model file (default ``out_dir/model.fpsnn``)."""
        path = self.model_path if path is None else Path(path)
        if path is None:
            raise ValueError("path: needed when the trainer has no out_dir")
        metadata = dict(self.metadata)
        metadata.update(hyper=self.hyper.to_dict(), seed=int(self.seed), epochs=result.epochs,
                        n_classes=self.n_classes, metrics=result.final, history=result.history,
                        stopped_early=result.stopped_early)
        arrays = {f"initial/weights/{l}": w for l, w in enumerate(result.initial_weights)}
        return io.save_model(path, result.net, metadata, arrays=arrays)


# --------------------------------------------------------------------------------------------- progress
class Progress:
    """A rich progress bar on stderr (epochs + batches, live loss/accuracy), or nothing when disabled."""

    def __init__(self, enabled: bool, epochs: int, n_batches: int, done: int):
        self.enabled = enabled
        self.epochs, self.n_batches, self.done = epochs, n_batches, done

    def __enter__(self):
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                          console=Console(stderr=True), transient=False)
        self.p.__enter__()
        self.epoch_task = self.p.add_task("epochs", total=self.epochs, completed=self.done, info="")
        self.batch_task = self.p.add_task("batches", total=self.n_batches, info="")
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.p.__exit__(*exc)
        return False

    def show(self, row: dict) -> None:
        if self.enabled:
            info = f"loss {row['loss']:.4f}  train {100 * row['train_accuracy']:.1f}%"
            if "test_accuracy" in row:
                info += f"  test {100 * row['test_accuracy']:.1f}%"
            self.p.update(self.epoch_task, info=info)

    def start_epoch(self, epoch: int) -> None:
        if self.enabled:
            self.p.reset(self.batch_task, total=self.n_batches, description=f"epoch {epoch + 1}", info="")

    def advance_batch(self, value: float) -> None:
        if self.enabled:
            self.p.update(self.batch_task, advance=1, info=f"batch loss {value:.4f}")

    def end_epoch(self, row: dict) -> None:
        if self.enabled:
            self.p.update(self.epoch_task, advance=1)
            self.show(row)


# --------------------------------------------------------------------------------------------- glue
def fit_dataset(name: str, hyper: Hyperparameters | None = None, seed: int = 0, out_dir=None,
                progress: bool = False, resume: bool = False, train_subset: int | None = None,
                test_subset: int | None = None, test_split: str = "test", until_accuracy: float | None = None,
                stop_after: int | None = None) -> TrainResult:
    """Load, encode and train one of the paper's data sets (``fpsnn.datasets.NAMES``).

    Args:
        name: data set name; hyper: overrides the data set's defaults (``None`` = the paper's).
        train_subset, test_subset: use only the first so many training / test samples (quick runs, tests).
        test_split: the split evaluated after every epoch.
        Others as in :class:`Trainer` / :meth:`Trainer.fit`.
    """
    from . import datasets

    spec = datasets.spec(name)
    hyper = spec.hyper if hyper is None else hyper
    enc = spec.encoder(hyper)
    x, y = datasets.load(name, "train")
    xt, yt = datasets.load(name, test_split)
    for arg, value in (("train_subset", train_subset), ("test_subset", test_subset)):
        if value is not None and int(value) < 1:
            raise ValueError(f"{arg} = {value}: must be >= 1")
    x, y = x[:train_subset], y[:train_subset]  # a None bound keeps everything
    xt, yt = xt[:test_subset], yt[:test_subset]
    metadata = {"dataset": name, "test_split": test_split, "encoder": enc.to_dict(),
                "train_subset": train_subset, "test_subset": test_subset}
    trainer = Trainer(hyper, (enc(x), y), (enc(xt), yt), n_classes=spec.n_classes, seed=seed, out_dir=out_dir,
                      progress=progress, metadata=metadata, until_accuracy=until_accuracy)
    return trainer.fit(resume=resume, stop_after=stop_after)


def _summary_of_run(args: tuple) -> dict:
    """Worker of :func:`run_seeds` (module level so process pools can pickle it)."""
    name, hyper, seed, kwargs = args
    t0 = time.perf_counter()
    r = fit_dataset(name, hyper, seed=seed, progress=False, **kwargs)
    return {"seed": seed, "epochs": r.epochs, "stopped_early": r.stopped_early,
            "train_accuracy": r.final["train_accuracy"], "test_accuracy": r.final.get("test_accuracy"),
            "silent_outputs": r.final["silent_outputs"], "dead_hidden": r.final["dead_hidden"],
            "loss": r.final["loss"], "wall_s": time.perf_counter() - t0,
            "epoch_wall_s": [row["wall_s"] for row in r.history[1:]]}


def run_seeds(name: str, seeds, hyper: Hyperparameters | None = None, jobs: int = 1, on_result=None,
              **kwargs) -> list:
    """Train ``name`` once per seed (in ``jobs`` worker processes) and return one summary dict per run.

    ``kwargs`` go to :func:`fit_dataset` (e.g. ``until_accuracy``, ``train_subset``); ``on_result(summary)``
    is called as each run finishes (for progress display). Results are ordered by seed. Worker
    processes are started with the "spawn" method and one numba thread each, so ``jobs`` runs share the
    cores without oversubscribing them.
    """
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    if int(jobs) < 1:
        raise ValueError(f"jobs = {jobs}: must be >= 1")
    tasks = [(name, hyper, int(s), kwargs) for s in seeds]
    results = []
    if int(jobs) == 1:
        for task in tasks:
            results.append(_summary_of_run(task))
            if on_result:
                on_result(results[-1])
        return results
    previous = os.environ.get("NUMBA_NUM_THREADS")
    os.environ["NUMBA_NUM_THREADS"] = "1"  # read by numba at import time in each spawned worker
    try:
        with ProcessPoolExecutor(max_workers=int(jobs), mp_context=get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_summary_of_run, t) for t in tasks]):
                results.append(fut.result())
                if on_result:
                    on_result(results[-1])
    finally:
        if previous is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = previous
    return sorted(results, key=lambda r: r["seed"])
