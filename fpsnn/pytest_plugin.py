"""pytest plugin shipped with fpsnn (registered through the ``pytest11`` entry point).

Helpers for a user's own CI: compare spike trains exactly, and (with the deployment backends) check
that a trained network still fits and still scores on a chip emulator, without a board.
"""
from __future__ import annotations

import numpy as np


def assert_spikes_equal(a, b, what: str = "spikes") -> None:
    """Assert two spike rasters / spike-time arrays (or lists of them, one per layer) are identical.

    Integer rasters must be equal entry for entry; float spike times must be equal including the
    +inf padding. The message names the first differing layer, sample, step/neuron.
    """
    la = a if isinstance(a, (list, tuple)) else [a]
    lb = b if isinstance(b, (list, tuple)) else [b]
    assert len(la) == len(lb), f"{what}: {len(la)} layers vs {len(lb)}"
    for l, (x, y) in enumerate(zip(la, lb)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"{what}[{l}]: shape {x.shape} vs {y.shape}"
        diff = ~((x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" else (x == y))
        if np.any(diff):
            first = tuple(int(i) for i in np.argwhere(diff)[0])
            raise AssertionError(f"{what}[{l}] differ at {first}: {x[first]} vs {y[first]} "
                                 f"({int(diff.sum())} entries differ)")
