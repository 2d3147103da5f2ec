"""The one evaluation on spike times (fpsnn.training.evaluate)."""
import json

import numpy as np
import pytest

from fpsnn import Network, datasets
from fpsnn.training import SpikeMetrics, evaluate, metrics_from_times

INF = np.inf


def test_evaluate_counts_dead_hidden_neurons_and_silent_outputs():
    w1 = np.array([[5.0, -5.0, 5.0]])  # hidden neuron 1 only ever receives inhibition: dead
    w2 = np.array([[5.0, 0.0], [5.0, 0.0], [5.0, 0.0]])  # output 1 gets nothing: always silent
    net = Network(weights=[w1, w2], alpha=1.0, beta=0.9, t_max=8.0)
    x = np.array([[0.0], [1.0], [np.inf]])  # the last sample has no input spike at all
    m = evaluate(net, x, np.array([0, 1, 0]), datasets.spec("iris").hyper)
    assert m["dead_hidden"] == [1]
    assert m["silent_outputs"] == pytest.approx(1 / 3)
    assert m["silent_label"] == pytest.approx(2 / 3)  # sample 1 (label 1) and sample 2 (all silent)
    assert m["accuracy"] == pytest.approx(1 / 3)  # sample 0 right, 1 wrong, 2 silent (-1)
    assert m["mean_spikes"] > 0 and np.isfinite(m["loss"])
    assert m["first_spikes"].shape == (3, 2) and np.all(np.isinf(m["first_spikes"][:, 1]))


def test_metrics_from_given_times_by_hand():
    hidden = np.array([[[0.1, INF]], [[INF, INF]], [[0.3, 0.5]]])           # 3 samples, 1 hidden neuron
    out = np.array([[[0.4], [0.2]], [[INF], [INF]], [[0.6], [0.7]]])       # 2 outputs
    m = metrics_from_times([hidden, out], np.array([1, 0, 1]), t_max=1.0)
    assert m["accuracy"] == pytest.approx(1 / 3)       # sample 0: output 1 first (right); 2: output 0 first (wrong)
    assert m["silent_outputs"] == pytest.approx(1 / 3) and m["silent_label"] == pytest.approx(1 / 3)
    assert m["dead_hidden"] == [0] and m["mean_spikes"] == pytest.approx(7 / 3) and m["n"] == 3
    assert "loss" not in m
    h = datasets.spec("yinyang").hyper
    assert np.isfinite(metrics_from_times([hidden, out], np.array([1, 0, 1]), 1.0, h)["loss"])


def test_chunks_and_a_json_round_trip_give_the_one_shot_result():
    rng = np.random.default_rng(0)
    net = Network(weights=[rng.normal(1.5, 0.8, (5, 12)), rng.normal(2.0, 0.3, (12, 3))], alpha=0.999, beta=1.0,
                  t_max=2.0)
    x, y = rng.uniform(0, 1.5, (40, 5)), rng.integers(0, 3, 40)
    h = datasets.spec("yinyang").hyper
    whole = evaluate(net, x, y, h, chunk=1000)
    chunked = evaluate(net, x, y, h, chunk=7)
    keys = ("accuracy", "loss", "silent_outputs", "silent_label", "mean_spikes")
    assert [chunked[k] for k in keys] == pytest.approx([whole[k] for k in keys])
    assert chunked["dead_hidden"] == whole["dead_hidden"] and chunked["n"] == whole["n"] == 40
    np.testing.assert_array_equal(whole["first_spikes"], chunked["first_spikes"])
    # half the samples, checkpointed through JSON, then the rest: the same numbers
    times = net.simulate(x).times
    first = SpikeMetrics(net.sizes, net.t_max, h).add([t[:20] for t in times], y[:20]).count(nan=2)
    again = SpikeMetrics.from_state(json.loads(json.dumps(first.state())), net.sizes, net.t_max, h)
    again.add([t[20:] for t in times], y[20:]).count(nan=1)
    r = again.result()
    assert r["nan"] == 3 and r["n"] == 40
    assert [r[k] for k in keys] == pytest.approx([whole[k] for k in keys]) and r["dead_hidden"] == whole["dead_hidden"]


def test_no_samples_gives_nan_fractions():
    net = Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=2.0)
    m = evaluate(net, np.zeros((0, 2)), np.zeros(0, dtype=int))
    assert np.isnan(m["accuracy"]) and m["n"] == 0 and m["dead_hidden"] == [3]
