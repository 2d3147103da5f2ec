"""One resolver: a model file -> network, metadata, hyper-parameters, encoder and the data it was trained on.

Every command that starts from a trained model (``fpsnn eval | plot | deploy | emulate | hil``, the
pytest plugin, the tools) goes through :func:`resolve_model`, so they all see the same encoder (hence
the same input spikes) and the same loss settings as the training run::

    ctx = resolve_model("runs/yy/model.fpsnn")        # or resolve_model(path, data="yinyang:validation")
    x, y = ctx.data()                                  # encoded input spike times (batch, n_in[, k]), labels
    ctx.net, ctx.hyper, ctx.encoder, ctx.dataset       # what the model was trained with

Where the settings come from, in order: the model file's metadata (``dataset``, ``encoder``, ``hyper``,
written by ``fpsnn train``), else the named data set's defaults (model files written before the
metadata held them, and bare networks). A data set other than the model's own is accepted only when
it encodes to the same spikes the model was trained on (the same encoder settings and input count);
otherwise the error says so ("model trained on yinyang, not iris") instead of failing deep inside an
encoder.

``data`` is a data-set name (``"yinyang"`` or ``"yinyang:validation"``) or a user's data file
(``"my.npz"``, ``"my.csv:train"``; :func:`fpsnn.datasets.load_file`); it is resolved by :func:`_source`:
a source only has to say its name, its default split and how to load ``(features, labels)`` of a
split. A model trained on a file (``fpsnn train --data FILE``) records the file and the seed of its
split (``metadata["data"]``) and is fed that file again by default.

A model may also be a NIR graph (``.nir``, :func:`fpsnn.nir.load_network`): it carries a network, no
data set, so data must be named.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from . import datasets, io
from .datasets import Hyperparameters, current_names, field_names
from .encoding import encoder_from_dict
from .network import Network

__all__ = ["ModelContext", "resolve_model", "read_model", "model_hyper", "parse_data_spec", "check_subset"]


# ------------------------------------------------------------------------------------------- data sources
@dataclass(frozen=True)
class _DatasetSource:
    """One of fpsnn's registered data sets (:data:`fpsnn.datasets.NAMES`)."""

    name: str
    split: str = "test"

    def load(self, split: str):
        return datasets.load(self.name, split)

    def default_encoder(self, hyper: Hyperparameters):
        return datasets.spec(self.name).encoder(hyper)

    def default_hyper(self) -> Hyperparameters:
        return datasets.spec(self.name).paper   # files without hyper-parameters predate the presets

    @property
    def n_features(self) -> int:
        return datasets.spec(self.name).n_features


@dataclass(frozen=True)
class _FileSource:
    """A user's data file (``.npz`` / ``.csv``), read once by :func:`fpsnn.datasets.load_file`."""

    path: str
    split: str = "test"
    seed: int = 0

    @cached_property
    def dataset(self):
        from .datasets import load_file

        return load_file(self.path, seed=self.seed)

    @property
    def name(self) -> str:
        return self.path

    def load(self, split: str):
        return self.dataset.load(split)

    def default_encoder(self, hyper: Hyperparameters):
        return self.dataset.encoder(hyper)

    def default_hyper(self) -> Hyperparameters:
        return self.dataset.default_hyper()

    @property
    def n_features(self) -> int:
        return self.dataset.n_features


DATA_SUFFIXES = (".npz", ".csv")


def _file_spec(spec) -> tuple[str, str | None] | None:
    """``(path, split or None)`` when ``spec`` names a data file (``FILE`` or ``FILE:split``), else None."""
    if isinstance(spec, Path):
        return str(spec), None
    if not isinstance(spec, str):
        return None
    head, sep, tail = spec.rpartition(":")
    if sep and head.lower().endswith(DATA_SUFFIXES) and tail in datasets.SPLITS:
        return head, tail
    if spec.lower().endswith(DATA_SUFFIXES) or Path(spec).is_file():
        return spec, None
    return None


