"""A user's own data: arrays, ``.npz`` and ``.csv`` files -> a :class:`DataSet` used like a bundled set.

Forms (``docs/data.md`` has the file layouts and an example):

* static features ``x`` ``(n, features)`` -> latency code (one spike per feature, min/max from train);
* dense series ``x`` ``(n, channels, steps)``, or ragged series (an object array of ``(channels, steps_i)``
  arrays), with an optional scalar ``sample_rate`` (steps per network time unit, default 1) -> send-on-delta;
* events: flat ``times`` (network time units), ``channels``, ``sample`` arrays, one entry per input spike
  -> used as they are.

Labels ``y`` are ints or strings; classes are numbered 0 ... C-1 in sorted order (``DataSet.classes``
keeps the original names). Without a test split (``x_test``/``y_test``, or the CSV column ``split``) a
stratified split with ``test_fraction`` and ``seed`` is made, and the seed is recorded in
``DataSet.split_seed`` (and in :meth:`DataSet.metadata`, for the model file). Every bad input is a
ValueError that names the file (or ``arrays``) and the field.
"""
from __future__ import annotations

import csv
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..encoding import DeltaEncoder, LatencyEncoder, SpikeTimesEncoder, events_to_times
from . import Hyperparameters
from .archive import as_object_array

__all__ = ["DataSet", "from_arrays", "load_file", "stratified_split", "KINDS"]

KINDS = ("static", "series", "ragged", "events")  # "series" declares dense (n, channels, steps)
EVENT_FIELDS = ("times", "channels", "sample")
NPZ_FIELDS = ("x", "y", "x_test", "y_test", "sample_rate", "kind", "n_channels") + EVENT_FIELDS + tuple(
    f"{f}_test" for f in EVENT_FIELDS)


def stratified_split(y, test_fraction: float, seed: int, source: str = "arrays"):
    """Sorted ``(train, test)`` index arrays of a stratified split (scikit-learn's ``train_test_split``)."""
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction = {test_fraction}: must be in (0, 1)")
    values, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"{source}: field 'y': class {values[np.argmin(counts)]!r} has only one sample; a "
                         "stratified split needs >= 2 per class (or give a test split)")
    try:
        tr, te = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=seed)
    except ValueError as exc:
        raise ValueError(f"{source}: cannot split {len(y)} samples of {len(values)} classes with "
                         f"test_fraction = {test_fraction} ({exc})") from None
    return np.sort(tr), np.sort(te)


