"""Signal encoders: send-on-delta reconstruction, fitting on train only, dict round trips, old dicts."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fpsnn.encoding import (ChannelReduction, DeltaEncoder, LatencyEncoder, SpikeTimesEncoder, encoder_from_dict,
                            events_to_times)
from fpsnn.simulate import check_input_times

values = st.floats(-50, 50, allow_nan=False, width=64)


def _reconstruct(enc, series, t_query):
    """Start level + threshold x (#up - #down spikes at or before t) per channel."""
    spikes = enc(series[None])[0]
    thr = np.asarray(enc.thresholds)
    start = np.asarray(enc.levels) if enc.baseline == "mean" else series[:, 0]
    up = (spikes[0::2] <= t_query).sum(axis=1)
    down = (spikes[1::2] <= t_query).sum(axis=1)
    return start + thr * (up - down)


@settings(max_examples=60, deadline=None)
@given(series=arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 30)), elements=values),
       scale=st.floats(0.05, 3.0), interpolate=st.booleans(), baseline=st.sampled_from(["mean", "first"]),
       rate=st.floats(0.5, 20.0))
def test_up_down_spikes_reconstruct_the_signal_within_one_threshold(series, scale, interpolate, baseline, rate):
    enc = DeltaEncoder(sample_rate=rate, threshold_scale=scale, interpolate=interpolate, baseline=baseline)
    train = np.random.default_rng(0).normal(scale=5.0, size=(4, series.shape[0], 12))  # thresholds ~ 3.5 scale
    enc = enc.fit(train)
    thr = np.asarray(enc.thresholds)
    for i in range(series.shape[1]):
        err = np.abs(series[:, i] - _reconstruct(enc, series, i * (1.0 / rate)))  # the encoder's step times
        assert np.all(err < thr * (1 + 1e-9) + 1e-9), (i, err, thr)
    t = enc(series[None])
    check_input_times(t, enc.n_inputs())  # the simulator's format: >= 0, sorted, inf padded
    finite = t[np.isfinite(t)]
    assert finite.size == 0 or finite.max() <= (series.shape[1] - 1) * (1.0 / rate)


def test_interpolation_places_crossings_on_the_line_between_samples():
    x = np.array([[[0.0, 1.0, 3.0, 0.0]]])
    enc = DeltaEncoder(sample_rate=2.0, baseline="first").fit(x).__class__(
        sample_rate=2.0, baseline="first", thresholds=(1.0,))
    t = enc(x)[0]
    np.testing.assert_allclose(t[0], [0.5, 0.75, 1.0])  # up at levels 1 (step 1), 2 and 3 (halfway, at step 2)
    np.testing.assert_allclose(t[1, :3], [1.0 + 0.5 / 3, 1.0 + 1.0 / 3, 1.5])  # down at 2, 1, 0
    no = DeltaEncoder(sample_rate=2.0, baseline="first", thresholds=(1.0,), interpolate=False)(x)[0]
    np.testing.assert_allclose(no[0], [0.5, 1.0, 1.0])


def test_spike_cap_keeps_the_earliest_spikes():
    x = np.array([[np.arange(20.0)]])
    enc = DeltaEncoder(baseline="first", thresholds=(1.0,), max_spikes=5, interpolate=False)
    np.testing.assert_array_equal(enc(x)[0, 0], [1, 2, 3, 4, 5])


def test_thresholds_and_levels_come_from_the_training_split_only():
    rng = np.random.default_rng(1)
    train = np.cumsum(rng.normal(size=(8, 2, 50)), axis=2)
    test = 10 * np.cumsum(rng.normal(size=(8, 2, 50)), axis=2)
    enc = DeltaEncoder(threshold_scale=0.7).fit(train)
    d = np.diff(train, axis=2).transpose(1, 0, 2).reshape(2, -1)
    np.testing.assert_allclose(enc.thresholds, 0.7 * d.std(axis=1))
    np.testing.assert_allclose(enc.levels, train.mean(axis=(0, 2)))
    assert enc(test).shape[:2] == (8, 4)  # encoding test data does not refit
    assert DeltaEncoder(threshold_scale=0.7).fit(train) == enc


