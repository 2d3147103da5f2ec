"""Float network <-> Xylo program (backends/xylo/mapping.py)."""
import math

import numpy as np
import pytest

from fpsnn.backends import chips, timegrid
from fpsnn.backends.report import QuantizationReport
from fpsnn.backends.xylo.mapping import check_fits, dash_for_tau, dequantize_xylo, quantize_xylo, tau_for_dash
from fpsnn.backends.xylo.program import XyloProgram
from fpsnn.backends.xylo.spec import to_rockpool_spec
from fpsnn.network import Network

AUDIO2 = chips.load("xylo-audio2")
IMU = chips.load("xylo-imu")


def _net(rng, n_in=5, n_hid=20, n_out=3, rec=True, tau_syn=0.05, tau_mem=0.1):
    return Network(weights=[rng.normal(0, 1, (n_in, n_hid)), rng.normal(0, 1, (n_hid, n_out))],
                   alpha=1 / tau_syn, beta=1 / tau_mem, theta=1.0, t_max=1.0,
                   recurrent=[rng.normal(0, 0.3, (n_hid, n_hid)) * (1 - np.eye(n_hid)) if rec else None, None])


def test_decay_code_reproduces_the_float_decay_best():
    dt = 1.0
    # tau = 2 dt: exact code 1.35 -> 1; tau = 16 dt: 4.04 -> 4; log2 rule and exact rule differ here:
    assert dash_for_tau([2.0, 16.0], dt).tolist() == [1, 4]
    for tau in np.geomspace(1.5, 30000, 60):
        d = int(dash_for_tau(tau, dt))
        err = abs(math.log(tau_for_dash(d, dt) / tau))
        others = [abs(math.log(tau_for_dash(k, dt) / tau)) for k in range(1, 16)]
        assert err == min(others)
    # the effective tau is the one whose per-step factor is 1 - 2**-d
    assert np.isclose(math.exp(-dt / tau_for_dash(3, dt)), 1 - 2 ** -3)
    assert tau_for_dash(0, dt) == 0.0


@pytest.mark.parametrize("per_channel", [True, False])
def test_round_trip_recovers_weights_within_half_a_step(per_channel):
    rng = np.random.default_rng(0)
    net = _net(rng)
    dt = 0.005
    prog, rep = quantize_xylo(net, AUDIO2, dt=dt, per_channel=per_channel)
    assert isinstance(rep, QuantizationReport) and rep.chip == "xylo-audio2" and rep.dt == dt
    back = dequantize_xylo(prog, AUDIO2)  # thresholds 1.0, like the original
    scale_h = np.broadcast_to(rep.weight_scale[0], (20,))  # integer weight units per float weight
    scale_o = np.broadcast_to(rep.weight_scale[1], (3,))
    th = prog.threshold / (scale_h * 2 ** prog.weight_shift_inp / dt)  # float thresholds after rounding
    # dequantized weights are relative to the rounded thresholds: compare w/theta
    lsb_h = 0.5 / scale_h + 1e-12
    assert np.all(np.abs(back.weights[0] * th - net.weights[0]) <= lsb_h * (1 + 1e-6) + 1e-3 * np.abs(net.weights[0]))
    assert np.all(np.abs(back.recurrent[0] * th - net.recurrent[0]) <= lsb_h * (1 + 1e-6) + 1e-3 * np.abs(net.recurrent[0]))
    th_o = prog.threshold_out / (scale_o * 2 ** prog.weight_shift_out / dt)
    assert np.all(np.abs(back.weights[1] * th_o - net.weights[1]) <= 0.5 / scale_o + 1e-3 * np.abs(net.weights[1]))
    assert np.allclose(th, 1.0, rtol=1e-3)
    assert np.allclose(1 / back.alpha[0], rep.effective_tau_syn[0]) and np.allclose(1 / back.beta[1], rep.effective_tau_mem[1])
    assert set(rep.clipped) == set(rep.rounded_to_zero) == {"weights_in", "weights_rec", "weights_out",
                                                           "threshold", "threshold_out"}
    assert sum(rep.clipped.values()) == 0
    assert any("delayed by one step" in line for line in rep.binding_limits)
    assert isinstance(rep.to_dict()["weight_scale"][0], list if per_channel else float)
    # the program is a valid Xylo program for the chip and uses the full int8 range somewhere
    check_fits(prog, AUDIO2)
    assert np.abs(prog.weights_in).max() >= 126


def test_chip_spikes_follow_the_float_network_it_implements():
    """Emulator events vs the exact float simulation of dequantize_xylo(program): same neurons fire,
    first spikes within a few steps (the chip adds a step grid and integer floors; measured: median
    0.4 dt, max 1.2 dt)."""
    rng = np.random.default_rng(1)
    dt = 0.002
    net = _net(rng, n_in=4, n_hid=16, n_out=2, rec=False, tau_syn=0.02, tau_mem=0.04)
    net = net.with_parameters([net.weights[0] * 40, net.weights[1] * 40])
    prog, _ = quantize_xylo(net, AUDIO2, dt=dt)
    float_net = dequantize_xylo(prog, AUDIO2, t_max=0.2)
    x = np.sort(rng.uniform(0, 0.05, (16, 4, 3)), axis=2)
    steps = timegrid.n_steps(0.2, dt)
    chip = prog.run(timegrid.encode(x, dt, steps))
    chip_first = timegrid.decode(chip.spikes[0], dt)[:, :, 0]
    exact_first = float_net.simulate(x).first_spikes(0)
    both = np.isfinite(chip_first) & np.isfinite(exact_first)
    agree = np.mean(np.isfinite(chip_first) == np.isfinite(exact_first))
    assert both.sum() >= 30 and agree >= 0.95, (both.sum(), agree)
    err = np.abs(chip_first[both] - exact_first[both])
    assert np.median(err) <= dt and err.max() <= 3 * dt, err / dt


