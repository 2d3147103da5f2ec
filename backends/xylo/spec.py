"""The Rockpool hand-off file of a Xylo program: ``xylo_spec.json``.

A Rockpool user loads it without fpsnn and passes it on::

    import json, numpy as np
    from rockpool.devices.xylo.syns61201 import config_from_specification   # needs samna
    spec = json.load(open("xylo_spec.json"))
    config, ok, msg = config_from_specification(**{k: np.asarray(v) if isinstance(v, list) and k != "aliases" else v
                                                  for k, v in spec["config"].items()})

The file holds the program twice, under the two key spellings Rockpool 3.1 uses (docs/hardware.md, "Xylo"):
``"config"`` for ``config_from_specification`` (hidden bias ``bias_hidden``) and ``"sim"`` for
``XyloSim.from_specification`` (hidden bias ``bias``, plus ``dt``). Passing a ``"sim"`` dict to
``config_from_specification`` would silently drop the bias, hence two dicts and not one dict with a
note. Everything else (``"fpsnn"``) is metadata: file version, chip, Rockpool module, dt unit.

Why JSON and not Rockpool's own format: Rockpool has no file format for a specification (it is a
dict of numpy arrays); JSON is readable anywhere, and :func:`load_spec` restores the dtypes.

Rockpool's Xylo simulator (``XyloSim``) is not used as an engine here: rockpool 3.x's
``rockpool.devices.xylo`` cannot be imported without samna, and the environment needs rockpool 3.1
for DYNAP-SE2's DynapSim (one rockpool per environment). The vendor engine for Xylo is therefore
SynSense's xylosim directly (:mod:`.vendor`), which is what ``XyloSim`` wraps.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...io import write_atomic
from .program import XyloProgram

__all__ = ["SPEC_FORMAT", "ROCKPOOL_MODULE", "to_rockpool_spec", "save_spec", "load_spec", "program_from_spec"]

SPEC_FORMAT = 1

#: Rockpool device module of each Xylo chip description (``rockpool.devices.xylo.<module>``).
ROCKPOOL_MODULE = {"SYNS61201": "syns61201", "SYNS63300": "syns63300", "SYNS65302": "syns65302"}

# dtypes Rockpool's consumers expect (int8 weights, 4-bit dashes, int16 thresholds/biases)
_DTYPES = {"weights_in": np.int8, "weights_out": np.int8, "weights_rec": np.int8,
           "dash_mem": np.uint8, "dash_mem_out": np.uint8, "dash_syn": np.uint8, "dash_syn_2": np.uint8,
           "dash_syn_out": np.uint8, "threshold": np.int16, "threshold_out": np.int16,
           "bias": np.int16, "bias_hidden": np.int16, "bias_out": np.int16}


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def save_spec(program: XyloProgram, desc, path, time_unit: str = "network time unit") -> Path:
    """Write ``program`` for chip ``desc`` to ``path`` (JSON, atomically); returns the path.

    ``time_unit`` names the unit of ``dt`` in the file (Rockpool reads ``dt`` as seconds; the
    integer dynamics do not depend on it, a board's ``time_resolution_wrap`` does).
    """
    from .. import chips

    desc = chips.load(desc)
    if desc.family != "xylo":
        raise ValueError(f"desc: {desc.name} is a {desc.family} chip, not a Xylo")
    doc = {
        "fpsnn": {"format": SPEC_FORMAT, "chip": desc.name, "part": desc.part,
                  "rockpool_module": f"rockpool.devices.xylo.{ROCKPOOL_MODULE.get(desc.part, '?')}",
                  "xylosim": f"xylosim.v{program.version}", "dt_unit": time_unit,
                  "n_syn": program.n_syn},
        "config": {k: _plain(v) for k, v in to_rockpool_spec(program, "config").items() if k != "dt"},
        "sim": {k: _plain(v) for k, v in to_rockpool_spec(program, "sim").items()},
    }
    return write_atomic(path, json.dumps(doc, indent=1).encode())


def load_spec(path, target: str = "config") -> dict:
    """Read a file written by :func:`save_spec`: the ``target`` (``"config"`` / ``"sim"``) dict with
    numpy arrays of Rockpool's dtypes, ready for ``**spec``; ``spec["fpsnn"]`` is left out.

    Raises:
        ValueError: unreadable file, unknown format version or ``target``.
    """
    if target not in ("config", "sim"):
        raise ValueError(f"target = {target!r}: must be 'config' (config_from_specification) or 'sim' "
                         "(XyloSim.from_specification)")
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable Xylo specification file ({exc})") from None
    fmt = doc.get("fpsnn", {}).get("format") if isinstance(doc, dict) else None
    if fmt != SPEC_FORMAT or target not in doc:
        raise ValueError(f"{path}: specification format {fmt!r}; this fpsnn reads format {SPEC_FORMAT}")
    spec = {}
    for key, value in doc[target].items():
        spec[key] = np.asarray(value, dtype=_DTYPES[key]) if key in _DTYPES else value
    return spec


def program_from_spec(path, version: int | None = None) -> XyloProgram:
    """The :class:`XyloProgram` a spec file holds (round trip of :func:`save_spec`)."""
    doc = json.loads(Path(path).read_text())
    spec = load_spec(path, "sim")
    n_syn = doc["fpsnn"].get("n_syn", 1)
    w_in, w_rec = spec["weights_in"], spec["weights_rec"]
    if n_syn == 1 and w_in.ndim == 3:
        w_in, w_rec = w_in[:, :, 0], w_rec[:, :, 0]
    return XyloProgram(
        weights_in=w_in, weights_rec=w_rec if np.any(w_rec) else None, weights_out=spec["weights_out"],
        dash_mem=spec["dash_mem"], dash_syn=spec["dash_syn"],
        dash_syn_2=spec["dash_syn_2"] if n_syn == 2 else None,
        dash_mem_out=spec["dash_mem_out"], dash_syn_out=spec["dash_syn_out"],
        threshold=spec["threshold"], threshold_out=spec["threshold_out"],
        bias=spec["bias"], bias_out=spec["bias_out"], weight_shift_inp=spec["weight_shift_in"],
        weight_shift_rec=spec["weight_shift_rec"], weight_shift_out=spec["weight_shift_out"],
        aliases=spec["aliases"] if any(spec["aliases"]) else None,
        version=int(version or doc["fpsnn"]["xylosim"][-1]), dt=spec["dt"])


def to_rockpool_spec(program: XyloProgram, target: str = "sim") -> dict:
    """The program as a Rockpool Xylo specification dict (exact Rockpool key names).

    Rockpool spells the hidden bias differently in its two consumers, and a wrong key is dropped
    silently through ``**spec``:

    * ``target="sim"``: keys of ``XyloSim.from_specification`` (and of the mapper's output):
      hidden bias under ``"bias"``.
    * ``target="config"``: keys of ``config_from_specification`` (needs samna): hidden bias under
      ``"bias_hidden"``.

    Both use ``weight_shift_in`` (not xylosim's ``weight_shift_inp``). A one-synapse program gets
    ``dash_syn_2 = dash_syn``: Rockpool always builds two synapse states per hidden neuron and the
    second one, without weights, stays 0 whatever its decay. ``weights_out`` rows are hidden neurons
    ``0..n_hidden-1`` of the program; Rockpool maps them onto its *last* ``n_hidden`` hidden neurons,
    which is the same neurons when ``weights_rec`` spans all of them (it always does here).
    """
    if target not in ("sim", "config"):
        raise ValueError(f"target = {target!r}: must be 'sim' (XyloSim.from_specification) or "
                         "'config' (config_from_specification)")
    p = program
    spec = {
        "weights_in": p.weights_in.astype(np.int8),
        "weights_out": p.weights_out.astype(np.int8),
        "weights_rec": (np.zeros((p.n_hidden, p.n_hidden) + ((p.n_syn,) if p.weights_in.ndim == 3 else ()), np.int8)
                        if p.weights_rec is None else p.weights_rec.astype(np.int8)),
        "dash_mem": p.dash_mem.astype(np.uint8),
        "dash_mem_out": p.dash_mem_out.astype(np.uint8),
        "dash_syn": p.dash_syn.astype(np.uint8),
        "dash_syn_2": (p.dash_syn if p.dash_syn_2 is None else p.dash_syn_2).astype(np.uint8),
        "dash_syn_out": p.dash_syn_out.astype(np.uint8),
        "threshold": p.threshold.astype(np.int16),
        "threshold_out": p.threshold_out.astype(np.int16),
        "bias" if target == "sim" else "bias_hidden": p.bias.astype(np.int16),
        "bias_out": p.bias_out.astype(np.int16),
        "weight_shift_in": int(p.weight_shift_inp),
        "weight_shift_rec": int(p.weight_shift_rec),
        "weight_shift_out": int(p.weight_shift_out),
        "aliases": [list(a) for a in p.alias_lists()],
        "dt": float(p.dt),
    }
    return spec
