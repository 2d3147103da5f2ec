"""``fpsnn sweep``: config -> trials, a 2x2 grid x 2 seeds on local Ray, results, rerun and resumption."""
import argparse
import csv
import json
import sys

import numpy as np
import pytest

from fpsnn import io, sweep
from fpsnn.sweep import trials_from_config

GRID = {"dataset": "yinyang", "seeds": 2, "epochs": 2, "train_subset": 60, "test_subset": 60,
        "hyper": {"batch_size": 30, "hidden": [12], "init_mean": [1.5, 0.5], "init_std": [0.8, 0.8]},
        "grid": {"lr": [1e-3, 3e-3], "tau0": [0.2, 0.5]}}


def _toml(path, config):
    import tomli_w

    path.write_bytes(tomli_w.dumps(config).encode())
    return path


def _cli(*argv):
    p = argparse.ArgumentParser()
    sweep.configure(p)
    return sweep.run(p.parse_args([str(a) for a in argv]))


def test_grid_trials_have_stable_names(tmp_path):
    tasks = trials_from_config(GRID, tmp_path)
    assert len(tasks) == 8 and len({t["name"] for t in tasks}) == 8
    assert [t["name"] for t in trials_from_config(GRID, tmp_path)] == [t["name"] for t in tasks]
    assert {(t["params"]["lr"], t["params"]["tau0"], t["seed"]) for t in tasks} == \
        {(lr, tau0, s) for lr in (1e-3, 3e-3) for tau0 in (0.2, 0.5) for s in (0, 1)}
    assert tasks[0]["name"].startswith("lr=0.001_tau0=0.2_seed=0-")
    # a longer epoch budget keeps the run directories (it resumes them); any other change does not
    longer = trials_from_config(dict(GRID, epochs=5), tmp_path)
    assert [t["run_dir"] for t in longer] == [t["run_dir"] for t in tasks]
    other = trials_from_config(dict(GRID, hyper=dict(GRID["hyper"], batch_size=20)), tmp_path)
    assert not {t["name"] for t in other} & {t["name"] for t in tasks}


def test_random_trials_are_seeded_and_within_bounds(tmp_path):
    config = {"dataset": "iris", "seeds": [3], "random": {
        "n_trials": 6, "seed": 1, "lr": {"log_uniform": [1e-4, 1e-2]}, "tau0": {"uniform": [0.1, 0.5]},
        "batch_size": {"choice": [10, 20]}, "max_spikes": {"int_uniform": [2, 4]}}}
    a, b = trials_from_config(config, tmp_path), trials_from_config(config, tmp_path)
    assert [t["params"] for t in a] == [t["params"] for t in b] and len(a) == 6
    for t in a:
        p = t["params"]
        assert 1e-4 <= p["lr"] <= 1e-2 and 0.1 <= p["tau0"] <= 0.5 and p["batch_size"] in (10, 20)
        assert p["max_spikes"] in (2, 3, 4) and t["seed"] == 3
    other = trials_from_config(dict(config, random=dict(config["random"], seed=2)), tmp_path)
    assert [t["params"] for t in other] != [t["params"] for t in a]


@pytest.mark.parametrize("change, message", [
    ({"dataset": "mnist-9"}, "dataset = 'mnist-9'"),
    ({"grid": {"learning_rate": [1e-3]}}, "unknown.*learning_rate"),
    ({"grid": {"lr": 1e-3}}, "grid.lr = 0.001: a non-empty list"),
    ({"grid": {"lr": [-1.0]}}, "lr = -1.0: must be > 0"),
    ({"random": {"n_trials": 2, "lr": {"gauss": [0, 1]}}}, "random.lr"),
    ({"random": {"n_trials": 2, "lr": {"uniform": [1, 0]}}}, "low < high"),
    ({"random": {"n_trials": 0}}, "n_trials = 0"),
    ({"seeds": 0}, "seeds = 0"),
    ({"epoch": 3}, "unknown keys \\['epoch'\\]"),
])
def test_bad_config_is_a_value_error_naming_the_key(tmp_path, change, message):
    config = {k: v for k, v in GRID.items() if k != "grid"}
    config.update(change)
    with pytest.raises(ValueError, match=message):
        trials_from_config(config, tmp_path)


def test_grid_and_random_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        trials_from_config(dict(GRID, random={"n_trials": 1}), tmp_path)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_cli_sweep_2x2_grid_2_seeds_on_local_ray(tmp_path, ray_local, capsys):
    cfg = _toml(tmp_path / "sweep.toml", GRID)
    out = tmp_path / "ray"
    assert _cli(cfg, "--out", out, "--backend", "ray", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trials"] == 8 and summary["swept"] == ["lr", "tau0"]
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == len(_rows(out / "results.csv")) == 8
    assert (out / "sweep.png").stat().st_size > 10_000
    for r in rows:
        assert r["epochs"] == 2 and r["resumed_from_epoch"] == 0 and r["cpu_s"] > 0 and 0 <= r["test_accuracy"] <= 1
        assert (out / r["trial"] / "model.fpsnn").is_file() and (out / r["trial"] / "checkpoint.fpsnn").is_file()

    # the same trials in turn, in this process: the same models, bit for bit
    seq = tmp_path / "seq"
    assert _cli(cfg, "--out", seq, "--backend", "sequential") == 0
    for r, s in zip(rows, json.loads((seq / "results.json").read_text())):
        assert (r["trial"], r["test_accuracy"], r["loss"]) == (s["trial"], s["test_accuracy"], s["loss"])
        a, _ = io.load_model(out / r["trial"] / "model.fpsnn")
        b, _ = io.load_model(seq / s["trial"] / "model.fpsnn")
        assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights))

    # rerun: every finished trial is read back, nothing retrains
    assert _cli(cfg, "--out", out, "--backend", "ray") == 0
    assert json.loads((out / "results.json").read_text()) == rows

    # a longer budget continues every trial from its checkpoint
    _toml(cfg, dict(GRID, epochs=3))
    assert _cli(cfg, "--out", out, "--backend", "sequential") == 0
    longer = json.loads((out / "results.json").read_text())
    assert [r["trial"] for r in longer] == [r["trial"] for r in rows]
    assert all(r["epochs"] == 3 and r["resumed_from_epoch"] == 2 for r in longer)


def test_missing_ray_is_one_line(tmp_path, monkeypatch, capsys):
    cfg = _toml(tmp_path / "sweep.toml", GRID)
    monkeypatch.setitem(sys.modules, "ray", None)
    assert _cli(cfg, "--out", tmp_path / "x", "--backend", "ray") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "fpsnn[ray]" in err
    assert not (tmp_path / "x").exists()