def test_ragged_series_and_channel_reduction():
    rng = np.random.default_rng(2)
    ragged = [rng.normal(size=(5, n)) for n in (3, 9, 4)]
    red = ChannelReduction(2).fit(ragged)
    pooled = np.concatenate([s.T for s in ragged])
    z = np.asarray(red.matrix) @ (pooled - np.asarray(red.offset)).T
    assert np.allclose(np.cov(z), np.diag(np.diag(np.cov(z))), atol=1e-9)  # principal directions: uncorrelated
    enc = DeltaEncoder(reduction=ChannelReduction(2)).fit(ragged)
    assert enc.n_inputs() == 4 and enc(ragged).shape[:2] == (3, 4)
    sel = ChannelReduction(1, method="select").fit([np.array([[0.0, 1.0], [0.0, 5.0]])])
    assert sel.matrix == ((0.0, 1.0),)
    with pytest.raises(ValueError, match="n_channels = 9"):
        ChannelReduction(9).fit(ragged)


@pytest.mark.parametrize("enc", [
    LatencyEncoder(t_max=2.0, t_early=0.15, t_bias=0.9),
    LatencyEncoder(t_max=1.0, mirrored=True, feature_min=(0.0,), feature_max=(255.0,), skip_zero=True),
    DeltaEncoder(sample_rate=4.0, max_spikes=3).fit(np.arange(24.0).reshape(2, 3, 4) ** 1.5),
    DeltaEncoder(baseline="first", reduction=ChannelReduction(1, "select")).fit(np.arange(24.0).reshape(2, 3, 4)),
    SpikeTimesEncoder(3)])
def test_every_encoder_round_trips_through_json(enc):
    assert encoder_from_dict(json.loads(json.dumps(enc.to_dict()))) == enc


def test_old_latency_dicts_without_kind_still_load():
    old = {"t_max": 16.0, "t_early": 0.0, "t_bias": None, "mirrored": True,
           "feature_min": [4.3, 2.0, 1.0, 0.1], "feature_max": [7.9, 4.4, 6.9, 2.5]}
    enc = encoder_from_dict(old)
    assert isinstance(enc, LatencyEncoder) and enc.feature_min == (4.3, 2.0, 1.0, 0.1) and not enc.skip_zero
    assert LatencyEncoder.from_dict(old) == enc


@pytest.mark.parametrize("d,word", [({"kind": "morse"}, "kind"), ({"kind": "delta", "bogus": 1}, "bogus"),
                                    ({"kind": "delta", "thresholds": [0.0]}, "thresholds"), ([1], "dict")])
def test_bad_encoder_dicts_are_named(d, word):
    with pytest.raises(ValueError, match=word):
        encoder_from_dict(d)


@pytest.mark.parametrize("kwargs,word", [(dict(sample_rate=0), "sample_rate"),
                                         (dict(threshold_scale=-1), "threshold_scale"),
                                         (dict(max_spikes=0), "max_spikes"), (dict(baseline="zero"), "baseline")])
def test_delta_encoder_validation(kwargs, word):
    with pytest.raises(ValueError, match=word):
        DeltaEncoder(**kwargs)


def test_unfitted_or_mismatched_use_is_a_clear_error():
    with pytest.raises(ValueError, match="not fitted"):
        DeltaEncoder()(np.zeros((1, 2, 3)))
    enc = DeltaEncoder().fit(np.random.default_rng(0).normal(size=(2, 2, 5)))
    with pytest.raises(ValueError, match=r"signals\[0\]: has 3 channels, expected 2"):
        enc(np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match="finite"):
        enc(np.full((1, 2, 5), np.nan))


def test_latency_fit_uses_train_bounds_and_tolerates_a_constant_column():
    train = np.array([[0.0, 5.0], [2.0, 5.0]])
    enc = LatencyEncoder(t_max=1.0).fit(train)
    assert enc.feature_min == (0.0, 5.0) and enc.feature_max == (2.0, 6.0)
    np.testing.assert_allclose(enc(np.array([[1.0, 5.0]])), [[0.5, 0.0]])


def test_events_become_sorted_padded_spike_times():
    t = events_to_times([0.5, 0.1, 0.3, 0.2], [1, 1, 0, 1], [0, 0, 1, 0], n_samples=3)
    assert t.shape == (3, 2, 3)
    np.testing.assert_array_equal(t[0, 1], [0.1, 0.2, 0.5])
    assert t[1, 0, 0] == 0.3 and np.all(np.isinf(t[2]))
