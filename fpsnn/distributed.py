"""Data-parallel exact gradients: one minibatch split into shards over Ray actors, the gradients summed.

For data sets whose minibatches outgrow one node. Every sample's simulation and backward pass depend on
that sample alone; only three things couple the samples of a batch, and each is done so that the result
does not depend on how the batch was split:

1. **The loss.** A loss is a batch *mean* (``fpsnn.losses``): its value and its per-sample derivatives
   carry a ``1 / batch``. Evaluating it per shard and rescaling by ``shard / batch`` would change the last
   bits, so the protocol has two phases: every actor simulates its shard and sends back the spike times
   the loss reads (the output layer for an :class:`~fpsnn.losses.OutputLoss`, every layer otherwise);
   the driver evaluates the loss ONCE on the whole batch, exactly as ``Network.value_and_grad`` does,
   and sends every actor its rows of dL/d(spike times). Any loss works this way, a plain callable
   included, and the loss value is bit-identical to the one-process value.
2. **The backward pass.** Each actor back-substitutes its rows (``Network.value_and_grad`` at its own
   spike times, with the driver's derivatives as the loss) and returns its partial weight gradient.
3. **The batch sum.** The one-process adjoint (``fpsnn.gradients``) sums the batch in a fixed number of
   consecutive chunks, each accumulated sample after sample, then adds the chunk sums in order. With
   ``shards`` equal to that chunk count (:func:`exact_shards`), every actor accumulates exactly one of
   those chunks and the driver adds the partials in the same order: the gradient is then bit-identical
   to ``Network.value_and_grad`` on the whole batch. Any other shard count gives the same sum in a
   different order: equal to rounding (tests: 1e-12 relative), and bit-identical between Ray and the
   in-process ``backend="local"`` for the same shards. Direct loss terms (``d_params``) are added by
   the driver as in one process.

``backend="local"`` runs the same shards in this process (the reference, and a fallback without Ray).
Ray is imported only inside functions; without it, one line names the ``ray`` extra.
"""
from __future__ import annotations

import os

import numpy as np

from .gradients import value_and_grad as value_and_grad_local
from .losses import Loss, OutputLoss, as_loss
from .simulate import check_input_times

__all__ = ["RAY_MISSING", "require_ray", "connect", "shard_bounds", "exact_shards", "ShardWorker",
           "GradientPool", "value_and_grad"]

RAY_MISSING = "Ray is not installed: pip install 'fpsnn[ray]'  (or: pip install 'ray==2.60.0')"
BACKENDS = ("ray", "local")


def require_ray():
    """The ``ray`` module, or ImportError with the one-line install hint (no chained traceback)."""
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None):
    """Start local Ray (``address=None``; ``num_cpus`` caps it) or join a cluster; reuse a running one.

    Returns the ``ray`` module. ``address`` is what ``ray.init`` takes (``"ray://HOST:10001"``, ``"auto"``).
    Local workers run at the driver's priority (``RAY_worker_niceness=0`` unless set).
    """
    ray = require_ray()
    if not ray.is_initialized():
        if address is None:
            # Ray starts its workers at nice 15 by default; on a shared machine that starves the trials,
            # which are the work here: run them at the driver's priority (an explicit setting wins).
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    return ray


def shard_bounds(batch: int, shards: int) -> list:
    """``[(lo, hi), ...]``: ``shards`` consecutive row ranges, sizes differing by at most one.

    The same split as the adjoint's chunks: ``lo = k * batch // shards``.
    """
    if int(shards) < 1:
        raise ValueError(f"shards = {shards}: must be >= 1")
    if int(shards) > int(batch):
        raise ValueError(f"shards = {shards}: must be <= the batch size ({batch}); every shard needs a sample")
    return [(k * batch // shards, (k + 1) * batch // shards) for k in range(int(shards))]


def exact_shards(batch: int, net) -> int:
    """The shard count whose summed gradient is bit-identical to the one-process adjoint of ``batch``
    samples of ``net``: the adjoint's own number of partial sums
    (:func:`fpsnn.gradients.adjoint.batch_chunks`, ``min(batch, 16)``, fewer when the partial sums of a
    large network would pass 64 MB). It only fixes the summation order, never the maths.
    """
    from .gradients.adjoint import batch_chunks

    return batch_chunks(int(batch), net)


class _GivenDerivatives(Loss):
    """The driver's dL/d(spike times) rows of one shard, handed to the backward pass as a 'loss'."""

    def __init__(self, d_times):
        self.d_times = d_times

    def evaluate(self, net, inputs, times):
        return 0.0, self.d_times, None


class ShardWorker:
    """One shard's state between the two phases (a Ray actor, or an object in the driver's process)."""

    def __init__(self, threads: int | None = None):
        if threads is not None:
            import numba

            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        self.net = self.x = self.times = None

    def forward(self, net, x, layers: str = "output") -> list:
        """Simulate the shard; return the spike times the loss reads (``"output"`` or ``"all"`` layers)."""
        self.net, self.x = net, x
        self.times = net.simulate(x).times
        return self.times if layers == "all" else [None] * (net.n_layers - 1) + [self.times[-1]]

    def backward(self, d_times: list, mode: str = "adjoint") -> dict:
        """Back-substitute the driver's derivative rows at this shard's spike times (one partial sum)."""
        d_times = [None if d is None else np.ascontiguousarray(d[:, :, :t.shape[2]])
                   for d, t in zip(d_times, self.times)]  # drop the whole batch's extra padding columns
        # one partial sum (sample after sample), like one chunk of the whole batch's adjoint
        _, grads = value_and_grad_local(self.net, self.x, _GivenDerivatives(d_times), mode=mode, times=self.times,
                                        chunks=1 if mode == "adjoint" else None)
        return grads


def _pad_cat(parts: list) -> np.ndarray:
    """Concatenate ``(b, n, k_s)`` shard arrays along the batch, +inf padding to the largest ``k``."""
    k = max(p.shape[2] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, 0), (0, k - p.shape[2])), constant_values=np.inf)
                           for p in parts])


