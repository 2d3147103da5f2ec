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
from .mapping import _check_structure, check_fits, dequantize_xylo, quantize_xylo, readout_scale
from .program import LIMITS
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

    def compile(self, net, dt: float | None = None, per_channel: bool = True, readout_range: float | None = None):
        """``(XyloProgram, QuantizationReport)``; ``dt`` (network time units per step) defaults to
        ``net.t_max / 64`` (:data:`DEFAULT_STEPS`); ``readout_range``: see :func:`~.mapping.quantize_xylo`.
        ValueError naming the chip limit when ``net`` does not fit."""
        self.check_fits(net)
        dt = self.default_dt(net) if dt is None else dt
        return quantize_xylo(net, self.chip, dt=dt, per_channel=per_channel, readout_range=readout_range)

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

    def _dequantize(self, program, t_max: float, max_spikes):
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

    def _run_engine(self, engine: str, program, x, t_max, record: bool = False):
        check_fits(program, self.chip)
        raster = input_raster(x, program.n_inputs, program.dt, t_max, LATENCY_STEPS)
        if engine == "emulator":
            res, name = program.run(raster, record), f"fpsnn Xylo emulator (xylosim v{program.version} arithmetic)"
        elif engine == "vendor":
            from importlib.metadata import version

            res, name = run_xylosim(program, raster, record), f"xylosim {version('xylosim')} (v{program.version})"
        else:
            res, name = board.run_board(program, raster, self.chip), f"{self.chip.part} HDK (samna)"
        return to_result(res.spikes, program.dt, engine, name, res.state if record else None)

    # --- membrane read-out: the output neurons' vmem, threshold_out = 32767 (never reached unsaturated)
    def potential_available(self, engine: str) -> tuple[bool, str]:
        """The emulator and xylosim record ``vmem``; the HDK path reads events only."""
        if engine == "board":
            return False, (f"the {self.chip.part} HDK path reads output events only, not vmem; run the membrane "
                           "read-out on xylosim (engine 'vendor') or the emulator")
        return True, ""

    def output_potential(self, result, program, report) -> np.ndarray:
        """Output ``vmem`` divided by :func:`~.mapping.readout_scale` (per neuron), on the window's
        steps: the run's first ``steps - LATENCY_STEPS`` rows (the last row only covers the pipeline's
        tail beyond ``t_max``). Row ``k`` matches the float potential at ``(k + 1) * dt`` to well under
        a step: the hidden -> output delay cancels the chip's lead (inputs act from their step's start,
        and the current of a step enters vmem within it); measured on Yin-Yang models, the trace
        matches the float one best at offset 0 of -2..3 steps in half steps."""
        vmem = _output_trace(result, self.name)["vmem"]
        steps = vmem.shape[1] - LATENCY_STEPS
        return vmem[:, :steps, :].astype(np.float64) / readout_scale(program, report)

    def readout_saturated(self, result, program) -> np.ndarray:
        """An output event (``vmem`` reached 32767, and the event then subtracted it), or ``vmem`` or the
        synaptic current at an int16 bound."""
        state = _output_trace(result, self.name)
        lo, hi = LIMITS["threshold"]
        at_bound = lambda a: np.any((a <= lo) | (a >= hi), axis=tuple(range(1, a.ndim)))  # noqa: E731
        return (np.asarray(result.rasters[-1]).any(axis=(1, 2)) | at_bound(state["vmem"])
                | at_bound(state["isyn"]))


def _output_trace(result, name: str) -> dict:
    """The output layer's recorded traces, or ValueError saying the run recorded none."""
    if not result.state or not result.state[-1]:
        raise ValueError(f"{name}: the run recorded no state; run it with record=True to read the output potential")
    return result.state[-1]
