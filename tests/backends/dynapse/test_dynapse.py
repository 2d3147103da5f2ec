"""DYNAP-SE2: mapping to Rockpool's DynapSE2 specification, and runs in Rockpool's DynapSim (jax CPU).

DynapSim is analog (not bit-accurate), so the end-to-end checks compare with the float network
statistically. Every DynapSim run here has the same shape (one chunk of 64 samples, 5 inputs, 13
neurons, same steps), so jax compiles the simulation once for the whole module."""
import sys

import numpy as np
import pytest

import fpsnn
from fpsnn import backends, datasets
from fpsnn.backends import timegrid
from fpsnn.backends.dynapse.mapping import CONSTANTS, NEURONS_PER_CORE, quantize_dynapse, tau_to_itau
from fpsnn.backends.stepped import input_raster

CHIP = "dynapse2"
DT = 2.0 / 128


def _net(n_hid=10, seed=0, w_out=None):
    rng = np.random.default_rng(seed)
    return fpsnn.Network(weights=[rng.normal(1.5, 0.8, (5, n_hid)),
                                  rng.normal(0.6, 0.6, (n_hid, 3)) if w_out is None else w_out],
                         alpha=0.999, beta=1.0, theta=1.0, t_max=2.0)


def _yinyang_x(n=64):
    spec = datasets.spec("yinyang")
    return spec.encoder(spec.hyper)(datasets.load("yinyang", "test")[0][:n])


# ------------------------------------------------------------------------------------------- mapping
def test_currents_reproduce_the_time_constants_under_dynapsim_relation():
    net = fpsnn.Network(weights=[np.ones((5, 4)), np.ones((4, 3))], alpha=[2.0, 0.5], beta=[1.0, 0.25],
                        theta=1.0, t_max=2.0)
    program, report = quantize_dynapse(net, CHIP, DT, time_unit_s=0.01)
    kappa = (CONSTANTS["kappa_n"] + CONSTANTS["kappa_p"]) / 2
    tau_of = lambda itau, cap: (CONSTANTS["Ut"] / kappa) * cap / itau      # DynapSim's own formula
    np.testing.assert_allclose(tau_of(program.currents["Itau_syn"], CONSTANTS["C_syn"]), [0.005, 0.02])
    np.testing.assert_allclose(tau_of(program.currents["Itau_mem"], CONSTANTS["C_mem"]), [0.01, 0.04])
    np.testing.assert_allclose(program.currents["Igain_syn"], 100 * program.currents["Itau_syn"])
    np.testing.assert_allclose(tau_to_itau(0.01, 3e-12), 25e-3 / kappa * 3e-12 / 0.01)
    assert program.dt_s == pytest.approx(DT * 0.01)
    assert any("analog target" in line for line in report.binding_limits)


def test_layers_get_their_own_cores_and_weights_are_4bit_masks():
    w_out = np.zeros((300, 3))
    w_out[:60] = np.random.default_rng(1).normal(0.5, 0.5, (60, 3))
    net = _net(n_hid=300, w_out=w_out)
    program, report = quantize_dynapse(net, CHIP, DT)
    assert program.n_cores == 3 and np.bincount(program.core_map).tolist() == [NEURONS_PER_CORE, 44, 3]
    for m, s in ((program.masks_in, program.signs_in), (program.masks_rec, program.signs_rec)):
        assert m.min() >= 0 and m.max() == 15
        assert np.all((s == 0) == (m == 0)) and set(np.unique(s)) <= {-1, 0, 1}
    # the quantized hidden weights are within half a code of the unquantized mapping
    w_in, _ = program.weights()
    exact = net.weights[0] * report.weight_scale[0][None, :]
    step = program.iw0[program.core_map[:300]] / program.Iscale
    assert np.all(np.abs(w_in[:, :300] - exact) <= 0.5 * step[None, :] + 1e-12)
    config = program.spec("config")
    assert len(config["weights_in"]) == 3 and len(config["Itau_mem"]) == 3
    for k in range(4):
        np.testing.assert_allclose(config[f"Iw_{k}"], np.asarray(config["Iw_0"]) * 2 ** k)
    assert not np.any(config["weights_in"][1][:, program.core_map != 1])     # a core holds only its columns


