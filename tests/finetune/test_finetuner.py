"""Hardware-in-the-loop and quantization-aware fine-tuning (fpsnn.hil) and the emulator mismatch model."""
import numpy as np
import pytest

from fpsnn import Network, backends, datasets, hil, quantize
from fpsnn.backends.emulator import mismatch
from fpsnn.train import Trainer

CHIP = "xylo-audio2"


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def problem():
    """A small trained Yin-Yang network (12 hidden) and its data: the tests' common starting point."""
    spec = datasets.spec("yinyang")
    hyper = spec.hyper.replace(hidden=(12,), lr=0.01, batch_size=40, epochs=6)
    enc = spec.encoder(hyper)
    x, y = datasets.load("yinyang", "train")
    xt, yt = datasets.load("yinyang", "test")
    train, test = (enc(x[:120]), y[:120]), (enc(xt[:80]), yt[:80])
    net = Trainer(hyper, train, test, n_classes=3, seed=1, progress=False).fit().net
    return net, hyper, train, test


class FlakyTarget:
    """The chip's backend, whose board 'disconnects' on its ``fail_at``-th run call (1-based)."""

    def __init__(self, fail_at=None):
        self.inner = backends.get(CHIP)
        self.name, self.chip = self.inner.name, self.inner.chip
        self.fail_at, self.runs = fail_at, 0

    def compile(self, net, dt, **kw):
        return self.inner.compile(net, dt, **kw)

    def run(self, program, x, **kw):
        kw["engine"] = "emulator"
        self.runs += 1
        if self.fail_at is not None and self.runs >= self.fail_at:
            raise ConnectionError("USB device disconnected")
        return self.inner.run(program, x, **kw)


class GarbageTarget(FlakyTarget):
    """Returns inconsistent measurements: NaN, negative and late times, unsorted rows, silent outputs."""

    def run(self, program, x, **kw):
        res = self.inner.run(program, x, engine="emulator", t_max=kw["t_max"])
        hidden, out = res.times
        hidden = np.concatenate([hidden, np.full(hidden.shape[:2] + (2,), np.inf)], axis=2)
        hidden[0, 0, :3] = [np.nan, 0.5, 0.25]        # NaN and an unsorted row
        hidden[1, 1, -1] = -1.0                        # negative
        hidden[2, 2, -2] = 99.0                        # far outside the window
        out = out.copy()
        out[::2] = np.inf                              # every other sample: no output spike at all
        res.times = [hidden, out]
        return res


# ------------------------------------------------------------------------------------ policy
def test_clean_times_applies_and_counts_the_documented_policy():
    net = Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=2.0, max_spikes=2)
    inf = np.inf
    hidden = np.array([[[np.nan, 0.5, 0.3], [0.2, 0.2, 0.9], [-0.1, 2.0, 7.0]]])   # (1, 3, 3)
    out = np.array([[[0.4, 0.6, 0.8], [inf, inf, inf]]])                            # 3 spikes, cap is 2
    times, counts = hil.clean_times([hidden, out], net, batch=1, dt=0.01)
    np.testing.assert_array_equal(times[0], [[[0.3, 0.5], [0.2, 0.9], [2.0, inf]]])
    np.testing.assert_array_equal(times[1], [[[0.4, 0.6], [inf, inf]]])
    assert counts == {"nan": 1, "out_of_window": 2, "reordered": 2, "coincident": 1, "over_cap": 1}


def test_clean_times_window_includes_the_pipeline_slack():
    net = Network(weights=[np.ones((1, 1)), np.ones((1, 1))], t_max=1.0)
    late = [np.array([[[1.015]]]), np.array([[[1.025]]])]
    times, counts = hil.clean_times(late, net, batch=1, dt=0.01)       # window [0, 1 + 2 * 0.01]
    assert times[0][0, 0, 0] == 1.015 and np.isinf(times[1][0, 0, 0]) and counts["out_of_window"] == 1


def test_clean_times_rejects_malformed_results_naming_the_layer():
    net = Network(weights=[np.ones((2, 3)), np.ones((3, 2))], t_max=2.0)
    with pytest.raises(ValueError, match=r"times\[1\]: expected shape \(4, 2, k\)"):
        hil.clean_times([np.zeros((4, 3, 1)), np.zeros((4, 5, 1))], net, batch=4, dt=0.01)
    with pytest.raises(ValueError, match="expected 2 layers"):
        hil.clean_times([np.zeros((4, 3, 1))], net, batch=4, dt=0.01)


