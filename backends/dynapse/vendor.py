"""Run a :class:`~.mapping.DynapseProgram` in Rockpool's DynapSim (analog, mismatch-aware, jax).

The network is Rockpool's own ``dynapsim_net_from_spec(**program.spec("sim"))``: a ``LinearJax``
input layer (the input weights) followed by one recurrent ``DynapSim`` population holding every
neuron (layer-to-layer connections are entries of its ``w_rec``). It needs rockpool (3.1) and jax
(CPU build), both imported only here.

Speed: the evolution is jit-compiled once per input shape; samples are run in chunks of
``CHUNK`` (the last one padded with silent samples), so one compilation serves every chunk and every
program of the same size (the calibration reuses it too).
"""
from __future__ import annotations

import importlib.util
import logging
import sys

import numpy as np

from ..result import EmulatorResult

__all__ = ["available", "run_dynapsim", "CHUNK", "INSTALL_HINT"]

CHUNK = 64
INSTALL_HINT = ("DynapSim needs rockpool and jax (CPU): pip install 'rockpool==3.1.0' 'jax[cpu]==0.7.1' "
                "(with numpy<2 pinned)")
_JITTED = {}


def _present(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (``sys.modules[m] = None`` blocks it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def available() -> tuple[bool, str]:
    """``(True, "")`` when rockpool and jax can be found (without importing them)."""
    missing = [m for m in ("rockpool", "jax") if not _present(m)]
    return (False, f"{' and '.join(missing)} not installed; {INSTALL_HINT}") if missing else (True, "")


def _evolve():
    """A jitted ``(module, raster) -> spikes`` (one per process; jax caches per shape)."""
    if "f" not in _JITTED:
        import jax

        _JITTED["f"] = jax.jit(lambda mod, x: mod(x, record=False)[0])
    return _JITTED["f"]


def build_network(program, mismatch: float | None = None):
    """Rockpool's ``JaxSequential(LinearJax, DynapSim)`` for ``program`` (see the module docstring)."""
    ok, why = available()
    if not ok:
        raise ImportError(why)
    # Rockpool logs a warning about the absent samna on import: expected here, not news to the user.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        from rockpool.devices.dynapse import dynapsim_net_from_spec
    finally:
        logging.disable(previous)
    # Rockpool's `percent_mismatch` is a fraction despite its name (its default deviation is 0.30 =
    # 30 %, transform/mismatch.py); 5 here would put sigma at 167 % and produce NaN currents.
    seed = getattr(program, "mismatch_seed", None)
    state = np.random.get_state()
    try:  # Rockpool's constructors draw from numpy's global generator: a seeded device leaves it alone
        net = dynapsim_net_from_spec(**program.spec("sim"), percent_mismatch=None)
    finally:
        if seed is not None:
            np.random.set_state(state)
    if not mismatch:
        return net
    # DynapSim draws its frozen mismatch in its constructor with Rockpool's generator, which compiles
    # one jax.lax.cond per parameter on every build: far longer than the run itself, and in-the-loop
    # training builds a network every minibatch. The same draw is made here on the nominal network
    # (_frozen_mismatch), with the device seed as the jax key (``PRNGKey(program.mismatch_seed)``): the
    # deviations depend only on the seed and the parameter shapes, so re-deploying new weights to the
    # same device meets the same deviations. No seed: a fresh device from numpy's global generator,
    # as Rockpool draws one.
    sim = _dynapsim_module(net)
    for name, value in _frozen_mismatch(sim, float(mismatch),
                                        int(np.random.randint(2 ** 31 - 1)) if seed is None else int(seed)).items():
        setattr(sim, name, value)
    return net


def _dynapsim_module(net):
    """The ``DynapSim`` population inside Rockpool's ``JaxSequential(LinearJax, DynapSim)``."""
    (sim,) = [m for m in net.modules().values() if type(m).__name__ == "DynapSim"]
    return sim


def _frozen_mismatch(sim, mismatch: float, seed: int) -> dict:
    """DynapSim's frozen mismatch of ``sim``: the parameters of Rockpool's ``frozen_mismatch_prototype``
    (every current and circuit constant, never a weight) times ``1 + N(0, mismatch / 3)``, drawn as
    Rockpool's ``mismatch_generator`` draws them (one key per parameter, split from ``PRNGKey(seed)`` in
    the order of the flattened parameter tree) but without its per-parameter ``lax.cond``."""
    import jax
    import jax.numpy as jnp
    from rockpool.devices.dynapse.simulation.mismatch_prototype import frozen_mismatch_prototype
    from rockpool.transform.mismatch import module_registery

    params = module_registery(sim)
    flat, tree = jax.tree_util.tree_flatten(params)
    select = jax.tree_util.tree_leaves(frozen_mismatch_prototype(sim))
    _, *keys = jax.random.split(jax.random.PRNGKey(seed), len(flat) + 1)
    sigma = jnp.float32(mismatch / 3.0)                 # Rockpool's 3-sigma rule
    new = [jnp.asarray(a + sigma * jax.random.normal(k, a.shape) * a, dtype=jnp.float32) if chosen else a
           for a, chosen, k in zip(flat, select, keys)]
    return jax.tree_util.tree_unflatten(tree, new)


def run_dynapsim(program, raster, mismatch: float | None = None) -> EmulatorResult:
    """Run ``raster`` (int event counts ``(batch, steps, n_inputs)``) in DynapSim, each sample from rest.

    ``mismatch``: relative parameter spread at 3 sigma (a fraction: 0.1 = 10 %); None: the program's
    own (``program.mismatch``, set by ``DynapseBackend.perturb``, None for the nominal circuit). Returns an :class:`EmulatorResult` with one int8 spike raster
    ``(batch, steps, n_l)`` per layer. RuntimeError when DynapSim's currents become NaN.
    """
    mismatch = program.mismatch if mismatch is None else mismatch
    if mismatch is not None and not 0 <= mismatch < 1:
        raise ValueError(f"mismatch = {mismatch}: must be a fraction in [0, 1) (0.1 = 10 % at 3 sigma)")
    r = np.asarray(raster)
    if r.ndim != 3 or r.shape[2] != program.n_inputs:
        raise ValueError(f"raster: expected shape (batch, steps, {program.n_inputs}), got {r.shape}")
    net = build_network(program, mismatch)
    f = _evolve()
    batch, steps, _ = r.shape
    out = np.zeros((batch, steps, program.n_neurons), np.int8)
    for start in range(0, batch, CHUNK):
        chunk = np.zeros((CHUNK, steps, program.n_inputs), np.float32)
        part = r[start:start + CHUNK]
        chunk[:len(part)] = part
        spikes = np.asarray(f(net, chunk))
        if not np.all(np.isfinite(spikes)):
            raise RuntimeError(f"DynapSim produced NaN spikes (mismatch = {mismatch}): a current left its valid range")
        out[start:start + len(part)] = np.clip(np.round(spikes[:len(part)]), 0, 127).astype(np.int8)
    return EmulatorResult(spikes=[out[:, :, s] for s in program.layer_slices()])
