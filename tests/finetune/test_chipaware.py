"""Chip-aware training (``fpsnn train --target``): sizing, time constants, the recorded step, deploy."""
import json

import numpy as np
import pytest

from fpsnn import backends, datasets, io
from fpsnn.deploy import deploy, emulate
from fpsnn.finetune.chipaware import (choose_dt, constrain_hyper, dt_candidates, fit_for_target, pick_step,
                                      recorded_dt, resolve_dt)
from fpsnn.training.params import init_network

YY = datasets.spec("yinyang")
DIGITAL = ("xylo-audio2", "xylo-imu", "xylo-audio3", "loihi2")


@pytest.mark.parametrize("target, hidden", [("xylo-audio2", 150), ("xylo-imu", 128), ("xylo-audio3", 128),
                                            ("loihi2", 150), ("dynapse2", 64)])
def test_the_default_yinyang_network_is_sized_to_fit(target, hidden):
    hyper, notes = constrain_hyper(YY.hyper, target, 5, 3, snap=False)
    assert hyper.hidden == (hidden,)
    assert bool(notes) == (hidden != 150)
    backends.get(target).check_fits(init_network(hyper, 5, 3, np.random.default_rng(0)))
    # the unconstrained network does not fit the capped chips: the cap is needed, not arbitrary
    if hidden != 150:
        with pytest.raises(ValueError, match=f"{hidden}"):
            backends.get(target).check_fits(init_network(YY.hyper, 5, 3, np.random.default_rng(0)))


def test_more_hidden_layers_than_the_chip_maps_are_dropped():
    hyper = YY.hyper.replace(hidden=(40, 30), init_mean=(1.5, 1.5, 2.0), init_std=(0.8, 0.8, 0.1))
    out, notes = constrain_hyper(hyper, "xylo-imu", 5, 3, snap=False)
    assert out.hidden == (40,) and len(out.init_mean) == 2 and "hidden layers 2 -> 1" in notes[0]


def test_data_the_chip_can_never_hold_names_the_limit():
    with pytest.raises(ValueError, match=r"inputs = 20 > 16 input channels on xylo-imu"):
        constrain_hyper(YY.hyper, "xylo-imu", 20, 3)
    with pytest.raises(ValueError, match=r"outputs = 9 > 8 output neurons on xylo-audio2"):
        constrain_hyper(YY.hyper, "xylo-audio2", 5, 9)


@pytest.mark.parametrize("target", ["xylo-imu", "loihi2"])
def test_snapped_time_constants_are_what_the_chip_implements(target):
    hyper, _ = constrain_hyper(YY.hyper, target, 5, 3)
    backend = backends.get(target)
    net = init_network(hyper, 5, 3, np.random.default_rng(0))
    chip_net = backend.dequantize(backend.compile(net)[0], like=net)
    np.testing.assert_allclose(np.concatenate(chip_net.alpha), hyper.alpha, rtol=1e-9)
    np.testing.assert_allclose(np.concatenate(chip_net.beta), hyper.beta, rtol=1e-9)
    assert constrain_hyper(hyper, target, 5, 3)[1] == []       # snapping again changes nothing


def test_recorded_and_auto_dt():
    meta = {"chip": {"target": "xylo-imu", "dt": 0.05}}
    assert recorded_dt(meta, "xylo-imu") == 0.05
    assert recorded_dt(meta, "loihi2") is None and recorded_dt({}, "loihi2") is None
    assert resolve_dt(None, None, meta, "xylo-imu") == 0.05
    assert resolve_dt(0.02, None, meta, "xylo-imu") == 0.02         # a given step wins
    assert resolve_dt("auto", None, meta, "xylo-imu") == 0.05       # auto: the recorded step first
    with pytest.raises(ValueError, match="'auto'"):
        resolve_dt("fast", None, meta, "xylo-imu")
    assert all(2.0 / c >= 32 - 1e-9 for c in dt_candidates(2.0))


def test_choose_dt_picks_the_best_step_on_the_given_data(problem):
    net, _, train, _ = problem
    dt, scores = choose_dt(net, "xylo-imu", *train)
    assert len(scores) == len(dt_candidates(net.t_max))
    # the best step, or the chip's default when it is within one standard error of the best
    top, n = max(scores.values()), len(train[1])
    default = backends.get("xylo-imu").default_dt(net)
    assert scores[dt] == top or (np.isclose(dt, default) and top - scores[dt] <= np.sqrt(top * (1 - top) / n))
    with pytest.raises(ValueError, match="dynapse2 has none"):
        choose_dt(net, "dynapse2", *train)
    too_big = init_network(YY.hyper, 5, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"hidden = 150 > 128 .*no step of .* compiles for xylo-imu"):
        choose_dt(too_big, "xylo-imu", *train)


def test_pick_step_keeps_the_default_within_the_noise():
    # 1000 samples at 95 %: one standard error is 0.69 points
    assert pick_step({0.03125: 0.945, 0.0625: 0.949, 0.015625: 0.90}, 0.03125, 1000) == 0.03125
    assert pick_step({0.03125: 0.935, 0.0625: 0.949}, 0.03125, 1000) == 0.0625
    assert pick_step({0.03125: 0.935, 0.0625: 0.949}, 0.03125, 100) == 0.03125    # fewer samples, more noise
    assert pick_step({0.0078125: 0.9, 0.0625: 0.9}, 0.03125, 1000) == 0.0625   # no default; a tie: the closer
    assert pick_step({0.0625: 0.90, 0.015625: 0.95}, 0.03125, 1000) == 0.015625


