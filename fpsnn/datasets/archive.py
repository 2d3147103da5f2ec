"""Reading the UCR/UEA archive sets that sktime 1.2 bundles (no download), as fpsnn's raw series.

``sktime.datasets.load_<name>(split, return_X_y=True)`` returns a nested pandas frame (one column per
channel, one ``pandas.Series`` per cell) and string labels; :func:`load_archive` turns it into a list of
float64 ``(channels, steps_i)`` arrays (an object array, because lengths may differ) and int64 labels
``0 ... C-1`` in the order of ``classes``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .extras import import_extra

__all__ = ["load_archive", "as_object_array"]


def as_object_array(series: list) -> np.ndarray:
    """A 1-D object array holding ``series`` (numpy would otherwise stack equal-length series)."""
    out = np.empty(len(series), dtype=object)
    out[:] = series
    return out


@lru_cache(maxsize=None)
def _cached(loader: str, dataset: str, split: str, classes: tuple):
    sk = import_extra("sktime.datasets", dataset)
    frame, labels = getattr(sk, loader)(split=split, return_X_y=True)
    series = [np.stack([np.asarray(frame.iloc[i, j], dtype=np.float64) for j in range(frame.shape[1])])
              for i in range(len(frame))]
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(map(str, labels)) - set(index))
    if unknown:
        raise ValueError(f"data set {dataset!r}: labels {unknown} not in the expected classes {classes}")
    y = np.array([index[str(v)] for v in labels], dtype=np.int64)
    return series, y


def load_archive(loader: str, dataset: str, split: str, classes: tuple):
    """``(object array of (channels, steps_i) float64 arrays, int64 labels)``, fresh copies, for one split
    (``"train"`` or ``"test"``) of the sktime loader ``loader``; ``classes`` fixes the label order."""
    series, y = _cached(loader, dataset, split, tuple(classes))
    return as_object_array([s.copy() for s in series]), y.copy()