def parse_data_spec(spec: str, default_split: str = "test") -> tuple[str, str]:
    """``"name"`` or ``"name:split"`` -> ``(name, split)``; ValueError naming the valid names and splits."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"data = {spec!r}: expected a data set name such as 'yinyang' or 'yinyang:test'")
    name, _, split = spec.partition(":")
    split = split or default_split
    if name not in datasets.NAMES:
        raise ValueError(f"data: unknown data set {name!r}; expected one of {', '.join(datasets.NAMES)}")
    if split not in datasets.SPLITS:
        raise ValueError(f"data: unknown split {split!r}; expected one of {', '.join(datasets.SPLITS)}")
    return name, split


def check_subset(subset) -> None:
    """ValueError unless ``subset`` (keep the first so many samples) is None or an integer >= 1."""
    if subset is not None and (isinstance(subset, bool) or int(subset) != subset or subset < 1):
        raise ValueError(f"subset = {subset!r}: must be an integer >= 1")


def _source(data, default_split: str, seed: int = 0):
    """The data source ``data`` names: a data file (``FILE[:split]``, split with ``seed``) or a data set."""
    file = _file_spec(data)
    if file is not None:
        path, split = file
        if Path(path).is_dir():
            raise ValueError(f"data: {path!r} is a directory, not a data file (.npz or .csv)")
        if not Path(path).is_file():
            raise ValueError(f"data: no such data file {path!r}")
        return _FileSource(path, split or default_split, seed)
    name, split = parse_data_spec(data, default_split)
    return _DatasetSource(name, split)


# ------------------------------------------------------------------------------------------- the context
@dataclass(frozen=True)
class ModelContext:
    """A model and everything needed to feed it the data it was trained on.

    Attributes:
        net: the network (None when only a metadata dict was resolved).
        metadata: the model file's JSON metadata (``{}`` for a bare network).
        hyper: hyper-parameters of the training run (the data set's defaults when the file holds none),
            or None when neither the file nor a data set gives any.
        encoder: the encoder that turns the data set's features into input spike times, or None.
        dataset: name of the data set ``data()`` loads (the model's own unless another was asked for),
            or None when the model names none and none was given.
        split: the split ``data()`` loads by default (``"test"`` unless the data spec named one).
        path: the model file, or None for a network passed in directly.
    """

    net: Network | None = field(repr=False)
    metadata: dict = field(default_factory=dict, repr=False)
    hyper: Hyperparameters | None = None
    encoder: object = None
    dataset: str | None = None
    split: str = "test"
    path: Path | None = None
    _source: object = field(default=None, repr=False, compare=False)

    @property
    def trained_on(self) -> str | None:
        """The data set named in the model file (None for a bare network or an old file without one)."""
        return self.metadata.get("dataset")

    def data(self, split: str | None = None, subset: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(input spike times, labels)`` of ``split`` (default :attr:`split`), the first ``subset`` samples.

        Spike times are float64 ``(batch, n_inputs[, k])`` in the network's time unit, +inf = no spike;
        labels are int64 ``(batch,)``.
        """
        if self._source is None:
            where = self.path if self.path is not None else "the network"
            raise ValueError(f"data: {where} names no data set; name one (e.g. 'yinyang' or 'yinyang:test')")
        check_subset(subset)
        x, y = self._source.load(self.split if split is None else split)   # the source checks the split
        x, y = x[:subset], y[:subset]
        return self.encoder(x), y

    def describe(self, split: str | None = None) -> str:
        """``"name:split"`` of what :meth:`data` loads (for reports)."""
        return f"{self.dataset}:{self.split if split is None else split}"


def _hyper_from(metadata: dict, source: _DatasetSource | None) -> Hyperparameters | None:
    """The run's hyper-parameters: former field names are read under their new ones, fields this fpsnn
    does not know are dropped, and fields the file lacks keep the data set's defaults."""
    stored = metadata.get("hyper")
    if stored is None:
        return source.default_hyper() if source is not None else None
    if not isinstance(stored, dict):
        raise ValueError(f"model metadata: 'hyper' is a {type(stored).__name__}, not a table of hyper-parameters")
    known = {k: v for k, v in current_names(stored).items() if k in field_names()}
    try:
        if source is not None:
            return source.default_hyper().replace(**known)
        return Hyperparameters(**known)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model metadata: hyper-parameters unusable ({exc})") from None


def model_hyper(metadata: dict) -> Hyperparameters | None:
    """The hyper-parameters a model file's ``metadata`` records (read-out and loss settings included),
    fields it lacks from its own data set's defaults; the data set's defaults when it records none;
    None when it records none and names no data set (a bare network, a NIR graph). Reads no data."""
    own = (metadata or {}).get("dataset")
    return _hyper_from(metadata or {}, _DatasetSource(own) if own in datasets.NAMES else None)


def read_model(model) -> tuple[Network, dict, Path | None]:
    """``(net, metadata, path)`` of a model file, or ``(model, {}, None)`` for an :class:`fpsnn.Network`.

    Only the file is read (all of :func:`fpsnn.io.read_file`'s checks); nothing about its data set.
    ValueError for a directory, a missing file or a damaged one, each said as such.
    """
    if isinstance(model, Network):
        return model, {}, None
    if not isinstance(model, (str, Path)):
        raise ValueError(f"model: expected a model file path or an fpsnn.Network, got {type(model).__name__}")
    path = Path(model)
    if path.is_dir():
        raise ValueError(f"model: {str(path)!r} is a directory, not a model file (e.g. {path / 'model.fpsnn'})")
    if not path.is_file():
        raise ValueError(f"model: no such file {str(path)!r}")
    if path.suffix.lower() == ".nir":
        from .nir import load_network

        return load_network(path), {}, path
    net, metadata = io.load_model(path)
    return net, metadata, path


def resolve_model(model, data: str | None = None, metadata: dict | None = None) -> ModelContext:
    """Read ``model`` (a model file path or an :class:`fpsnn.Network`) and rebuild its data pipeline.

    Args:
        model: a file written by ``fpsnn train`` (or ``save_model``), a Network, or None (only the
            data pipeline that ``metadata`` describes; then no input-count check and ``net`` is None).
        data: the data to feed it: a data set name or ``"name:split"``, or a data file ``FILE[:split]``
            (default: the model's own data set or data file, test split or the model's ``test_split``).
        metadata: for a Network or None: the metadata it would carry in a file (default ``{}``).

    Raises:
        ValueError: unreadable model, a directory, unknown data set or split, or a data set the model
            was not trained on whose encoding differs ("model trained on X, not Y"), or one that
            encodes to a different number of inputs than the network has.
    """
    if model is None:
        net, path, metadata = None, None, dict(metadata or {})
    else:
        net, file_metadata, path = read_model(model)
        metadata = file_metadata if path is not None else dict(metadata or {})
    own = metadata.get("dataset")
    default_split = metadata.get("test_split", "test") if data is None else "test"
    trained_file = metadata.get("data") if isinstance(metadata.get("data"), dict) else {}
    spec = data if data is not None else (own if own is not None else trained_file.get("data_file"))
    if spec is None:
        return ModelContext(net=net, metadata=metadata, path=path,
                            encoder=encoder_from_dict(metadata["encoder"]) if "encoder" in metadata else None)
    source = _source(spec, default_split, seed=int(trained_file.get("split_seed") or 0))
    hyper = _hyper_from(metadata, _DatasetSource(own) if own in datasets.NAMES else source)
    stored = encoder_from_dict(metadata["encoder"]) if "encoder" in metadata else None
    if own is not None and source.name != own:
        # Another data set: only if it produces the very spikes the model was trained on.
        other = source.default_encoder(source.default_hyper())
        same = stored is not None and other.to_dict() == stored.to_dict()
        if not same or (net is not None and other.n_inputs(source.n_features) != net.n_inputs):
            raise ValueError(f"data: the model was trained on {own}, not {source.name} (its encoder and inputs "
                             f"differ); use {own!r} or a model trained on {source.name}")
        enc = stored
    else:
        enc = stored if stored is not None else source.default_encoder(hyper)
    if net is not None and enc.n_inputs(source.n_features) != net.n_inputs:
        raise ValueError(f"data: {source.name} encodes to {enc.n_inputs(source.n_features)} inputs, "
                         f"the model has {net.n_inputs}")
    return ModelContext(net=net, metadata=metadata, hyper=hyper, encoder=enc, dataset=source.name,
                        split=source.split, path=path, _source=source)