def test_inconsistent_measurements_never_crash_a_run_and_are_counted(problem):
    net, hyper, train, test = problem
    res = hil.FineTuner(net, hyper.replace(epochs=1), train, GarbageTarget(), test=test).fit()
    row = res.final
    assert row["nan"] > 0 and row["out_of_window"] > 0 and row["reordered"] > 0
    assert row["silent_outputs"] >= 0.5  # every other sample had no output spike
    assert all(np.all(np.isfinite(w)) for w in res.net.weights)


# ------------------------------------------------------------------------------------ chip network
def test_chip_network_is_the_dequantized_program_in_shadow_units(problem):
    net = problem[0]
    shadow = net.with_parameters([w * 1.0 for w in net.weights])
    shadow.theta = [t * 2.0 for t in shadow.theta]          # thresholds of 2: weights must scale with them
    prog, report = quantize.quantize(shadow, CHIP, dt=shadow.t_max / 128)
    chip = hil.chip_network(prog, shadow)
    for w_chip, w in zip(chip.weights, shadow.weights):
        step = np.abs(w).max(axis=0) / 127                   # one int8 step per channel
        assert np.all(np.abs(w_chip - w) <= 0.51 * step + 1e-3 * np.abs(w))
    np.testing.assert_allclose(1 / chip.alpha[0], report.effective_tau_syn[0])
    np.testing.assert_allclose(1 / chip.beta[1], report.effective_tau_mem[1])
    assert all(np.all(t == 2.0) for t in chip.theta)


# ------------------------------------------------------------------------------------ board lost
def test_board_lost_mid_epoch_stops_clearly_and_resume_matches_an_uninterrupted_run(problem, tmp_path):
    net, hyper, train, test = problem
    hyper = hyper.replace(epochs=2, lr=0.005)
    # 3 minibatches per epoch; run calls: epoch 0 metrics (train, test) = 2, epoch 1: 3 batches + test.
    # Failing at call 8 is the 2nd minibatch of epoch 2.
    ref = hil.FineTuner(net, hyper, train, FlakyTarget(), test=test, out_dir=tmp_path / "ref").fit()
    flaky = FlakyTarget(fail_at=8)
    tuner = hil.FineTuner(net, hyper, train, flaky, test=test, out_dir=tmp_path / "run")
    with pytest.raises(hil.TargetLost, match=r"failed at epoch 2, after 1 completed minibatch.*"
                                             r"ConnectionError: USB device disconnected.*checkpoint.fpsnn.*--resume"):
        tuner.fit()
    resumed = hil.FineTuner(net, hyper, train, FlakyTarget(), test=test, out_dir=tmp_path / "run").fit(resume=True)
    for a, b in zip(resumed.net.weights, ref.net.weights):
        np.testing.assert_array_equal(a, b)
    assert [r["test_accuracy"] for r in resumed.history] == [r["test_accuracy"] for r in ref.history]
    # the interrupted run made two more target calls: the failed step's compile and its failed run
    assert resumed.final["target_calls"] == ref.final["target_calls"] + 2


def test_resume_refuses_other_settings(problem, tmp_path):
    net, hyper, train, test = problem
    hil.FineTuner(net, hyper.replace(epochs=1), train, CHIP, engine="emulator", out_dir=tmp_path).fit()
    with pytest.raises(ValueError, match=r"cannot resume, settings differ: \['mismatch'"):
        hil.FineTuner(net, hyper.replace(epochs=2), train, CHIP, mismatch=0.1, out_dir=tmp_path).fit(resume=True)


# ------------------------------------------------------------------------------------ QAT
def test_qat_recovers_accuracy_lost_to_the_chips_time_constants(problem):
    net, hyper, train, _ = problem
    # A float model with tau = 1.45: Xylo's decay codes offer ~0.99 or ~1.99 at this dt, so the chip
    # runs a different network; QAT retrains the weights for the time constants the chip has.
    float_net = Network(weights=net.weights, alpha=1 / 1.45, beta=1 / 1.45, theta=1.0, t_max=net.t_max)
    x, y = train
    before = hil.evaluate_on(CHIP, float_net, x, y, hyper, mode="qat")
    tuned = hil.FineTuner(float_net, hyper.replace(epochs=4, lr=0.01), train, CHIP, mode="qat").fit().net
    after = hil.evaluate_on(CHIP, tuned, x, y, hyper, mode="qat")
    assert after["loss"] < before["loss"] and after["accuracy"] > before["accuracy"] + 0.02


