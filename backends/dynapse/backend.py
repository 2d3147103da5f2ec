"""SynSense DYNAP-SE2 behind the fpsnn backend interface.

Engines: ``"vendor"`` Rockpool's DynapSim (analog, mismatch-aware, not bit-accurate; rockpool 3.1 +
jax CPU); ``"board"`` a DYNAP-SE2 through samna (:mod:`.board`). There is no ``"emulator"``: the chip is
analog, so no integer model can be bit-accurate; ``run(engine="auto")`` therefore runs DynapSim
and fails with the install line when it is missing. The interface's ``compile -> (program, report)``
fits: the program is a :class:`~.program.DynapseProgram` (currents and 4-bit weight codes), the
report a :class:`~fpsnn.backends.report.QuantizationReport`.

Time: a step is ``program.dt`` network time units = ``program.dt_s`` seconds; every hop between
neurons costs one step, so the run covers ``t_max`` plus one step per layer.
"""
from __future__ import annotations

from ..base import Backend
from ..stepped import input_raster, to_result
from . import board
from . import vendor
from .emulator import NO_EMULATOR
from .mapping import DEFAULT_TIME_UNIT_S, _check_structure, dequantize_dynapse, quantize_dynapse

__all__ = ["DynapseBackend"]


class DynapseBackend(Backend):
    """DYNAP-SE2: map with :func:`~.mapping.quantize_dynapse`, gains fitted in DynapSim when present."""

    family = "dynapse"
    #: seconds per network time unit (see :mod:`.mapping`)
    time_unit_s = DEFAULT_TIME_UNIT_S
    #: Deprecated (use :meth:`perturb`): DynapSim's parameter mismatch for programs that carry none,
    #: a fraction at 3 sigma (0.1 = 10 %; None = the nominal circuit).
    mismatch = None

    def compile(self, net, dt: float | None = None, per_channel: bool = True, readout_range: float | None = None):
        """``(DynapseProgram, QuantizationReport)``; ``dt`` defaults to ``net.t_max / 128``.

        ``per_channel`` has no meaning on DYNAP-SE2 (weights are scaled per core) and is ignored, and so
        is ``readout_range``: a membrane read-out is refused (its neurons always fire).
        With DynapSim installed the per-layer gains are fitted (:mod:`.calibrate`); without it the
        analytic mapping is kept and the report says so.
        """
        self.check_fits(net)
        dt = self.default_dt(net) if dt is None else dt
        program, report = quantize_dynapse(net, self.chip, dt, self.time_unit_s)
        ok, why = vendor.available()
        if not ok:
            report.binding_limits.append(f"weight gains not calibrated ({why}): analytic mapping")
            return program, report
        from .calibrate import calibrate_gains

        gains, errors = calibrate_gains(net, self.chip, dt, self.time_unit_s, latency=net.n_layers)
        program, report = quantize_dynapse(net, self.chip, dt, self.time_unit_s, gains)
        report.binding_limits.append(
            "weight gains fitted in DynapSim to the float network (first-spike times; output layer: class agreement): "
            + ", ".join(f"layer {l}: x{g:.3g} (score {e:.3g})" for l, (g, e) in enumerate(zip(gains, errors))))
        return program, report

    def _check_net(self, net) -> None:
        _check_structure(net, self.chip)

    def _placement(self, program) -> dict:
        """DYNAP-SE2 limits a neuron's fan-out in destination cores (4), not synapses; cores in use."""
        return {"cores": [program.n_cores, self.chip.n_hidden // program.neurons_per_core],
                "max_fan_out": [int(program.destinations().max(initial=0)), self.chip.max_fan_out]}

    def _dequantize(self, program, t_max: float, max_spikes):
        return dequantize_dynapse(program, t_max=t_max, max_spikes=max_spikes)

    def _emulator_available(self) -> tuple[bool, str]:
        return False, NO_EMULATOR

    def _vendor_available(self) -> tuple[bool, str]:
        return vendor.available()

    def _board_available(self) -> tuple[bool, str]:
        return board.available(self.chip)

    def write_artifacts(self, program, out_dir) -> list:
        """Write ``dynapse_spec.json`` (Rockpool's ``config_from_specification`` and
        ``dynapsim_net_from_spec`` keyword dicts, see :mod:`.spec`) into ``out_dir``."""
        from pathlib import Path

        from .spec import save_spec

        return [save_spec(program, Path(out_dir) / "dynapse_spec.json")]

    def _run_engine(self, engine: str, program, x, t_max, record: bool = False):
        raster = input_raster(x, program.n_inputs, program.dt, t_max, latency=len(program.sizes))
        if engine == "vendor":
            from importlib.metadata import version

            mismatch = program.mismatch if program.mismatch is not None else self.mismatch
            res = vendor.run_dynapsim(program, raster, mismatch)
            name = (f"rockpool {version('rockpool')} DynapSim (jax {version('jax')}"
                    + (f", {100 * mismatch:g} % mismatch)" if mismatch else ")"))
        elif engine == "board":
            res, name = board.run_board(program, raster), "DYNAP-SE2 (samna)"
        else:
            raise RuntimeError(self.available("emulator")[1])
        return to_result(res.spikes, program.dt, engine, name)