class GradientPool:
    """``shards`` workers kept alive across minibatches (starting Ray actors costs seconds).

    Args:
        shards: number of shards (= Ray actors, one CPU each).
        backend: ``"ray"`` (actors, local Ray or the cluster at ``address``) or ``"local"`` (this process).
        address: Ray cluster address (``None``: local Ray).
        threads: numba threads per worker (default 1: the actors share the node's cores).
        cpus_per_shard: CPUs Ray reserves per actor (an actor holds them for its life; a fraction
            puts several shards on one CPU).
    """

    def __init__(self, shards: int = 2, backend: str = "ray", address: str | None = None, threads: int | None = 1,
                 cpus_per_shard: float = 1.0):
        if backend not in BACKENDS:
            raise ValueError(f"backend = {backend!r}: must be one of {', '.join(BACKENDS)}")
        if int(shards) < 1:
            raise ValueError(f"shards = {shards}: must be >= 1")
        if not float(cpus_per_shard) > 0:
            raise ValueError(f"cpus_per_shard = {cpus_per_shard}: must be > 0")
        self.shards, self.backend = int(shards), backend
        if backend == "ray":
            ray = connect(address)
            total = ray.cluster_resources().get("CPU", 0.0)
            if self.shards * float(cpus_per_shard) > total:  # Ray would wait for the missing CPUs forever
                raise ValueError(f"shards = {shards}: {shards} x cpus_per_shard {cpus_per_shard} CPUs, the Ray "
                                 f"cluster has {total:g}; pass cpus_per_shard <= {total / self.shards:.3g}")
            actor = ray.remote(num_cpus=float(cpus_per_shard))(ShardWorker)
            self.workers = [actor.remote(threads) for _ in range(self.shards)]
            self._get = ray.get
        else:
            self.workers = [ShardWorker() for _ in range(self.shards)]

    def _map(self, method: str, args: list) -> list:
        if self.backend == "local":
            return [getattr(w, method)(*a) for w, a in zip(self.workers, args)]
        return self._get([getattr(w, method).remote(*a) for w, a in zip(self.workers, args)])

    def value_and_grad(self, net, x, loss, mode: str = "adjoint"):
        """Like ``Network.value_and_grad(x, loss, mode)`` (measured ``times`` not supported), over the shards.

        Returns ``(value, grads)`` with the same keys; ``grads["inputs"]`` in adjoint mode.
        """
        if mode not in ("adjoint", "forward"):
            raise ValueError(f"mode: expected 'adjoint' or 'forward', got {mode!r}")
        loss = as_loss(loss)
        inputs = check_input_times(x, net.n_inputs)
        bounds = shard_bounds(inputs.shape[0], self.shards)
        layers = "output" if isinstance(loss, OutputLoss) else "all"
        parts = self._map("forward", [(net, inputs[lo:hi], layers) for lo, hi in bounds])
        times = [None if parts[0][l] is None else _pad_cat([p[l] for p in parts]) for l in range(net.n_layers)]
        value, d_times, d_params = loss.evaluate(net, inputs, times)
        grads = self._map("backward", [([None if d is None else d[lo:hi] for d in d_times], mode)
                                       for lo, hi in bounds])
        return float(value), _reduce(net, grads, d_params)

    def close(self) -> None:
        """Stop the actors (local Ray itself keeps running for the next pool)."""
        if self.backend == "ray":
            ray = require_ray()
            for w in self.workers:
                ray.kill(w)
        self.workers = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _reduce(net, grads: list, d_params) -> dict:
    """Sum the shards' partial gradients in shard order, exactly as the one-process adjoint adds its
    chunk sums (``zeros + sum(stack, axis=0)``), then the loss's direct terms."""
    g_w, g_r = [], []
    for l in range(net.n_layers):
        g = np.zeros_like(net.weights[l])
        g += np.stack([s["weights"][l] for s in grads]).sum(axis=0)
        g_w.append(g)
        rec = net.recurrent[l]
        if rec is None:
            g_r.append(None)
        else:
            r = np.zeros_like(rec)
            r += np.stack([s["recurrent"][l] for s in grads]).sum(axis=0)
            g_r.append(r)
    for key, out in (("weights", g_w), ("recurrent", g_r)):
        for l, g in enumerate((d_params or {}).get(key, [])):
            if g is not None:
                out[l] = out[l] + g
    result = {"weights": g_w, "recurrent": g_r, "n_bad_slopes": sum(int(s["n_bad_slopes"]) for s in grads)}
    if all("inputs" in s for s in grads):
        result["inputs"] = np.concatenate([s["inputs"] for s in grads])
    return result


def value_and_grad(net, x, loss, shards: int = 2, mode: str = "adjoint", backend: str = "ray",
                   address: str | None = None, cpus_per_shard: float = 1.0):
    """One data-parallel ``value_and_grad`` with a pool made for this call (keep a :class:`GradientPool`
    for a training loop). ``shards = exact_shards(len(x), net)`` gives the bit-identical gradient."""
    with GradientPool(shards, backend=backend, address=address, cpus_per_shard=cpus_per_shard) as pool:
        return pool.value_and_grad(net, x, loss, mode=mode)