# ------------------------------------------------------------------------------------ mismatch
def test_mismatch_is_deterministic_per_seed_and_fixed_per_device(problem):
    net = problem[0]
    prog, _ = quantize.quantize(net, CHIP, dt=net.t_max / 128)
    a, b, c = mismatch.perturb(prog, 0.2, 7), mismatch.perturb(prog, 0.2, 7), mismatch.perturb(prog, 0.2, 8)
    for name in ("weights_in", "weights_out", "threshold", "dash_mem", "dash_syn"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.weights_in, c.weights_in) and not np.array_equal(a.threshold, c.threshold)
    assert not np.array_equal(a.weights_in, prog.weights_in)
    same = mismatch.perturb(prog, 0.0, 7)
    np.testing.assert_array_equal(same.weights_in, prog.weights_in)
    np.testing.assert_array_equal(same.dash_mem, prog.dash_mem)
    # re-deploying other weights to the same device applies the same factors
    f = mismatch.factors("threshold", prog.threshold.shape, 0.2, 7)
    np.testing.assert_array_equal(a.threshold, np.clip(np.round(prog.threshold * f), 1, 32767))
    assert np.all(np.sign(a.weights_in) == np.sign(prog.weights_in))


def test_mismatch_loihi_and_argument_errors(problem):
    net = problem[0]
    prog, _ = quantize.quantize(net, "loihi2", dt=net.t_max / 128)
    p = mismatch.perturb(prog, 0.1, 3)
    assert np.array_equal(p.layers[0]["vth"], mismatch.perturb(prog, 0.1, 3).layers[0]["vth"])
    assert not np.array_equal(p.layers[0]["dv"], prog.layers[0]["dv"])
    with pytest.raises(ValueError, match=r"spread = 1.5: must be in \[0, 1\]"):
        mismatch.perturb(prog, 1.5)
    with pytest.raises(ValueError, match="seed = -1"):
        mismatch.perturb(prog, 0.1, -1)


def test_mismatch_opens_a_gap_that_in_the_loop_training_closes(problem):
    net, hyper, train, _ = problem
    x, y = train
    device = hil.resolve_target(CHIP, mismatch=0.3, mismatch_seed=5)
    before = hil.evaluate_on(device, net, x, y, hyper, engine="emulator")
    assert before["loss"] > hil.evaluate_on(CHIP, net, x, y, hyper, engine="emulator")["loss"]
    tuned = hil.FineTuner(net, hyper.replace(epochs=3, lr=0.01), train, CHIP, mismatch=0.3, mismatch_seed=5,
                           engine="emulator").fit()
    after = hil.evaluate_on(device, tuned.net, x, y, hyper, engine="emulator")
    assert after["loss"] < before["loss"]


# ------------------------------------------------------------------------------------ device calibration
@pytest.mark.parametrize("time_constants", hil.TIME_CONSTANT_FITS)
def test_calibration_on_the_nominal_chip_finds_no_mismatch(problem, time_constants):
    net = problem[0]
    model = hil.calibrate_device(hil.resolve_target(CHIP), net, engine="emulator", reference=hil.resolve_target(CHIP),
                                 time_constants=time_constants)
    for arrays in (model.weight_gain, model.tau_syn_factor, model.tau_mem_factor):
        assert all(np.all(a == 1.0) for a in arrays)   # device == reference: every ratio is exactly 1
    assert [g.shape for g in model.weight_gain] == [w.shape for w in net.weights] and model.source == "probe"
    with pytest.raises(ValueError, match="time_constants = 'all'"):
        hil.calibrate_device(CHIP, net, time_constants="all")


@pytest.mark.parametrize("chip", [CHIP, "loihi2"])
def test_calibration_measures_the_devices_weight_gains(problem, chip):
    net = problem[0]
    device = hil.resolve_target(chip, mismatch=0.2, mismatch_seed=3)
    est = hil.calibrate_device(device, net, engine="emulator", reference=hil.resolve_target(chip))
    true = hil.true_device_model(chip, net, 0.2, seed=3)
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
    model = hil.DeviceModel(gains, syn, mem)
    dev = model.apply(net)
    for w, g, d in zip(net.weights, gains, dev.weights):
        np.testing.assert_allclose(d, w * g)
    np.testing.assert_allclose(dev.alpha[0], net.alpha[0] / 1.5)       # tau_syn 1.5 times longer
    np.testing.assert_allclose(dev.beta[1], net.beta[1] / 0.5)
    assert all(np.all(a == b) for a, b in zip(dev.theta, net.theta))
    for w, c in zip(net.weights, model.apply(model.compensate(net)).weights):
        np.testing.assert_allclose(c, w)                                 # compensated, then the device: nominal
    back = hil.DeviceModel.from_arrays(model.arrays(), net.n_layers, "probe")
    assert all(np.array_equal(a, b) for a, b in zip(back.weight_gain, gains))
    with pytest.raises(ValueError, match="do not fit"):
        hil.DeviceModel(gains[:1], syn[:1], mem[:1]).apply(net)