@dataclass(frozen=True, eq=False)
class DataSet:
    """A user's data set, split and labelled (see the module docstring).

    Attributes:
        x_train, x_test: features ``(n, features)``, dense series ``(n, channels, steps)``, an object array
            of ``(channels, steps_i)`` series, or (events) spike times ``(n, channels, k)``; float64.
        y_train, y_test: int64 class indices into ``classes``.
        classes: the original labels (ints or strings), sorted; index = class id.
        kind: ``"static"``, ``"series"`` or ``"events"``.
        n_features: features (static) or channels (series, events).
        sample_rate: steps per network time unit (series), else ``None``.
        source: the file's path, or ``"arrays"``.
        split_seed: seed of the stratified split made here, ``None`` when the data came split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple
    kind: str
    n_features: int
    sample_rate: float | None
    source: str
    split_seed: int | None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def load(self, split: str = "train"):
        """``(data, labels)`` of ``"train"`` or ``"test"`` (``"validation"`` = test), like ``datasets.load``."""
        if split not in ("train", "validation", "test"):
            raise ValueError(f"split = {split!r}: unknown split; valid: train, validation, test")
        return (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)

    def encoder(self, hyper: Hyperparameters | None = None):
        """The encoder for this kind, fitted on the training split: latency (static; mirrored, so large
        values spike early, on ``[t_early, t_max]`` with ``t_bias``), send-on-delta (series, threshold
        1 x the step-difference std, start at the training mean) or the identity (events)."""
        hyper = self.default_hyper() if hyper is None else hyper
        if self.kind == "static":
            return LatencyEncoder(t_max=hyper.t_input_max, t_early=hyper.t_early, t_bias=hyper.t_bias,
                                  mirrored=True).fit(self.x_train)
        if self.kind == "series":
            return DeltaEncoder(sample_rate=self.sample_rate, threshold_scale=1.0).fit(self.x_train)
        return SpikeTimesEncoder(self.n_features)

    def duration(self) -> float:
        """Time of the latest training input (network time units): last step, last event, or 1 (static)."""
        if self.kind == "series":
            return max(s.shape[-1] for s in self.x_train) / self.sample_rate
        if self.kind == "events":
            finite = self.x_train[np.isfinite(self.x_train)]
            return float(finite.max()) if finite.size else 1.0
        return 1.0

    def default_hyper(self) -> Hyperparameters:
        """Starting hyper-parameters (tune them): Yin-Yang's neuron and loss, window = the data's
        duration (static: 2, with a bias spike at 0.9), one hidden layer of 64, hidden weights scaled
        to the mean number of input spikes per training sample ``S`` (mean ``7.5 / S``: Yin-Yang's 1.5 at
        its 5 spikes), 100 epochs of Adam at 1e-3, batches of 32."""
        static = self.kind == "static"
        t_max = 2.0 if static else float(np.ceil(self.duration() * 1.05 * 10) / 10)
        hyper = Hyperparameters(
            alpha=0.999, beta=1.0, theta=1.0, t_input_max=t_max, t_sim=None if static else t_max + 1.0,
            t_early=0.15 if static else 0.0, t_bias=0.9 if static else None, hidden=(64,),
            init_mean=(1.0, 1.0), init_std=(1.0, 0.5), lr=1e-3, gamma=0.005, tau0=0.2, tau1=1.0,
            batch_size=32, epochs=100)
        spikes = self.encoder(hyper)(self.x_train)
        s = max(1.0, float(np.isfinite(spikes).reshape(len(spikes), -1).sum(axis=1).mean()))
        return hyper.replace(init_mean=(7.5 / s, 1.0), init_std=(4.0 / s, 0.5))

    def metadata(self) -> dict:
        """JSON-safe description for a model file (``load_file(source, seed=split_seed)`` rebuilds it)."""
        source = self.source
        if source != "arrays" and Path(source).is_file():
            source = str(Path(source).resolve())  # the model file may be used from another directory
        return {"data_file": source, "kind": self.kind, "classes": [_plain(c) for c in self.classes],
                "sample_rate": self.sample_rate, "split_seed": self.split_seed,
                "n_train": int(len(self.y_train)), "n_test": int(len(self.y_test))}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------------------------ arrays
def from_arrays(x, y, x_test=None, y_test=None, sample_rate=None, kind: str | None = None, seed: int = 0,
                test_fraction: float = 0.2, source: str = "arrays") -> DataSet:
    """A :class:`DataSet` from arrays (see the module docstring for the forms of ``x``).

    Args:
        x, y: training data and labels (all the data when no test split is given). ``x`` may be a mapping
            with ``times``, ``channels``, ``sample`` (events; optionally ``n_channels``).
        x_test, y_test: the test split, both or neither.
        sample_rate: steps per network time unit (series only), default 1.
        kind: declare the form (``static``, ``series`` = dense, ``ragged``, ``events``); ``None`` infers it.
        seed, test_fraction: the stratified split made when no test split is given.
        source: name used in error messages and recorded in the metadata.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"{source}: field 'kind' = {kind!r}; valid: {', '.join(KINDS)}")
    if (x_test is None) != (y_test is None):
        raise ValueError(f"{source}: give both 'x_test' and 'y_test' or neither")
    y_all = [_labels(y, "y", source)] + ([] if y_test is None else [_labels(y_test, "y_test", source)])
    if isinstance(x, Mapping):
        if kind not in (None, "events"):
            raise ValueError(f"{source}: field 'x' holds events but kind = {kind!r}")
        n_ch = x.get("n_channels")
        parts = [x] + ([] if x_test is None else [x_test])
        if n_ch is None:
            n_ch = 1 + max(int(np.max(p["channels"], initial=-1)) for p in parts)
        xs = [_events(p, yy, n_ch, f, source) for p, yy, f in zip(parts, y_all, ("x", "x_test"))]
        kind, n_features, sample_rate = "events", int(n_ch), None
    else:
        xs = [_signals(x, "x", kind, source)] + ([] if x_test is None else [_signals(x_test, "x_test", kind, source)])
        kind = "static" if xs[0].dtype != object and xs[0].ndim == 2 else "series"
        n_features = _n_features(xs[0])
        for (fx, fy), arr, labels in zip((("x", "y"), ("x_test", "y_test")), xs, y_all):
            if len(arr) != len(labels):
                raise ValueError(f"{source}: field '{fx}' has {len(arr)} samples but '{fy}' has {len(labels)} labels")
        if len(xs) == 2 and (_n_features(xs[1]) != n_features or (xs[1].dtype == object) != (xs[0].dtype == object)
                             or xs[1].ndim != xs[0].ndim):
            raise ValueError(f"{source}: field 'x_test' has {_n_features(xs[1])} features/channels "
                             f"(ndim {xs[1].ndim}), 'x' has {n_features} (ndim {xs[0].ndim})")
        sample_rate = _sample_rate(sample_rate, kind, source)
    classes, codes = _classes(y_all, source)
    if len(xs) == 2:
        return DataSet(xs[0], codes[0], xs[1], codes[1], classes, kind, n_features, sample_rate, source, None)
    tr, te = stratified_split(codes[0], test_fraction, int(seed), source)
    return DataSet(xs[0][tr], codes[0][tr], xs[0][te], codes[0][te], classes, kind, n_features, sample_rate,
                   source, int(seed))


