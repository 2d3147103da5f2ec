"""Sanity tests of the test oracle itself (tests/core/reference.py) -- no fpsnn core involved.

If these fail, every core test that uses the reference is suspect; if they pass, the reference agrees with
hand-derived closed forms, with an independent ODE formulation of the same neuron, and with its own
finite differences.
"""
import os
import sys

import numpy as np
import pytest
from scipy.special import lambertw

sys.path.insert(0, os.path.dirname(__file__))
from reference import (  # noqa: E402
                       central_difference, closed_form_spikes, kernel, kernel_deriv, lif_ode_first_spikes,
                       reference_jacobian, simulate_reference)


def finite(a):
    return a[np.isfinite(a)]


# ---------------------------------------------------------------- kernel
def test_kernel_matches_textbook_and_limit():
    t = np.linspace(0.01, 20, 200)
    for a, b in [(1.0, 0.5), (0.5, 1.0), (3.0, 0.2), (0.999, 1.0)]:
        ref = (np.exp(-a * t) - np.exp(-b * t)) / (b - a)
        np.testing.assert_allclose(kernel(t, a, b), ref, rtol=1e-9)   # textbook form loses ~1e-13 at 0.999
        dref = (-a * np.exp(-a * t) + b * np.exp(-b * t)) / (b - a)
        np.testing.assert_allclose(kernel_deriv(t, a, b), dref, rtol=1e-8, atol=1e-14)
    # alpha == beta: the limit, and continuity in beta - alpha (expm1 form: no cancellation)
    np.testing.assert_allclose(kernel(t, 0.7, 0.7), t * np.exp(-0.7 * t), rtol=1e-15)
    np.testing.assert_allclose(kernel(t, 0.7, 0.7 * (1 + 1e-12)), t * np.exp(-0.7 * t), rtol=1e-10)
    np.testing.assert_allclose(kernel_deriv(t, 0.7, 0.7), (1 - 0.7 * t) * np.exp(-0.7 * t), rtol=1e-13, atol=1e-15)
    # causal, no jump at 0, no overflow for a huge rate gap
    assert kernel(np.array([-1.0, 0.0]), 1.0, 2.0).tolist() == [0.0, 0.0]
    assert np.all(np.isfinite(kernel(np.array([1e3]), 100.0, 1.0)))


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize("kind,a,b,rate", [("alpha=2beta", 1.0, 0.5, 0.5), ("beta=2alpha", 0.5, 1.0, 0.5),
                                           ("alpha=beta", 0.7, 0.7, 0.7), ("alpha=2beta", 3.0, 1.5, 1.5)])
@pytest.mark.parametrize("w", [2.5, 5.0, 20.0])
def test_reference_matches_closed_forms(kind, a, b, rate, w):
    t0 = 0.3
    cf = closed_form_spikes(kind, w, rate, 1.0, t0, t_max=12.0)
    r = simulate_reference([np.array([[w]])], np.array([t0]), alpha=a, beta=b, theta=1.0, t_max=12.0)
    got = finite(r.times[0][0])
    assert len(got) == len(cf)
    # brentq to 1e-15 and closed forms both at rounding level; 1e-12 leaves room for log/sqrt rounding
    np.testing.assert_allclose(got, cf, rtol=0, atol=1e-12)


def test_lambertw_first_spike_by_hand():
    # V = w s exp(-a s) = theta  <=>  s = -W0(-a theta / w) / a
    a, w, theta = 1.3, 4.0, 0.8
    s = -lambertw(-a * theta / w, 0).real / a
    assert abs(w * s * np.exp(-a * s) - theta) < 1e-14
    r = simulate_reference([np.array([[w]])], np.array([1.0]), alpha=a, beta=a, theta=theta, t_max=10.0)
    assert abs(r.times[0][0, 0] - (1.0 + s)) < 1e-12


@pytest.mark.parametrize("a,b", [(1.0, 1.0), (1.0, 0.5), (0.5, 1.0), (2.0, 0.3)])
def test_subthreshold_never_fires(a, b):
    # peak of h: t* = log(a/b)/(a-b) (1/a if equal); a weight just below theta / h(t*) never reaches theta
    tstar = 1.0 / a if a == b else np.log(a / b) / (a - b)
    hmax = float(kernel(tstar, a, b))
    r = simulate_reference([np.array([[0.999 * 1.0 / hmax]])], np.array([0.0]), alpha=a, beta=b, theta=1.0,
                           t_max=50.0)
    assert not np.any(np.isfinite(r.times[0]))
    assert r.margins["min_miss"] == pytest.approx(0.001, rel=1e-6)   # the near-miss is reported
    r = simulate_reference([np.array([[1.001 / hmax]])], np.array([0.0]), alpha=a, beta=b, theta=1.0, t_max=50.0)
    assert np.sum(np.isfinite(r.times[0])) == 1


# ---------------------------------------------------------------- independent ODE formulation
@pytest.mark.parametrize("seed", range(6))
def test_reference_matches_lif_ode(seed):
    rng = np.random.default_rng(seed)
    a, b = [(1.0, 0.5), (0.5, 1.0), (1.0, 1.0), (2.0, 1.3), (0.999, 1.0), (1.0, 0.9)][seed]
    g = np.sort(rng.uniform(0, 4, size=6))
    w = rng.normal(2.5, 2.0, size=6)
    # 6 input channels with one spike each (weights differ per spike)
    r = simulate_reference([w[:, None]], g, alpha=a, beta=b, theta=1.0, t_max=8.0)
    ode = lif_ode_first_spikes(w, g, a, b, 1.0, 8.0, n_spikes=100)
    got = finite(r.times[0][0])
    assert len(got) == len(ode) and len(got) > 0
    np.testing.assert_allclose(got, ode, atol=1e-8)   # DOP853 at rtol 1e-12: event times good to ~1e-10


