"""The scalar kernel maths the event loops are built on: series branches, the rise table, crossings.

Tolerances: the series branches must agree with libm's expm1/log1p to a few ulps (2e-16 relative),
since every spike time inherits their rounding; the rise table only seeds the root refinement, so it
must be good to the accuracy that makes one Halley step sufficient (1e-9 of tau_h), and crossings
found through it must satisfy V(tau) = theta to rounding.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fpsnn import kernels as K


@pytest.mark.parametrize("y", [0.0, 1e-12, 1e-6, 1e-3, 0.00499, 0.005, 0.0099, 0.01, 0.02, 0.0499, 0.05, 0.3, 5.0, 60.0])
def test_expm1_ratio_matches_libm(y):
    ref = 1.0 if y == 0 else -math.expm1(-y) / y
    assert K.expm1_ratio(y) == pytest.approx(ref, rel=2e-16, abs=0)


@pytest.mark.parametrize("y", [-0.5, -0.0099, -1e-3, -9.99e-4, -1e-9, 0.0, 1e-9, 9.99e-4, 1e-3, 0.0099, 0.01, 0.5, 20.0])
def test_log1p_ratio_matches_libm(y):
    ref = 1.0 if y == 0 else math.log1p(y) / y
    assert K.log1p_ratio(y) == pytest.approx(ref, rel=2e-16, abs=0)


@pytest.mark.parametrize("alpha,beta", [(0.999, 1.0), (1.0, 0.99), (1.0, 0.9), (1.0, 1.0), (2.0, 1.0),
                                        (1.0, 2.0), (1.0, 10.0), (10.0, 1.0), (0.3, 0.31)])
def test_span_factors(alpha, beta):
    for tau in (0.0, 1e-9, 0.01, 0.5, 2.0, 30.0):
        ea, eb, h = K.span_factors(tau, alpha, beta)
        assert ea == pytest.approx(math.exp(-alpha * tau), rel=4e-16)
        assert eb == pytest.approx(math.exp(-beta * tau), rel=4e-16)
        # h = e^{-min(alpha, beta) tau} tau E(|beta - alpha| tau), E by libm's expm1 (no cancellation)
        y = abs(beta - alpha) * tau
        ref = math.exp(-min(alpha, beta) * tau) * tau * (1.0 if y == 0 else -math.expm1(-y) / y)
        assert h == pytest.approx(ref, rel=4e-16, abs=1e-300)


@pytest.mark.parametrize("alpha,beta", [(0.999, 1.0), (1.0, 0.99), (1.0, 0.9), (1.0, 1.0), (2.0, 1.0),
                                        (1.0, 10.0), (10.0, 1.0)])
def test_rise_table_inverts_the_kernel(alpha, beta):
    rise = K.rise_table(alpha, beta)
    tau_h, h_peak = rise[K.RISE_LEN - 2], rise[K.RISE_LEN - 1]
    for tau in np.linspace(0.0, tau_h, 1001):
        u = K.psp(tau, alpha, beta) / h_peak
        s = math.sqrt(max(1.0 - u, 0.0))
        # away from the peak the table must be the root to rounding (it replaces the refinement
        # there); near the peak, where 1 - u cancels, a seed for Halley's method
        tol = 4e-15 if s >= 1 / K.RISE_PIECES else 1e-7
        assert abs(K.rise_time(rise, s) - tau) <= tol * tau_h


@pytest.mark.parametrize("alpha,beta", [(0.999, 1.0), (1.0, 0.9), (1.0, 1.0), (2.0, 1.0), (1.0, 3.0)])
def test_next_crossing_hits_threshold(alpha, beta):
    """Random states: a found crossing has V = theta to rounding and V below theta before it."""
    rng = np.random.default_rng(0)
    rise = K.rise_table(alpha, beta)
    theta = 1.0
    found = 0
    for _ in range(3000):
        i0 = rng.uniform(-1, 8)
        v0 = rng.uniform(-2, 0.999)
        span = rng.uniform(0.01, 5)
        ea, eb, hs = K.span_factors(span, alpha, beta)
        tau = K.next_crossing(i0, v0, alpha, beta, theta, span, ea, eb, hs, rise)
        grid = np.linspace(0, span, 400)
        v = np.array([K.potential(i0, v0, t, alpha, beta) for t in grid])
        if tau == math.inf:
            assert v.max() < theta + 1e-12
            continue
        found += 1
        assert 0 <= tau <= span
        assert K.potential(i0, v0, tau, alpha, beta) == pytest.approx(theta, rel=1e-14)
        assert v[grid < tau * (1 - 1e-9)].max(initial=-np.inf) < theta
    assert found > 300


def test_per_neuron_time_constants_use_their_own_rise_tables():
    """A layer whose neurons have different (alpha, beta) gives each neuron the spikes it has alone."""
    import fpsnn

    rng = np.random.default_rng(3)
    pairs = [(0.999, 1.0), (1.0, 0.9), (2.0, 1.0), (0.999, 1.0), (1.0, 3.0)]
    alpha = np.array([a for a, _ in pairs])
    beta = np.array([b for _, b in pairs])
    w = rng.uniform(1.0, 4.0, (3, len(pairs)))
    x = rng.uniform(0.0, 2.0, (20, 3))
    net = fpsnn.Network(weights=[w], alpha=[alpha], beta=[beta], theta=1.0, t_max=6.0)
    together = net.simulate(x).times[0]
    assert np.isfinite(together).sum() > 40
    for i, (a, b) in enumerate(pairs):
        alone = fpsnn.Network(weights=[w[:, i:i + 1]], alpha=a, beta=b, theta=1.0, t_max=6.0).simulate(x).times[0]
        k = alone.shape[2]
        np.testing.assert_array_equal(together[:, i, :k], alone[:, 0, :])
        assert np.all(np.isinf(together[:, i, k:]))


def test_numpy_kernel_ufuncs_match_the_scalar_kernel():
    t = np.array([-1.0, 0.0, 1e-9, 0.3, 2.0, 40.0])
    for a, b in [(0.999, 1.0), (1.0, 1.0), (2.0, 1.0)]:
        np.testing.assert_array_equal(K.psp_causal(t, a, b), [K.psp(v, a, b) if v > 0 else 0.0 for v in t])
        assert K.psp_peak(a, b) == K.kernel_peak(a, b)[1]


def test_slope_ufunc_matches_the_closed_form_and_the_scalar_kernel():
    # h'(t) = (beta e^{-beta t} - alpha e^{-alpha t}) / (beta - alpha): away from alpha ~ beta the
    # closed form has no cancellation, so both must agree to rounding
    t = np.array([-1.0, 0.0, 1e-6, 0.3, 2.0, 9.0])
    for a, b in [(0.5, 1.0), (2.0, 1.0), (1.0, 3.0)]:
        closed = np.where(t > 0, (b * np.exp(-b * t) - a * np.exp(-a * t)) / (b - a), 0.0)
        np.testing.assert_allclose(K.psp_slope_causal(t, a, b), closed, rtol=1e-13, atol=1e-16)
        h = np.where(t > 0, (np.exp(-a * t) - np.exp(-b * t)) / (b - a), 0.0)
        np.testing.assert_allclose(K.psp_causal(t, a, b), h, rtol=1e-13, atol=1e-16)
    for a, b in [(0.999, 1.0), (1.0, 1.0)]:  # the ufunc is the scalar kernel, also where alpha ~ beta
        np.testing.assert_allclose(K.psp_slope_causal(t, a, b),
                                   [K.psp_slope(v, a, b) if v > 0 else 0.0 for v in t], rtol=1e-15, atol=0)


@pytest.mark.parametrize("alpha,beta", [(0.999, 1.0), (2.0, 0.5), (1.0, 0.0), (0.0, 0.0), (5.0, 5.0), (0.01, 0.02),
                                        (3.0, 7.0)])
def test_psp_integral_matches_quadrature(alpha, beta):
    """H(u) = int_0^u h, both branches (series below max(alpha, beta) u = 0.05, closed form above) and
    across the switch, against adaptive quadrature of the kernel at 1e-13 relative."""
    from scipy.integrate import quad

    for u in (1e-3, 0.01, 0.0499, 0.0501, 0.3, 2.0, 10.0):
        ref = quad(lambda v: K.psp(v, alpha, beta), 0.0, u, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        assert K.psp_integral(u, alpha, beta) == pytest.approx(ref, rel=1e-12, abs=0)
    assert K.psp_integral_causal(np.array([-1.0, 0.0]), alpha, beta).tolist() == [0.0, 0.0]
