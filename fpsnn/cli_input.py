"""Checks of what a user types before a command runs: the ``--config`` TOML file, hyper-parameter values
from it and from flags (type, finiteness, range), and the memory a run would need.

Every failure is a ValueError naming the flag or the file and key, and the limit, so ``fpsnn`` prints
one line (``fpsnn: error: --config run.toml: key 'epochs' = 1.5: must be an integer``) instead of
training 2 epochs, or failing later with a message that names neither.
"""
from __future__ import annotations

import math
from dataclasses import fields

__all__ = ["check_hyper_values", "check_hyper_ranges", "check_memory", "TIME_RANGE"]


def _hyper_fields():
    from .datasets import Hyperparameters

    return [f for f in fields(Hyperparameters)]


def _read_toml(path) -> dict:
    """The TOML file ``path`` as a dict; ValueError naming ``--config`` and the file for every problem."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"--config {path}: is a directory, not a TOML file") from None
    except PermissionError:
        raise ValueError(f"--config {path}: not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise ValueError(f"--config {path}: not a text file (TOML is UTF-8 text)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config {path}: not valid TOML ({exc})") from None


def _number_ok(value, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def check_hyper_values(values: dict, where: str) -> None:
    """ValueError naming the key and ``where`` (``--config FILE`` or ``flag``) for a value of the wrong
    type for its :class:`fpsnn.datasets.Hyperparameters` field: a fraction for an integer (``epochs =
    1.5``), a string for a number (``epochs = "ten"``), a non-finite number (``--lr inf``)."""
    types = {f.name: str(f.type) for f in _hyper_fields()}
    for key, value in values.items():
        annotation = types.get(key)
        if annotation is None or value is None:
            continue  # unknown keys: Hyperparameters.replace names the valid ones
        kinds = [a.strip() for a in annotation.split("|")]
        base = kinds[0]
        name = f"--{key.replace('_', '-')}" if where == "flag" else f"{where}: key '{key}'"
        if base in ("int", "float"):
            if "tuple" in kinds and isinstance(value, (list, tuple)):  # one value per layer (max_spikes)
                if not value or not all(_number_ok(v, base) for v in value):
                    need = "an integer" if base == "int" else "a finite number"
                    raise ValueError(f"{name} = {value!r}: every entry must be {need}")
            elif not _number_ok(value, base):
                need = "an integer" if base == "int" else "a finite number"
                raise ValueError(f"{name} = {value!r}: must be {need}")
        elif base == "tuple" and "str" not in kinds:
            items = value if isinstance(value, (list, tuple)) else [value]
            kind = "int" if key == "hidden" else "float"
            bad = [v for v in items if not _number_ok(v, kind)]
            if bad:
                raise ValueError(f"{name} = {value!r}: every entry must be {'an integer' if kind == 'int' else 'a finite number'}")
        elif base == "str" and "tuple" not in kinds and not isinstance(value, str):
            raise ValueError(f"{name} = {value!r}: must be a string")


#: Time-like hyper-parameters (network time units) must lie in this range: outside it the simulation
#: loses every spike to rounding (1e-300) or never reaches one (1e300).
TIME_RANGE = (1e-6, 1e6)


def check_hyper_ranges(hyper) -> None:
    """ValueError for time constants or windows outside :data:`TIME_RANGE`, and a padded spike-time
    buffer that would not fit in this machine's memory (``max_spikes`` too large)."""
    lo, hi = TIME_RANGE
    for key in ("t_input_max", "t_sim", "alpha", "beta"):
        value = getattr(hyper, key, None)
        if value is not None and not lo <= float(value) <= hi:
            raise ValueError(f"{key} = {value}: must be in [{lo:g}, {hi:g}] (network time units or rates per "
                             "time unit; rescale the time unit instead)")


def check_memory(n_samples: int, widths, max_spikes, what: str = "--max-spikes") -> None:
    """ValueError when the padded spike-time arrays of one pass (``n_samples`` x neurons x spike cap
    float64, about four copies for the gradients) would need more than half of this machine's memory.

    ``widths``: neurons per layer; ``max_spikes``: one cap for every layer, or one per layer (as
    ``widths``)."""
    per_layer = isinstance(max_spikes, (list, tuple))
    caps = [int(k) for k in max_spikes] if per_layer else [int(max_spikes)] * len(widths)
    slots = sum(int(w) * k for w, k in zip(widths, caps))  # spike-time entries of one sample
    need = 4 * 8 * int(n_samples) * slots
    total = _physical_memory()
    if total and need > total // 2:
        if per_layer:
            shape = f"{n_samples} samples x {slots} spike slots (neurons x cap, summed over layers) x 8 bytes x 4"
        else:
            shape = f"{n_samples} samples x {sum(widths)} neurons x {max_spikes} spikes x 8 bytes x 4"
        shown = ",".join(str(k) for k in caps) if per_layer else max_spikes
        raise ValueError(f"{what} = {shown}: the spike-time buffers would need at least {need / 2**30:.1f} GiB "
                         f"({shape}), more than half of this machine's {total / 2**30:.1f} GiB; lower it")


def _physical_memory() -> int | None:
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
