"""The one small interface every deployment target implements.

    backend = fpsnn.backends.get("xylo-audio2")        # by chip name (hw_configs/)
    program, report = backend.compile(net, dt=...)     # quantize + map; ValueError naming the limit
    backend.write_artifacts(program, "out/")            # files the vendor's tools load
    result = backend.run(program, x, engine="auto", t_max=net.t_max)   # spike times of every layer + who ran it
    ok, why = backend.available("vendor")               # is that engine usable here?

Engines, in the order ``"auto"`` tries them: ``"board"`` (the chip; only when asked for with
``engine="board"``, never silently), ``"vendor"`` (the vendor's simulator: xylosim, Lava fixed_pt,
Rockpool DynapSim), ``"emulator"`` (fpsnn's bit-accurate integer emulator). ``RunResult.engine`` says
which one ran and ``RunResult.note`` why another did not.
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
            spike times in the network's time unit, +inf padded (:func:`fpsnn.timegrid.decode`).
        rasters: the integer event rasters ``(batch, steps, n_l)`` they were decoded from (empty for
            analog targets that report times directly).
        engine: ``"board"``, ``"vendor"`` or ``"emulator"``.
        engine_name: what exactly ran (``"xylosim 0.1.3"``, ``"lava fixed_pt"``, ...).
        note: why a preferred engine was not used ("" when the first choice ran).
    """

    times: list
    rasters: list = field(default_factory=list)
    engine: str = ""
    engine_name: str = ""
    note: str = ""

    def first_spikes(self, layer: int = -1) -> np.ndarray:
        t = self.times[layer]
        return t[:, :, 0].copy() if t.shape[2] else np.full(t.shape[:2], np.inf)


class Backend:
    """Base class of the deployment targets; subclasses set ``family`` and implement the hooks."""

    family = ""

    def __init__(self, chip):
        from fpsnn import chips

        self.chip = chips.load(chip) if isinstance(chip, str) else chip
        self.name = self.chip.name

    # --- hooks --------------------------------------------------------------------------------
    def compile(self, net, dt: float | None = None, per_channel: bool = True):
        """Quantize and map ``net``: ``(program, QuantizationReport)``."""
        raise NotImplementedError

    def available(self, engine: str) -> tuple[bool, str]:
        """Whether ``engine`` can run here, and if not, one line saying what is missing."""
        raise NotImplementedError

    def write_artifacts(self, program, out_dir) -> list:
        """Write the files a vendor tool loads (spec / config / weights) into ``out_dir``; their paths."""
        raise NotImplementedError

    def _run_engine(self, engine: str, program, x, t_max: float | None) -> RunResult:
        raise NotImplementedError

    # --- shared logic -------------------------------------------------------------------------
    def run(self, program, x, engine: str = "auto", t_max: float | None = None) -> RunResult:
        """Run ``program`` on input spike times ``x`` (``(batch, n_in[, k])``) with ``engine``.

        ``"auto"`` takes the vendor simulator when it is installed, else the emulator, and records
        why in ``note``; a named engine that is unavailable raises RuntimeError with the reason.
        ``t_max`` (network time units) is the window to run: a chip program holds no window of its
        own, so the discrete-time adapters require it.
        """
        if engine not in ENGINES + ("auto",):
            raise ValueError(f"engine: expected one of {ENGINES + ('auto',)}, got {engine!r}")
        if engine != "auto":
            ok, why = self.available(engine)
            if not ok:
                raise RuntimeError(f"{self.name}: engine {engine!r} unavailable: {why}")
            return self._run_engine(engine, program, x, t_max)
        notes = []
        for candidate in ("vendor", "emulator"):
            ok, why = self.available(candidate)
            if ok:
                res = self._run_engine(candidate, program, x, t_max)
                res.note = "; ".join(notes)
                return res
            notes.append(f"{candidate} unavailable ({why})")
        raise RuntimeError(f"{self.name}: no engine can run here: {'; '.join(notes)}")
