"""Spike times <-> event rasters (fpsnn.timegrid)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpsnn.backends import timegrid as tg

INF = np.inf


def test_encode_puts_time_t_into_step_floor_t_over_dt_and_counts_repeats():
    t = np.array([[[0.0, 0.0015, 0.0019, INF], [0.0042, INF, INF, INF]]])
    r = tg.encode(t, dt=1e-3, steps=5)
    assert r.shape == (1, 5, 2) and r.dtype.kind == "i"
    assert r[0, :, 0].tolist() == [1, 2, 0, 0, 0]
    assert r[0, :, 1].tolist() == [0, 0, 0, 0, 1]


def test_grid_points_computed_in_float_land_in_their_own_step():
    dt = 0.1
    times = np.array([[[k * dt for k in range(10)]]])  # 0.30000000000000004, 0.7000000000000001 ...
    assert tg.encode(times, dt, 10)[0, :, 0].tolist() == [1] * 10
    assert tg.step_of([0.29999999999999993], dt).tolist() == [3]
    assert tg.step_of([0.25], dt).tolist() == [2]  # off-grid times are not snapped
    assert tg.n_steps(3 * 0.1, 0.1) == 3 and tg.n_steps(0.31, 0.1) == 4


def test_decode_reports_the_end_of_the_step():
    r = np.zeros((1, 4, 2), int)
    r[0, 0, 0] = 1
    r[0, 2, 0] = 2
    r[0, 3, 1] = 1
    t = tg.decode(r, dt=0.5)
    assert t.shape == (1, 2, 3)
    assert t[0, 0].tolist() == [0.5, 1.5, 1.5] and t[0, 1].tolist() == [2.0, INF, INF]
    assert tg.decode(r, dt=0.5, max_spikes=1)[0, :, 0].tolist() == [0.5, 2.0]
    assert tg.decode(np.zeros((2, 3, 4), int), 1.0).shape == (2, 4, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 0.0999, allow_nan=False), min_size=0, max_size=12), st.integers(1, 4))
def test_round_trip_moves_each_spike_to_the_end_of_its_step(times, n):
    dt, steps = 0.01, 10
    arr = np.full((1, n, len(times) + 1), INF)
    for i, t in enumerate(times):
        arr[0, i % n, i] = t
    arr.sort(axis=2)
    back = tg.decode(tg.encode(arr, dt, steps), dt, max_spikes=arr.shape[2])
    fin = np.isfinite(arr)
    assert np.array_equal(np.isfinite(back), fin)
    # every spike comes back at the end of its step: later, by less than one step
    assert np.all(back[fin] > arr[fin]) and np.all(back[fin] - arr[fin] <= dt * (1 + 1e-9))


@pytest.mark.parametrize("times, words", [
    (np.array([[[-0.1, INF]]]), ["times[0, 0, 0]", "-0.1", ">= 0"]),
    (np.array([[[np.nan]]]), ["times", "nan"]),
    (np.array([[[-INF]]]), ["times", ">= 0"]),
    (np.array([[[0.5]]]), ["times[0, 0, 0]", "0.5", "steps * dt"]),
    (np.zeros(3), ["times", "shape"]),
])
def test_encode_rejects_bad_times(times, words):
    with pytest.raises(ValueError) as exc:
        tg.encode(times, dt=0.1, steps=5)
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_encode_can_drop_late_spikes_and_checks_arguments():
    r = tg.encode(np.array([[[0.05, 0.7]]]), dt=0.1, steps=5, drop_late=True)
    assert r.sum() == 1
    with pytest.raises(ValueError, match="dt"):
        tg.encode(np.zeros((1, 1, 1)), dt=0.0, steps=5)
    with pytest.raises(ValueError, match="steps"):
        tg.encode(np.zeros((1, 1, 1)), dt=0.1, steps=0)


def test_decode_rejects_bad_rasters():
    with pytest.raises(ValueError, match=r"raster\[0, 1, 0\] = -1"):
        tg.decode(np.array([[[0], [-1]]]), 1.0)
    with pytest.raises(ValueError, match="integer"):
        tg.decode(np.full((1, 2, 1), 0.5), 1.0)
    with pytest.raises(ValueError, match="max_spikes"):
        tg.decode(np.zeros((1, 2, 1), int), 1.0, max_spikes=0)
