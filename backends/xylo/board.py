"""Run a Xylo program on a Xylo HDK through samna and Rockpool (``config_from_specification`` +
``XyloSamna``): the board engine of :class:`~fpsnn.backends.xylo.backend.XyloBackend`.

samna is SynSense's device toolchain; it is never installed in CI and never imported by fpsnn except
inside :func:`run_board`, after :func:`available` has found it with ``importlib.util.find_spec``
(importing the PyPI stub of samna launches pip, see docs/hardware.md). A board user needs, in the same
environment: samna from SynSense's package index, and rockpool >= 3.1 (whose ``rockpool.devices.xylo``
imports once samna is present). Not exercised here (no samna, no board): treat its first run on a
board as a test.
"""
from __future__ import annotations

import importlib.util

import numpy as np

from ..result import EmulatorResult
from .spec import ROCKPOOL_MODULE, to_rockpool_spec

__all__ = ["available", "run_board", "SAMNA_HINT"]

SAMNA_HINT = ("samna is not installed: the Xylo board path needs SynSense's samna (from SynSense's own package "
              "index, not PyPI) and rockpool>=3.1 in the same environment, and a Xylo HDK on USB")


def available(desc) -> tuple[bool, str]:
    """``(True, "")`` when samna and rockpool can be found (the board itself is looked for at run time)."""
    if desc.part not in ROCKPOOL_MODULE:
        return False, f"{desc.name} ({desc.part}) has no Rockpool samna module"
    if importlib.util.find_spec("samna") is None:
        return False, SAMNA_HINT
    if importlib.util.find_spec("rockpool") is None:
        return False, "rockpool is not installed: `pip install rockpool==3.1.0` (the board path uses its XyloSamna)"
    return True, ""


def run_board(program, raster, desc) -> EmulatorResult:
    """Run ``program`` on the first connected HDK of ``desc``'s kind, each sample from reset.

    Args:
        program: the :class:`~fpsnn.backends.xylo.program.XyloProgram` (``check_fits`` already passed).
        raster: int event counts ``(batch, steps, n_in)``.
        desc: the Xylo chip description (picks Rockpool's module, e.g. ``syns61201``).

    Returns:
        :class:`EmulatorResult` with hidden and output event rasters, as the emulator's.

    Raises:
        RuntimeError: samna missing, no HDK of that kind connected, or Rockpool rejects the config
            (its message is passed on).
    """
    ok, why = available(desc)
    if not ok:
        raise RuntimeError(why)
    import samna  # noqa: F401  (only here: see the module docstring)
    from rockpool.devices.xylo import find_xylo_hdks

    module = importlib.import_module(f"rockpool.devices.xylo.{ROCKPOOL_MODULE[desc.part]}")
    hdks, _, versions = find_xylo_hdks()      # versions: Rockpool module names, e.g. "syns61201"
    hdk = next((h for h, v in zip(hdks, versions) if v == ROCKPOOL_MODULE[desc.part]), None)
    if hdk is None:
        raise RuntimeError(f"no {desc.name} ({desc.part}) HDK found (found {len(hdks)} Xylo HDK(s) of other kinds)")
    # "config" spelling: bias under bias_hidden (config_from_specification drops an unknown "bias")
    spec = {k: v for k, v in to_rockpool_spec(program, "config").items() if k != "dt"}
    config, is_valid, message = module.config_from_specification(**spec)
    if not is_valid:
        raise RuntimeError(f"Rockpool rejected the {desc.name} configuration: {message}")
    device = module.XyloSamna(hdk, config, dt=program.dt)
    r = program.check_raster(raster)
    hidden, output = [], []
    for sample in r:
        device.reset_state()
        out, _, rec = device.evolve(sample, record=True)
        hidden.append(np.asarray(rec["Spikes"], dtype=np.int8).reshape(len(sample), program.n_hidden))
        output.append(np.asarray(out, dtype=np.int8).reshape(len(sample), program.n_outputs))
    return EmulatorResult(spikes=[np.stack(hidden), np.stack(output)])
