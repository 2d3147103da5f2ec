"""Exactness of the gradients: adjoint and forward (FP) modes vs central finite differences.

Loss.  ``ManySpikes``: a fixed random linear combination of EVERY finite spike time of EVERY layer plus
``FirstSpikeCrossEntropy`` of the output layer, so that a wrong row of dF/dW anywhere in the network
shows up (a loss of first output spikes only would hide errors in later hidden spikes).
The coefficients are drawn for a fixed (sample, neuron, spike-index) grid, so the loss is the same
function before and after a perturbation as long as the spike counts do not change.

Finite differences (reference.central_difference): step ``h = 1e-5 * max(1, max|W|)`` per weight array,
Richardson-extrapolated ``(4 D(h/2) - D(h)) / 3`` of central differences ``D``. A plain central
difference with h = 1e-6 has truncation error |L'''| h^2 / 6, ~1e-12 for O(1) derivatives but measured
at 3e-7 relative on a near-tangent spike (third derivatives ~1e5): too close to the tolerance. The
extrapolation cancels the h^2 term (remaining O(h^4 |L^(5)|) ~ 1e-20 |L^(5)|), and the rounding error
eps_L / h with eps_L ~ 1e-15..1e-14 (spike times are located to rounding) is ~1e-10..1e-9 relative.
Tolerance: the error in max-norm, relative to the largest FD entry, <= 1e-6 (>= 1000x above both terms).
A perturbation that changes any spike count (the loss is discontinuous there) makes the example be
skipped (hypothesis ``assume``), as does a case with a neuron firing more than 10 times.

Forward vs adjoint: same linear system, two substitution orders: agreement to 1e-10 relative (the
rounding of a few hundred multiply-adds). Jacobian: ``jac.contract(dL/dF)`` equals the gradient to 1e-10
relative, and the Jacobian equals the reference's DENSE implicit-function-theorem solve to 1e-8.
"""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fpsnn
from fpsnn.losses import FirstSpikeCrossEntropy, Loss

sys.path.insert(0, os.path.dirname(__file__))
from reference import (RATE_KINDS, central_difference, random_case, reference_jacobian,  # noqa: E402
                       simulate_reference)

FD_RTOL = 1e-6
FD_H = 1e-5   # relative step of the Richardson-extrapolated central difference (see module docstring)
MODES_RTOL = 1e-10
MAX_COUNT = 10
KMAX = 16

