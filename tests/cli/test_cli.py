"""The ``fpsnn`` console script: train / eval / plot, JSON output, config precedence, errors."""
import json
import subprocess
import sys

import pytest

from fpsnn import cli, io

XOR_FAST = ["--until-accuracy", "1.0", "--no-progress"]


def run_main(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def xor_model(tmp_path_factory):
    """One trained XOR model shared by the eval/plot tests (trained through the real CLI path)."""
    out = tmp_path_factory.mktemp("xor")
    assert cli.main(["train", "xor", "--out", str(out), "--seed", "0", "--json", *XOR_FAST]) == 0
    return out / "model.fpsnn"


def test_train_json_is_one_parseable_object_on_stdout_with_progress_on_stderr(tmp_path):
    # A real subprocess with the progress bar on: stdout must still be exactly one JSON object.
    proc = subprocess.run([sys.executable, "-m", "fpsnn.cli", "train", "xor", "--out", str(tmp_path), "--json",
                           "--until-accuracy", "1.0", "--epochs", "60"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for key in ("train_accuracy", "test_accuracy", "epochs", "wall_s", "model"):
        assert key in result
    assert result["train_accuracy"] == 1.0 and result["epochs"] <= 60
    assert io.load_model(result["model"])[1]["dataset"] == "xor"
    assert proc.stdout.count("\n") == 1


def test_config_file_and_flags_precedence(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("lr = 0.2\ngamma = 0.3\nseed = 7\nepochs = 1\n")
    status, out, _ = run_main(capsys, "train", "xor", "--config", str(cfg), "--gamma", "0.25", "--out",
                              str(tmp_path / "run"), "--json", "--no-progress")
    assert status == 0
    r = json.loads(out)
    assert r["hyperparameters"]["lr"] == 0.2  # from the file
    assert r["hyperparameters"]["gamma"] == 0.25  # the flag wins over the file
    assert r["hyperparameters"]["beta"] == 0.99  # the data set's default
    assert r["seed"] == 7 and r["epochs"] == 1


def test_unknown_config_key_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("learning_rate = 0.2\n")
    status, out, err = run_main(capsys, "train", "xor", "--config", str(cfg), "--out", str(tmp_path))
    assert status == 2 and out == ""
    assert "learning_rate" in err and "valid:" in err


def test_bad_flag_value_is_a_clear_error(tmp_path, capsys):
    status, _, err = run_main(capsys, "train", "xor", "--lr", "-1", "--out", str(tmp_path))
    assert status == 2 and "lr" in err and "> 0" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "mnist"])
    assert exc.value.code == 2


def test_hidden_sizes_and_none_values_parse(tmp_path, capsys):
    status, out, _ = run_main(capsys, "train", "xor", "--hidden", "6", "--init-mean", "3", "2", "--init-std", "1",
                              "0.1", "--batch-size", "none", "--epochs", "1", "--json", "--no-progress",
                              "--out", str(tmp_path))
    assert status == 0
    h = json.loads(out)["hyperparameters"]
    assert h["hidden"] == [6] and h["batch_size"] is None


def test_eval_reports_the_accuracy_of_the_model(xor_model, capsys):
    status, out, _ = run_main(capsys, "eval", str(xor_model), "--json")
    assert status == 0
    r = json.loads(out)
    assert r["dataset"] == "xor" and r["accuracy"] == 1.0 and r["n"] == 4


def test_eval_of_a_damaged_model_fails_cleanly(tmp_path, xor_model, capsys):
    bad = tmp_path / "bad.fpsnn"
    bad.write_bytes(xor_model.read_bytes()[:-10])
    status, out, err = run_main(capsys, "eval", str(bad))
    assert status == 2 and out == "" and "bad.fpsnn" in err


def test_eval_against_an_incompatible_dataset_fails_cleanly(xor_model, capsys):
    status, _, err = run_main(capsys, "eval", str(xor_model), "--dataset", "yinyang")
    assert status == 2 and "inputs" in err


def test_plot_writes_png_figures(tmp_path, xor_model, capsys):
    status, out, _ = run_main(capsys, "plot", str(xor_model), "--out", str(tmp_path / "fig"), "--json")
    assert status == 0
    figures = json.loads(out)["figures"]
    assert set(figures) == {"first_spike_histograms", "membrane_traces", "spike_raster", "training_curves"}
    for path in figures.values():
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_resume_continues_to_more_epochs(tmp_path, capsys):
    base = ["train", "xor", "--out", str(tmp_path), "--json", "--no-progress", "--seed", "1"]
    assert run_main(capsys, *base, "--epochs", "2")[0] == 0
    status, out, _ = run_main(capsys, *base, "--epochs", "4", "--resume")
    assert status == 0
    r = json.loads(out)
    assert r["epochs"] == 4
    assert len(io.load_model(r["model"])[1]["history"]) == 5


def test_every_command_is_registered_in_the_table():
    names = [c.name for c in cli.COMMANDS]
    assert names[:3] == ["train", "eval", "plot"] and len(set(names)) == len(names)
    parser = cli.build_parser()
    minimal = {"train": ["xor"], "eval": ["m.fpsnn"], "plot": ["m.fpsnn", "--out", "x"],
               "deploy": ["m.fpsnn", "--target", "loihi2", "--out", "x"],
               "emulate": ["m.fpsnn", "--target", "loihi2"], "demo": [],
               "hil": ["m.fpsnn", "--target", "xylo-audio2"]}
    for name in names:
        assert name in minimal, f"add the minimal arguments of the new command {name!r} to this test"
        assert parser.parse_args([name] + minimal[name]).command == name