def _labels(y, field: str, source: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{source}: field '{field}' (labels) must be a non-empty 1-D array, got shape {a.shape}")
    if a.dtype.kind == "f":
        if np.any(np.isnan(a)):
            raise ValueError(f"{source}: field '{field}': label missing (NaN) at sample {int(np.argmax(np.isnan(a)))}")
        if np.any(a != np.round(a)):
            bad = a[a != np.round(a)][0]
            raise ValueError(f"{source}: field '{field}': labels must be ints or strings, found {bad}")
        return a.astype(np.int64)
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if a.dtype.kind in "UO":
        strings = [None if v is None else str(v).strip() for v in a.tolist()]
        missing = [i for i, v in enumerate(strings) if v in (None, "")]
        if missing:
            raise ValueError(f"{source}: field '{field}': label missing at sample {missing[0]}")
        return np.array(strings)
    raise ValueError(f"{source}: field '{field}': labels must be ints or strings, got dtype {a.dtype}")


def _classes(ys: list, source: str):
    if len({y.dtype.kind for y in ys}) > 1:
        raise ValueError(f"{source}: fields 'y' and 'y_test' mix int and string labels")
    classes = np.unique(np.concatenate(ys))
    if len(np.unique(ys[0])) < 2:
        raise ValueError(f"{source}: field 'y': one class only ({classes[0]!r}); need at least 2")
    return tuple(_plain(c) for c in classes), [np.searchsorted(classes, y).astype(np.int64) for y in ys]


def _signals(x, field: str, kind: str | None, source: str) -> np.ndarray:
    """Static ``(n, f)``, dense ``(n, c, s)`` or ragged (object) data, validated; errors name ``field``."""
    a = x if isinstance(x, np.ndarray) else _as_array(x)
    if a.dtype == object:
        if a.ndim != 1:
            a = np.asarray(a.tolist(), dtype=np.float64) if _rectangular(a) else a
        if a.dtype == object:
            return _ragged(a, field, kind, source)
    if kind == "events":
        raise ValueError(f"{source}: kind 'events' needs fields 'times', 'channels', 'sample', not '{field}'")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{source}: field '{field}' must be numeric, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    want = {"static": (2,), "series": (3,), "ragged": (3,), None: (2, 3)}[kind]
    if a.ndim not in want or 0 in a.shape:
        raise ValueError(f"{source}: field '{field}' has shape {a.shape}; expected "
                         + {2: "(n, features)", 3: "(n, channels, steps)"}[want[0]]
                         + ("" if kind else " or (n, channels, steps)") + " with no empty axis")
    _check_finite(a, field, source)
    return a


def _as_array(x) -> np.ndarray:
    """Nested lists -> a float array when rectangular, else an object array of the items (ragged)."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return as_object_array(list(x))


def _rectangular(a: np.ndarray) -> bool:
    try:
        np.asarray(a.tolist(), dtype=np.float64)
        return True
    except (TypeError, ValueError):
        return False


def _ragged(a: np.ndarray, field: str, kind: str | None, source: str) -> np.ndarray:
    if kind in ("static", "events"):
        raise ValueError(f"{source}: field '{field}' holds a list of series but kind = {kind!r}")
    items = []
    for i, s in enumerate(a):
        try:
            s = np.ascontiguousarray(s, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: field '{field}'[{i}] is not a numeric (channels, steps) array") from None
        if s.ndim == 1:
            s = s[None, :]  # a univariate series
        if s.ndim != 2 or 0 in s.shape:
            raise ValueError(f"{source}: field '{field}'[{i}] has shape {s.shape}; expected (channels, steps)")
        _check_finite(s, f"{field}'[{i}", source)
        items.append(s)
    channels = {s.shape[0] for s in items}
    if len(channels) > 1:
        raise ValueError(f"{source}: field '{field}': series have different channel counts {sorted(channels)}")
    steps = sorted({s.shape[1] for s in items})
    if kind == "series" and len(steps) > 1:
        raise ValueError(f"{source}: field '{field}' is ragged (steps {steps[0]} to {steps[-1]}) but kind = "
                         "'series' declares dense (n, channels, steps); declare kind 'ragged' or pad the series")
    return as_object_array(items)


def _check_finite(a: np.ndarray, field: str, source: str):
    if not np.all(np.isfinite(a)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{source}: field '{field}' holds NaN or inf (first at index {list(where)})")


def _n_features(a: np.ndarray) -> int:
    return int(a[0].shape[0]) if a.dtype == object else int(a.shape[1])


def _sample_rate(value, kind: str, source: str):
    if value is None:
        return 1.0 if kind == "series" else None
    try:
        rate = float(np.asarray(value).item())
    except (TypeError, ValueError):
        raise ValueError(f"{source}: field 'sample_rate' must be one number, got {value!r}") from None
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"{source}: field 'sample_rate' = {rate}: must be finite and > 0")
    if kind != "series":
        raise ValueError(f"{source}: field 'sample_rate' applies to series only, but 'x' is {kind} data")
    return rate


def _events(ev: Mapping, y: np.ndarray, n_channels: int, field: str, source: str) -> np.ndarray:
    missing = [f for f in EVENT_FIELDS if f not in ev]
    if missing:
        raise ValueError(f"{source}: events for '{field}' lack fields {missing}")
    name = f"{source}: events of '{field}'"
    return events_to_times(ev["times"], ev["channels"], ev["sample"], n_samples=len(y), n_channels=n_channels,
                           name=name)


# ------------------------------------------------------------------------------------------- files
def load_file(path, seed: int = 0, test_fraction: float = 0.2) -> DataSet:
    """A :class:`DataSet` from an ``.npz`` or ``.csv`` file (layouts: module docstring, ``docs/data.md``).

    ``.npz`` object arrays (ragged series) are read with pickle: load only files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, seed, test_fraction)
    if suffix == ".csv":
        return _load_csv(path, seed, test_fraction)
    raise ValueError(f"{path}: unknown file type {suffix!r}; expected .npz or .csv")


