"""The artifact file of a Loihi 2 program: ``loihi_program.json``.

Per layer the Lava ``Dense`` parameters (``weights`` as ``(n_pre, n_post)``: Lava's Dense wants the
transpose) and ``LIF`` parameters under Lava's names (lava-nc 0.10.0), the recurrent Dense of each layer
(or null) and ``dt``; :func:`load_spec` (``LoihiProgram(**json.load(f))``) rebuilds the program.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...io import write_atomic
from .program import LoihiProgram

__all__ = ["save_spec", "load_spec"]


def _plain(d):
    return None if d is None else {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in d.to_dict().items()}


def save_spec(program: LoihiProgram, path) -> Path:
    """Write ``program`` to ``path`` atomically; returns the path."""
    doc = {"layers": [_plain(layer) for layer in program.layers],
           "recurrent": [_plain(r) for r in program.recurrent], "dt": program.dt}
    return write_atomic(Path(path), json.dumps(doc, indent=1).encode())


def load_spec(path) -> LoihiProgram:
    """The program of a file from :func:`save_spec`; ValueError for an unreadable or invalid file."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable Loihi program file ({exc})") from None
    if not isinstance(doc, dict) or set(doc) != {"layers", "recurrent", "dt"}:
        raise ValueError(f"{path}: expected the keys layers, recurrent, dt")
    return LoihiProgram(**doc)
