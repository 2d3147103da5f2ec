"""Data-parallel gradients over shards (fpsnn.distributed) against the one-process gradient."""
import sys

import numpy as np
import pytest

from fpsnn import Network, datasets
from fpsnn.distributed import GradientPool, exact_shards, require_ray, shard_bounds, value_and_grad
from fpsnn.losses import FirstSpikeCrossEntropy, MembraneRegression

BATCH = 30


def _yinyang_batch():
    spec = datasets.spec("yinyang")
    x, y = datasets.load("yinyang", "train")
    return spec.encoder(spec.hyper)(x[:BATCH]), y[:BATCH]


def _net(recurrent=False, readout=False, seed=0):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(1.5, 0.8, (5, 20))
    w2 = rng.normal(0.5, 0.8, (20, 3))
    rec = [rng.normal(0.0, 0.3, (20, 20)) * (1 - np.eye(20)), None] if recurrent else None
    theta = [1.0, np.inf] if readout else 1.0
    return Network(weights=[w1, w2], alpha=0.999, beta=1.0, theta=theta, t_max=2.0, recurrent=rec)


def _cross_entropy(y):
    return FirstSpikeCrossEntropy(y, tau0=0.2, tau1=1.0, gamma=0.005)


def _assert_bitwise(a, b):
    (va, ga), (vb, gb) = a, b
    assert va == vb
    for key in ("weights", "recurrent"):
        for x, y in zip(ga[key], gb[key]):
            assert (x is None and y is None) or np.array_equal(x, y), key
    assert ga["n_bad_slopes"] == gb["n_bad_slopes"]
    assert ("inputs" in ga) == ("inputs" in gb)
    if "inputs" in ga:
        assert np.array_equal(ga["inputs"], gb["inputs"])


def _max_relative(a, b):
    return max(np.abs(x - y).max() / max(np.abs(y).max(), 1e-300) for x, y in zip(a[1]["weights"], b[1]["weights"]))


@pytest.mark.parametrize("recurrent", [False, True])
def test_exact_shard_count_is_bitwise_the_whole_batch(recurrent):
    x, y = _yinyang_batch()
    net = _net(recurrent=recurrent)
    k = exact_shards(BATCH, net)
    assert k is not None and 1 < k <= BATCH
    whole = net.value_and_grad(x, _cross_entropy(y))
    assert np.abs(whole[1]["weights"][0]).max() > 0  # a gradient that can differ
    _assert_bitwise(value_and_grad(net, x, _cross_entropy(y), shards=k, backend="local"), whole)


@pytest.mark.parametrize("shards", [1, 3, 7, BATCH - 1])
def test_other_shard_counts_agree_to_rounding(shards):
    x, y = _yinyang_batch()
    net = _net()
    whole = net.value_and_grad(x, _cross_entropy(y))
    sharded = value_and_grad(net, x, _cross_entropy(y), shards=shards, backend="local")
    assert sharded[0] == whole[0]  # the loss is evaluated once, on the whole batch
    assert np.array_equal(sharded[1]["inputs"], whole[1]["inputs"])  # per-sample: no batch sum
    assert _max_relative(sharded, whole) <= 1e-12


def test_forward_mode_and_losses_with_direct_terms():
    x, y = _yinyang_batch()
    net = _net()
    whole = net.value_and_grad(x, _cross_entropy(y), mode="forward")
    sharded = value_and_grad(net, x, _cross_entropy(y), shards=3, mode="forward", backend="local")
    assert sharded[0] == whole[0] and _max_relative(sharded, whole) <= 1e-12
    # a read-out layer's membrane loss: reads the hidden spike times and has a direct dL/dW term
    ro = _net(readout=True)
    targets = np.random.default_rng(1).normal(0.5, 0.2, (BATCH, 3))
    whole = ro.value_and_grad(x, MembraneRegression(targets))
    sharded = value_and_grad(ro, x, MembraneRegression(targets), shards=exact_shards(BATCH, ro), backend="local")
    _assert_bitwise(sharded, whole)
    # a plain callable loss (not sliceable by batch) works because the driver evaluates it once
    fn = lambda out: (float(np.nansum(np.where(np.isfinite(out), out, 0.0))),
                      np.where(np.isfinite(out), 1.0, 0.0))
    whole = net.value_and_grad(x, fn)
    _assert_bitwise(value_and_grad(net, x, fn, shards=exact_shards(BATCH, net), backend="local"), whole)


def test_ray_actors_equal_one_process(ray_local):
    x, y = _yinyang_batch()
    net = _net()
    small = 4  # a batch whose exact shard count (one per chunk) fits 2 CPUs at half a CPU per actor
    assert exact_shards(small, net) == 4
    with pytest.raises(ValueError, match="cpus_per_shard <= 0.5"):  # 4 actors on 2 CPUs would wait forever
        GradientPool(4, backend="ray")
    with GradientPool(4, backend="ray", cpus_per_shard=0.5) as pool:
        whole = net.value_and_grad(x[:small], _cross_entropy(y[:small]))
        _assert_bitwise(pool.value_and_grad(net, x[:small], _cross_entropy(y[:small])), whole)
        # the same actors serve the next minibatch: a bigger batch, other weights; same bits as in-process
        net2 = _net(seed=3)
        _assert_bitwise(pool.value_and_grad(net2, x, _cross_entropy(y)),
                        value_and_grad(net2, x, _cross_entropy(y), shards=4, backend="local"))


def test_bad_arguments_name_the_limit():
    with pytest.raises(ValueError, match="shards = 0"):
        shard_bounds(10, 0)
    with pytest.raises(ValueError, match="shards = 11.*batch size \\(10\\)"):
        shard_bounds(10, 11)
    with pytest.raises(ValueError, match="backend = 'mpi'"):
        GradientPool(2, backend="mpi")
    assert shard_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]


def test_missing_ray_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when it is not installed
    with pytest.raises(ImportError) as info:
        require_ray()
    msg = str(info.value)
    assert "fpsnn[ray]" in msg and "\n" not in msg and info.value.__cause__ is None
