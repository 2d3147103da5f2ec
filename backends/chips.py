"""Chip descriptions: what a neuromorphic chip can hold and how its arithmetic encodes a network.

One TOML file per chip (revision) lives in ``hw_configs/`` (shipped as ``fpsnn.hw_configs``); this
module reads such a file into a :class:`ChipDescription` and checks every value. A new chip revision is
a new file, not new code.

File layout (every key is required; the table names group the dataclass fields)::

    schema = 1                        # file format version
    name, family, part, version       # top level
    [neurons]       inputs, hidden, outputs, synapses_per_hidden, synapses_per_output,
                    input_targets, output_sources
    [connectivity]  max_fan_in, max_fan_out, recurrent, skip, max_layers
    [bits]          weight, state, threshold, bias, weight_shift_max
    [decay]         encoding, min, max
    [reset]         rule, condition
    [time]          dt, unit
    [events]        max_input_per_step, max_hidden_per_step, max_output_per_step
    [scalings]      name = integer, family specific (may be empty)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 (the package allows it)
    import tomli as tomllib

__all__ = ["ChipDescription", "load", "available", "config_dir"]

SCHEMA_VERSION = 1
DECAY_ENCODINGS = ("bitshift", "multiplier12", "analog")
RESET_RULES = ("subtract", "to_zero")
SPIKE_CONDITIONS = (">=", ">")
TIME_UNITS = ("s", "ms", "us", "step")


@dataclass(frozen=True)
class ChipDescription:
    r"""Limits and number formats of one chip (data only; see the module docstring for the file).

    Neuron model the fields describe, per time step :math:`\Delta t` (= ``dt`` in ``dt_unit``):
    synaptic state :math:`I \leftarrow \mathrm{decay}(I) + \sum w\,s`, membrane
    :math:`V \leftarrow \mathrm{decay}(V) + I (+ b)`, an event when :math:`V` meets
    ``spike_condition`` against the threshold, then ``reset``.

    Attributes:
        name: the file's chip name (``"xylo-audio2"``), used by :func:`load`.
        family: a chip family of :mod:`fpsnn.backends.registry`: picks the backend (mapper, emulator).
        part: vendor part number or product name (``"SYNS61201"``).
        version: arithmetic version within the family (Xylo: 1 or 2 = ``xylosim.v1`` / ``v2``).
        n_inputs, n_hidden, n_outputs: input channels, hidden neurons, output (read-out) neurons.
        syn_per_hidden, syn_per_output: synaptic-current states per hidden / output neuron.
        input_targets: the input projection reaches hidden neurons ``0 .. input_targets-1`` only.
        output_sources: only the last ``output_sources`` hidden neurons may project to the outputs.
        max_fan_in: most pre-synaptic connections one neuron may receive.
        max_fan_out: most outgoing connections one hidden neuron may have.
        recurrent: hidden -> hidden connections allowed.
        skip: connections that skip a layer (input -> output) allowed.
        max_layers: most neuron layers (hidden + output) a network may have on this chip.
        weight_bits, state_bits, threshold_bits, bias_bits: two's-complement widths in bits;
            0 means an analog quantity with no integer width.
        weight_shift_max: largest global weight left shift (bits).
        decay_encoding: ``"bitshift"`` (:math:`x \mathrel{-}= x \gg d`, Xylo),
            ``"multiplier12"`` (:math:`x \leftarrow x(4096-d)/4096`, Loihi) or ``"analog"``.
        decay_min, decay_max: range of the integer decay code ``d``.
        reset: ``"subtract"`` (:math:`V \mathrel{-}= \vartheta`) or ``"to_zero"`` (:math:`V = 0`).
        spike_condition: ``">="`` or ``">"`` (membrane against threshold).
        dt: default time step, in ``dt_unit``; > 0.
        dt_unit: ``"s"``, ``"ms"``, ``"us"`` or ``"step"`` (algorithmic steps with no physical unit).
        max_input_events, max_hidden_events, max_output_events: most events per neuron (or input
            channel) per step; more are clipped by the chip.
        scalings: family-specific integer scalings the vendor applies internally (Loihi:
            ``vth_shift``, ``activation_shift``, ``decay_shift`` ...), bits.
        source: the file this description was read from (empty when built in code).
    """

    name: str
    family: str
    part: str
    version: int
    n_inputs: int
    n_hidden: int
    n_outputs: int
    syn_per_hidden: int
    syn_per_output: int
    input_targets: int
    output_sources: int
    max_fan_in: int
    max_fan_out: int
    recurrent: bool
    skip: bool
    max_layers: int
    weight_bits: int
    state_bits: int
    threshold_bits: int
    bias_bits: int
    weight_shift_max: int
    decay_encoding: str
    decay_min: int
    decay_max: int
    reset: str
    spike_condition: str
    dt: float
    dt_unit: str
    max_input_events: int
    max_hidden_events: int
    max_output_events: int
    scalings: dict = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        # read from a file: name the file's key (``neurons.hidden``); built in code: the field name
        key_of = (lambda f: _FILE_KEY.get(f, f)) if self.source else (lambda f: f)
        _check_description(self, where=self.source or "ChipDescription", key_of=key_of)

    # ----------------------------------------------------------------- integer ranges
    def int_range(self, bits: int) -> tuple[int, int]:
        """``(lo, hi)`` of a signed two's-complement integer of ``bits`` bits."""
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    # (lo, hi) of each integer quantity, from its width in bits
    weight_range = property(lambda self: self.int_range(self.weight_bits), doc="Smallest and largest integer weight.")
    threshold_range = property(lambda self: self.int_range(self.threshold_bits),
                               doc="Smallest and largest integer threshold.")
    bias_range = property(lambda self: self.int_range(self.bias_bits), doc="Smallest and largest integer bias.")
    state_range = property(lambda self: self.int_range(self.state_bits),
                           doc="Smallest and largest integer state (membrane potential, synaptic current).")


