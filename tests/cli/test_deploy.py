"""fpsnn deploy / emulate and the pytest plugin, on Yin-Yang data, with the real vendor simulators.

The model is built directly (training is tested elsewhere); it is saved with the Yin-Yang metadata a
trained model carries, so the data, encoder and report paths are the real ones."""
import argparse
import json
import re
import sys

import numpy as np
import pytest

import fpsnn
from fpsnn import datasets, deploy, io
from fpsnn.losses import predict
from fpsnn.pytest_plugin import assert_accuracy_within, assert_fits

SUBSET = 48


def _yinyang_net(n_hid=12, seed=0):
    rng = np.random.default_rng(seed)
    return fpsnn.Network(weights=[rng.normal(1.5, 0.8, (5, n_hid)), rng.normal(0.6, 0.6, (n_hid, 3))],
                         alpha=0.999, beta=1.0, theta=1.0, t_max=2.0)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    spec = datasets.spec("yinyang")
    path = tmp_path_factory.mktemp("model") / "model.fpsnn"
    io.save_model(path, _yinyang_net(), metadata={"dataset": "yinyang", "encoder": spec.encoder(spec.hyper).to_dict()})
    return path


def _cli(argv, configure, run, capsys):
    """Run the deploy/emulate command glue as the CLI does (argparse + ValueError -> exit 2)."""
    p = argparse.ArgumentParser()
    configure(p)
    args = p.parse_args(argv)
    try:
        code = run(args)
    except ValueError as exc:
        print(f"fpsnn: error: {exc}", file=sys.stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_deploy_xylo_writes_artifacts_and_xylosim_matches_the_emulator(model_file, tmp_path, capsys):
    code, out, err = _cli([str(model_file), "--target", "xylo-audio2", "--out", str(tmp_path), "--run", "yinyang",
                           "--subset", str(SUBSET), "--json"], deploy.configure_deploy, deploy.run_deploy, capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["target"] == "xylo-audio2" and rep["engine"] == "vendor" and "xylosim" in rep["engine_name"]
    assert rep["run"]["spikes_identical_to_emulator"] == {"samples": SUBSET, "identical": SUBSET}
    assert rep["prediction"]["engine"] == "emulator" and rep["prediction"]["accuracy"] == rep["accuracy"]
    assert 0 <= rep["accuracy"] <= 1 and 0 <= rep["float_accuracy"] <= 1
    assert rep["resources"]["hidden_neurons"] == [12, 1000] and rep["resources"]["max_fan_out"] == [3, 64]
    assert rep["quantization"]["chip"] == "xylo-audio2"
    assert (tmp_path / "xylo_spec.json").is_file()
    assert json.loads((tmp_path / "report.json").read_text())["accuracy"] == rep["accuracy"]


def test_deploy_loihi_runs_lava_fixed_pt_identical_to_the_emulator(model_file, tmp_path):
    rep = deploy.deploy(model_file, "loihi2", tmp_path, run_data="yinyang:validation", subset=8)
    assert "fixed_pt" in rep["engine_name"] and rep["run"]["data"] == "yinyang:validation"
    assert rep["run"]["spikes_identical_to_emulator"] == {"samples": 8, "identical": 8}
    doc = json.loads((tmp_path / "loihi_program.json").read_text())
    from fpsnn.backends.loihi.program import LoihiProgram

    back = LoihiProgram(layers=doc["layers"], recurrent=doc["recurrent"], dt=doc["dt"])
    assert back.sizes == (12, 3)


def test_deploy_without_xylosim_says_so_and_runs_the_emulator(model_file, tmp_path, monkeypatch):
    for mod in ("xylosim", "xylosim.v1", "xylosim.v2"):
        monkeypatch.setitem(sys.modules, mod, None)
    lines = []
    rep = deploy.deploy(model_file, "xylo-imu", tmp_path, run_data="yinyang", subset=8, log=lines.append)
    assert rep["engine"] == "emulator" and "spikes_identical_to_emulator" not in rep["run"]
    assert len(lines) == 1 and "xylosim is not installed" in lines[0] and "ran fpsnn Xylo emulator" in lines[0]


def test_board_request_without_board_stops_with_one_line(model_file, tmp_path, capsys):
    code, out, err = _cli([str(model_file), "--target", "xylo-audio3", "--out", str(tmp_path / "b"), "--run", "yinyang",
                           "--board"], deploy.configure_deploy, deploy.run_deploy, capsys)
    assert code == 3 and out == ""
    assert len(err.strip().splitlines()) == 1 and "samna is not installed" in err
    assert not (tmp_path / "b").exists()          # stopped before writing anything


def test_model_that_does_not_fit_stops_with_the_limit(tmp_path, capsys):
    big = tmp_path / "big.fpsnn"
    io.save_model(big, _yinyang_net(n_hid=150), metadata={"dataset": "yinyang"})
    code, out, err = _cli([str(big), "--target", "xylo-imu", "--out", str(tmp_path / "o")],
                          deploy.configure_deploy, deploy.run_deploy, capsys)
    assert code == 2 and "150 > 128" in err and "xylo-imu" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli([str(big), "--target", "dynapse2", "--out", str(tmp_path / "o")],
                        deploy.configure_deploy, deploy.run_deploy, capsys)
    assert code == 2 and re.search(r"fan.in = 150 > 64", err), err
    code, _, err = _cli([str(big), "--target", "loihi2", "--out", str(tmp_path / "o"), "--mismatch", "1.5"],
                        deploy.configure_deploy, deploy.run_deploy, capsys)
    assert code == 2 and "mismatch = 1.5: must be a fraction in [0, 1)" in err


def test_deploy_with_mismatch_runs_a_perturbed_device_and_writes_the_nominal_program(model_file, tmp_path):
    nominal = deploy.deploy(model_file, "xylo-audio3", tmp_path / "n", subset=48)
    device = deploy.deploy(model_file, "xylo-audio3", tmp_path / "d", subset=48, mismatch=0.3, mismatch_seed=1)
    again = deploy.deploy(model_file, "xylo-audio3", tmp_path / "a", subset=48, mismatch=0.3, mismatch_seed=1)
    assert nominal["mismatch"] is None and device["mismatch"] == {"spread": 0.3, "seed": 1}
    assert (tmp_path / "n" / "xylo_spec.json").read_bytes() == (tmp_path / "d" / "xylo_spec.json").read_bytes()
    assert device["accuracy"] == again["accuracy"]                 # the seed names one device
    assert device["float_accuracy"] == nominal["float_accuracy"]


def test_emulate_reports_accuracy_and_refuses_the_analog_target(model_file, capsys):
    code, out, err = _cli([str(model_file), "--target", "xylo-audio2", "--subset", "16", "--json"],
                          deploy.configure_emulate, deploy.run_emulate, capsys)
    r = json.loads(out)
    assert code == 0 and r["engine"] == "emulator" and r["samples"] == 16 and r["data"] == "yinyang:test"
    with pytest.raises(SystemExit):                           # not offered: DYNAP-SE2 has no emulator
        _cli([str(model_file), "--target", "dynapse2"], deploy.configure_emulate, deploy.run_emulate, capsys)
    assert "invalid choice: 'dynapse2'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="dynapse2 has no bit-accurate emulator"):
        deploy.emulate(model_file, "dynapse2")
    with pytest.raises(ValueError, match="data: unknown data set 'mnist'"):
        deploy.emulate(model_file, "loihi2", data="mnist")
    with pytest.raises(ValueError, match="subset = 0"):
        deploy.emulate(model_file, "loihi2", subset=0)


# ------------------------------------------------------------------------------------------- the plugin
def test_assert_fits_names_the_limit():
    program, report = assert_fits(_yinyang_net(), "xylo-audio3")
    assert report.chip == "xylo-audio3"
    with pytest.raises(AssertionError, match="xylo-imu: the network does not fit: .*150 > 128"):
        assert_fits(_yinyang_net(n_hid=150), "xylo-imu")


def test_assert_accuracy_within_passes_and_fails():
    net = _yinyang_net()
    spec = datasets.spec("yinyang")
    x = spec.encoder(spec.hyper)(datasets.load("yinyang", "test")[0][:64])
    labels = predict(net.simulate(x).first_spikes())          # the float model is 100 % right by construction
    ok = assert_accuracy_within(net, "xylo-audio2", (x, labels), points=100)
    assert ok["float_accuracy"] == 1.0 and ok["samples"] == 64
    # a coarse chip step (t_max / 8) moves first spikes across each other: the loss must be caught
    with pytest.raises(AssertionError, match="loses .* points, more than the allowed 0"):
        assert_accuracy_within(net, "xylo-audio2", (x, labels), points=0, dt=0.25)


def test_lost_points_counts_samples():
    from fpsnn.pytest_plugin import lost_points

    assert 100.0 * (0.974 - 0.964) > 1.0          # the float difference overshoots a whole point ...
    assert lost_points(0.974, 0.964, 1000) == 1.0  # ... the sample count does not: a 1-point budget holds
    assert lost_points(0.5, 0.75, 4) == -25.0 and lost_points(1.0, 0.0, 3) == 100.0


def test_per_target_emulator_fixture(fpsnn_emulator, fpsnn_target):
    net = _yinyang_net()
    program, report = fpsnn_emulator.compile(net)
    x = np.random.default_rng(0).uniform(0.15, 2.0, (4, 5))
    res = fpsnn_emulator.run(program, x, t_max=net.t_max)
    assert res.engine == "emulator" and report.chip == fpsnn_target
    assert [t.shape[:2] for t in res.times] == [(4, 12), (4, 3)]


def test_example_user_test_file_runs_as_a_user_would(model_file):
    """tools/example_user_test.py, run by pytest with the plugin from the entry point (as a user's CI)."""
    import os
    import subprocess
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "tools" / "example_user_test.py"
    # the loss bound is exercised in test_assert_accuracy_within; here: does the file work end to end
    env = dict(os.environ, FPSNN_MODEL=str(model_file), FPSNN_SUBSET="32", FPSNN_MAX_LOSS="100")
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(example),
                          "--fpsnn-target", "xylo-audio2", "--fpsnn-target", "loihi2"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=example.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 passed" in out.stdout


def test_deploy_without_run_reports_the_emulator_prediction(model_file, tmp_path):
    rep = deploy.deploy(model_file, "xylo-audio3", tmp_path, subset=16)
    assert rep["run"] is None and rep["engine"] == "emulator" and rep["prediction"]["samples"] == 16
    assert rep["accuracy"] == rep["prediction"]["accuracy"]
    bare = deploy.deploy(_yinyang_net(), "xylo-audio3", tmp_path / "bare")      # no data set known: nothing runs
    assert bare["engine"] is None and bare["prediction"] is None and (tmp_path / "bare" / "xylo_spec.json").is_file()


def test_fpsnn_cli_runs_deploy_and_emulate(model_file, tmp_path, capsys):
    from fpsnn.cli import main

    assert main(["emulate", str(model_file), "--target", "xylo-imu", "--subset", "8", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["target"] == "xylo-imu" and r["samples"] == 8
    assert main(["deploy", str(model_file), "--target", "loihi2", "--out", str(tmp_path), "--board"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("fpsnn: error: loihi2: no board run:") and "lava-loihi" in err
