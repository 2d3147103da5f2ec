"""SynSense Xylo (XyloAudio 2, Xylo IMU, XyloAudio 3) behind the fpsnn backend interface.

Engines: ``"emulator"`` fpsnn's bit-accurate numba emulator (always there); ``"vendor"`` SynSense's
xylosim (``pip install xylosim==0.1.3``), the C++ model Rockpool's ``XyloSim`` wraps (see
:mod:`.spec` for why Rockpool's wrapper is not used); ``"board"`` a Xylo HDK through samna
and Rockpool (:mod:`.board`). All three read the same :class:`~fpsnn.backends.xylo.program.XyloProgram`.
Time: a program step is ``program.dt`` network time units; the hidden -> output hop costs one step.
"""
from __future__ import annotations

import numpy as np

from ..base import Backend, fit_error
from ..stepped import input_raster, to_result
from . import board
from .mapping import _check_structure, check_fits, dequantize_xylo, quantize_xylo
from .vendor import run_xylosim, xylosim_available

__all__ = ["XyloBackend", "LATENCY_STEPS"]

#: Steps between an input event and its earliest effect on an output neuron (hidden -> output delay).
LATENCY_STEPS = 1
#: Default steps per simulation window. Coarser than the other targets on purpose: the synaptic
#: current of a step is the membrane's increment, so with int16 states a finer step leaves small
#: currents whose decay ``I -= I >> dash`` is floored to 1 per step (linear, not exponential). On the
#: Yin-Yang model of the report: 64 steps 93.0 %, 128 91.0 %, 256 86.2 % (float 94.4 %).
DEFAULT_STEPS = 64


class XyloBackend(Backend):
    """A Xylo chip: quantize with :func:`~.mapping.quantize_xylo`, run on emulator / xylosim / HDK."""

    family = "xylo"
    default_steps = DEFAULT_STEPS

    def compile(self, net, dt: float | None = None, per_channel: bool = True):
        """``(XyloProgram, QuantizationReport)``; ``dt`` (network time units per step) defaults to
        ``net.t_max / 64`` (:data:`DEFAULT_STEPS`). ValueError naming the chip limit when ``net`` does not fit."""
        self.check_fits(net)
        dt = self.default_dt(net) if dt is None else dt
        return quantize_xylo(net, self.chip, dt=dt, per_channel=per_channel)

    def _check_net(self, net) -> None:
        """Xylo's structure: exactly one hidden population and one output population, inputs that reach
        only the first ``input_targets`` hidden neurons and outputs fed only by the last ``output_sources``."""
        chip = self.chip
        if net.n_layers != 2:
            raise ValueError(f"layers = {net.n_layers}, but a program on {self.name} has exactly one hidden and one "
                             "output layer: train with exactly one hidden layer")
        if net.recurrent[1] is not None and np.any(net.recurrent[1]):
            raise ValueError(f"net: recurrent weights on the output layer, but {self.name} output neurons have "
                             "no recurrence: train without output recurrence")
        w_in, w_out = net.weights
        n_hid = w_in.shape[1]
        if n_hid > chip.input_targets and np.any(w_in[:, chip.input_targets:]):
            raise fit_error(self.name, "hidden", n_hid, chip.input_targets, "neurons reachable from the inputs",
                            f"train with --hidden {chip.input_targets} or fewer")
        if n_hid > chip.output_sources and np.any(w_out[:n_hid - chip.output_sources]):
            raise fit_error(self.name, "hidden", n_hid, chip.output_sources, "neurons that can drive the outputs",
                            f"train with --hidden {chip.output_sources} or fewer")
        _check_structure(chip, net.n_inputs, n_hid, net.sizes[-1], 1, w_in, net.recurrent[0], w_out, "net")

    def _dequantize(self, program, t_max: float, max_spikes: int):
        return dequantize_xylo(program, theta=1.0, t_max=t_max, max_spikes=max_spikes)

    def _vendor_available(self) -> tuple[bool, str]:
        return xylosim_available()

    def _board_available(self) -> tuple[bool, str]:
        return board.available(self.chip)

    def write_artifacts(self, program, out_dir) -> list:
        """Write the Rockpool hand-off file ``xylo_spec.json`` (see :mod:`.spec`) into ``out_dir``."""
        from pathlib import Path

        from .spec import save_spec

        return [save_spec(program, self.chip, Path(out_dir) / "xylo_spec.json")]

    def _run_engine(self, engine: str, program, x, t_max):
        check_fits(program, self.chip)
        raster = input_raster(x, program.n_inputs, program.dt, t_max, LATENCY_STEPS)
        if engine == "emulator":
            res, name = program.run(raster), f"fpsnn Xylo emulator (xylosim v{program.version} arithmetic)"
        elif engine == "vendor":
            from importlib.metadata import version

            res, name = run_xylosim(program, raster), f"xylosim {version('xylosim')} (v{program.version})"
        else:
            res, name = board.run_board(program, raster, self.chip), f"{self.chip.part} HDK (samna)"
        return to_result(res.spikes, program.dt, engine, name)
