"""What every chip mapping shares: the report it returns, the rounding that fills it, the fan-in check.

The chip-specific mapping lives in each family's ``mapping`` module; the entry point is
``fpsnn.backends.get(chip).compile(net, dt)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["QuantizationReport", "round_and_count", "check_fan_in"]


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


def check_fan_in(fan_in, limit: int, chip: str, where: str, layer: int | None = None, unit: str = "") -> None:
    """The fan-in check every mapping uses: ValueError when a neuron receives more than ``limit`` connections.

    Args:
        fan_in: per post-synaptic neuron, how many connections it receives (feed-forward + recurrent).
        limit: the chip's ``max_fan_in``.
        chip: the chip's name (for the message); ``where``: ``"net"`` or ``"program"``.
        layer: the layer index, or None for a chip with one population (Xylo's hidden neurons).
        unit: what a connection is on this chip (e.g. ``"CAM synapses"``), for the message.
    """
    fan_in = np.asarray(fan_in)
    if fan_in.size and fan_in.max() > limit:
        j = int(np.argmax(fan_in))
        who = f"hidden neuron {j}" if layer is None else f"layer {layer} neuron {j}"
        raise ValueError(f"{where}: {who} has fan-in {int(fan_in[j])}, but {chip} allows max_fan_in = {limit}"
                         + (f" {unit}" if unit else "")
                         + f": train smaller layers (or prune) so that no neuron receives more than {limit}")
