"""The program of a DYNAP-SE2 mapping: :class:`DynapseProgram` (currents, 4-bit weight codes, core map).

See :mod:`.mapping` for how a float network becomes one; the constants are Rockpool 3.1's DYNAP-SE2
defaults (docs/hardware.md, "DYNAP-SE2").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["DynapseProgram", "CONSTANTS", "CURRENTS", "DEFAULT_TIME_UNIT_S", "NEURONS_PER_CORE", "WEIGHT_CODES"]

#: Rockpool's DYNAP-SE2 defaults (``rockpool/devices/dynapse/lookup/defaults.py``, rockpool 3.1), SI units.
CONSTANTS = {
    "C_syn": 24.5e-12, "C_mem": 3e-12, "C_ref": 1.5e-12, "C_pulse": 0.5e-12, "C_pulse_ahp": 0.5e-12,
    "C_ahp": 40e-12, "Io": 5e-13, "kappa_n": 0.75, "kappa_p": 0.66, "Ut": 25e-3, "Vth": 0.7,
    "Iscale": 1e-8, "Ispkthr": 1e-7, "t_pulse": 10e-6, "t_pulse_ahp": 1e-6, "tau_ahp": 50e-3,
    "r_gain_syn": 100.0, "r_gain_mem": 4.0, "r_gain_ahp": 1.0, "Iw_ahp": 5e-13,
}
DEFAULT_TIME_UNIT_S = 10e-3
NEURONS_PER_CORE = 256
WEIGHT_CODES = 15   # 4-bit weight code: 0..15 base-current units
CURRENTS = ("Idc", "If_nmda", "Igain_ahp", "Igain_mem", "Igain_syn", "Ipulse_ahp", "Ipulse", "Iref",
            "Ispkthr", "Itau_ahp", "Itau_mem", "Itau_syn", "Iw_ahp")


@dataclass(frozen=True, eq=False)
class DynapseProgram:
    """A network mapped to DYNAP-SE2 (see the module docstring); all currents in amperes.

    Attributes:
        sizes: neurons per layer; neurons are numbered layer by layer.
        n_inputs: input channels.
        core_map: ``(N,)`` core index of every neuron.
        currents: per current name (``CURRENTS``) one value per core (A).
        masks_in, masks_rec: int ``(n_in, N)`` / ``(N, N)`` weight codes 0..15.
        signs_in, signs_rec: int ``(n_in, N)`` / ``(N, N)``: +1 excitatory, -1 inhibitory, 0 none.
        iw0: ``(n_cores,)`` base weight current of each core (A); bit ``k`` carries ``2**k * iw0``.
        Iscale: weight scaling current (A).
        dt: step in network time units; time_unit_s: seconds per network time unit.
        gains: the per-layer gains :math:`g_l` the weights were built with.
        mismatch: DynapSim's parameter mismatch the program runs with, a fraction at 3 sigma (0.1 =
            10 %); None for the nominal circuit (set by ``DynapseBackend.perturb``).
        mismatch_seed: which device: the seed DynapSim's mismatch draw is made with (None: a fresh
            draw every run).
    """

    sizes: tuple
    n_inputs: int
    core_map: np.ndarray
    currents: dict
    masks_in: np.ndarray
    masks_rec: np.ndarray
    signs_in: np.ndarray
    signs_rec: np.ndarray
    iw0: np.ndarray
    Iscale: float
    dt: float
    time_unit_s: float
    gains: tuple = field(default_factory=tuple)
    mismatch: float | None = None
    mismatch_seed: int | None = None
    neurons_per_core = NEURONS_PER_CORE     # class constant, not a field

    @property
    def n_in(self) -> int:
        """Deprecated name of :attr:`n_inputs`."""
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        """Neurons of the last layer."""
        return int(self.sizes[-1])

    @property
    def n_neurons(self) -> int:
        return int(sum(self.sizes))

    @property
    def n_cores(self) -> int:
        return int(self.core_map.max()) + 1

    @property
    def dt_s(self) -> float:
        """The simulator's Euler step in seconds."""
        return self.dt * self.time_unit_s

    def destinations(self) -> np.ndarray:
        """Per neuron, how many distinct cores its spikes must reach (the chip allows 4 per neuron)."""
        targets = self.masks_rec != 0
        return np.array([np.unique(self.core_map[row]).size for row in targets], dtype=np.int64)

    def layer_slices(self) -> list:
        edges = np.cumsum((0,) + tuple(self.sizes))
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Quantized ``(weights_in, weights_rec)`` in units of ``Iscale``: ``sign * mask * Iw_0 / Iscale``."""
        unit = self.iw0[self.core_map] / self.Iscale          # per post-synaptic neuron
        return (self.signs_in * self.masks_in * unit[None, :], self.signs_rec * self.masks_rec * unit[None, :])

    def spec(self, target: str = "sim") -> dict:
        """Rockpool's keyword dict: ``"sim"`` for ``dynapsim_net_from_spec`` (float weights),
        ``"config"`` for ``config_from_specification`` (per-core bit masks, signs, ``Iw_0..Iw_3``)."""
        if target not in ("sim", "config"):
            raise ValueError(f"target = {target!r}: must be 'sim' (dynapsim_net_from_spec) or 'config' "
                             "(config_from_specification)")
        base = {"n_cluster": self.n_cores, "core_map": self.core_map.copy(),
                **{k: [float(v) for v in self.currents[k]] for k in CURRENTS}}
        if target == "sim":
            w_in, w_rec = self.weights()
            return {**base, "weights_in": w_in, "weights_rec": w_rec, "Iscale": self.Iscale, "dt": self.dt_s}
        per_core = lambda a: [np.where(self.core_map[None, :] == c, a, 0) for c in range(self.n_cores)]
        return {**base, "weights_in": per_core(self.masks_in), "weights_rec": per_core(self.masks_rec),
                "sign_in": per_core(self.signs_in), "sign_rec": per_core(self.signs_rec),
                **{f"Iw_{k}": [float(v) * 2 ** k for v in self.iw0] for k in range(4)}}
