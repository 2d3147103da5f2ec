"""Where fine-tuning measures spike times: a chip (``hil``) or the exact simulation of its network (``qat``).

Both sources deploy the float *shadow* network (``compile``: quantize + map) and give back the spike
times of every layer for a minibatch, together with the *chip network*: the float network the
program implements, ``backend.dequantize(program, like=shadow)`` (integer weights and thresholds in
the shadow's units, the chip's effective time constants). ``hil`` runs the program on the target;
``qat`` only compiles there and simulates the chip network exactly in continuous time (the float
model constrained to the chip's weight grid and time constants: neither the time grid nor the
pipeline delays nor saturation, which are what ``hil`` adds).

**Membrane read-outs** (``hyper.readout`` in :data:`fpsnn.losses.MEMBRANE_READOUTS`; the output
layer never fires, ``theta = inf``): the program is compiled with the ``readout_range`` that
``fpsnn deploy`` would give it, :func:`fpsnn.backends.readout.readout_range` of the float shadow
network on the samples being run (:func:`measurement_range`), and the run records the output layer's
state. The gradient still only needs the hidden layers' spike times (the loss is a closed-form
function of the last hidden layer's times and the read-out weights); the class the chip answers is
scored from its recorded output potential (:func:`fpsnn.backends.readout.chip_accuracy`), the same
way ``fpsnn deploy`` scores it. In ``qat`` mode there is no chip potential: the class is the read-out
of the chip network at its simulated times. Metrics (:func:`measure_metrics`, :func:`finish_metrics`)
then report ``accuracy`` = the chip's read-out, ``accuracy_at_chip_times`` = the float read-out of the
chip network at the measured hidden times after :func:`~.policy.clean_times` (what the loss sees),
``readout_saturated`` (samples whose output potential hit the chip's state limit) and
``readout_events`` (:mod:`.policy`). The two accuracies differ by what the chip's read-out integrates
and the loss cannot: its time grid and rounding, the clipping at the state limit, and hidden events
the float model cannot have (several in one chip step, or beyond the layer's spike cap), which the
policy drops (``coincident``, ``over_cap``) but the chip's output neurons receive.

Any exception the target raises while compiling or running (a board unplugged, a simulator crash)
becomes :class:`TargetFailure`, which the epoch loop turns into a checkpoint and a clear error.
"""
from __future__ import annotations

import numpy as np

from ..network import Network
from ..training import SpikeMetrics, StepFailed
from .policy import POLICY_COUNTS, READOUT_COUNTS, clean_times

__all__ = ["MODES", "CHIP_READOUT_COUNTS", "resolve_target", "backend_of", "chip_network", "membrane_readout",
           "measurement_range", "TargetFailure", "ChipSource", "SimulatedSource", "make_source", "add_measured",
           "finish_metrics", "measure_metrics", "evaluate_on"]

MODES = ("hil", "qat")

#: Counters of a membrane read-out's measurements: the policy's :data:`~.policy.READOUT_COUNTS`, then
#: samples the chip's read-out classified correctly (``chip_correct``) and samples whose output
#: potential hit the chip's state limit (``readout_saturated``).
CHIP_READOUT_COUNTS = READOUT_COUNTS + ("chip_correct", "readout_saturated")


def resolve_target(target, mismatch: float = 0.0, mismatch_seed: int = 0):
    """The backend of a chip name (:func:`fpsnn.backends.get`), or ``target`` itself when it is an object.

    With ``mismatch > 0`` the target is wrapped in :class:`fpsnn.backends.mismatch.MismatchTarget`
    (emulated device ``mismatch_seed`` with relative spread ``mismatch``).
    """
    if isinstance(target, str):
        from .. import backends

        target = backends.get(target)
    for name in ("compile", "run"):
        if not callable(getattr(target, name, None)):
            raise ValueError(f"target: expected a chip name or an object with compile() and run(), got "
                             f"{type(target).__name__}")
    if mismatch:
        from ..backends.mismatch import MismatchTarget

        target = MismatchTarget(target, mismatch, mismatch_seed)
    return target


def backend_of(target):
    """The backend that knows ``target``'s programs (``dequantize``, ``perturb``).

    ``target`` itself when it has ``dequantize``; the nominal backend inside a ``MismatchTarget``;
    otherwise the backend of the chip named by ``target.chip`` (any wrapper that keeps the chip
    description of the backend it wraps).
    """
    from .. import backends
    from ..backends.mismatch import MismatchTarget

    if callable(getattr(target, "dequantize", None)):
        return target
    if isinstance(target, MismatchTarget):
        return backend_of(target.target)
    name = getattr(getattr(target, "chip", None), "name", None)
    if name is None:
        raise ValueError(f"target: {type(target).__name__} has neither dequantize() nor a chip description (.chip)")
    return backends.get(name)