def test_mapping_refuses_what_the_chip_cannot_hold():
    with pytest.raises(ValueError, match="max_fan_in"):
        quantize_dynapse(_net(n_hid=65), CHIP, DT)
    readout = fpsnn.Network(weights=[np.ones((5, 4)), np.ones((4, 3))], theta=[1.0, np.inf], t_max=2.0)
    with pytest.raises(ValueError, match="read-out layer"):
        quantize_dynapse(readout, CHIP, DT)
    with pytest.raises(ValueError, match="synaptic pulse"):
        quantize_dynapse(_net(), CHIP, 1e-5, time_unit_s=1e-3)
    with pytest.raises(ValueError, match="xylo-audio2 is a xylo chip"):
        quantize_dynapse(_net(), "xylo-audio2", DT)


def test_without_jax_no_engine_runs_and_the_line_says_what_to_install(monkeypatch):
    b = backends.get(CHIP)
    monkeypatch.setitem(sys.modules, "jax", None)
    program, report = b.compile(_net())
    assert any("not calibrated" in line for line in report.binding_limits)
    with pytest.raises(RuntimeError, match="no engine can run here.*jax not installed.*pip install"):
        b.run(program, _yinyang_x(4), t_max=2.0)
    ok, why = b.available("emulator")
    assert not ok and "analog" in why


# ------------------------------------------------------------------------------------------- DynapSim
@pytest.fixture(scope="module")
def calibrated():
    b = backends.get(CHIP)
    net = _net()
    program, report = b.compile(net)            # fits the gains in DynapSim
    return b, net, program, report


def _first_error(net, layer_times, exact, layer):
    t = lambda a: np.where(np.isfinite(a[:, :, 0]), a[:, :, 0], net.t_max)
    return float(np.mean(np.abs(t(layer_times) - t(exact.times[layer]))))


@pytest.mark.vendor
def test_dynapsim_runs_the_mapped_network_and_calibration_helps(calibrated):
    b, net, program, report = calibrated
    x = _yinyang_x()
    res = b.run(program, x, t_max=net.t_max)
    assert res.engine == "vendor" and "DynapSim" in res.engine_name and res.note == ""
    assert [r.shape for r in res.rasters][0][1:] == (timegrid.n_steps(2.0, DT) + 2, 10)
    exact = net.simulate(x)
    fitted = _first_error(net, res.times[0], exact, 0)
    plain, _ = quantize_dynapse(net, CHIP, DT)                    # gains 1: the analytic mapping
    unfitted = _first_error(net, b.run(plain, x, t_max=2.0).times[0], exact, 0)
    assert fitted < unfitted
    assert fitted < 0.25 * net.t_max                                 # first spikes track the float network
    assert int(res.rasters[0].sum()) > 0 and int(res.rasters[1].sum()) > 0
    assert any("weight gains fitted" in line for line in report.binding_limits)


@pytest.mark.vendor
def test_spec_file_rebuilds_the_same_dynapsim_network(calibrated, tmp_path):
    import jax
    from rockpool.devices.dynapse import dynapsim_net_from_spec

    from fpsnn.backends.dynapse.vendor import CHUNK, run_dynapsim
    from fpsnn.backends.dynapse.spec import load_spec

    b, net, program, _ = calibrated
    (path,) = b.write_artifacts(program, tmp_path)
    spec = load_spec(path, "sim")
    assert spec["dt"] == pytest.approx(program.dt_s) and spec["n_cluster"] == 2
    raster = input_raster(_yinyang_x(), 5, DT, 2.0, latency=2).astype(np.float32)
    rebuilt = dynapsim_net_from_spec(**spec)
    out = np.asarray(jax.jit(lambda m, r: m(r, record=False)[0])(rebuilt, raster[:CHUNK]))
    ours = run_dynapsim(program, raster)
    np.testing.assert_array_equal(out[:, :, :10], ours.spikes[0])
    np.testing.assert_array_equal(out[:, :, 10:], ours.spikes[1])
    assert len(load_spec(path, "config")["sign_in"]) == 2


