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
    assert set(figures) == {"first_spike_histograms", "membrane_traces", "spike_raster", "training_curves",
                            "temporal_sample", "confusion_matrix"}
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
               "hil": ["m.fpsnn", "--target", "xylo-audio2"], "sweep": ["sweep.toml"],
               "export": ["m.fpsnn", "--nir", "m.nir"]}
    for name in names:
        assert name in minimal, f"add the minimal arguments of the new command {name!r} to this test"
        assert parser.parse_args([name] + minimal[name]).command == name


# ------------------------------------------------------------------------------------------- issue 12
def _python(*code_or_args, timeout=120):
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True, timeout=timeout)


def test_version_prints_the_package_version():
    import fpsnn

    proc = _python("-m", "fpsnn.cli", "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"fpsnn {fpsnn.__version__}"


def test_help_imports_no_numerical_module():
    """``fpsnn --help`` must not import numba (compiles), numpy, matplotlib or a chip backend."""
    code = ("import sys\nfrom fpsnn.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            "    assert e.code == 0\nheavy = ('numba', 'numpy', 'scipy', 'matplotlib', 'fpsnn.backends', "
            "'fpsnn.kernels', 'fpsnn.deploy', 'fpsnn.hil')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))")
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "deploy" in proc.stdout and "emulate" in proc.stdout        # every command is listed
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_nothing_in_the_package_imports_the_cli():
    import pathlib

    root = pathlib.Path(cli.__file__).parent
    users = [p.name for p in root.rglob("*.py") if p.name != "cli.py"
             and ("from .cli import" in p.read_text() or "fpsnn.cli" in p.read_text() or "from . import cli" in p.read_text())]
    assert users == [], users


def test_a_directory_given_as_model_is_said_to_be_one(tmp_path, capsys):
    folder = tmp_path / "run.fpsnn"
    folder.mkdir()
    for argv in (["eval", str(folder)], ["deploy", str(folder), "--target", "loihi2", "--out", str(tmp_path / "o")]):
        status, out, err = run_main(capsys, *argv)
        assert status == 2 and out == "" and "is a directory, not a model file" in err, err


def test_eval_on_another_data_set_says_what_the_model_was_trained_on(tmp_path, capsys):
    import numpy as np

    from fpsnn import datasets
    from fpsnn.network import Network

    spec = datasets.spec("yinyang")
    rng = np.random.default_rng(0)
    net = Network(weights=[rng.normal(1.5, 0.8, (5, 6)), rng.normal(0.6, 0.6, (6, 3))], alpha=0.999, beta=1.0,
                  theta=1.0, t_max=2.0)
    model = io.save_model(tmp_path / "yy.fpsnn", net, {"dataset": "yinyang",
                                                       "encoder": spec.encoder(spec.hyper).to_dict()})
    status, out, err = run_main(capsys, "eval", str(model), "--dataset", "iris")
    assert status == 2 and out == ""
    assert "trained on yinyang, not iris" in err and "must be in [0, 1]" not in err


def test_emulate_offers_only_targets_with_an_emulator(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["emulate", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "xylo-audio2" in text and "loihi2" in text and "dynapse2" not in text
    with pytest.raises(SystemExit) as exc:
        cli.main(["emulate", "m.fpsnn", "--target", "dynapse2"])
    assert exc.value.code == 2 and "invalid choice: 'dynapse2'" in capsys.readouterr().err


def test_model_context_alias_still_returns_the_old_tuple(xor_model):
    with pytest.warns(DeprecationWarning, match="fpsnn.resolve.resolve_model"):
        net, metadata, name, enc, hyper = cli.model_context(xor_model, None)
    assert name == metadata["dataset"] == "xor" and net.n_inputs == enc.n_inputs(2) and hyper.epochs >= 1


def test_preset_paper_starts_from_the_table_and_flags_still_win(tmp_path, capsys):
    from fpsnn import datasets

    assert cli.hyperparameters_from("yinyang") == datasets.spec("yinyang").hyper
    assert cli.hyperparameters_from("yinyang", preset="paper") == datasets.spec("yinyang").paper
    status, out, _ = run_main(capsys, "train", "yinyang", "--preset", "paper", "--epochs", "0", "--lr", "0.001",
                              "--out", str(tmp_path / "run"), "--json", "--no-progress")
    assert status == 0
    hp = json.loads(out)["hyperparameters"]
    assert hp["silent_bump"] == 0.0 and hp["schedule"] == "none" and hp["lr"] == 0.001


def test_per_layer_flags_take_spaces_or_commas_and_readout_is_a_choice(capsys):
    parser = cli.build_parser()
    a = parser.parse_args(["train", "yinyang", "--hidden", "64,32", "--init-mean", "1.5", "2", "0.5"])
    assert a.hp_hidden == (64, 32) and a.hp_init_mean == (1.5, 2.0, 0.5)
    assert parser.parse_args(["train", "yinyang", "--hidden", "64", "32"]).hp_hidden == (64, 32)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "yinyang", "--hidden", "6x"])
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "yinyang", "--readout", "loudest"])
    capsys.readouterr()


