"""Float network <-> Loihi program (backends/lava/mapping.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fpsnn.backends import chips, timegrid
from fpsnn.backends.loihi.program import LoihiProgram, effective_weights
from fpsnn.backends.loihi.mapping import (dequantize_loihi, du_for_tau, dv_for_tau, quantize_loihi,
                                         tau_mem_for_dv, tau_syn_for_du)
from fpsnn.network import Network
from fpsnn.simulate import simulate

DESC = chips.load("loihi2")


def small_net(rng, recurrent=True, readout=False, scale=150.0):
    w0 = rng.normal(scale, scale, (5, 12))
    w1 = rng.normal(scale * 0.7, scale, (12, 3))
    rec = rng.normal(0, scale / 5, (12, 12)) * (1 - np.eye(12)) if recurrent else None
    return Network(weights=[w0, w1], alpha=[200.0, np.linspace(150, 250, 3)], beta=100.0,
                   theta=[1.0, np.inf if readout else np.array([1.0, 2.0, 0.5])], t_max=0.1,
                   recurrent=[rec, None])


@pytest.mark.parametrize("per_channel", [True, False])
def test_round_trip_within_half_a_weight_step(per_channel):
    rng = np.random.default_rng(0)
    net = small_net(rng)
    dt = 1e-3
    prog, rep = quantize_loihi(net, DESC, dt=dt, per_channel=per_channel)
    back = dequantize_loihi(prog, DESC)          # thresholds come back as 1: compare w / theta
    for l in range(net.n_layers):
        layer = prog.layers[l]
        scale = layer["vth"] * 64.0 / 1.0         # integer v units per float V (theta = 1)
        pairs = [(net.weights[l], back.weights[l], layer)]
        if net.recurrent[l] is not None:
            pairs.append((net.recurrent[l], back.recurrent[l], prog.recurrent[l]))
        for w, wb, dense in pairs:
            step = (2 if dense["sign_mode"] == "mixed" else 1) * 2.0 ** dense["weight_exp"] * 64 / (dt * scale)
            err = np.abs(wb - w / net.theta[l][None, :])
            assert np.all(err <= step[None, :] / 2 * (1 + 1e-9)), (l, err.max(), step)
            # the mantissa is used: the largest weight lands in the top bit
            assert np.abs(effective_weights(dense)).max() >= 128
        tau_syn, tau_mem = 1 / net.alpha[l], 1 / net.beta[l]
        np.testing.assert_allclose(1 / back.alpha[l], tau_syn, rtol=2e-3)
        np.testing.assert_allclose(1 / back.beta[l], tau_mem, rtol=2e-3)
        np.testing.assert_allclose(rep.effective_tau_syn[l], 1 / back.alpha[l])
        np.testing.assert_allclose(rep.effective_tau_mem[l], 1 / back.beta[l])
    if not per_channel:
        assert np.ndim(rep.weight_scale[0]) == 0
    assert rep.chip == "loihi2" and rep.to_dict()["dt"] == dt


def test_per_channel_scales_follow_thresholds():
    rng = np.random.default_rng(1)
    net = small_net(rng)
    prog, rep = quantize_loihi(net, DESC, dt=1e-3, per_channel=True)
    # threshold-bound output neurons: vth at the headroom target whatever theta is
    assert np.all(np.abs(prog.layers[1]["vth"] - 0.25 * 131071) <= 1)
    prog_g, _ = quantize_loihi(net, DESC, dt=1e-3, per_channel=False)
    vth = prog_g.layers[1]["vth"]
    np.testing.assert_allclose(vth / vth.max(), net.theta[1] / net.theta[1].max(), rtol=1e-4)


def test_emulated_program_fires_like_the_float_network():
    """The integer program is the float network on a grid: first spikes agree within a few steps."""
    rng = np.random.default_rng(2)
    net = small_net(rng)
    dt = 2e-4
    prog, _ = quantize_loihi(net, DESC, dt=dt)
    x = rng.uniform(0, 0.02, (64, 5))
    exact = simulate(net, x)
    raster = timegrid.encode(x[..., None], dt, timegrid.n_steps(net.t_max, dt))
    res = prog.run(raster)
    for l in range(2):
        t_chip = timegrid.decode(res.spikes[l], dt)[..., 0]
        t_exact = exact.times[l][..., 0]
        fire = np.isfinite(t_exact)
        assert fire.mean() > 0.3, "test network too quiet to compare"
        assert np.mean(np.isfinite(t_chip) != fire) < 0.05
        both = fire & np.isfinite(t_chip)
        # Dense adds one step per layer; Euler and rounding a few more
        assert np.median(np.abs(t_chip[both] - t_exact[both])) <= 2.5 * dt * (l + 1)


def test_sign_modes_and_readout():
    rng = np.random.default_rng(3)
    net = Network(weights=[np.abs(rng.normal(1, 1, (3, 4))), -np.abs(rng.normal(1, 1, (4, 2)))],
                  alpha=100.0, beta=50.0, theta=[1.0, np.inf], t_max=0.1)
    prog, rep = quantize_loihi(net, DESC, dt=1e-3)
    assert prog.layers[0]["sign_mode"] == "excitatory" and 128 <= prog.layers[0]["weights"].max() <= 255
    assert prog.layers[1]["sign_mode"] == "inhibitory" and prog.layers[1]["weights"].min() == -255
    assert np.all(prog.layers[1]["vth"] == 131071) and prog.layers[1]["weight_exp"] == 0
    back = dequantize_loihi(prog, DESC)
    assert back.readout


def test_decay_codes_are_the_closest_in_log_tau():
    dt = 1.0
    taus = np.array([0.7, 1.0, 3.0, 17.3, 250.0, 4000.0])
    du, out_u = du_for_tau(taus, dt)
    dv, out_v = dv_for_tau(taus, dt)
    all_codes = np.arange(4096)
    for k, tau in enumerate(taus):
        with np.errstate(divide="ignore"):
            err_u = np.abs(np.log(tau_syn_for_du(all_codes, dt) / tau))
            err_v = np.abs(np.log(tau_mem_for_dv(all_codes[1:], dt) / tau))
        assert err_u[du[k]] == np.nanmin(err_u)
        assert err_v[dv[k] - 1] == np.nanmin(err_v)
    assert not out_u.any() and not out_v.any()
    du, out_u = du_for_tau(np.array([1e5]), dt)
    assert du[0] == 0 and out_u[0]


def test_long_time_constants_are_clipped_and_reported():
    net = Network(weights=[np.ones((2, 2))], alpha=1e-3, beta=1e-3, theta=1.0, t_max=1.0)
    _, rep = quantize_loihi(net, DESC, dt=1e-3)
    assert rep.clipped["du[0]"] == 2 and rep.clipped["dv[0]"] == 2
    assert any("decay codes clipped" in line for line in rep.binding_limits)


def _net(n_in=2, sizes=(2,), rec=False, w=1.0):
    weights, prev = [], n_in
    for n in sizes:
        weights.append(np.full((prev, n), w))
        prev = n
    recurrent = [np.ones((sizes[0], sizes[0])) - np.eye(sizes[0])] + [None] * (len(sizes) - 1) if rec else None
    return Network(weights=weights, alpha=100.0, beta=50.0, theta=1.0, t_max=0.1, recurrent=recurrent)


@pytest.mark.parametrize("net, desc, words", [
    (lambda: _net(sizes=(1,) * 17), DESC, ["17 layers", "max_layers = 16"]),
    (lambda: _net(n_in=8193), DESC, ["8193 inputs", "8192"]),
    (lambda: _net(sizes=(3, 2), rec=True), dataclasses.replace(DESC, recurrent=False),
     ["recurrent weights in layer 0", "no recurrent connections"]),
    (lambda: _net(n_in=5), dataclasses.replace(DESC, max_fan_in=4), ["fan-in 5", "max_fan_in = 4"]),
    (lambda: _net(w=1e9), DESC, ["vth =", "< 1", "weight_shift_max"]),
    (lambda: _net(), chips.load("xylo-audio2"), ["not a Loihi"]),
])
def test_networks_that_do_not_fit(net, desc, words):
    with pytest.raises(ValueError) as err:
        quantize_loihi(net(), desc, dt=1e-3)
    for word in words:
        assert word in str(err.value)


def test_dispatch_through_fpsnn_quantize():
    from fpsnn.quantize import quantize

    prog, rep = quantize(_net(), "loihi2", dt=1e-3)
    assert isinstance(prog, LoihiProgram) and rep.chip == "loihi2"


def test_dequantize_rejects_what_the_float_model_lacks():
    base = dict(weights=[[100]], du=100, dv=100, vth=1000)
    for extra, words in [(dict(bias_mant=5), "bias"), (dict(dv=0), "dv = 0"), (dict(du=4095), "du = 4095"),
                         (dict(vth=0), "vth = 0")]:
        with pytest.raises(ValueError, match=words):
            dequantize_loihi(LoihiProgram(layers=[{**base, **extra}]))


@pytest.mark.vendor
def test_quantized_program_runs_identically_in_lava():
    from fpsnn.backends.loihi import compat

    if not compat.lava_available():
        pytest.skip("lava-nc is not installed")
    from fpsnn.backends.loihi.vendor import run_lava_fixed_pt

    rng = np.random.default_rng(4)
    net = small_net(rng)
    prog, _ = quantize_loihi(net, DESC, dt=1e-3)
    raster = timegrid.encode(rng.uniform(0, 0.02, (2, 5, 1)), 1e-3, 40)
    lava, emu = run_lava_fixed_pt(prog, raster), prog.run(raster, record=True)
    assert sum(int(s.sum()) for s in emu.spikes) > 0
    for l in range(2):
        np.testing.assert_array_equal(lava.spikes[l], emu.spikes[l])
        np.testing.assert_array_equal(lava.state[l]["v"], emu.state[l]["v"])
