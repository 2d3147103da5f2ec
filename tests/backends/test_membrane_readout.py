"""Deploying a membrane read-out (an output layer that never fires): float and chip scored the same way.

The model is a small Yin-Yang classifier trained for a few epochs with ``readout = "mean_membrane"``
(about 2 s; the read-out is recorded in its file, as ``fpsnn train`` records it). Its chip accuracy
comes from the output potential that the emulators record, dequantized by the chip family.
"""
import numpy as np
import pytest

import fpsnn
from fpsnn import backends, cli, datasets, deploy, io
from fpsnn.backends import readout as ro
from fpsnn.losses import MaxMembraneCrossEntropy, MeanMembraneCrossEntropy

EMULATED = ["xylo-audio3", "loihi2"]
SAMPLES = 300


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Path of the trained model file (test accuracy about 70 % on the first 300 test samples)."""
    from fpsnn.training import fit_dataset

    hyper = datasets.spec("yinyang").hyper.replace(readout="mean_membrane", hidden=(30,), epochs=10, lr=0.02,
                                                   count_scale=5.0, batch_size=50)
    out = tmp_path_factory.mktemp("membrane")
    return fit_dataset("yinyang", hyper, seed=0, out_dir=out, train_subset=600, test_subset=200).model_path


@pytest.fixture(scope="module")
def data(model):
    x, y, _ = deploy.load_data(None, io.load_model(model)[1], SAMPLES)
    return x, y


def test_float_accuracy_follows_the_models_readout(model, data):
    net, metadata = io.load_model(model)
    x, y = data
    hyper = deploy.model_readout(net, metadata)
    assert hyper.readout == "mean_membrane" and net.readout
    acc = deploy.float_accuracy(net, x, y, hyper)
    assert acc > 0.6
    assert deploy.float_accuracy(net, x, y) == 0.0   # first-spike scoring: the output layer never fires
    with pytest.raises(ValueError, match="never fires.*pass --readout membrane or mean_membrane"):
        deploy.model_readout(net, metadata, readout="first_spike")
    firing = fpsnn.Network(weights=net.weights, alpha=net.alpha, beta=net.beta, theta=1.0, t_max=net.t_max)
    with pytest.raises(ValueError, match="output layer fires"):
        deploy.model_readout(firing, metadata)


@pytest.mark.parametrize("target", EMULATED)
def test_emulated_accuracy_is_within_two_points_of_float(model, target):
    r = deploy.emulate(model, target, subset=SAMPLES)
    assert r["readout"] == "mean_membrane" and r["readout_saturated"] == 0
    assert r["float_accuracy"] > 0.6
    # measured: xylo-audio3 72.7 % and loihi2 71.0 % against float 70.7 % (300 samples)
    assert abs(r["accuracy"] - r["float_accuracy"]) <= 0.03


@pytest.mark.parametrize("target", EMULATED)
def test_dequantized_potential_matches_the_float_scores(model, data, target):
    """The chip's read-out equals the float one up to its time grid and integer weights.

    What differs: inputs act from their step's start and hidden spikes land on the step grid (each
    moves a kernel's integral by up to ``dt / t_max`` = 1/64 (Xylo) or 1/128 (Loihi) of a window),
    weights are rounded to 8 bits (0.4 % of the largest), decays are the integer codes' (a few %
    of tau), and a hidden neuron near threshold may fire on one side only (one such flip moves a
    score by ``w H / t_max``, the largest error). Measured (300 samples, mean scores 10..13 units),
    as |error| / mean |float score|: mean 0.9 % (Xylo) and 1.5 % (Loihi), largest 3.5 % and 4.3 %,
    classes agree on 97.0 % and 99.7 %; the peak (``membrane``): mean 0.8 % and 0.7 %, largest
    2.3 % and 2.1 %, agreement 93.7 % and 98.3 % (a peak is one step's value, so near-ties flip more).
    The bounds leave about twice the measured error (agreement: a few samples).
    """
    net, _ = io.load_model(model)
    x, y = data
    backend = backends.get(target)
    program, report = backend.compile(net, readout_range=ro.readout_range(net, x))
    res = backend.run(program, x, engine="emulator", t_max=net.t_max, record=True)
    potential = backend.output_potential(res, program, report)
    assert potential.shape == (SAMPLES, round(net.t_max / report.dt), 3)
    assert not backend.readout_saturated(res, program).any()
    times = net.simulate(x).times
    for readout, loss, mean_tol, max_tol, agree in (
            ("mean_membrane", MeanMembraneCrossEntropy(y), 0.03, 0.07, 0.93),
            ("membrane", MaxMembraneCrossEntropy(y, n_read=potential.shape[1]), 0.03, 0.10, 0.90)):
        ref = loss.scores(net, x, times)
        chip = ro.potential_scores(potential, readout)
        err = np.abs(chip - ref) / np.abs(ref).mean()
        assert err.mean() <= mean_tol and err.max() <= max_tol, (readout, err.mean(), err.max())
        assert np.mean(chip.argmax(axis=1) == ref.argmax(axis=1)) >= agree


def test_a_range_too_small_is_counted_as_saturated(model, data):
    net, _ = io.load_model(model)
    x, y = data
    hyper = deploy.model_readout(net, io.load_model(model)[1])
    for target in EMULATED:
        backend = backends.get(target)
        program, report = backend.compile(net, readout_range=0.2 * ro.potential_peak(net, x))
        res = backend.run(program, x, engine="emulator", t_max=net.t_max, record=True)
        scored = ro.chip_accuracy(backend, program, report, res, y, hyper, net.t_max)
        assert scored["readout_saturated"] > SAMPLES // 2, target
    lines = deploy.deploy_warnings({"prediction": {"engine_name": "emu", "accuracy": 0.7, "float_accuracy": 0.7,
                                                   "readout": "mean_membrane", "readout_saturated": 5,
                                                   "samples": 9}}, None)
    assert lines and "state limit in 5/9 samples" in lines[0]


def test_a_run_without_the_potential_is_refused_not_scored(model, data, monkeypatch):
    net, _ = io.load_model(model)
    x, _ = data
    backend = backends.get("xylo-audio3")
    program, report = backend.compile(net)
    res = backend.run(program, x[:4], engine="emulator", t_max=net.t_max)
    with pytest.raises(ValueError, match="recorded no state; run it with record=True"):
        backend.output_potential(res, program, report)
    # the HDK path reads events only: refused by name, skipped by "auto" (which says why)
    monkeypatch.setattr(type(backend), "_board_available", lambda self: (True, ""))
    with pytest.raises(RuntimeError, match="engine 'board' cannot run a membrane read-out: .*reads output events only"):
        backend.run(program, x[:4], engine="board", t_max=net.t_max, record=True)
    monkeypatch.setattr(type(backend), "potential_available",
                        lambda self, engine: (engine == "emulator", "" if engine == "emulator" else "not here"))
    monkeypatch.setattr(type(backend), "_vendor_available", lambda self: (True, ""))
    res = backend.run(program, x[:4], engine="auto", t_max=net.t_max, record=True)
    assert res.engine == "emulator" and "vendor unavailable (no output potential: not here)" in res.note


def test_a_network_without_a_recorded_readout_needs_one(model, data):
    net, _ = io.load_model(model)
    x, y = data
    with pytest.raises(ValueError, match="records no read-out"):
        deploy.emulate(net, "loihi2", data=(x[:50], y[:50]))
    r = deploy.emulate(net, "loihi2", data=(x[:50], y[:50]), readout="mean_membrane")
    assert r["readout"] == "mean_membrane" and r["float_accuracy"] > 0.5


def test_deploy_to_dynapse2_says_in_one_line_that_its_neurons_always_fire(model, tmp_path, capsys):
    code = cli.main(["deploy", str(model), "--target", "dynapse2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("fpsnn: error:") and "read-out layer (theta = inf), but dynapse2 neurons always fire" in err
    assert not (tmp_path / "out").exists()


def test_cli_emulate_reports_the_readout(model, capsys):
    assert cli.main(["emulate", str(model), "--target", "xylo-audio3", "--subset", "50"]) == 0
    assert "mean_membrane read-out" in capsys.readouterr().out


@pytest.mark.vendor
def test_xylosim_records_the_same_potential_as_the_emulator(model, tmp_path):
    rep = deploy.deploy(model, "xylo-audio3", tmp_path, run_data="yinyang", subset=100)
    assert rep["engine"] == "vendor" and rep["readout"] == "mean_membrane"
    assert rep["run"]["spikes_identical_to_emulator"] == {"samples": 100, "identical": 100, "potential_identical": 100}
    assert rep["run"]["accuracy"] == rep["prediction"]["accuracy"] and rep["run"]["readout_saturated"] == 0
    assert abs(rep["accuracy"] - rep["float_accuracy"]) <= 0.05 and not rep["warnings"]


@pytest.mark.vendor
def test_lava_fixed_pt_records_the_same_potential_as_the_emulator(model, tmp_path):
    rep = deploy.deploy(model, "loihi2", tmp_path, run_data="yinyang", subset=4)   # Lava: about 1.5 s per sample
    assert "fixed_pt" in rep["engine_name"]
    assert rep["run"]["spikes_identical_to_emulator"] == {"samples": 4, "identical": 4, "potential_identical": 4}
    assert rep["run"]["accuracy"] == rep["prediction"]["accuracy"]


def test_dt_auto_and_the_pytest_plugin_score_the_readout(model, data):
    from fpsnn.finetune.chipaware import choose_dt
    from fpsnn.pytest_plugin import assert_accuracy_within

    net, metadata = io.load_model(model)
    x, y = data
    hyper = deploy.model_readout(net, metadata)
    dt, scores = choose_dt(net, "xylo-audio3", x[:150], y[:150], candidates=[net.t_max / 32, net.t_max / 64],
                           hyper=hyper)
    assert min(scores.values()) > 0.6   # first-spike scoring would give 0 for every step
    out = assert_accuracy_within(model, "loihi2", "yinyang", points=3.0, subset=150)
    assert out["float_accuracy"] > 0.6
