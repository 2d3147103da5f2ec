"""Optimizers and learning-rate schedules of the epoch loop (offline training and fine-tuning alike).

An optimizer maps ``(parameters, gradients, lr)`` to new parameter arrays and keeps its own moments;
``state()`` / ``load_state()`` turn those moments into named arrays and JSON scalars for a checkpoint,
so that a resumed run continues bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["Adam", "SGD", "make_optimizer", "learning_rate"]


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
        """Restore what :meth:`state` returned."""
        self.m = [np.array(arrays[f"adam/m/{i}"]) for i in range(len(self.m))]
        self.v = [np.array(arrays[f"adam/v/{i}"]) for i in range(len(self.v))]
        self.t = int(scalars["t"])


class SGD:
    """Stochastic gradient descent with optional (heavy-ball) momentum."""

    def __init__(self, shapes, momentum: float = 0.0):
        self.momentum = float(momentum)
        self.velocity = [np.zeros(s) for s in shapes]

    def step(self, params: list, grads: list, lr: float) -> list:
        """New parameter arrays after one step of size ``lr`` (inputs are not modified)."""
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.velocity[i] = self.momentum * self.velocity[i] + g
            out.append(p - lr * self.velocity[i])
        return out

    def state(self) -> tuple[dict, dict]:
        """``(arrays, scalars)`` to store in a checkpoint."""
        return {f"sgd/velocity/{i}": v for i, v in enumerate(self.velocity)}, {}

    def load_state(self, arrays: dict, scalars: dict) -> None:
        """Restore what :meth:`state` returned."""
        self.velocity = [np.array(arrays[f"sgd/velocity/{i}"]) for i in range(len(self.velocity))]


def make_optimizer(hyper, shapes):
    """The optimizer named by ``hyper.optimizer`` (:class:`fpsnn.datasets.Hyperparameters`) for these shapes."""
    if hyper.optimizer == "adam":
        return Adam(shapes, hyper.beta1, hyper.beta2, hyper.eps)
    return SGD(shapes, hyper.momentum)


def learning_rate(hyper, epoch: int, epochs: int | None = None) -> float:
    """Step size for (0-based) ``epoch``: constant (paper), step decay, or cosine to ``lr * lr_decay``.

    ``epochs`` is the length of the cosine schedule (default ``hyper.epochs``).
    """
    if hyper.schedule == "step":
        return hyper.lr * hyper.lr_decay ** (epoch // hyper.lr_step)
    if hyper.schedule == "cosine":
        total = max(int(epochs if epochs is not None else hyper.epochs), 1)
        lr_min = hyper.lr * hyper.lr_decay
        return lr_min + 0.5 * (hyper.lr - lr_min) * (1.0 + math.cos(math.pi * min(epoch, total) / total))
    return hyper.lr