def chip_network(program, shadow: Network, target) -> Network:
    """The float network ``program`` implements, in ``shadow``'s units.

    ``target`` is what compiled the program (a chip name or a backend-like object): only its backend
    knows how to read the program back (``backend.dequantize(program, like=shadow)``).
    """
    return backend_of(resolve_target(target)).dequantize(program, like=shadow)


def membrane_readout(net: Network, hyper) -> bool:
    """Whether ``net`` is scored by a membrane read-out (``hyper.readout`` in
    :data:`fpsnn.losses.MEMBRANE_READOUTS`, output layer ``theta = inf``); ValueError when the read-out
    and the output layer disagree (a non-firing layer has no spikes to score, a firing one no read-out
    potential)."""
    from ..backends.readout import needs_potential, readout_of

    membrane = needs_potential(hyper)
    if net.readout and not membrane:
        raise ValueError(f"net: the output layer is a membrane read-out (theta = inf), but hyper.readout = "
                         f"{readout_of(hyper)!r} scores output spikes; use the model's read-out ('membrane' or "
                         "'mean_membrane')")
    if membrane and not net.readout:
        raise ValueError(f"hyper.readout = {readout_of(hyper)!r} reads a non-firing output layer (theta = inf), but "
                         "this network's output layer fires; use 'first_spike' or 'spike_count'")
    return membrane


def measurement_range(net: Network, hyper, x) -> float | None:
    """The ``readout_range`` (float potential units) to compile ``net`` with before running ``x`` on it:
    what ``fpsnn deploy`` uses, :func:`fpsnn.backends.readout.readout_range` of the float network on
    the samples that will run; None for a spike read-out (nothing to pass)."""
    if not membrane_readout(net, hyper):
        return None
    from ..backends.readout import readout_range

    return readout_range(net, x)


class TargetFailure(StepFailed):
    """The target raised while compiling or running (the original exception is ``__cause__``)."""


class ChipSource:
    """Measurement by running the program on a target (``hil``); counts the target calls."""

    def __init__(self, target, engine: str):
        self.target, self.engine = target, engine
        self.backend = backend_of(target)
        self.name = getattr(target, "name", type(target).__name__)
        self.calls = 0

    def compile(self, net: Network, dt, readout_range: float | None = None):
        """``(program, report)``; ``readout_range`` only for a membrane read-out (:func:`measurement_range`)."""
        self.calls += 1
        kwargs = {} if readout_range is None else {"readout_range": float(readout_range)}
        try:
            return self.target.compile(net, dt, **kwargs)
        except Exception as exc:  # whatever a board or simulator raises: all mean "no result"
            raise TargetFailure(exc) from exc

    def chip_network(self, program, shadow: Network) -> Network:
        return self.backend.dequantize(program, like=shadow)

    def measure(self, program, chip_net: Network, x) -> list:
        """The spike times of every layer (one ``(batch, n_l, k)`` array each, time units) of one run."""
        return self._run(program, chip_net, x).times

    def measure_readout(self, program, report, chip_net: Network, x, y, hyper) -> tuple:
        """A membrane read-out's run: ``(times, {"chip_correct", "readout_saturated"})``, the spike
        times of every layer and the chip's own answer, its recorded output potential scored with
        ``hyper``'s read-out (:func:`fpsnn.backends.readout.chip_accuracy`; ``report``: the program's
        quantization report, whose scales convert the integer state)."""
        from ..backends.readout import chip_accuracy

        result = self._run(program, chip_net, x, record=True)
        scored = chip_accuracy(self.backend, program, report, result, y, hyper, chip_net.t_max)
        return result.times, {"chip_correct": int(round(scored["accuracy"] * len(y))),
                              "readout_saturated": int(scored["readout_saturated"])}

    def _run(self, program, chip_net: Network, x, record: bool = False):
        self.calls += 1
        try:
            return self.target.run(program, x, engine=self.engine, t_max=chip_net.t_max,
                                   **({"record": True} if record else {}))
        except Exception as exc:
            raise TargetFailure(exc) from exc


class SimulatedSource(ChipSource):
    """Measurement by exact simulation of the chip network (``qat``): the target only compiles."""

    def __init__(self, target):
        super().__init__(resolve_target(target), engine="emulator")

    def compile(self, net: Network, dt, readout_range: float | None = None):
        kwargs = {} if readout_range is None else {"readout_range": float(readout_range)}
        return self.target.compile(net, dt, **kwargs)

    def measure(self, program, chip_net: Network, x) -> list:
        return chip_net.simulate(x).times

    def measure_readout(self, program, report, chip_net: Network, x, y, hyper) -> tuple:
        """No chip potential offline: the answer is the read-out of the chip network at its simulated times."""
        from ..losses import classifier_loss, predict_scores

        times = self.measure(program, chip_net, x)
        predicted = predict_scores(classifier_loss(hyper, y).scores(chip_net, x, times))
        return times, {"chip_correct": int(np.sum(predicted == np.asarray(y))), "readout_saturated": 0}