def test_calibrated_in_the_loop_training_starts_closer_and_resumes(problem, tmp_path):
    net, hyper, train, _ = problem
    x, y = train
    hyper = hyper.replace(epochs=2, lr=0.01)
    device = hil.resolve_target(CHIP, mismatch=0.3, mismatch_seed=5)
    before = hil.evaluate_on(device, net, x, y, hyper, engine="emulator")
    kw = dict(mismatch=0.3, mismatch_seed=5, engine="emulator", calibrate=True)
    ref = hil.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "ref", **kw).fit()
    first = ref.history[0]
    assert first["device_model"]["source"] == "probe" and first["device_model"]["rms_log_weight_gain"] > 0.1
    assert first["loss"] < before["loss"]           # compensating the measured gains alone helps
    after = hil.evaluate_on(device, ref.net, x, y, hyper, engine="emulator")
    assert after["loss"] < before["loss"]
    # interrupted after epoch 1, resumed: same device model from the checkpoint, same result
    tuner = hil.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "run", **kw)
    tuner.fit(stop_after=1)
    resumed = hil.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "run", **kw).fit(resume=True)
    for a, b in zip(resumed.net.weights, ref.net.weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"settings differ: \['calibrate'\]"):
        hil.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "run", mismatch=0.3, mismatch_seed=5,
                      engine="emulator").fit(resume=True)


def test_calibration_arguments(problem):
    net, hyper, train, _ = problem
    model = hil.true_device_model(CHIP, net, 0.1)
    with pytest.raises(ValueError, match="QAT never runs the target"):
        hil.FineTuner(net, hyper, train, CHIP, mode="qat", calibrate=True)
    with pytest.raises(ValueError, match="not together"):
        hil.FineTuner(net, hyper, train, CHIP, calibrate=True, device_model=model)
    with pytest.raises(ValueError, match="expected a DeviceModel"):
        hil.FineTuner(net, hyper, train, CHIP, device_model="true")
    # a given model: the start is compensated without any target call
    tuner = hil.FineTuner(net, hyper.replace(epochs=0), train, CHIP, engine="emulator", device_model=model)
    start = tuner.fit().net
    for w, g, s in zip(net.weights, model.weight_gain, start.weights):
        np.testing.assert_allclose(s, w / g)


# ------------------------------------------------------------------------------------ command line
@pytest.fixture
def model_file(problem, tmp_path):
    """The problem's network saved as a model file, as `fpsnn train yinyang` writes it."""
    from fpsnn import io

    net, hyper, _, _ = problem
    enc = datasets.spec("yinyang").encoder(hyper)
    return io.save_model(tmp_path / "m.fpsnn", net, {"dataset": "yinyang", "hyper": hyper.to_dict(),
                                                      "encoder": enc.to_dict()})


def test_cli_hil_fine_tunes_a_model_file_and_resumes(model_file, tmp_path, capsys):
    import json

    from fpsnn.cli import main

    model = model_file
    argv = ["hil", str(model), "--target", CHIP, "--engine", "emulator", "--epochs", "1", "--train-subset", "60",
            "--test-subset", "40", "--out", str(tmp_path / "run"), "--json", "--no-progress"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 1 and len(out["history"]) == 2 and 0 <= out["test_accuracy"] <= 1
    assert (tmp_path / "run" / "model.fpsnn").exists()
    assert main(argv[:6] + ["--epochs", "2"] + argv[8:] + ["--resume"]) == 0   # one more epoch from the checkpoint
    assert json.loads(capsys.readouterr().out)["epochs"] == 2
    assert main(["hil", str(model), "--target", "no-such-chip"]) == 2
    assert "target: unknown 'no-such-chip'" in capsys.readouterr().err


def test_cli_hil_calibrate_on_a_device_with_mismatch(model_file, tmp_path, capsys):
    import json

    from fpsnn import io
    from fpsnn.cli import main

    model = model_file
    argv = ["hil", str(model), "--target", CHIP, "--engine", "emulator", "--epochs", "1", "--train-subset", "60",
            "--test-subset", "40", "--mismatch", "0.2", "--calibrate", "--out", str(tmp_path / "run"), "--json",
            "--no-progress"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["history"][0]["device_model"]["source"] == "probe"
    assert io.load_model(tmp_path / "run" / "model.fpsnn")[1]["fine_tune"]["calibrate"] is True