HYP = settings(max_examples=12, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


class ManySpikes(Loss):
    """sum_l sum c_l[b, i, k] * t_l[b, i, k] over finite spike times  +  FirstSpikeCrossEntropy(labels)."""

    def __init__(self, coeffs, labels):
        self.coeffs = coeffs
        self.ce = FirstSpikeCrossEntropy(labels, tau0=0.5, tau1=2.0, gamma=0.1)

    def evaluate(self, net, inputs, times):
        value, d_ce, _ = self.ce.evaluate(net, inputs, times)
        d_times = []
        for l, t in enumerate(times):
            c = self.coeffs[l][:, :, :t.shape[2]]
            fin = np.isfinite(t)
            value += float(np.sum(np.where(fin, c * np.where(fin, t, 0.0), 0.0)))
            d = np.where(fin, c, 0.0)
            if d_ce[l] is not None:
                d = d + d_ce[l]
            d_times.append(d)
        return value, d_times, None


def make_loss(rng, net, batch):
    coeffs = [rng.normal(size=(batch, n, KMAX)) for n in net.sizes]
    labels = rng.integers(0, net.sizes[-1], size=batch)
    return ManySpikes(coeffs, labels)


def net_of(case, **over):
    kw = {k: v for k, v in case.items() if k != "x"}
    kw.update(over)
    return fpsnn.Network(max_spikes=KMAX, **kw)


def counts(res):
    return [np.sum(np.isfinite(t), axis=-1) for t in res.times]


class CountChanged(Exception):
    pass


def fd_gradient(net, x, loss, base_counts, params=None):
    """Central differences of the loss in every weight and recurrent weight (None where absent)."""
    n_layers = net.n_layers
    params = list(net.weights) + list(net.recurrent) if params is None else params

    def fun(p):
        trial = net.with_parameters(p[:n_layers], p[n_layers:])
        res = trial.simulate(x)
        for a, b in zip(counts(res), base_counts):
            if a.shape != b.shape or np.any(a != b):
                raise CountChanged()
        return loss.evaluate(trial, res.inputs, res.times)[0]

    # a recurrent matrix's diagonal must stay zero: it is not a parameter (its gradient entry must be 0)
    masks = [None] * n_layers + [None if r is None else ~np.eye(r.shape[0], dtype=bool) for r in params[n_layers:]]
    g = central_difference(fun, params, h_rel=FD_H, masks=masks, richardson=True)
    return g[:n_layers], g[n_layers:]


def flat(ws, rs):
    return np.concatenate([w.ravel() for w in ws] + [r.ravel() for r in rs if r is not None])


def rel_err(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def draw_case(seed, n_layers, kind, rec, drive, batch=2):
    rng = np.random.default_rng(seed)
    case = random_case(rng, n_layers, kind, recurrent=rec, batch=batch, drive=drive)
    net = net_of(case)
    res = net.simulate(case["x"])
    cs = counts(res)
    ok = all(c.max(initial=0) <= MAX_COUNT for c in cs) and np.any(cs[-1] > 0) and sum(int(c.sum()) for c in cs) >= 3
    return rng, case, net, res, cs, ok


def check_case(rng, case, net, res, cs):
    x = case["x"]
    loss = make_loss(rng, net, x.shape[0])
    v_adj, g_adj = net.value_and_grad(x, loss, mode="adjoint")
    v_fwd, g_fwd = net.value_and_grad(x, loss, mode="forward")
    assert np.isfinite(v_adj) and v_adj == pytest.approx(v_fwd, rel=1e-14)
    try:
        fd_w, fd_r = fd_gradient(net, x, loss, cs)
    except CountChanged:
        return False
    for r in g_adj["recurrent"] + g_fwd["recurrent"]:
        assert r is None or np.all(np.diag(r) == 0), "gradient on a recurrent diagonal (not a parameter)"
    ga = flat(g_adj["weights"], g_adj["recurrent"])
    gf = flat(g_fwd["weights"], g_fwd["recurrent"])
    fd = flat(fd_w, fd_r)
    assert np.max(np.abs(fd)) > 0
    for l in range(net.n_layers):
        assert (g_adj["recurrent"][l] is None) == (net.recurrent[l] is None)
        assert g_adj["weights"][l].shape == net.weights[l].shape
    assert rel_err(ga, fd) <= FD_RTOL, f"adjoint vs FD: {rel_err(ga, fd):.3g}\n{ga}\n{fd}"
    assert rel_err(gf, fd) <= FD_RTOL, f"forward vs FD: {rel_err(gf, fd):.3g}\n{gf}\n{fd}"
    assert rel_err(gf, ga) <= MODES_RTOL, f"forward vs adjoint: {rel_err(gf, ga):.3g}"
    # the Jacobian contracted with dL/dF is the gradient
    jac = net.jacobian(x)
    _, d_times, _ = loss.evaluate(net, res.inputs, jac.times)
    gj = jac.contract(d_times)
    want = np.zeros_like(gj)
    for l in range(net.n_layers):
        want[jac.slices[("weights", l)]] = g_adj["weights"][l].ravel()
        if net.recurrent[l] is not None:
            want[jac.slices[("recurrent", l)]] = g_adj["recurrent"][l].ravel()
    assert rel_err(gj, want) <= MODES_RTOL, f"jacobian contraction vs adjoint: {rel_err(gj, want):.3g}"
    return True


# --------------------------------------------------------------------------- fixed seeds
FIXED = ([(2, k, ()) for k in RATE_KINDS] + [(2, k, (0,)) for k in RATE_KINDS] + [(3, k, (1,)) for k in RATE_KINDS]
         + [(3, "mixed", (0, 2)), (2, "mixed", (0, 1)), (3, "a=b", ())])


@pytest.mark.parametrize("idx", range(len(FIXED)))
def test_gradients_match_fd_fixed(idx):
    n_layers, kind, rec = FIXED[idx]
    for attempt in range(30):
        rng, case, net, res, cs, ok = draw_case(5000 + 97 * idx + attempt, n_layers, kind, rec, drive=1.0)
        if ok and check_case(rng, case, net, res, cs):
            return
    pytest.fail("no usable random case in 30 draws: the generator (or the core's spike counts) is broken")


@settings(HYP)
@given(seed=st.integers(0, 2 ** 32 - 1), n_layers=st.integers(2, 3), kind=st.sampled_from(RATE_KINDS + ("mixed",)),
       rec=st.sets(st.integers(0, 2), max_size=2), drive=st.floats(0.7, 1.5))
def test_gradients_match_fd_hypothesis(seed, n_layers, kind, rec, drive):
    rng, case, net, res, cs, ok = draw_case(seed, n_layers, kind, tuple(rec), drive)
    assume(ok)
    assume(check_case(rng, case, net, res, cs))


# --------------------------------------------------------------------------- input-time gradient
def test_input_time_gradient_matches_fd():
    for attempt in range(20):
        rng, case, net, res, cs, ok = draw_case(777 + attempt, 2, "a>b", (0,), drive=1.0, batch=1)
        if ok:
            break
    x = case["x"]
    loss = make_loss(rng, net, 1)
    _, g = net.value_and_grad(x, loss, mode="adjoint")
    gx = np.asarray(g["inputs"]).reshape(x.shape)
    h = 1e-6
    fd = np.zeros_like(x)
    for idx in zip(*np.nonzero(np.isfinite(x))):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        # keep spike trains sorted; inputs at 0 would go negative
        if np.any(np.diff(xp[idx[:2]]) < 0) or xm[idx] < 0:
            fd[idx] = np.nan
            continue
        rp, rm = net.simulate(xp), net.simulate(xm)
        assert all(np.all(a == b) for a, b in zip(counts(rp), cs)) and all(np.all(a == b) for a, b in zip(counts(rm), cs))
        fd[idx] = (loss.evaluate(net, rp.inputs, rp.times)[0] - loss.evaluate(net, rm.inputs, rm.times)[0]) / (2 * h)
    m = np.isfinite(fd)
    assert np.any(m)
    assert rel_err(gx[m], fd[m]) <= FD_RTOL


# --------------------------------------------------------------------------- Jacobian vs dense reference solve
@pytest.mark.parametrize("seed,n_layers,kind,rec", [(1, 2, "a>b", (0,)), (2, 3, "a=b", (1,)), (3, 2, "a=2b", ()),
                                                    (4, 2, "a=0.999b", (0, 1)), (5, 3, "b=2a", (0,))])
def test_jacobian_matches_dense_reference_solve(seed, n_layers, kind, rec):
    for attempt in range(30):
        rng, case, net, res, cs, ok = draw_case(9000 + 31 * seed + attempt, n_layers, kind, rec, 1.0, batch=1)
        if not ok:
            continue
        ref = simulate_reference(case["weights"], case["x"][0], alpha=case["alpha"], beta=case["beta"],
                                 theta=case["theta"], t_max=case["t_max"], recurrent=case["recurrent"],
                                 max_spikes=MAX_COUNT + 1)
        m = ref.margins
        if m["capped"] == 0 and m["min_slope"] > 1e-3 and m["min_miss"] > 1e-7 and m["min_tmax"] > 1e-7:
            break
    else:
        pytest.fail("no usable case")
    dense = reference_jacobian(ref, case["weights"], case["recurrent"])
    jac = net.jacobian(case["x"])
    # map every reference event to (layer, neuron, spike index)
    seen = {}
    rows = []
    for t, l, i in dense["events"]:
        k = seen.get((l, i), 0)
        seen[(l, i)] = k + 1
        rows.append((l, i, k))
        assert abs(jac.times[l][0, i, k] - t) < 1e-9
    for pl in range(net.n_layers):
        for kind_, J in (("weights", dense["weights"][pl]), ("recurrent", dense["recurrent"][pl])):
            if J is None:
                continue
            scale = np.max(np.abs(J)) + 1e-300
            for r, (l, i, k) in enumerate(rows):
                got = jac.block(l, kind_, pl)[0, i, k]
                np.testing.assert_allclose(got, J[r], rtol=0, atol=1e-8 * scale,
                                           err_msg=f"d t[{l}][{i},{k}] / d {kind_}[{pl}]")


@pytest.mark.parametrize("mode", ["adjoint", "forward"])
def test_capped_network_gradients_match_fd(mode):
    # max_spikes is part of the model ("keeps the gradients exact for the capped network")
    W1 = np.array([[3.0, 1.6], [2.0, 2.2]])
    W2 = np.array([[1.2], [1.0]])
    x = np.array([[[0.0, 0.3], [0.2, np.inf]]])
    net = fpsnn.Network(weights=[W1, W2], alpha=1.0, beta=0.8, theta=1.0, t_max=8.0, max_spikes=3)
    res = net.simulate(x)
    assert sum(res.n_capped) > 0
    rng = np.random.default_rng(11)
    loss = make_loss(rng, net, 1)
    _, g = net.value_and_grad(x, loss, mode=mode)
    fd_w, _ = fd_gradient(net, x, loss, counts(res))
    assert rel_err(flat(g["weights"], []), flat(fd_w, [])) <= FD_RTOL
