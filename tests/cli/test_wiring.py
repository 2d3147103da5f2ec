"""The CLI reaches the features built below it: ``--data FILE`` (train, eval, deploy, emulate),
``fpsnn export --nir``, ``fpsnn deploy FILE.nir`` and ``fpsnn sweep``.

A user's data file trains a model whose file records the data file and its encoder, so ``fpsnn eval
MODEL`` finds the same data again without being told; the NIR export of that model deploys like the
model itself (same emulator accuracy on the same samples).
"""
import json

import numpy as np
import pytest

from fpsnn import io
from fpsnn.cli import main

pytest.importorskip("nir")


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    path = tmp_path_factory.mktemp("data") / "mine.npz"
    np.savez(path, x=x, y=(x[:, 0] > 0).astype(int))
    return path


@pytest.fixture(scope="module")
def trained(data_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(["train", "--data", str(data_file), "--out", str(out), "--epochs", "2", "--no-progress"]) == 0
    return out / "model.fpsnn"


def test_train_on_a_data_file_records_it_and_eval_finds_it_again(trained, data_file, capsys):
    md = io.load_model(trained)[1]
    assert md["data"]["data_file"] == str(data_file.resolve()) and md["encoder"]["kind"]
    code, out, err = _cli(capsys, "eval", trained, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["n"] == 8 and res["dataset"] == str(data_file.resolve())
    code, out2, _ = _cli(capsys, "eval", trained, "--data", data_file, "--json")
    assert code == 0 and json.loads(out2)["accuracy"] == res["accuracy"]


def test_train_needs_exactly_one_data_source(data_file, tmp_path, capsys):
    code, _, err = _cli(capsys, "train", "xor", "--data", data_file, "--out", tmp_path / "x")
    assert code == 2 and "exactly one" in err


def test_export_nir_and_deploy_the_nir_file_like_the_model(trained, data_file, tmp_path, capsys):
    nir_path = tmp_path / "m.nir"
    code, out, err = _cli(capsys, "export", trained, "--nir", nir_path)
    assert code == 0 and nir_path.is_file(), err
    reps = []
    for model in (trained, nir_path):
        code, out, err = _cli(capsys, "deploy", model, "--target", "xylo-audio2", "--out", tmp_path / model.suffix[1:],
                              "--data", data_file, "--json")
        assert code == 0, err
        reps.append(json.loads(out)["prediction"])
    assert reps[0]["accuracy"] == reps[1]["accuracy"] and reps[0]["samples"] == reps[1]["samples"] == 8


def test_export_refuses_a_directory_target(trained, tmp_path, capsys):
    code, _, err = _cli(capsys, "export", trained, "--nir", tmp_path)
    assert code == 2 and "is a directory" in err and "Traceback" not in err


def test_sweep_is_a_command(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sweep", "--help"])
    assert stop.value.code == 0 and "CONFIG.toml" in capsys.readouterr().out


def test_train_init_starts_from_an_imported_nir_model(tmp_path, capsys):
    """``fpsnn train --init FILE.nir`` starts from the imported weights (epoch 0 = the imported network)."""
    pytest.importorskip("nir")
    import numpy as np

    import fpsnn
    import fpsnn.nir
    from fpsnn import datasets

    rng = np.random.default_rng(0)
    spec = datasets.spec("yinyang")
    n_in = spec.encoder().n_inputs(spec.n_features)
    net = fpsnn.Network(weights=[rng.normal(1.5, 0.8, (n_in, 12)), rng.normal(2.0, 0.1, (12, 3))],
                        alpha=0.999, beta=1.0, t_max=spec.hyper.simulation_window)
    fpsnn.nir.write(net, tmp_path / "init.nir")
    status = main(["train", "yinyang", "--init", str(tmp_path / "init.nir"), "--epochs", "0",
                       "--train-subset", "20", "--out", str(tmp_path / "run"), "--json", "--no-progress"])
    assert status == 0
    trained, _ = fpsnn.io.load_model(tmp_path / "run" / "model.fpsnn")
    assert all(np.array_equal(a, b) for a, b in zip(trained.weights, net.weights))
    capsys.readouterr()
    bad = main(["train", "xor", "--init", str(tmp_path / "init.nir"), "--epochs", "0",
                    "--out", str(tmp_path / "run2"), "--no-progress"])
    assert bad == 2 and "init: the network maps" in capsys.readouterr().err
