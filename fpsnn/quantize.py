"""Deprecated: :mod:`fpsnn.backends.report` holds the report; ``fpsnn.backends.get(chip).compile`` quantizes.

Kept for one release: the names below work as before.
"""
import warnings

from .backends.report import QuantizationReport, check_fan_in, round_and_count

__all__ = ["QuantizationReport", "quantize", "round_and_count", "check_fan_in"]

warnings.warn("fpsnn.quantize is deprecated: use fpsnn.backends.report and fpsnn.backends.get(chip).compile",
              DeprecationWarning, stacklevel=2)


def quantize(net, chip, dt: float, per_channel: bool = True):
    """Deprecated: ``fpsnn.backends.get(chip).compile(net, dt, per_channel)`` (``chip``: name or description)."""
    from .backends import chips, registry

    desc = chips.load(chip)
    return registry.backend_class(desc.family)(desc).compile(net, dt=dt, per_channel=per_channel)
