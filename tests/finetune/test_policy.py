"""The measured-times policy (fpsnn.finetune.policy.clean_times)."""
import numpy as np
import pytest

from fpsnn import Network
from fpsnn.finetune import clean_times


def test_clean_times_applies_and_counts_the_documented_policy():
    net = Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=2.0, max_spikes=2)
    inf = np.inf
    hidden = np.array([[[np.nan, 0.5, 0.3], [0.2, 0.2, 0.9], [-0.1, 2.0, 7.0]]])   # (1, 3, 3)
    out = np.array([[[0.4, 0.6, 0.8], [inf, inf, inf]]])                            # 3 spikes, cap is 2
    times, counts = clean_times([hidden, out], net, batch=1, dt=0.01)
    np.testing.assert_array_equal(times[0], [[[0.3, 0.5], [0.2, 0.9], [2.0, inf]]])
    np.testing.assert_array_equal(times[1], [[[0.4, 0.6], [inf, inf]]])
    assert counts == {"nan": 1, "out_of_window": 2, "reordered": 2, "coincident": 1, "over_cap": 1}


def test_clean_times_window_includes_the_pipeline_slack():
    net = Network(weights=[np.ones((1, 1)), np.ones((1, 1))], t_max=1.0)
    late = [np.array([[[1.015]]]), np.array([[[1.025]]])]
    times, counts = clean_times(late, net, batch=1, dt=0.01)       # window [0, 1 + 2 * 0.01]
    assert times[0][0, 0, 0] == 1.015 and np.isinf(times[1][0, 0, 0]) and counts["out_of_window"] == 1


def test_clean_times_rejects_malformed_results_naming_the_layer():
    net = Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=2.0)
    with pytest.raises(ValueError, match=r"times\[1\]: expected shape \(4, 2, k\)"):
        clean_times([np.zeros((4, 3, 1)), np.zeros((4, 5, 1))], net, batch=4, dt=0.01)
    with pytest.raises(ValueError, match="expected 2 layers"):
        clean_times([np.zeros((4, 3, 1))], net, batch=4, dt=0.01)


def test_clean_times_drops_times_beyond_each_layers_own_cap():
    net = Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=2.0, max_spikes=(3, 1))
    inf = np.inf
    hidden = np.array([[[0.1, 0.2, 0.3], [0.4, inf, inf], [inf, inf, inf]]])   # 3 spikes: within the cap 3
    out = np.array([[[0.5, 0.7, inf], [0.6, inf, inf]]])                       # cap 1: 0.7 is dropped
    times, counts = clean_times([hidden, out], net, batch=1, dt=0.01)
    np.testing.assert_array_equal(times[0], hidden)
    np.testing.assert_array_equal(times[1], [[[0.5], [0.6]]])
    assert counts["over_cap"] == 1
