"""The one small interface every deployment target implements.

    backend = fpsnn.backends.get("xylo-audio2")        # by chip name (hw_configs/)
    backend.check_fits(net)                             # ValueError: which limit, and what to pass instead
    program, report = backend.compile(net, dt=...)     # quantize + map; ValueError naming the limit
    backend.resources(net, program)                     # {what: [used, limit]}
    chip_net = backend.dequantize(program, like=net)    # the float network the program computes
    device = backend.perturb(program, 0.1, seed=3)      # the same program on a device with mismatch
    backend.write_artifacts(program, "out/")            # files the vendor's tools load
    result = backend.run(program, x, engine="auto", t_max=net.t_max)   # spike times of every layer + who ran it
    ok, why = backend.available("vendor")               # is that engine usable here?
    result = backend.run(program, x, t_max=net.t_max, record=True)     # ... and the output layer's potential
    v = backend.output_potential(result, program, report)              # (batch, steps, n_out), float units

Every family-specific operation is a method here, so callers never test a family name or a program
type: a chip family is one subclass (one folder) plus one line in :mod:`.registry`.

Engines, in the order ``"auto"`` tries them: ``"board"`` (the chip; only when asked for with
``engine="board"``, never silently), ``"vendor"`` (the vendor's simulator: xylosim, Lava fixed_pt,
Rockpool DynapSim), ``"emulator"`` (fpsnn's bit-accurate integer emulator). ``RunResult.engine`` says
which one ran and ``RunResult.note`` why another did not.

A membrane read-out (an output layer that never fires, ``theta = inf``) is read from the output
layer's potential: ``run(..., record=True)`` records it (engines that cannot are refused, see
:meth:`Backend.potential_available`), :meth:`Backend.output_potential` turns the family's integer
trace into float potential units on the window's steps, :meth:`Backend.readout_saturated` says which
samples hit the chip's state limit; :mod:`.readout` scores it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Backend", "RunResult", "ENGINES"]

ENGINES = ("board", "vendor", "emulator")


@dataclass
class RunResult:
    """Spikes of every layer from one run on a target.

    Attributes:
        times: one float64 ``(batch, n_l, k_l)`` array per layer (hidden first, output last), sorted
            spike times in the network's time unit, +inf padded (:func:`fpsnn.backends.timegrid.decode`).
        rasters: the integer event rasters ``(batch, steps, n_l)`` they were decoded from (empty for
            analog targets that report times directly).
        engine: ``"board"``, ``"vendor"`` or ``"emulator"``.
        engine_name: what exactly ran (``"xylosim 0.1.3"``, ``"lava fixed_pt"``, ...).
        note: why a preferred engine was not used ("" when the first choice ran).
        state: with ``run(..., record=True)``, one dict per layer of the engine's integer state traces
            ``(batch, steps, n_l[, n_syn])`` after each step (names and units are the family's: Xylo
            ``"vmem"``/``"isyn"``, Loihi ``"u"``/``"v"``; read them with :meth:`Backend.output_potential`);
            empty when not recorded.
    """

    times: list
    rasters: list = field(default_factory=list)
    engine: str = ""
    engine_name: str = ""
    note: str = ""
    state: list = field(default_factory=list)

    def first_spikes(self, layer: int = -1) -> np.ndarray:
        t = self.times[layer]
        return t[:, :, 0].copy() if t.shape[2] else np.full(t.shape[:2], np.inf)


#: What :meth:`Backend.check_fits` tells a user to change when a count exceeds the chip's limit.
_ADVICE = {
    "inputs": "encode the data with {limit} input channels or fewer",
    "hidden_neurons": "train with --hidden {limit} or fewer (all hidden layers together)",
    "output_neurons": "the chip reads out at most {limit} classes: use a data set with that many or fewer",
    "max_fan_in": "train smaller layers (or prune) so that no neuron receives more than {limit} connections",
    "max_fan_out": "train smaller layers (or prune) so that no neuron sends more than {limit} connections",
    "layers": "train with at most {hidden_layers} hidden layer(s)",
}
_LABEL = {"inputs": "inputs", "hidden_neurons": "hidden", "output_neurons": "outputs",
          "max_fan_in": "max_fan_in", "max_fan_out": "max_fan_out", "layers": "layers"}


def fit_error(chip: str, what: str, used, limit, unit: str, advice: str) -> ValueError:
    """The message shape of every count check: ``"{what} = {used} > {limit} [{unit}] on {chip}: {advice}"``."""
    return ValueError(f"{what} = {used} > {limit}{' ' + unit if unit else ''} on {chip}: {advice}")


def _best_scale(w: np.ndarray, target: np.ndarray) -> float:
    """The factor ``c`` minimising ``|c w - target|`` (1 when ``w`` is all zero)."""
    norm = float(np.sum(w * w))
    return float(np.sum(w * target)) / norm if norm > 0 else 1.0


class Backend:
    """Base class of the deployment targets; subclasses set ``family`` and implement the hooks.

    Class attributes a family sets: ``family`` (its registry key) and ``default_steps`` (chip steps
    per simulation window when no ``dt`` is given, see :meth:`default_dt`).
    """

    family = ""
    default_steps = 128

    def __init__(self, chip):
        from . import chips

        self.chip = chips.load(chip) if isinstance(chip, str) else chip
        self.name = self.chip.name

    # --- hooks --------------------------------------------------------------------------------
    def compile(self, net, dt: float | None = None, per_channel: bool = True, readout_range: float | None = None):
        """Quantize and map ``net``: ``(program, QuantizationReport)``.

        ``readout_range`` (float potential units, > 0): for a net whose output layer is a membrane
        read-out (``theta = inf``), the largest ``|V|`` its potential must reach without saturating the
        chip's state (:func:`.readout.readout_range` estimates it from data); None: the family's default
        scale (the read-out's weights fill the integer range; the report's ``binding_limits`` say which
        potential range that leaves). Ignored for a firing output layer.
        """
        raise NotImplementedError

    def available(self, engine: str) -> tuple[bool, str]:
        """Whether ``engine`` can run here, and if not, one line saying what is missing."""
        if engine not in ENGINES:
            raise ValueError(f"engine: expected one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
        return getattr(self, f"_{engine}_available")()

    # one hook per engine (the family's file that runs it answers)
    def _emulator_available(self) -> tuple[bool, str]:
        return True, ""

    def _vendor_available(self) -> tuple[bool, str]:
        raise NotImplementedError

    def _board_available(self) -> tuple[bool, str]:
        raise NotImplementedError

    def write_artifacts(self, program, out_dir) -> list:
        """Write the files a vendor tool loads (spec / config / weights) into ``out_dir``; their paths."""
        raise NotImplementedError

    def mapping_settings(self, program) -> dict:
        """Keyword arguments of :meth:`compile` that make another compile of the same network map it as
        ``program`` was mapped: the part of the mapping fitted on the target (JSON values). A model
        fine-tuned on the target records them, so that deploying it maps it as it was fine-tuned; a
        family whose mapping is a fixed function of the network has none (``{}``)."""
        return {}

    def _run_engine(self, engine: str, program, x, t_max: float | None, record: bool = False) -> RunResult:
        """Run on ``engine``; with ``record`` the result carries the engine's state traces (``RunResult.state``)."""
        raise NotImplementedError

    # --- membrane read-out (families with a non-firing output layer implement these) ----------------
    def potential_available(self, engine: str) -> tuple[bool, str]:
        """Whether ``engine`` returns the output layer's potential (``run(..., record=True)``), and if
        not, one line saying so. Default: no engine does (a family without a membrane read-out)."""
        return False, f"{self.name} has no membrane read-out (its output neurons must fire)"

    def output_potential(self, result: RunResult, program, report) -> np.ndarray:
        """The output layer's potential of a recorded run, ``(batch, steps, n_out)`` float64 in the float
        network's potential units; row ``k`` is the end of window step ``k`` (time ``(k + 1) * dt``), the
        pipeline delay before the output layer removed, so the rows cover ``[0, t_max]``.

        ``report`` is the :class:`~.report.QuantizationReport` of ``program`` (its scales convert the
        integer state). ValueError when the run recorded no state or the family has no read-out.
        """
        raise ValueError(f"{self.name}: no membrane read-out on this chip family")

    def readout_saturated(self, result: RunResult, program) -> np.ndarray:
        """``(batch,)`` bool: samples whose recorded output potential hit the chip's state limit (its
        scores are clipped there). Default: none."""
        return np.zeros(len(result.times[-1]), dtype=bool)

    def _dequantize(self, program, t_max: float, max_spikes):
        """The float network of ``program`` with every firing threshold 1 (weights relative to it);
        ``max_spikes``: its spike cap, an int or one per layer (``Network``'s ``max_spikes``)."""
        raise NotImplementedError

    def perturb(self, program, spread: float, seed: int = 0):
        """A copy of ``program`` as it runs on a device with mismatch ``spread`` (fraction; 0 = identical).

        ``seed`` identifies the device: the same seed perturbs every parameter by the same factors
        again. The model (and what ``spread`` means) is the family's: ``perturb`` of the ``mismatch``
        module in the family's folder (every folder has the same file roles).
        """
        from importlib import import_module

        family_package = type(self).__module__.rsplit(".", 1)[0]
        return import_module(f"{family_package}.mismatch").perturb(program, spread, seed)

    def _check_net(self, net) -> None:
        """Family-specific structure rules of :meth:`check_fits` (beyond the counts of :meth:`resources`)."""

    def _placement(self, program) -> dict:
        """Entries of :meth:`resources` that only the compiled program knows (family-specific)."""
        return {}

    # --- shared logic -------------------------------------------------------------------------
    def default_dt(self, net) -> float:
        """The chip step used when none is given: ``net.t_max / default_steps`` (network time units)."""
        return float(net.t_max) / self.default_steps

    def resources(self, net, program=None) -> dict:
        """What ``net`` uses of this chip: ``{what: [used, limit]}`` (``limit`` None: the chip sets none).

        Counts come from the float network's non-zero pattern (what the mapper places): input channels,
        hidden neurons (all layers but the last), output neurons, synapses (non-zero weights, recurrent
        included), the largest fan-in of any neuron, the largest fan-out of any hidden neuron, layers.
        With ``program``, the family may replace or add entries that only the placement knows (DYNAP-SE2:
        fan-out in destination cores, and ``cores``).
        """
        ff = [np.asarray(w) != 0 for w in net.weights]
        rec = [None if r is None else np.asarray(r) != 0 for r in net.recurrent]
        fan_in = max(int((f.sum(axis=0) + (0 if r is None else r.sum(axis=0))).max(initial=0))
                     for f, r in zip(ff, rec))
        fan_out = 0
        for l in range(net.n_layers - 1):
            out = ff[l + 1].sum(axis=1) + (0 if rec[l] is None else rec[l].sum(axis=1))
            fan_out = max(fan_out, int(out.max(initial=0)))
        synapses = sum(int(f.sum()) for f in ff) + sum(int(r.sum()) for r in rec if r is not None)
        chip = self.chip
        counts = {
            "inputs": [int(net.n_inputs), chip.n_inputs],
            "hidden_neurons": [int(sum(net.sizes[:-1])), chip.n_hidden],
            "output_neurons": [int(net.sizes[-1]), chip.n_outputs],
            "synapses": [synapses, None],
            "max_fan_in": [fan_in, chip.max_fan_in],
            "max_fan_out": [fan_out, chip.max_fan_out],
            "layers": [int(net.n_layers), chip.max_layers],
        }
        extra = self._placement(program) if program is not None else {}
        return {**{k: v for k, v in extra.items() if k not in counts}, **counts,
                **{k: v for k, v in extra.items() if k in counts}}

    def check_fits(self, net) -> None:
        """Raise ValueError when ``net`` cannot be placed on this chip.

        The message names the limit, the number and what to pass instead, e.g. ``hidden = 150 > 128
        neurons reachable from the inputs on xylo-imu: train with --hidden 128 or fewer``.
        """
        from ..network import Network

        if not isinstance(net, Network):
            raise ValueError(f"net: expected an fpsnn.Network, got {type(net).__name__}")
        for key, (used, limit) in self.resources(net).items():
            if limit is not None and used > limit:
                advice = _ADVICE[key].format(limit=limit, hidden_layers=limit - 1)
                raise fit_error(self.name, _LABEL[key], used, limit, "" if key == "layers" else "allowed", advice)
        self._check_net(net)

    def dequantize(self, program, like):
        """The float network ``program`` computes, in the units of the float network ``like``.

        The family's reverse map gives integer weights relative to each neuron's integer threshold and
        the effective time constants of the decay codes; each neuron's weights are then multiplied by
        ``like``'s threshold of that neuron, so the result has ``like``'s thresholds, window
        (``t_max``) and spike cap. It models neither the chip's time grid nor its pipeline delays nor
        saturation. A membrane read-out layer (``theta = inf``) has no threshold to fix its unit (the
        program stores its potential relative to the state limit): its weights are scaled by the one
        factor that best matches ``like``'s read-out weights (least squares), which leaves the class
        of every sample unchanged. Raises ValueError for a program the float model cannot express or
        whose layer sizes differ from ``like``'s.
        """
        from ..network import Network

        net = self._dequantize(program, t_max=like.t_max, max_spikes=like.max_spikes)
        if net.sizes != like.sizes:
            raise ValueError(f"program: layer sizes {net.sizes} differ from like's {like.sizes}")
        weights = [w * th[None, :] if np.all(np.isfinite(th)) else w * _best_scale(w, w_like)
                   for w, th, w_like in zip(net.weights, like.theta, like.weights)]
        recurrent = [None if r is None else r * th[None, :] for r, th in zip(net.recurrent, like.theta)]
        return Network(weights=weights, alpha=net.alpha, beta=net.beta, theta=list(like.theta), t_max=like.t_max,
                       recurrent=recurrent, max_spikes=like.max_spikes)

    def run(self, program, x, engine: str = "auto", t_max: float | None = None, record: bool = False) -> RunResult:
        """Run ``program`` on input spike times ``x`` (``(batch, n_in[, k])``) with ``engine``.

        ``"auto"`` takes the vendor simulator when it is installed, else the emulator, and records
        why in ``note``; a named engine that is unavailable raises RuntimeError with the reason.
        ``t_max`` (network time units) is the window to run: a chip program holds no window of its
        own, so the discrete-time adapters require it. ``record``: also record the state traces
        (``RunResult.state``, for :meth:`output_potential`); an engine that cannot return the output
        potential (:meth:`potential_available`) is then skipped by ``"auto"`` (``note`` says why) and
        refused by name (RuntimeError with the reason), never run without it.
        """
        if engine not in ENGINES + ("auto",):
            raise ValueError(f"engine: expected one of {ENGINES + ('auto',)}, got {engine!r}")
        if engine != "auto":
            ok, why = self.available(engine)
            if not ok:
                raise RuntimeError(f"{self.name}: engine {engine!r} unavailable: {why}")
            ok, why = self.potential_available(engine) if record else (True, "")
            if not ok:
                raise RuntimeError(f"{self.name}: engine {engine!r} cannot run a membrane read-out: {why}")
            return self._run_engine(engine, program, x, t_max, record)
        notes = []
        for candidate in ("vendor", "emulator"):
            ok, why = self.available(candidate)
            if ok and record:
                ok, why = self.potential_available(candidate)
                why = why and f"no output potential: {why}"
            if ok:
                res = self._run_engine(candidate, program, x, t_max, record)
                res.note = "; ".join(notes)
                return res
            notes.append(f"{candidate} unavailable ({why})")
        raise RuntimeError(f"{self.name}: no engine can run here: {'; '.join(notes)}")
