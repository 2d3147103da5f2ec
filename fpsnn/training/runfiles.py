"""The files of a run with an ``out_dir``: where they live, what a resumed run must match, the final model.

``out_dir/checkpoint.fpsnn`` is written (atomically, :mod:`fpsnn.io`) after every epoch and, when asked,
every so many minibatches; ``out_dir/model.fpsnn`` at the end, with the initial weights as
``initial/weights/<l>`` arrays for before/after figures. A checkpoint records its ``kind`` (``"train"``
or ``"fine-tune"``) and ``config``: every setting a resumed run must share with the interrupted one.

A directory belongs to one run (:func:`claim_run_dir`): ``out_dir/run.json`` names the run that owns it
and ``out_dir/.fpsnn.lock`` keeps a second process from writing into it at the same time.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import io
from ..network import Network

__all__ = ["CHECKPOINT_NAME", "MODEL_NAME", "RunFiles", "fingerprint", "config_differences", "initial_arrays",
           "initial_weights", "save_model_file",
           "RunDirError", "prepare_out_dir", "claim_run_dir"]

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


def config_differences(mine: dict, theirs: dict, prefix: str = "", defaults: dict | None = None) -> list:
    """Sorted names of the settings that differ; nested dicts give dotted names (``hyper.lr``).

    ``defaults`` (nested like the configs): a setting that ``theirs`` does not have (a file written
    before the setting existed) counts as its default there, so adding a hyper-parameter with a default
    that keeps the old behaviour does not stop older runs from resuming.
    """
    defaults = defaults or {}
    diff = []
    for k in sorted(set(mine) | set(theirs)):
        a, b = mine.get(k), theirs.get(k, defaults.get(k))
        if isinstance(a, dict) and isinstance(b, dict):
            diff += config_differences(a, b, f"{prefix}{k}.", defaults.get(k) if isinstance(defaults.get(k), dict)
                                       else None)
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


# ------------------------------------------------------------------------------------------- ownership
RUN_NAME = "run.json"
LOCK_NAME = ".fpsnn.lock"


class RunDirError(ValueError):
    """``out_dir`` cannot be used by this run: another run owns it, another process writes to it, or it
    is not a usable directory (a file, under a file, not writable)."""


def prepare_out_dir(out_dir, name: str = "--out") -> Path:
    """``out_dir`` as an existing, writable directory (created with its parents); RunDirError naming
    ``name`` when it is empty, a file, lies under a file or cannot be written."""
    if out_dir is None or str(out_dir).strip() == "":
        raise RunDirError(f"{name}: empty path; name a directory (e.g. runs/my-run)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{name} {out}: exists and is a file, not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise RunDirError(f"{name} {out}: a parent of it is a file, not a directory") from None
    except OSError as exc:
        raise RunDirError(f"{name} {out}: cannot create it ({exc.strerror})") from None
    import os

    if not os.access(out, os.W_OK | os.X_OK):
        raise RunDirError(f"{name} {out}: not writable (permission denied)")
    return out


@contextmanager
def claim_run_dir(out_dir, identity: dict, force: bool = False, resume: bool = False, name: str = "--out"):
    """Hold ``out_dir`` for one run while the block runs: a directory belongs to one run.

    * Another process holding the directory (its ``.fpsnn.lock``) is refused at once: two writers would
      leave one run's model next to the other's checkpoint.
    * ``run.json`` records the ``identity`` (JSON data: every setting that defines the run, e.g. data
      set, seed, hyper-parameters without the epoch budget) of the run that owns the directory. A
      directory owned by a run with another identity, or holding a model or checkpoint of a run fpsnn
      cannot identify, is refused unless ``force`` (then it is taken over and overwritten). The same
      run may write again (a re-run, or ``resume``). A run that fails before its first checkpoint
      leaves the directory as it found it (removed again if it created it).

    Raises:
        RunDirError: (a ValueError) naming the directory and what to do instead.
    """
    created = not Path(out_dir).exists() if out_dir is not None and str(out_dir).strip() else False
    out = prepare_out_dir(out_dir, name)
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / LOCK_NAME))
    try:
        lock.acquire(timeout=0)   # the operating system drops it when the process ends, however it ends
    except Timeout:
        raise RunDirError(f"{name} {out}: another fpsnn run is writing to it right now (it holds "
                          f"{LOCK_NAME}); wait for it to finish or choose another directory") from None
    owner, undo = out / RUN_NAME, None
    try:
        mine = json.loads(json.dumps(identity, default=io.json_default))
        _check_owner(out, owner, mine, force, resume, name)
        had_owner = owner.exists()
        io.write_atomic(owner, json.dumps(mine, indent=1, sort_keys=True).encode("utf-8"))
        try:
            yield out
        except BaseException:
            # A run that failed before writing anything does not keep the directory.
            if not any((out / f).exists() for f in (MODEL_NAME, CHECKPOINT_NAME)):
                undo = (had_owner, created)
            raise
    finally:
        lock.release()
        if undo is not None:
            had_owner, made = undo
            if not had_owner:
                owner.unlink(missing_ok=True)
            if made:
                (out / LOCK_NAME).unlink(missing_ok=True)
                try:
                    out.rmdir()
                except OSError:
                    pass


def _check_owner(out: Path, owner: Path, mine: dict, force: bool, resume: bool, name: str) -> None:
    """RunDirError unless the run ``mine`` may write into ``out`` (see :func:`claim_run_dir`)."""
    if owner.exists():
        try:
            theirs = json.loads(owner.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            theirs = None
        if theirs != mine and not force:
            diff = config_differences(mine, theirs) if isinstance(theirs, dict) else ["(unreadable run.json)"]
            raise RunDirError(f"{name} {out}: holds another run (differs in {', '.join(diff)}); choose another "
                              "directory, or pass --force to overwrite it")
    elif not force and not resume and any((out / f).exists() for f in (MODEL_NAME, CHECKPOINT_NAME)):
        raise RunDirError(f"{name} {out}: holds a model or checkpoint of an earlier run; choose another "
                          "directory, --resume it, or pass --force to overwrite it")
