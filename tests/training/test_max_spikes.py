"""Hyperparameters.max_spikes: one cap for every layer or one per layer, from code, TOML values, model files."""
import numpy as np
import pytest

from fpsnn import datasets
from fpsnn.datasets import Hyperparameters
from fpsnn.training.params import init_network


def test_one_value_or_one_per_layer_and_equal_values_are_an_int():
    h = datasets.spec("yinyang").hyper                       # hidden (120,): two layers
    assert h.replace(max_spikes=32).max_spikes == 32
    assert h.replace(max_spikes=(32,)).max_spikes == 32       # what --max-spikes 32 gives
    assert h.replace(max_spikes=[32, 1]).max_spikes == (32, 1)
    assert h.replace(max_spikes="32,1").max_spikes == (32, 1)
    assert h.replace(max_spikes="32 1").max_spikes == (32, 1)
    assert h.replace(max_spikes=(8, 8)).max_spikes == 8
    assert h.replace(max_spikes=np.array([4, 2])).max_spikes == (4, 2)
    assert h.replace(max_spikes=[32, 1]).to_dict()["max_spikes"] == [32, 1]


@pytest.mark.parametrize("value,match", [
    (0, r"max_spikes = 0: must be an integer >= 1"),
    (2.5, r"max_spikes = 2\.5: must be an integer >= 1"),
    ((32, 0), r"max_spikes\[1\] = 0: layer 1's spike cap must be an integer >= 1"),
    ((0, 3), r"max_spikes\[0\] = 0: layer 0's spike cap must be an integer >= 1"),
    ((4, True), r"max_spikes\[1\] = True: layer 1's spike cap must be an integer >= 1"),
    ((1, 2, 3), r"max_spikes = \(1, 2, 3\): need one value for every layer, or one per layer "
                r"\(2 = len\(hidden\) \+ 1, output last\), got 3"),
    ("3x", r"max_spikes = '3x': must be an integer >= 1"),
])
def test_bad_values_name_max_spikes_the_layer_and_the_limit(value, match):
    with pytest.raises(ValueError, match=match):
        datasets.spec("yinyang").hyper.replace(max_spikes=value)


def test_a_change_of_depth_must_come_with_matching_caps():
    h = datasets.spec("yinyang").hyper.replace(max_spikes=(32, 1))
    deeper = dict(hidden=(8, 8), init_mean=(1.0, 1.0, 1.0), init_std=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"max_spikes = \(32, 1\): need one value .* \(3 = len\(hidden\) \+ 1"):
        h.replace(**deeper)
    assert h.replace(**deeper, max_spikes=(32, 16, 1)).max_spikes == (32, 16, 1)


def test_init_network_passes_the_caps_on_and_old_dicts_still_load():
    h = datasets.spec("xor").hyper.replace(max_spikes=[6, 1])
    net = init_network(h, n_inputs=3, n_outputs=2, rng=np.random.default_rng(0))
    assert net.spike_caps == (6, 1)
    x = np.random.default_rng(1).uniform(0.0, 2.0, (5, 3))
    assert net.simulate(x).times[1].shape[2] <= 1
    old = datasets.spec("xor").hyper.to_dict()                # a model file written with one int cap
    assert isinstance(old["max_spikes"], int) and Hyperparameters.from_dict(old) == datasets.spec("xor").hyper
    assert Hyperparameters.from_dict(h.to_dict()) == h
    assert init_network(Hyperparameters.from_dict(old), 3, 2, np.random.default_rng(0)).max_spikes == old["max_spikes"]