def make_source(target, mode: str, engine: str = "auto", mismatch: float = 0.0, mismatch_seed: int = 0):
    """The measurement source of ``mode`` (:data:`MODES`) on ``target`` (a chip name or backend-like object)."""
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r}: must be one of {MODES}")
    if mode == "qat":
        return SimulatedSource(target)
    return ChipSource(resolve_target(target, mismatch, mismatch_seed), engine)


def add_measured(metrics: SpikeMetrics, times, y, net: Network, x, chip: dict | None = None) -> SpikeMetrics:
    """Add one measured chunk (clean ``times``, labels ``y``) to ``metrics``.

    A spike read-out (``chip`` None) is scored from the times alone; a membrane read-out's loss and
    closed-form class need the network whose read-out they evaluate (``net``, at the measured hidden
    times) and the inputs ``x``, and ``chip`` (``measure_readout``'s counts) adds the chip's own answer.
    """
    if chip is None:
        return metrics.add(times, y)
    return metrics.add(times, y, net=net, inputs=x).count(**chip)


def finish_metrics(result: dict) -> dict:
    """:meth:`SpikeMetrics.result` as reported: for a membrane read-out ``accuracy`` becomes the
    chip's (``chip_correct / n``) and the float read-out at the measured times moves to
    ``accuracy_at_chip_times`` (fractions; NaN for no samples); a spike read-out's is unchanged."""
    if "chip_correct" not in result:
        return result
    out = {k: v for k, v in result.items() if k != "chip_correct"}
    n = result["n"]
    out["accuracy_at_chip_times"] = result["accuracy"]
    out["accuracy"] = result["chip_correct"] / n if n else float("nan")
    return out


def measure_metrics(source, net: Network, x, y, hyper, dt=None, chunk: int = 500) -> dict:
    """Deploy ``net`` once on ``source`` and evaluate it on ``(x, y)`` (:class:`fpsnn.training.SpikeMetrics`).

    The measured times go through :func:`~.policy.clean_times` chunk by chunk; the result has the
    policy counts next to the metrics. A membrane read-out is compiled with the range of the float
    network on all of ``x`` (:func:`measurement_range`, as ``fpsnn deploy`` does) and scored by the
    chip's read-out (module docstring; :func:`finish_metrics`). Raises :class:`TargetFailure` when
    the target fails.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    membrane = membrane_readout(net, hyper)
    if membrane:  # one range for all of x, as fpsnn deploy compiles for the data it runs
        program, report = source.compile(net, dt, measurement_range(net, hyper, x))
    else:
        program, report = source.compile(net, dt)
    chip_net = source.chip_network(program, net)
    metrics = SpikeMetrics(net.sizes, net.t_max, hyper).count(
        **dict.fromkeys(POLICY_COUNTS + (CHIP_READOUT_COUNTS if membrane else ()), 0))
    for start in range(0, len(y), chunk):
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        if membrane:
            raw, chip = source.measure_readout(program, report, chip_net, xs, ys, hyper)
        else:
            raw, chip = source.measure(program, chip_net, xs), None
        times, counts = clean_times(raw, chip_net, len(ys), program.dt)
        add_measured(metrics, times, ys, chip_net, xs, chip).count(**counts)
    return finish_metrics(metrics.result())


def evaluate_on(target, net: Network, x, y, hyper, dt: float | None = None, chunk: int = 500,
                engine: str = "auto", mode: str = "hil") -> dict:
    """Deploy ``net`` once and measure classification metrics on ``(x, y)``.

    ``target`` is a chip name or a backend-like object (:func:`resolve_target`). ``mode="hil"`` runs
    the program on it with ``engine``; ``mode="qat"`` only compiles there and simulates the chip
    network exactly (what QAT optimises). Returns ``accuracy``, ``loss``, ``silent_outputs``,
    ``silent_label`` (fractions), ``mean_spikes`` per sample, ``dead_hidden`` (per hidden layer,
    neurons silent on every sample), ``n`` and the policy counts of :func:`~.policy.clean_times`;
    for a membrane read-out ``accuracy`` is the chip's read-out and ``accuracy_at_chip_times``,
    ``readout_saturated``, ``readout_events`` come with it (module docstring). A target failure raises
    the target's own exception.
    """
    source = make_source(target, mode, engine)
    try:
        return measure_metrics(source, net, x, y, hyper, dt, chunk)
    except TargetFailure as failure:
        raise failure.__cause__