# --------------------------------------------------------------------------- file layout
# (toml table, toml key, dataclass field, type): the single place that ties file keys to fields.
_LAYOUT = (
    (None, "name", "name", str),
    (None, "family", "family", str),
    (None, "part", "part", str),
    (None, "version", "version", int),
    ("neurons", "inputs", "n_inputs", int),
    ("neurons", "hidden", "n_hidden", int),
    ("neurons", "outputs", "n_outputs", int),
    ("neurons", "synapses_per_hidden", "syn_per_hidden", int),
    ("neurons", "synapses_per_output", "syn_per_output", int),
    ("neurons", "input_targets", "input_targets", int),
    ("neurons", "output_sources", "output_sources", int),
    ("connectivity", "max_fan_in", "max_fan_in", int),
    ("connectivity", "max_fan_out", "max_fan_out", int),
    ("connectivity", "recurrent", "recurrent", bool),
    ("connectivity", "skip", "skip", bool),
    ("connectivity", "max_layers", "max_layers", int),
    ("bits", "weight", "weight_bits", int),
    ("bits", "state", "state_bits", int),
    ("bits", "threshold", "threshold_bits", int),
    ("bits", "bias", "bias_bits", int),
    ("bits", "weight_shift_max", "weight_shift_max", int),
    ("decay", "encoding", "decay_encoding", str),
    ("decay", "min", "decay_min", int),
    ("decay", "max", "decay_max", int),
    ("reset", "rule", "reset", str),
    ("reset", "condition", "spike_condition", str),
    ("time", "dt", "dt", float),
    ("time", "unit", "dt_unit", str),
    ("events", "max_input_per_step", "max_input_events", int),
    ("events", "max_hidden_per_step", "max_hidden_events", int),
    ("events", "max_output_per_step", "max_output_events", int),
    ("scalings", None, "scalings", dict),
)
_FILE_KEY = {f: (k if t is None else (t if k is None else f"{t}.{k}")) for t, k, f, _ in _LAYOUT}