@pytest.mark.vendor
def test_dynapsim_lone_inhibition_has_no_effect(calibrated):
    """Documents the reported DynapSim limit: inhibitory input in a step without excitation is clipped."""
    from fpsnn.backends.dynapse.vendor import run_dynapsim

    _, net, _, _ = calibrated
    w_in = np.zeros((5, 10))
    w_in[0] = 3.0       # excitation from input 0
    w_in[1] = -3.0      # inhibition from input 1
    inhib = fpsnn.Network(weights=[w_in, net.weights[1]], alpha=0.999, beta=1.0, theta=1.0, t_max=2.0)
    program, _ = quantize_dynapse(inhib, CHIP, DT)
    x = np.full((64, 5), np.inf)
    x[:, 0] = 0.5
    with_inh = x.copy()
    with_inh[:, 1] = 0.3          # arrives alone, before the excitation
    same_step = x.copy()
    same_step[:, 1] = 0.5         # arrives with the excitation: cancels it
    run = lambda xx: run_dynapsim(program, input_raster(xx, 5, DT, 2.0, latency=2)).spikes[0]
    base = run(x)
    assert base.sum() > 0
    np.testing.assert_array_equal(run(with_inh), base)
    assert run(same_step).sum() < base.sum()


def test_resources_count_destination_cores():
    b = backends.get(CHIP)
    net = _net()
    program, _ = quantize_dynapse(net, CHIP, DT)
    res = b.resources(net, program)
    assert res["cores"] == [2, 16] and res["max_fan_out"] == [1, 4]    # every hidden neuron reaches the output core
    assert res["max_fan_in"] == [10, 64] and res["synapses"][0] == 80


@pytest.mark.vendor
def test_mismatch_is_a_fraction_and_changes_the_run(calibrated):
    from fpsnn.backends.dynapse.vendor import run_dynapsim

    _, net, program, _ = calibrated
    raster = input_raster(_yinyang_x(), 5, DT, 2.0, latency=2)
    nominal = run_dynapsim(program, raster).spikes[0]
    spread = run_dynapsim(program, raster, mismatch=0.1).spikes[0]
    assert spread.sum() > 0 and not np.array_equal(nominal, spread)
    with pytest.raises(ValueError, match="mismatch = 5: must be a fraction"):
        run_dynapsim(program, raster, mismatch=5)


@pytest.mark.vendor
def test_mismatch_is_fixed_per_device_and_spreads_the_currents(calibrated):
    """A device seed draws the same deviations on every build (new weights meet the same device), another
    seed others; currents and circuit constants deviate by about mismatch / 3 (Rockpool's 3 sigma),
    weights not at all."""
    from fpsnn.backends.dynapse.vendor import _dynapsim_module, build_network

    b, net, program, _ = calibrated
    params = lambda p, m: {k: np.asarray(getattr(_dynapsim_module(build_network(p, m)), k))
                           for k in ("Itau_mem", "Itau_syn", "Ispkthr", "Igain_mem", "C_mem", "Io", "w_rec")}
    nominal = params(program, None)
    one = params(b.perturb(program, 0.3, seed=1), 0.3)
    again = params(b.perturb(program, 0.3, seed=1), 0.3)
    other = params(b.perturb(program, 0.3, seed=2), 0.3)
    for k in nominal:
        np.testing.assert_array_equal(one[k], again[k])
    np.testing.assert_array_equal(one["w_rec"], nominal["w_rec"])
    dev = np.concatenate([one[k] / nominal[k] - 1 for k in nominal if k != "w_rec"])
    assert 0.05 < np.std(dev) < 0.15 and abs(np.mean(dev)) < 0.05
    assert not np.array_equal(one["Itau_mem"], other["Itau_mem"])


