"""Quantization: a float :class:`fpsnn.Network` + a chip description -> an integer chip program.

The chip-specific mapping lives with each chip's program (``fpsnn.backends``); this module holds
what they share: the report every quantizer returns, and the entry point that picks the mapper from
the chip description's family.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["QuantizationReport", "quantize", "round_and_count"]


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@dataclass
class QuantizationReport:
    """What a quantizer did to a network.

    Attributes:
        chip: chip description name (e.g. ``"xylo-audio2"``).
        dt: chip time step, in the network's time unit.
        weight_scale: per layer, the factor (scalar, or one per post-synaptic channel) that maps a
            float weight to integer units (integer = round(weight * scale) before any shift).
        clipped: per parameter array name, how many entries were clipped to the integer range.
        rounded_to_zero: per parameter array name, how many non-zero floats became integer 0.
        effective_tau_syn, effective_tau_mem: per layer, the time constants (time units) the integer
            decay codes actually implement, next to the float network's.
        binding_limits: human-readable lines naming each chip limit that constrained the mapping.
    """

    chip: str
    dt: float
    weight_scale: list = field(default_factory=list)
    clipped: dict = field(default_factory=dict)
    rounded_to_zero: dict = field(default_factory=dict)
    effective_tau_syn: list = field(default_factory=list)
    effective_tau_mem: list = field(default_factory=list)
    binding_limits: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the report."""
        return _jsonable(asdict(self))


def round_and_count(name: str, x, lo: int, hi: int, report: "QuantizationReport", step: int = 1) -> np.ndarray:
    """Round ``x`` to the nearest multiple of ``step`` in ``[lo, hi]``; count the losses in ``report``.

    Entries outside the range are clipped (``report.clipped[name]``); non-zero floats that become 0
    are counted in ``report.rounded_to_zero[name]``.
    """
    x = np.asarray(x, dtype=np.float64)
    r = np.round(x / step) * step
    report.clipped[name] = int(np.count_nonzero((r < lo) | (r > hi)))
    r = np.clip(r, lo, hi).astype(np.int64)
    report.rounded_to_zero[name] = int(np.count_nonzero((r == 0) & (x != 0)))
    return r


def quantize(net, chip, dt: float, per_channel: bool = True):
    """Map ``net`` to an integer program for ``chip`` (a name in ``hw_configs/`` or a loaded description).

    Returns ``(program, report)``. Raises ValueError naming the chip limit when the network does not
    fit (too many neurons, fan-in, recurrence where the chip has none).
    """
    from . import chips

    desc = chips.load(chip) if isinstance(chip, str) else chip
    family = desc.family
    if family == "xylo":
        from .backends.xylo.mapping import quantize_xylo as mapper
    elif family == "loihi":
        from .backends.lava.mapping import quantize_loihi as mapper
    else:
        raise ValueError(f"chip: no integer quantizer for family {family!r} (chip {desc.name!r})")
    return mapper(net, desc, dt=dt, per_channel=per_channel)