# ---------------------------------------------------------------- crossings inside one grid cell
def test_short_excursion_inside_one_coarse_cell_is_found():
    # strong excitation at 0, strong inhibition at 0.3: V pokes above theta for a short while
    a, b = 5.0, 4.0
    W = np.array([[30.0], [-60.0]])
    x = np.array([0.0, 0.3])
    fine = simulate_reference([W], x, alpha=a, beta=b, theta=1.0, t_max=3.0, dt=1e-4)
    coarse = simulate_reference([W], x, alpha=a, beta=b, theta=1.0, t_max=3.0, dt=1.0)   # grid 0, 1, 2, 3 (+ 0.3)
    assert np.sum(np.isfinite(fine.times[0])) >= 1
    np.testing.assert_array_equal(np.isfinite(coarse.times[0]), np.isfinite(fine.times[0]))
    np.testing.assert_allclose(finite(coarse.times[0]), finite(fine.times[0]), atol=1e-13)


def test_dip_above_and_below_between_inputs_with_coarse_grid():
    # no event inside the excursion: the maximum is found from V' changing sign within the cell
    a, b = 1.0, 1.0
    tstar = 1.0 / a
    w = 1.0 / float(kernel(tstar, a, b)) * 1.0000001     # peak exceeds theta by 1e-7, excursion ~ 1e-3 wide
    fine = simulate_reference([np.array([[w]])], np.array([0.0]), alpha=a, beta=b, theta=1.0, t_max=3.0, dt=1e-5)
    coarse = simulate_reference([np.array([[w]])], np.array([0.0]), alpha=a, beta=b, theta=1.0, t_max=3.0, dt=0.7)
    assert np.sum(np.isfinite(fine.times[0])) == 1
    assert np.sum(np.isfinite(coarse.times[0])) == 1
    assert abs(coarse.times[0][0, 0] - fine.times[0][0, 0]) < 1e-9   # ill-conditioned (slope ~ 1e-3.5)


# ---------------------------------------------------------------- global time order, recurrence
def test_recurrent_inhibition_respects_global_order():
    # neuron 0 is driven harder and fires first; its recurrent inhibition then silences neuron 1,
    # which on its own would fire later.
    W = np.array([[10.0, 4.0]])
    R = np.array([[0.0, -50.0], [0.0, 0.0]])
    alone = simulate_reference([W], np.array([0.0]), alpha=1.0, beta=0.9, theta=1.0, t_max=5.0)
    assert np.all(np.isfinite(alone.times[0][:, 0]))
    assert alone.times[0][0, 0] < alone.times[0][1, 0]
    rec = simulate_reference([W], np.array([0.0]), alpha=1.0, beta=0.9, theta=1.0, t_max=5.0, recurrent=[R])
    assert np.isfinite(rec.times[0][0, 0]) and not np.any(np.isfinite(rec.times[0][1]))
    ts = [e[0] for e in rec.events]
    assert ts == sorted(ts)


def test_max_spikes_cap():
    full = simulate_reference([np.array([[20.0]])], np.array([0.0]), alpha=1.0, beta=0.5, theta=1.0, t_max=10.0)
    cap = simulate_reference([np.array([[20.0]])], np.array([0.0]), alpha=1.0, beta=0.5, theta=1.0, t_max=10.0,
                             max_spikes=3)
    np.testing.assert_array_equal(finite(cap.times[0]), finite(full.times[0])[:3])
    assert cap.margins["capped"] == 1


# ---------------------------------------------------------------- dense IFT Jacobian vs reference FD
def test_reference_jacobian_matches_reference_fd():
    rng = np.random.default_rng(3)
    W1 = rng.normal(3.0, 1.0, size=(2, 3))
    W2 = rng.normal(2.0, 0.5, size=(3, 2))
    R1 = rng.normal(0.0, 0.5, size=(3, 3))
    np.fill_diagonal(R1, 0)
    x = np.array([[0.0, 0.7], [0.4, np.inf]])
    kw = dict(alpha=1.0, beta=0.9, theta=1.0, t_max=6.0)
    base = simulate_reference([W1, W2], x, recurrent=[R1, None], **kw)
    n_ev = len(base.events)
    assert n_ev >= 6
    J = reference_jacobian(base, [W1, W2], [R1, None])
    c = rng.normal(size=n_ev)

    def fun(params):
        r = simulate_reference(params[:2], x, recurrent=[params[2], None], **kw)
        assert len(r.events) == n_ev
        ev = r.events
        # the event ORDER may not change under a 1e-6 perturbation for this linear functional to be smooth
        assert [(l, i) for _, l, i in ev] == [(l, i) for _, l, i in base.events]
        return float(np.dot(c, [t for t, _, _ in ev]))

    fd = central_difference(fun, [W1, W2, R1])
    for got, want in zip([np.tensordot(c, J["weights"][0], 1), np.tensordot(c, J["weights"][1], 1),
                          np.tensordot(c, J["recurrent"][0], 1)], fd):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8 * np.max(np.abs(want)))