def test_report_counts_rounding_to_zero_and_threshold_clip():
    rng = np.random.default_rng(2)
    net = _net(rng, rec=False)
    w0 = net.weights[0].copy()
    w0[0, 0] = 1e-6  # far below one integer step
    net = net.with_parameters([w0, net.weights[1]])
    _, rep = quantize_xylo(net, AUDIO2, dt=0.005)
    assert rep.rounded_to_zero["weights_in"] >= 1
    # a threshold far below one weight step rounds to 0 and is clipped up to 1
    tiny = Network(weights=[np.array([[1000.0]]), np.array([[1.0]])], theta=[1e-9, 1.0], t_max=1.0)
    prog, rep = quantize_xylo(tiny, AUDIO2, dt=0.01)
    assert prog.threshold[0] == 1 and rep.clipped["threshold"] == 1


def test_readout_layer_maps_to_the_largest_threshold():
    rng = np.random.default_rng(3)
    net = _net(rng, rec=False)
    net = Network(weights=net.weights, alpha=net.alpha, beta=net.beta, theta=[1.0, np.inf], t_max=1.0)
    prog, rep = quantize_xylo(net, AUDIO2, dt=0.005)
    assert np.all(prog.threshold_out == 32767)
    assert any("read-out" in line for line in rep.binding_limits)
    assert dequantize_xylo(prog).readout


@pytest.mark.parametrize("make, desc, words", [
    (lambda r: _net(r, n_in=17), AUDIO2, ["17 inputs", "16"]),
    (lambda r: _net(r, n_hid=1001, rec=False), AUDIO2, ["1001 hidden", "1000"]),
    (lambda r: _net(r, n_out=9), AUDIO2, ["9 output", "8"]),
    (lambda r: _net(r, n_hid=80), AUDIO2, ["fan-out", "max_fan_out = 64"]),
    (lambda r: _net(r, n_hid=200, rec=False), IMU, ["input_targets", "128"]),
    (lambda r: Network(weights=[np.ones((2, 3)), np.ones((3, 3)), np.ones((3, 2))], t_max=1.0), AUDIO2,
     ["3 layers", "exactly 2"]),
    (lambda r: Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=1.0,
                       recurrent=[None, np.ones((2, 2)) - np.eye(2)]), AUDIO2, ["output layer", "recurrence"]),
])
def test_network_that_does_not_fit_names_the_limit(make, desc, words):
    with pytest.raises(ValueError) as exc:
        quantize_xylo(make(np.random.default_rng(0)), desc, dt=0.005)
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_check_fits_rejects_two_synapses_on_imu_and_wrong_family():
    prog = XyloProgram(weights_in=np.ones((2, 3, 2), int), weights_rec=None, weights_out=np.ones((3, 1), int),
                       dash_mem=1, dash_syn=1, dash_syn_2=1, dash_mem_out=1, dash_syn_out=1, threshold=5,
                       threshold_out=5)
    with pytest.raises(ValueError, match="2 synapse states per hidden neuron, but xylo-imu has 1"):
        check_fits(prog, IMU)
    with pytest.raises(ValueError, match="loihi"):
        check_fits(prog, chips.load("loihi2"))
    with pytest.raises(ValueError, match="quantize_xylo maps Xylo chips only"):
        quantize_xylo(_net(np.random.default_rng(0)), "loihi2", dt=0.01)
    with pytest.raises(ValueError, match="dt"):
        quantize_xylo(_net(np.random.default_rng(0)), AUDIO2, dt=-1.0)


def test_dequantize_rejects_what_the_float_model_lacks():
    base = dict(weights_in=np.ones((2, 3), int), weights_rec=None, weights_out=np.ones((3, 1), int),
                dash_mem=2, dash_syn=2, dash_syn_2=None, dash_mem_out=2, dash_syn_out=2, threshold=5,
                threshold_out=5)
    for over, word in ((dict(bias=[1, 0, 0]), "bias"), (dict(aliases=[[1], [], []]), "aliases"),
                       (dict(dash_mem=0), "dash_mem"), (dict(threshold=0), "thresholds")):
        with pytest.raises(ValueError, match=word):
            dequantize_xylo(XyloProgram(**{**base, **over}))


def test_rockpool_spec_uses_rockpool_key_names():
    rng = np.random.default_rng(4)
    prog, _ = quantize_xylo(_net(rng), AUDIO2, dt=0.005)
    sim = to_rockpool_spec(prog)
    cfg = to_rockpool_spec(prog, target="config")
    keys = {"weights_in", "weights_out", "weights_rec", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
            "dash_syn_out", "threshold", "threshold_out", "bias_out", "weight_shift_in", "weight_shift_rec",
            "weight_shift_out", "aliases", "dt"}
    assert set(sim) == keys | {"bias"} and set(cfg) == keys | {"bias_hidden"}
    assert sim["weights_in"].dtype == np.int8 and sim["threshold"].dtype == np.int16
    assert np.array_equal(sim["dash_syn_2"], prog.dash_syn)
    with pytest.raises(ValueError, match="target"):
        to_rockpool_spec(prog, target="board")
