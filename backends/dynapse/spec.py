"""The Rockpool hand-off file of a DYNAP-SE2 mapping: ``dynapse_spec.json``.

Two keyword dicts under Rockpool's names (lists of per-core values, matrices as nested lists):
``"config"`` for ``rockpool.devices.dynapse.config_from_specification`` (needs samna: per-core weight
bit masks ``weights_in``/``weights_rec``, signs ``sign_in``/``sign_rec``, base currents ``Iw_0..Iw_3``)
and ``"sim"`` for ``dynapsim_net_from_spec`` (float weights in units of ``Iscale``, ``dt`` in s).
``"fpsnn"`` holds metadata (format, layer sizes, time unit). A Rockpool user::

    import json, numpy as np
    from rockpool.devices.dynapse import dynapsim_net_from_spec
    spec = json.load(open("dynapse_spec.json"))["sim"]
    net = dynapsim_net_from_spec(**{k: np.asarray(v) if k.startswith("weights") or k == "core_map" else v
                                    for k, v in spec.items()})   # a list core_map fails inside Rockpool
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...io import write_atomic

__all__ = ["SPEC_FORMAT", "save_spec", "load_spec"]

SPEC_FORMAT = 1


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def save_spec(program, path) -> Path:
    """Write ``program`` (a :class:`~.mapping.DynapseProgram`) to ``path`` atomically."""
    doc = {"fpsnn": {"format": SPEC_FORMAT, "chip": "dynapse2", "sizes": list(program.sizes),
                     "n_in": program.n_inputs, "dt": program.dt, "time_unit_s": program.time_unit_s,
                     "gains": list(program.gains)},
           "config": {k: _plain(v) for k, v in program.spec("config").items()},
           "sim": {k: _plain(v) for k, v in program.spec("sim").items()}}
    return write_atomic(path, json.dumps(doc).encode())


def load_spec(path, target: str = "sim") -> dict:
    """The ``target`` dict (``"sim"`` / ``"config"``) of a file from :func:`save_spec`, weights as arrays."""
    if target not in ("sim", "config"):
        raise ValueError(f"target = {target!r}: must be 'sim' or 'config'")
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable DYNAP-SE2 specification file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("fpsnn", {}).get("format") != SPEC_FORMAT:
        raise ValueError(f"{path}: not a DYNAP-SE2 specification of format {SPEC_FORMAT}")
    spec = dict(doc[target])
    # core_map too: dynapsim_net_from_spec compares it with `==` and fails on a list (Rockpool gotcha)
    for k in ("weights_in", "weights_rec", "sign_in", "sign_rec", "core_map"):
        if k in spec:
            spec[k] = np.asarray(spec[k])
    return spec
