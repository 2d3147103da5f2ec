"""Intel Loihi 2 through Lava behind the fpsnn backend interface.

Engines: ``"emulator"`` fpsnn's bit-accurate numba model of Lava's fixed-point LIF + Dense
(:mod:`.emulator`); ``"vendor"`` Lava itself on the CPU, ``Loihi2SimCfg(select_tag="fixed_pt")``
(:func:`.vendor.run_lava_fixed_pt`: input RingBuffer -> Dense -> LIF per layer, recurrent Dense where
present, a Monitor on every layer); ``"board"`` the same graph on a Loihi 2 system with ``Loihi2HwCfg``
(:mod:`.board`, needs Intel's lava-loihi). Time: a program step is ``program.dt`` network time units;
every Dense stage delays by one step, so an input reaches the last of ``L`` layers ``L`` steps later.
"""
from __future__ import annotations

import numpy as np

from ..base import Backend
from ..stepped import input_raster, to_result
from .compat import LAVA_MISSING, lava_available
from .mapping import _check_structure, check_fits, dequantize_loihi, quantize_loihi, readout_scale

__all__ = ["LoihiBackend", "LAVA_MISSING"]


class LoihiBackend(Backend):
    """Loihi 2: quantize with :func:`~.mapping.quantize_loihi`, run on emulator / Lava fixed_pt / chip."""

    family = "loihi"

    def compile(self, net, dt: float | None = None, per_channel: bool = True, readout_range: float | None = None):
        """``(LoihiProgram, QuantizationReport)``; ``dt`` (network time units per step) defaults to
        ``net.t_max / 128``; ``readout_range``: see :func:`~.mapping.quantize_loihi`. ValueError naming
        the chip limit when ``net`` does not fit."""
        self.check_fits(net)
        return quantize_loihi(net, self.chip, dt=self.default_dt(net) if dt is None else dt, per_channel=per_channel,
                              readout_range=readout_range)

    def _check_net(self, net) -> None:
        _check_structure(self.chip, net.n_inputs, net.sizes, [w != 0 for w in net.weights],
                         [None if r is None else r != 0 for r in net.recurrent], "net")

    def _dequantize(self, program, t_max: float, max_spikes):
        return dequantize_loihi(program, theta=1.0, t_max=t_max, max_spikes=max_spikes)

    def _vendor_available(self) -> tuple[bool, str]:
        return (True, "") if lava_available() else (False, LAVA_MISSING)

    def _board_available(self) -> tuple[bool, str]:
        from . import board

        return board.available(self.chip)

    def write_artifacts(self, program, out_dir) -> list:
        """Write ``loihi_program.json`` (:mod:`.spec`) into ``out_dir``."""
        from pathlib import Path

        from .spec import save_spec

        return [save_spec(program, Path(out_dir) / "loihi_program.json")]

    def _run_engine(self, engine: str, program, x, t_max, record: bool = False):
        check_fits(program, self.chip)
        raster = input_raster(x, program.n_inputs, program.dt, t_max, latency=len(program.layers))
        # Loihi input spikes are binary: two spikes of one channel in one step cannot be sent
        raster = program.check_raster(raster)
        if engine == "emulator":
            res, name = program.run(raster, record), "fpsnn Loihi emulator (Lava fixed_pt arithmetic)"
        elif engine == "vendor":
            from importlib.metadata import version

            from .vendor import run_lava_fixed_pt

            res = run_lava_fixed_pt(program, raster, record=record)
            name = f"lava-nc {version('lava-nc')} Loihi2SimCfg(select_tag='fixed_pt')"
        else:
            from .board import run_lava_board

            res, name = run_lava_board(program, raster), "Loihi 2 (lava-loihi, Loihi2HwCfg)"
        return to_result(res.spikes, program.dt, engine, name, res.state if record else None)

    # --- membrane read-out: the last layer's v, vth at its maximum (never reached unsaturated)
    def potential_available(self, engine: str) -> tuple[bool, str]:
        """The emulator and Lava fixed_pt probe ``v``; the lava-loihi board path reads spikes only."""
        if engine == "board":
            return False, ("the Loihi 2 board path (lava-loihi) reads spikes only, not v; run the membrane read-out "
                           "on Lava fixed_pt (engine 'vendor') or the emulator")
        return True, ""

    def output_potential(self, result, program, report) -> np.ndarray:
        """The last layer's ``v`` divided by :func:`~.mapping.readout_scale`, on the window's steps.

        The run has ``L = len(program.layers)`` steps beyond the window (one Dense delay per layer).
        Two of those delays are offset by the chip's lead (inputs act from their step's start, and the
        current of a step enters ``v`` within it), every further layer adds a step: so the rows start
        at ``max(0, L - 2)`` and row ``k`` then matches the float potential at ``(k + 1) * dt`` to
        within about 0.4 step (measured: 0.25 step for L = 1, 0.4 for L = 2, 0.25 for L = 3)."""
        v = _output_trace(result, self.name)["v"]
        layers = len(program.layers)
        first = max(0, layers - 2)
        steps = v.shape[1] - layers
        return v[:, first:first + steps, :].astype(np.float64) / readout_scale(program, report, self.chip)

    def readout_saturated(self, result, program) -> np.ndarray:
        """An output spike (``v`` passed ``vth << 6`` and was reset to 0) or ``v`` at its negative clip."""
        v = _output_trace(result, self.name)["v"]
        clip = -(2 ** 23 - 1)
        return np.asarray(result.rasters[-1]).any(axis=(1, 2)) | np.any(v <= clip, axis=(1, 2))


def _output_trace(result, name: str) -> dict:
    """The last layer's recorded traces, or ValueError saying the run recorded none."""
    if not result.state or not result.state[-1]:
        raise ValueError(f"{name}: the run recorded no state; run it with record=True to read the output potential")
    return result.state[-1]