def test_max_spikes_flag_takes_one_value_or_one_per_layer(capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["train", "xor", "--max-spikes", "32,1"]).hp_max_spikes == (32, 1)
    assert parser.parse_args(["train", "xor", "--max-spikes", "32", "1"]).hp_max_spikes == (32, 1)
    assert parser.parse_args(["train", "xor", "--max-spikes", "16"]).hp_max_spikes == (16,)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "xor", "--max-spikes", "3x"])
    capsys.readouterr()
    assert cli.hyperparameters_from("xor", flags={"max_spikes": (16,)}).max_spikes == 16   # every layer
    assert cli.hyperparameters_from("xor", config={"max_spikes": [8, 1]}).max_spikes == (8, 1)


def test_max_spikes_per_layer_trains_and_lands_in_the_model_file(tmp_path, capsys):
    status, out, _ = run_main(capsys, "train", "xor", "--max-spikes", "6,1", "--epochs", "1", "--json",
                              "--no-progress", "--out", str(tmp_path / "run"))
    assert status == 0
    r = json.loads(out)
    assert r["hyperparameters"]["max_spikes"] == [6, 1]
    net, metadata = io.load_model(r["model"])
    assert net.spike_caps == (6, 1)


def test_max_spikes_bad_values_are_clear_errors(tmp_path, capsys):
    status, out, err = run_main(capsys, "train", "xor", "--max-spikes", "6,0", "--out", str(tmp_path / "a"))
    assert status == 2 and out == ""
    assert "max_spikes[1] = 0: layer 1's spike cap must be an integer >= 1" in err
    for text, message in (("max_spikes = [6, 1.5]", "key 'max_spikes' = [6, 1.5]: every entry must be an integer"),
                          ("max_spikes = [6, 1, 1]", "need one value for every layer, or one per layer (2 = ")):
        cfg = tmp_path / "c.toml"
        cfg.write_text(text + "\n")
        status, _, err = run_main(capsys, "train", "xor", "--config", str(cfg), "--out", str(tmp_path / "b"))
        assert status == 2 and message in err, err


def test_max_spikes_per_layer_memory_check_counts_each_layer():
    from fpsnn.cli_input import check_memory

    check_memory(1, (4, 2), (32, 1))
    with pytest.raises(ValueError, match=r"--max-spikes = 1000000000,1: .* \(1 samples x 4000000002 spike slots"):
        check_memory(1, (4, 2), (10 ** 9, 1))
    with pytest.raises(ValueError, match=r"--max-spikes = 1000000000: .* \(1 samples x 6 neurons x 1000000000 spikes"):
        check_memory(1, (4, 2), 10 ** 9)
