"""Device mismatch as fine-tuning sees it, and device calibration (fpsnn.finetune.calibration)."""
import numpy as np
import pytest

from fpsnn import backends
from fpsnn import finetune as ft
from fpsnn.backends import mismatch

CHIP = "xylo-audio2"


def test_mismatch_is_deterministic_per_seed_and_fixed_per_device(problem):
    net = problem[0]
    chip = backends.get(CHIP)
    perturb = chip.perturb
    prog, _ = chip.compile(net, dt=net.t_max / 128)
    a, b, c = perturb(prog, 0.2, 7), perturb(prog, 0.2, 7), perturb(prog, 0.2, 8)
    for name in ("weights_in", "weights_out", "threshold", "dash_mem", "dash_syn"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.weights_in, c.weights_in) and not np.array_equal(a.threshold, c.threshold)
    assert not np.array_equal(a.weights_in, prog.weights_in)
    same = perturb(prog, 0.0, 7)
    np.testing.assert_array_equal(same.weights_in, prog.weights_in)
    np.testing.assert_array_equal(same.dash_mem, prog.dash_mem)
    # re-deploying other weights to the same device applies the same factors
    f = mismatch.factors("threshold", prog.threshold.shape, 0.2, 7)
    np.testing.assert_array_equal(a.threshold, np.clip(np.round(prog.threshold * f), 1, 32767))
    assert np.all(np.sign(a.weights_in) == np.sign(prog.weights_in))


def test_mismatch_loihi_and_argument_errors(problem):
    net = problem[0]
    chip = backends.get("loihi2")
    perturb = chip.perturb
    prog, _ = chip.compile(net, dt=net.t_max / 128)
    p = perturb(prog, 0.1, 3)
    assert np.array_equal(p.layers[0]["vth"], perturb(prog, 0.1, 3).layers[0]["vth"])
    assert not np.array_equal(p.layers[0]["dv"], prog.layers[0]["dv"])
    with pytest.raises(ValueError, match=r"spread = 1.5: must be in \[0, 1\]"):
        perturb(prog, 1.5)
    with pytest.raises(ValueError, match="seed = -1"):
        perturb(prog, 0.1, -1)


@pytest.mark.parametrize("time_constants", ft.TIME_CONSTANT_FITS)
def test_calibration_on_the_nominal_chip_finds_no_mismatch(problem, time_constants):
    net = problem[0]
    model = ft.calibrate_device(ft.resolve_target(CHIP), net, engine="emulator", reference=ft.resolve_target(CHIP),
                                 time_constants=time_constants)
    for arrays in (model.weight_gain, model.tau_syn_factor, model.tau_mem_factor):
        assert all(np.all(a == 1.0) for a in arrays)   # device == reference: every ratio is exactly 1
    assert [g.shape for g in model.weight_gain] == [w.shape for w in net.weights] and model.source == "probe"
    with pytest.raises(ValueError, match="time_constants = 'all'"):
        ft.calibrate_device(CHIP, net, time_constants="all")


@pytest.mark.parametrize("chip", [CHIP, "loihi2"])
def test_calibration_measures_the_devices_weight_gains(problem, chip):
    net = problem[0]
    device = ft.resolve_target(chip, mismatch=0.2, mismatch_seed=3)
    est = ft.calibrate_device(device, net, engine="emulator", reference=ft.resolve_target(chip))
    true = ft.true_device_model(chip, net, 0.2, seed=3)
    assert true.source == "true" and est.source == "probe"
    for e, t in zip(est.weight_gain, true.weight_gain):
        le, lt = np.log(e), np.log(t)
        assert lt.std() > 0.1                                          # the device really is off by ~20 %
        assert np.corrcoef(le.ravel(), lt.ravel())[0, 1] > 0.9         # and the probes see it, synapse by synapse
        err = le - lt
        # within a neuron the gains are right to ~3 %; one factor per neuron trades off against its time constants
        assert np.sqrt(np.mean((err - np.median(err, axis=0)) ** 2)) < 0.25 * lt.std()


def test_device_model_apply_compensate_and_arrays(problem):
    net = problem[0]
    rng = np.random.default_rng(0)
    gains = [np.exp(0.2 * rng.standard_normal(w.shape)) for w in net.weights]
    syn = [np.full(n, 1.5) for n in net.sizes]
    mem = [np.full(n, 0.5) for n in net.sizes]
    model = ft.DeviceModel(gains, syn, mem)
    dev = model.apply(net)
    for w, g, d in zip(net.weights, gains, dev.weights):
        np.testing.assert_allclose(d, w * g)
    np.testing.assert_allclose(dev.alpha[0], net.alpha[0] / 1.5)       # tau_syn 1.5 times longer
    np.testing.assert_allclose(dev.beta[1], net.beta[1] / 0.5)
    assert all(np.all(a == b) for a, b in zip(dev.theta, net.theta))
    for w, c in zip(net.weights, model.apply(model.compensate(net)).weights):
        np.testing.assert_allclose(c, w)                                 # compensated, then the device: nominal
    back = ft.DeviceModel.from_arrays(model.arrays(), net.n_layers, "probe")
    assert all(np.array_equal(a, b) for a, b in zip(back.weight_gain, gains))
    with pytest.raises(ValueError, match="do not fit"):
        ft.DeviceModel(gains[:1], syn[:1], mem[:1]).apply(net)


def test_calibration_arguments(problem):
    net, hyper, train, _ = problem
    model = ft.true_device_model(CHIP, net, 0.1)
    with pytest.raises(ValueError, match="QAT never runs the target"):
        ft.FineTuner(net, hyper, train, CHIP, mode="qat", calibrate=True)
    with pytest.raises(ValueError, match="not together"):
        ft.FineTuner(net, hyper, train, CHIP, calibrate=True, device_model=model)
    with pytest.raises(ValueError, match="expected a DeviceModel"):
        ft.FineTuner(net, hyper, train, CHIP, device_model="true")
    # a given model: the start is compensated without any target call
    tuner = ft.FineTuner(net, hyper.replace(epochs=0), train, CHIP, engine="emulator", device_model=model)
    start = tuner.fit().net
    for w, g, s in zip(net.weights, model.weight_gain, start.weights):
        np.testing.assert_allclose(s, w / g)
