"""The files of a run with an ``out_dir``: where they live, what a resumed run must match, the final model.

``out_dir/checkpoint.fpsnn`` is written (atomically, :mod:`fpsnn.io`) after every epoch and, when asked,
every so many minibatches; ``out_dir/model.fpsnn`` at the end, with the initial weights as
``initial/weights/<l>`` arrays for before/after figures. A checkpoint records its ``kind`` (``"train"``
or ``"fine-tune"``) and ``config``: every setting a resumed run must share with the interrupted one.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .. import io
from ..network import Network

__all__ = ["CHECKPOINT_NAME", "MODEL_NAME", "RunFiles", "fingerprint", "config_differences", "initial_arrays",
           "initial_weights", "save_model_file"]

CHECKPOINT_NAME = "checkpoint.fpsnn"
MODEL_NAME = "model.fpsnn"


class RunFiles:
    """Where a run with an ``out_dir`` keeps its files (training and fine-tuning alike)."""

    out_dir: Path | None

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / CHECKPOINT_NAME

    @property
    def model_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / MODEL_NAME


def fingerprint(*arrays) -> str:
    """Hex SHA-256 of the arrays' dtypes, shapes and bytes (identifies the training data of a run)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def config_differences(mine: dict, theirs: dict, prefix: str = "") -> list:
    """Sorted names of the settings that differ; nested dicts give dotted names (``hyper.lr``)."""
    diff = []
    for k in sorted(set(mine) | set(theirs)):
        a, b = mine.get(k), theirs.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            diff += config_differences(a, b, f"{prefix}{k}.")
        elif a != b:
            diff.append(f"{prefix}{k}")
    return diff


def initial_arrays(initial: list) -> dict:
    """The initial weights as named arrays ``initial/weights/<l>``."""
    return {f"initial/weights/{l}": w for l, w in enumerate(initial)}


def initial_weights(arrays: dict, n_layers: int) -> list:
    """The inverse of :func:`initial_arrays`."""
    return [arrays[f"initial/weights/{l}"] for l in range(n_layers)]


def save_model_file(path, net: Network, initial: list, metadata: dict) -> Path:
    """Write a final model file: ``net``, ``metadata`` (JSON) and the initial weights."""
    return io.save_model(path, net, metadata, arrays=initial_arrays(initial))
