"""Intel Loihi 2 through Lava behind the fpsnn backend interface.

Engines: ``"emulator"`` fpsnn's bit-accurate numba model of Lava's fixed-point LIF + Dense
(:mod:`.emulator`); ``"vendor"`` Lava itself on the CPU, ``Loihi2SimCfg(select_tag="fixed_pt")``
(:func:`.vendor.run_lava_fixed_pt`: input RingBuffer -> Dense -> LIF per layer, recurrent Dense where
present, a Monitor on every layer); ``"board"`` the same graph on a Loihi 2 system with ``Loihi2HwCfg``
(:mod:`.board`, needs Intel's lava-loihi). Time: a program step is ``program.dt`` network time units;
every Dense stage delays by one step, so an input reaches the last of ``L`` layers ``L`` steps later.
"""
from __future__ import annotations

from ..base import Backend
from ..stepped import input_raster, to_result
from .compat import LAVA_MISSING, lava_available
from .mapping import _check_structure, check_fits, dequantize_loihi, quantize_loihi

__all__ = ["LoihiBackend", "LAVA_MISSING"]


class LoihiBackend(Backend):
    """Loihi 2: quantize with :func:`~.mapping.quantize_loihi`, run on emulator / Lava fixed_pt / chip."""

    family = "loihi"

    def compile(self, net, dt: float | None = None, per_channel: bool = True):
        """``(LoihiProgram, QuantizationReport)``; ``dt`` (network time units per step) defaults to
        ``net.t_max / 128``. ValueError naming the chip limit when ``net`` does not fit."""
        self.check_fits(net)
        return quantize_loihi(net, self.chip, dt=self.default_dt(net) if dt is None else dt, per_channel=per_channel)

    def _check_net(self, net) -> None:
        _check_structure(self.chip, net.n_inputs, net.sizes, [w != 0 for w in net.weights],
                         [None if r is None else r != 0 for r in net.recurrent], "net")

    def _dequantize(self, program, t_max: float, max_spikes: int):
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

    def _run_engine(self, engine: str, program, x, t_max):
        check_fits(program, self.chip)
        raster = input_raster(x, program.n_inputs, program.dt, t_max, latency=len(program.layers))
        # Loihi input spikes are binary: two spikes of one channel in one step cannot be sent
        raster = program.check_raster(raster)
        if engine == "emulator":
            res, name = program.run(raster), "fpsnn Loihi emulator (Lava fixed_pt arithmetic)"
        elif engine == "vendor":
            from importlib.metadata import version

            from .vendor import run_lava_fixed_pt

            res = run_lava_fixed_pt(program, raster, record=False)
            name = f"lava-nc {version('lava-nc')} Loihi2SimCfg(select_tag='fixed_pt')"
        else:
            from .board import run_lava_board

            res, name = run_lava_board(program, raster), "Loihi 2 (lava-loihi, Loihi2HwCfg)"
        return to_result(res.spikes, program.dt, engine, name)
