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

import numpy as np

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

    #: How far a network's weights may move (per layer: the Frobenius norm of the change over that of
    #: the weights the gains were fitted on) before :meth:`compile` fits the gains again; within it the
    #: gains fitted on the earlier network are kept. 0: fit for every new network; ``inf``: never again.
    #: Large enough that in-the-loop fine-tuning keeps the gains fitted at its start: a re-fit picks
    #: gains on a grid of factor-1.47 steps from synthetic inputs, and such a jump of the mapping in
    #: the middle of fine-tuning can undo what it learned (docs/finetune.md).
    refit_drift = 0.5

    def __init__(self, chip):
        super().__init__(chip)
        #: per network structure and step: (the network the gains were fitted on, gains, scores)
        self._fits = {}
        #: DynapSim gain fits this backend has run (each costs ``len(GRID)`` runs per layer)
        self.gain_fits = 0

    def compile(self, net, dt: float | None = None, per_channel: bool = True, readout_range: float | None = None,
                gains=None):
        """``(DynapseProgram, QuantizationReport)``; ``dt`` defaults to ``net.t_max / 128``.

        ``per_channel`` has no meaning on DYNAP-SE2 (weights are scaled per core) and is ignored, and so
        is ``readout_range``: a membrane read-out is refused (its neurons always fire).
        ``gains``: the per-layer weight gains to map with (:mod:`.mapping`); None: with DynapSim
        installed they are fitted (:mod:`.calibrate`), without it the analytic mapping is kept and the
        report says so.

        **Fitted once, kept while the weights stay close.** A fit costs ``len(GRID)`` DynapSim runs per
        layer. The backend keeps the last fit per network structure and step and re-uses its gains for
        a network with the same structure, step, time constants and thresholds whose weights moved by
        at most :attr:`refit_drift` (relative, per layer) from the ones fitted on: what in-the-loop
        fine-tuning compiles every minibatch. Beyond that the gains are fitted again (and kept from
        then on). The fit is deterministic, so compiling the same network twice gives the same program
        either way. The report says which gains were used and where they came from.
        """
        self.check_fits(net)
        dt = self.default_dt(net) if dt is None else dt
        if gains is not None:
            program, report = quantize_dynapse(net, self.chip, dt, self.time_unit_s, gains)
            report.binding_limits.append("weight gains given: " + ", ".join(
                f"layer {l}: x{g:.3g}" for l, g in enumerate(program.gains)))
            return program, report
        ok, why = vendor.available()
        if not ok:
            program, report = quantize_dynapse(net, self.chip, dt, self.time_unit_s)
            report.binding_limits.append(f"weight gains not calibrated ({why}): analytic mapping")
            return program, report
        gains, errors, kept = self._gains(net, float(dt))
        program, report = quantize_dynapse(net, self.chip, dt, self.time_unit_s, gains)
        report.binding_limits.append(
            "weight gains fitted in DynapSim to the float network (first-spike times; output layer: class agreement)"
            + (f", kept from an earlier fit (weights within {kept:.3g} of the fitted network's)" if kept is not None
               else "")
            + ": " + ", ".join(f"layer {l}: x{g:.3g} (score {e:.3g})" for l, (g, e) in enumerate(zip(gains, errors))))
        return program, report

    def mapping_settings(self, program) -> dict:
        """``{"gains": [...]}``: the per-layer weight gains ``program`` was mapped with (fitted in DynapSim
        on the network a fine-tuning started from), for :meth:`compile` of the fine-tuned network."""
        return {"gains": [float(g) for g in program.gains]} if program.gains else {}

    def _gains(self, net, dt: float) -> tuple:
        """``(gains, scores, drift)``: the cached fit when ``net`` is close to it (``drift``: its relative
        weight change), else a new fit (``drift`` None), which then becomes the cached one."""
        key = (net.n_inputs, tuple(net.sizes), tuple(r is not None for r in net.recurrent), float(net.t_max), dt,
               self.time_unit_s)
        cached = self._fits.get(key)
        if cached is not None:
            ref, gains, errors = cached
            drift = _drift(ref, net)
            if drift is not None and drift <= self.refit_drift:
                return gains, errors, drift
        from .calibrate import calibrate_gains

        gains, errors = calibrate_gains(net, self.chip, dt, self.time_unit_s, latency=net.n_layers)
        self.gain_fits += 1
        self._fits[key] = (net.with_parameters(net.weights, net.recurrent), gains, errors)   # copies
        return gains, errors, None

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


def _drift(ref, net) -> float | None:
    """The largest relative weight change of a layer from ``ref`` to ``net`` (Frobenius norms), or None
    when their time constants or thresholds differ (the fitted gains then do not apply)."""
    for a, b in ((ref.alpha, net.alpha), (ref.beta, net.beta), (ref.theta, net.theta)):
        if any(np.shape(x) != np.shape(y) or not np.allclose(x, y, rtol=1e-9, atol=0) for x, y in zip(a, b)):
            return None
    worst = 0.0
    for old, new in list(zip(ref.weights, net.weights)) + list(zip(ref.recurrent, net.recurrent)):
        if old is None or new is None:
            continue
        scale = np.linalg.norm(old)
        change = np.linalg.norm(np.asarray(new) - old)
        worst = max(worst, change / scale if scale > 0 else (0.0 if change == 0 else np.inf))
    return float(worst)