# ------------------------------------------------------------------------------------------- gains kept
def test_gains_are_fitted_once_and_kept_while_the_weights_stay_close(monkeypatch):
    """compile re-uses the last gain fit for the same structure and step while the weights moved by at
    most refit_drift; beyond it, or at another step or time constant, it fits again (no DynapSim here:
    the fit is replaced by a counter)."""
    from fpsnn.backends.dynapse import backend as module

    fits = []

    def fake_fit(net, desc, dt, time_unit_s, latency):
        fits.append(dt)
        return np.full(net.n_layers, 0.5 + len(fits)), [0.0] * net.n_layers

    monkeypatch.setattr(module.vendor, "available", lambda: (True, ""))
    monkeypatch.setattr("fpsnn.backends.dynapse.calibrate.calibrate_gains", fake_fit)
    b = backends.get(CHIP)
    net = _net()
    first, report = b.compile(net)
    assert len(fits) == 1 and b.gain_fits == 1 and first.gains == (1.5, 1.5)
    nudged = net.with_parameters([w * 1.2 for w in net.weights])             # 20 % drift < refit_drift
    again, report = b.compile(nudged)
    assert len(fits) == 1 and again.gains == first.gains
    assert any("kept from an earlier fit" in line for line in report.binding_limits)
    b.compile(net, dt=2 * DT)                                                 # another step: its own fit
    assert len(fits) == 2
    b.compile(net.with_parameters([w * 2.0 for w in net.weights]))            # 100 % drift: fitted again
    assert len(fits) == 3
    b.compile(fpsnn.Network(weights=net.weights, alpha=0.5, beta=1.0, theta=1.0, t_max=2.0))   # other tau
    assert len(fits) == 4
    given, report = b.compile(net, gains=[2.0, 3.0])                          # given gains: no fit
    assert len(fits) == 4 and given.gains == (2.0, 3.0)
    b.refit_drift = 0.0                                                       # 0: every new network fits
    b.compile(nudged)
    assert len(fits) == 5


@pytest.mark.vendor
@pytest.mark.parametrize("mismatch", [0.0, 0.1])
def test_hil_on_dynapsim_keeps_the_gains_fitted_at_the_start(calibrated, mismatch):
    """In-the-loop fine-tuning on DynapSim compiles every minibatch but fits the gains only once: the
    backend of the module fixture already fitted them on this network, so the whole run fits none
    (with mismatch too: the device is built from the nominal program every run)."""
    from fpsnn.finetune import FineTuner

    b, net, program, _ = calibrated
    fits = b.gain_fits
    x = _yinyang_x(128)
    y = datasets.load("yinyang", "test")[1][:128]
    hyper = datasets.spec("yinyang").hyper.replace(epochs=1, batch_size=64, lr=1e-3)
    tuner = FineTuner(net, hyper, (x, y), b, mode="hil", engine="vendor", test=(x[:64], y[:64]),
                      mismatch=mismatch, mismatch_seed=1)
    result = tuner.fit()
    assert b.gain_fits == fits
    # the model file records the gains it was fine-tuned with, and deploy compiles with them
    from fpsnn.finetune.chipaware import recorded_compile

    chip = tuner.model_metadata(result)["chip"]
    assert chip == {"target": CHIP, "dt": DT, "compile": {"gains": list(program.gains)}}
    assert recorded_compile({"chip": chip}, CHIP, None) == recorded_compile({"chip": chip}, CHIP, DT) == chip["compile"]
    assert recorded_compile({"chip": chip}, CHIP, 2 * DT) == {} and recorded_compile({"chip": chip}, "loihi2", DT) == {}
    assert b.compile(result.net, **chip["compile"])[0].gains == program.gains
    assert result.history[-1]["target_calls"] >= 2 * 2 and np.isfinite(result.history[-1]["loss"])
    assert 0 <= result.history[-1]["test_accuracy"] <= 1