def _check_description(d: ChipDescription, where: str, key_of) -> None:
    """Raise ValueError naming ``where`` and the offending key for any value out of range."""

    def fail(fname, msg):
        raise ValueError(f"{where}: {key_of(fname)} = {getattr(d, fname)!r}: {msg}")

    for _, _, fname, typ in _LAYOUT:
        v = getattr(d, fname)
        # bool is an int subclass: reject it where a count is meant, and ints where a flag is meant
        ok = isinstance(v, typ) and not (typ is int and isinstance(v, bool))
        if typ is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            fail(fname, f"expected {typ.__name__}, got {type(v).__name__}")
    from .registry import families

    if d.family not in families():
        fail("family", f"must be one of {families()}")
    if d.decay_encoding not in DECAY_ENCODINGS:
        fail("decay_encoding", f"must be one of {DECAY_ENCODINGS}")
    if d.reset not in RESET_RULES:
        fail("reset", f"must be one of {RESET_RULES}")
    if d.spike_condition not in SPIKE_CONDITIONS:
        fail("spike_condition", f"must be one of {SPIKE_CONDITIONS}")
    if d.dt_unit not in TIME_UNITS:
        fail("dt_unit", f"must be one of {TIME_UNITS}")
    if not d.name:
        fail("name", "must not be empty")
    for fname in ("version", "n_inputs", "n_hidden", "n_outputs", "syn_per_hidden", "syn_per_output",
                  "input_targets", "output_sources", "max_fan_in", "max_fan_out", "max_layers",
                  "max_input_events", "max_hidden_events", "max_output_events"):
        if getattr(d, fname) < 1:
            fail(fname, "must be >= 1")
    for fname in ("weight_bits", "state_bits", "threshold_bits", "bias_bits"):
        if not 0 <= getattr(d, fname) <= 32:
            fail(fname, "must be in 0..32 bits (0 = analog)")
    if d.decay_encoding != "analog" and d.weight_bits < 2:
        fail("weight_bits", f"a digital chip (decay encoding {d.decay_encoding!r}) needs integer weights of >= 2 bits")
    if not 0 <= d.weight_shift_max <= 16:
        fail("weight_shift_max", "must be in 0..16")
    if d.decay_min < 0 or d.decay_max < d.decay_min:
        fail("decay_max", f"need 0 <= decay_min ({d.decay_min}) <= decay_max")
    if d.input_targets > d.n_hidden:
        fail("input_targets", f"must be <= hidden ({d.n_hidden})")
    if d.output_sources > d.n_hidden:
        fail("output_sources", f"must be <= hidden ({d.n_hidden})")
    if not (d.dt > 0 and d.dt < float("inf")):
        fail("dt", "must be finite and > 0")
    for k, v in d.scalings.items():
        if not isinstance(k, str) or not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"{where}: {key_of('scalings')}.{k} = {v!r}: expected an integer")


# --------------------------------------------------------------------------- loading
def config_dir() -> Path:
    """The folder holding the shipped chip files (``hw_configs/``, package ``fpsnn.hw_configs``)."""
    try:
        from .. import hw_configs  # installed layout (package-dir mapping)

        return Path(hw_configs.__file__).parent
    except ImportError:  # plain checkout without the editable install: the folder sits next to us
        return Path(__file__).resolve().parent.parent / "hw_configs"


def available() -> list[str]:
    """Names of the shipped chip descriptions, sorted."""
    return sorted(p.stem for p in config_dir().glob("*.toml"))


def _from_table(data: dict, where: str) -> ChipDescription:
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{where}: schema = {data.get('schema')!r}: this fpsnn reads schema {SCHEMA_VERSION}")
    values = {}
    for table, key, fname, typ in _LAYOUT:
        src = data if table is None else data.get(table)
        path = _FILE_KEY[fname]
        if table is not None and not isinstance(src, dict):
            raise ValueError(f"{where}: missing table [{table}] (needed for key {path})")
        if key is None:
            values[fname] = dict(src)
            continue
        if key not in src:
            raise ValueError(f"{where}: missing key {path}")
        v = src[key]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)  # TOML writes `dt = 1` as an integer
        values[fname] = v
    known = {t or k for t, k, _, _ in _LAYOUT} | {"schema"}
    for k in data:
        if k not in known:
            raise ValueError(f"{where}: unknown key {k}")
    for table in {t for t, k, _, _ in _LAYOUT if t is not None and k is not None}:
        expected = {k for t, k, _, _ in _LAYOUT if t == table}
        for k in data[table]:
            if k not in expected:
                raise ValueError(f"{where}: unknown key {table}.{k}")
    return ChipDescription(**values, source=where)


def load(name_or_path) -> ChipDescription:
    """Read a chip description: a shipped name (``"xylo-audio2"``, see :func:`available`) or a path.

    Raises:
        ValueError: unknown name, unreadable TOML, or a missing / mistyped / out-of-range key (the
            message names the file and the key, e.g. ``xylo.toml: missing key neurons.hidden``).
    """
    if isinstance(name_or_path, ChipDescription):
        return name_or_path
    text = os.fspath(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or os.sep in text or path.exists()):
        path = config_dir() / f"{text}.toml"
        if not path.exists():
            raise ValueError(f"chip: unknown chip {text!r}; available: {', '.join(available())}")
    if not path.is_file():
        raise ValueError(f"chip: no such file {str(path)!r}")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    return _from_table(data, str(path))