def _load_npz(path: Path, seed: int, test_fraction: float) -> DataSet:
    source = str(path)
    if not zipfile.is_zipfile(path):  # np.load would otherwise try to unpickle any other file
        raise ValueError(f"{source}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=True) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{source}: not a readable .npz file ({exc})") from None
    unknown = sorted(set(data) - set(NPZ_FIELDS))
    if unknown:
        raise ValueError(f"{source}: unknown fields {unknown}; valid: {', '.join(NPZ_FIELDS)}")
    if "y" not in data:
        raise ValueError(f"{source}: field 'y' (labels) missing")
    kind = str(data["kind"]) if "kind" in data else None
    if "x" in data and "times" in data:
        raise ValueError(f"{source}: give field 'x' or the event fields 'times', 'channels', 'sample', not both")
    if "times" in data:
        x = {f: data.get(f) for f in EVENT_FIELDS if f in data}
        if "n_channels" in data:
            x["n_channels"] = int(data["n_channels"])
        x_test = {f: data[f"{f}_test"] for f in EVENT_FIELDS if f"{f}_test" in data} or None
    elif "x" in data:
        x, x_test = data["x"], data.get("x_test")
    else:
        raise ValueError(f"{source}: field 'x' missing (or give events: 'times', 'channels', 'sample')")
    return from_arrays(x, data["y"], x_test, data.get("y_test"), sample_rate=data.get("sample_rate"), kind=kind,
                       seed=seed, test_fraction=test_fraction, source=source)


def _load_csv(path: Path, seed: int, test_fraction: float) -> DataSet:
    source = str(path)
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError(f"{source}: empty file")
    header = [h.strip() for h in rows[0]]
    if "label" not in header:
        raise ValueError(f"{source}: column 'label' (labels) missing; header: {header}")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if not body:
        raise ValueError(f"{source}: no data rows")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise ValueError(f"{source}: row {i + 2} has {len(r)} fields, the header has {len(header)} (ragged rows)")
    cols = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    labels = cols.pop("label")
    split = cols.pop("split", None)
    if not cols:
        raise ValueError(f"{source}: no feature columns besides 'label'")
    x = np.empty((len(body), len(cols)))
    for j, (name, values) in enumerate(cols.items()):
        for i, v in enumerate(values):
            try:
                x[i, j] = float(v)
            except ValueError:
                raise ValueError(f"{source}: column {name!r}, row {i + 2}: {v!r} is not a number") from None
            if not np.isfinite(x[i, j]):
                raise ValueError(f"{source}: column {name!r}, row {i + 2}: NaN or inf")
    y = np.array(labels, dtype=object)
    if all(_is_int(v) for v in labels):
        y = np.array([int(v) for v in labels], dtype=np.int64)
    if split is None:
        return from_arrays(x, y, seed=seed, test_fraction=test_fraction, source=source, kind="static")
    bad = sorted(set(split) - {"train", "test"})
    if bad:
        raise ValueError(f"{source}: column 'split' holds {bad}; valid: train, test")
    tr, te = np.array(split) == "train", np.array(split) == "test"
    if not tr.any() or not te.any():
        raise ValueError(f"{source}: column 'split' needs both 'train' and 'test' rows")
    return from_arrays(x[tr], y[tr], x[te], y[te], source=source, kind="static")


def _is_int(v: str) -> bool:
    try:
        int(v)
        return True
    except ValueError:
        return False