def test_deploy_auto_dt_uses_the_validation_split(model_file, tmp_path):
    logged = []
    rep = deploy(model_file, "xylo-imu", tmp_path / "out", dt="auto", subset=40, log=logged.append)
    assert any("validation accuracy" in line for line in logged)
    assert any(np.isclose(rep["dt"], c) for c in dt_candidates(2.0))


@pytest.mark.parametrize("target", DIGITAL)
def test_fit_for_target_then_deploy_uses_the_recorded_step(target, tmp_path):
    hyper = YY.hyper.replace(epochs=1, batch_size=50)
    res = fit_for_target("yinyang", target, hyper, seed=0, out_dir=tmp_path / "run", qat_epochs=1,
                         hil_epochs=1, train_subset=100, test_subset=40, validation_subset=60)
    meta = io.read_file(res.model_path).metadata
    chip = meta["chip"]
    assert chip["target"] == target and chip["dt"] in [float(d) for d in dt_candidates(res.net.t_max)]
    assert chip["validation"]["samples"] == 60 and "qat_kept" in chip["validation"]
    assert chip["validation"]["hil_epochs"] == 1 and "hil_kept" in chip["validation"]
    # the recorded chip accuracy is the best of the three stages that were tried
    v = chip["validation"]
    assert v["chip"] == max(v["chip_by_dt"][f"{chip['dt']:.6g}"], v["qat"], v["hil"])
    for stage in ("qat", "hil"):
        assert (tmp_path / "run" / stage / "model.fpsnn").is_file()
    np.testing.assert_array_equal(io.read_file(res.model_path).net.weights[0], res.net.weights[0])
    rep = deploy(res.model_path, target, tmp_path / "dep", run_data="yinyang", subset=8)
    assert rep["dt"] == chip["dt"] and rep["run"]["samples"] == 8
    assert emulate(res.model_path, target, subset=20)["dt"] == chip["dt"]


def test_fit_for_target_fine_tunes_a_membrane_read_out(tmp_path):
    hyper = YY.hyper.replace(epochs=1, batch_size=50, readout="mean_membrane", count_scale=4.0)
    res = fit_for_target("yinyang", "xylo-imu", hyper, seed=0, out_dir=tmp_path / "run", qat_epochs=1,
                         hil_epochs=1, train_subset=100, test_subset=40, validation_subset=60)
    chip = io.read_file(res.model_path).metadata["chip"]
    assert res.net.readout and not any("no QAT" in note for note in chip["notes"])
    assert chip["validation"]["qat_epochs"] == 1 and "qat_kept" in chip["validation"]
    assert chip["validation"]["hil_epochs"] == 1 and "hil_kept" in chip["validation"]
    assert (tmp_path / "run" / "qat" / "model.fpsnn").is_file() and (tmp_path / "run" / "hil" / "model.fpsnn").is_file()


def test_cli_train_target_then_deploy(tmp_path, capsys):
    from fpsnn.cli import main

    out = tmp_path / "yy"
    assert main(["train", "yinyang", "--target", "xylo-audio3", "--epochs", "1", "--train-subset", "60",
                 "--out", str(out), "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    chip = io.read_file(summary["model"]).metadata["chip"]
    assert chip["target"] == "xylo-audio3" and chip["hidden"] == [128]
    assert main(["deploy", summary["model"], "--target", "xylo-audio3", "--out", str(tmp_path / "d"),
                 "--run", "yinyang", "--subset", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dt"] == chip["dt"]
    with pytest.raises(SystemExit) as exc:
        main(["deploy", summary["model"], "--target", "xylo-audio3", "--out", str(tmp_path / "e"), "--dt", "soon"])
    assert exc.value.code == 2 and "invalid dt value: 'soon'" in capsys.readouterr().err


def test_fidelity_tool_auto_dt_and_a_column_per_dt(model_file, fidelity_tool):
    tool = fidelity_tool
    result = tool.fidelity(model_file, ["xylo-imu"], tool._parse_dts("0.0625,auto"), subset=30)
    runs = result["chips"][0]["runs"]
    assert [r["auto"] for r in runs] == [False, True]
    assert any(np.isclose(runs[1]["dt"], c) for c in dt_candidates(2.0))
    table = tool.format_table(result)
    by_dt = table[table.index("chip accuracy by dt"):].splitlines()
    assert "dt 0.0625" in by_dt[0] and "(auto)" in by_dt[0]
    assert by_dt[1].split()[:2] == ["xylo-imu:", f"{result['float_accuracy']:.4f}"]


@pytest.mark.vendor
def test_fit_for_dynapse2_then_deploy_on_dynapsim(tmp_path):
    """DYNAP-SE2 is analog (no emulator): the default step is recorded, no QAT; deploy runs DynapSim."""
    if not backends.get("dynapse2").available("vendor")[0]:
        pytest.skip("Rockpool DynapSim is not installed")
    hyper = YY.hyper.replace(epochs=1, batch_size=50)
    res = fit_for_target("yinyang", "dynapse2", hyper, out_dir=tmp_path / "run", train_subset=100,
                         test_subset=20, validation_subset=20)
    chip = io.read_file(res.model_path).metadata["chip"]
    assert chip["hidden"] == [64] and "qat" not in chip["validation"]
    assert chip["dt"] == backends.get("dynapse2").default_dt(res.net)
    rep = deploy(res.model_path, "dynapse2", tmp_path / "dep", run_data="yinyang", subset=10)
    assert rep["dt"] == chip["dt"] and rep["engine"] == "vendor" and rep["run"]["samples"] == 10
