"""Where fine-tuning measures spike times: a chip (``hil``) or the exact simulation of its network (``qat``).

Both sources deploy the float *shadow* network (``compile``: quantize + map) and give back the spike
times of every layer for a minibatch, together with the *chip network*: the float network the
program implements, ``backend.dequantize(program, like=shadow)`` (integer weights and thresholds in
the shadow's units, the chip's effective time constants). ``hil`` runs the program on the target;
``qat`` only compiles there and simulates the chip network exactly in continuous time (the float
model constrained to the chip's weight grid and time constants: neither the time grid nor the
pipeline delays nor saturation, which are what ``hil`` adds).

Any exception the target raises while compiling or running (a board unplugged, a simulator crash)
becomes :class:`TargetFailure`, which the epoch loop turns into a checkpoint and a clear error.
"""
from __future__ import annotations

import numpy as np

from ..network import Network
from ..training import SpikeMetrics, StepFailed
from .policy import POLICY_COUNTS, clean_times

__all__ = ["MODES", "resolve_target", "backend_of", "chip_network", "TargetFailure", "ChipSource",
           "SimulatedSource", "make_source", "measure_metrics", "evaluate_on"]

MODES = ("hil", "qat")


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


class TargetFailure(StepFailed):
    """The target raised while compiling or running (the original exception is ``__cause__``)."""


class ChipSource:
    """Measurement by running the program on a target (``hil``); counts the target calls."""

    def __init__(self, target, engine: str):
        self.target, self.engine = target, engine
        self.backend = backend_of(target)
        self.name = getattr(target, "name", type(target).__name__)
        self.calls = 0

    def compile(self, net: Network, dt):
        self.calls += 1
        try:
            return self.target.compile(net, dt)
        except Exception as exc:  # whatever a board or simulator raises: all mean "no result"
            raise TargetFailure(exc) from exc

    def chip_network(self, program, shadow: Network) -> Network:
        return self.backend.dequantize(program, like=shadow)

    def measure(self, program, chip_net: Network, x) -> list:
        self.calls += 1
        try:
            return self.target.run(program, x, engine=self.engine, t_max=chip_net.t_max).times
        except Exception as exc:
            raise TargetFailure(exc) from exc


class SimulatedSource(ChipSource):
    """Measurement by exact simulation of the chip network (``qat``): the target only compiles."""

    def __init__(self, target):
        super().__init__(resolve_target(target), engine="emulator")

    def compile(self, net: Network, dt):
        return self.target.compile(net, dt)

    def measure(self, program, chip_net: Network, x) -> list:
        return chip_net.simulate(x).times


def make_source(target, mode: str, engine: str = "auto", mismatch: float = 0.0, mismatch_seed: int = 0):
    """The measurement source of ``mode`` (:data:`MODES`) on ``target`` (a chip name or backend-like object)."""
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r}: must be one of {MODES}")
    if mode == "qat":
        return SimulatedSource(target)
    return ChipSource(resolve_target(target, mismatch, mismatch_seed), engine)


def measure_metrics(source, net: Network, x, y, hyper, dt=None, chunk: int = 500) -> dict:
    """Deploy ``net`` once on ``source`` and evaluate it on ``(x, y)`` (:class:`fpsnn.training.SpikeMetrics`).

    The measured times go through :func:`~.policy.clean_times` chunk by chunk; the result has the
    policy counts next to the metrics. Raises :class:`TargetFailure` when the target fails.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    program, _ = source.compile(net, dt)
    chip_net = source.chip_network(program, net)
    metrics = SpikeMetrics(net.sizes, net.t_max, hyper).count(**dict.fromkeys(POLICY_COUNTS, 0))
    for start in range(0, len(y), chunk):
        xs, ys = x[start:start + chunk], y[start:start + chunk]
        times, counts = clean_times(source.measure(program, chip_net, xs), chip_net, len(ys), program.dt)
        metrics.add(times, ys).count(**counts)
    return metrics.result()


def evaluate_on(target, net: Network, x, y, hyper, dt: float | None = None, chunk: int = 500,
                engine: str = "auto", mode: str = "hil") -> dict:
    """Deploy ``net`` once and measure classification metrics on ``(x, y)``.

    ``target`` is a chip name or a backend-like object (:func:`resolve_target`). ``mode="hil"`` runs
    the program on it with ``engine``; ``mode="qat"`` only compiles there and simulates the chip
    network exactly (what QAT optimises). Returns ``accuracy``, ``loss``, ``silent_outputs``,
    ``silent_label`` (fractions), ``mean_spikes`` per sample, ``dead_hidden`` (per hidden layer,
    neurons silent on every sample), ``n`` and the policy counts of :func:`~.policy.clean_times`.
    A target failure raises the target's own exception.
    """
    source = make_source(target, mode, engine)
    try:
        return measure_metrics(source, net, x, y, hyper, dt, chunk)
    except TargetFailure as failure:
        raise failure.__cause__
