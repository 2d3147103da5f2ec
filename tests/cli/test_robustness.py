"""Issue 12's fault table as tests: no silent data loss, no traceback, no hang, no silent wrong result.

Every case of ``tools/fault_table.py`` (the same table the closing note's counts come from) runs the
real console script in a subprocess, signals included (Ctrl-C is a SIGINT sent after the first
checkpoint), and must end ``clear``: the expected exit status and one-line message, no traceback,
within the time limit, with no file lost. Below the table: the pieces those outcomes rest on, tested
directly (run-directory ownership and lock, the time-grid limits, divergence, deploy warnings).
"""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fpsnn.backends import timegrid
from fpsnn.training.runfiles import RunDirError, claim_run_dir

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "fault_table.py"
_spec = importlib.util.spec_from_file_location("fault_table", _TOOL)
fault_table = importlib.util.module_from_spec(_spec)
sys.modules["fault_table"] = fault_table
_spec.loader.exec_module(fault_table)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return fault_table.Workdir(tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize("case", fault_table.CASES, ids=[c.name for c in fault_table.CASES])
def test_fault_case_is_clear(case, workdir):
    row = fault_table.run_case(case, workdir)
    if row["outcome"].startswith("skipped"):
        pytest.skip(row["outcome"])
    assert row["outcome"] == "clear", row


def test_classify_counts_each_failure_class():
    case = fault_table.Case("x", "t", None, 2, r"limit")
    run = fault_table.Run
    assert fault_table.classify(case, run(2, "", "fpsnn: error: over the limit\n"), True) == "clear"
    assert fault_table.classify(case, run(1, "", "Traceback (most recent call last):\n  ...\n"), True) == "traceback"
    assert fault_table.classify(case, run(None, "", ""), True) == "hang"
    assert fault_table.classify(case, run(0, "done", ""), True) == "silent wrong"
    assert fault_table.classify(case, run(2, "", "fpsnn: error: over the limit\n"), False) == "data lost"
    rows = [{"outcome": "clear"}, {"outcome": "hang"}]
    assert fault_table.counts(rows + [{"outcome": "skipped (root)"}]) == {
        "cases tried": 2, "clear": 1, "traceback": 0, "hang": 1, "silent wrong": 0, "data lost": 0, "skipped": 1}


# ------------------------------------------------------------------------------------------- run directories
def test_run_dir_belongs_to_one_run(tmp_path):
    out = tmp_path / "run"
    with claim_run_dir(out, {"seed": 1}):
        (out / "model.fpsnn").write_bytes(b"model of seed 1")
    with claim_run_dir(out, {"seed": 1}):      # the same run may write again
        pass
    with pytest.raises(RunDirError, match=r"holds another run \(differs in seed\).*--force"):
        with claim_run_dir(out, {"seed": 2}):
            pass
    with claim_run_dir(out, {"seed": 2}, force=True):
        pass
    assert json.loads((out / "run.json").read_text()) == {"seed": 2}


def test_run_dir_without_owner_but_with_a_model_is_refused(tmp_path):
    (tmp_path / "model.fpsnn").write_bytes(b"older run")
    with pytest.raises(RunDirError, match="earlier run"):
        with claim_run_dir(tmp_path, {"seed": 1}):
            pass


def test_failed_run_leaves_no_directory_behind(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="boom"):
        with claim_run_dir(out, {"seed": 1}):
            raise ValueError("boom")
    assert not out.exists()


def test_second_process_is_refused_while_the_first_holds_the_directory(tmp_path):
    code = ("import sys, time; from fpsnn.training.runfiles import claim_run_dir\n"
            "with claim_run_dir(sys.argv[1], {'seed': 3}):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match="another fpsnn run is writing"):
            with claim_run_dir(tmp_path, {"seed": 3}):
                pass
    finally:
        holder.kill()
        holder.wait()
    with claim_run_dir(tmp_path, {"seed": 3}):   # the lock went with the process
        pass


@pytest.mark.parametrize("bad, message", [("", "empty path"), ("FILE", "is a file"), ("FILE/sub", "is a file")])
def test_unusable_out_dir_is_one_value_error(tmp_path, bad, message):
    (tmp_path / "FILE").write_text("x")
    path = "" if bad == "" else tmp_path / bad
    with pytest.raises(RunDirError, match=message):
        with claim_run_dir(path, {}):
            pass


# ------------------------------------------------------------------------------------------- time grid
def test_time_grid_limits_name_the_count_and_the_limit():
    assert timegrid.check_grid(4.0, 4.0 / 128) == 128
    with pytest.raises(ValueError, match=rf"4e\+06 steps, more than the limit {timegrid.MAX_STEPS}"):
        timegrid.n_steps(4.0, 1e-6)
    with pytest.raises(ValueError, match=rf"leaves 1 step\(s\).*fewer than {timegrid.MIN_STEPS}"):
        timegrid.check_grid(4.0, 1e9)
    assert timegrid.n_steps(4.0, 1e9) == 1      # the raw conversion still works (internal callers)


# ------------------------------------------------------------------------------------------- divergence
def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    from fpsnn import datasets, io
    from fpsnn.training import Trainer
    from fpsnn.training.loop import Diverged

    hyper = datasets.spec("xor").hyper.replace(epochs=3)
    x, y = datasets.load("xor", "train")
    enc = datasets.spec("xor").encoder(hyper)
    trainer = Trainer(hyper, (enc(x), y), seed=0, out_dir=tmp_path, progress=False)
    trainer.fit(stop_after=1)
    good = io.load_checkpoint(tmp_path / "checkpoint.fpsnn")
    assert good.metadata["epoch"] == 1
    wild = Trainer(hyper.replace(lr=1e30), (enc(x), y), seed=0, out_dir=tmp_path / "wild", progress=False)
    with pytest.raises(Diverged, match=r"diverged at epoch 1.*max \|weight\|.*lower the learning rate"):
        wild.fit()
    assert not (tmp_path / "wild" / "model.fpsnn").exists()


def test_is_interrupt_follows_the_cause_chain():
    from fpsnn.training.loop import is_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from inner
    except SystemError as exc:
        assert is_interrupt(exc)
    assert not is_interrupt(SystemError("other"))


# ------------------------------------------------------------------------------------------- deploy
def test_deploy_warnings_name_the_loss_and_the_limit():
    from types import SimpleNamespace

    from fpsnn.deploy import deploy_warnings

    rep = {"prediction": {"accuracy": 0.5, "float_accuracy": 0.9, "engine_name": "emulator"}, "run": None}
    limits = ["layer 0: weight_exp reached the chip limit +-7", "hidden -> output connections are delayed by one step"]
    lines = deploy_warnings(rep, SimpleNamespace(binding_limits=limits))
    assert len(lines) == 2
    assert "40.0 points lost" in lines[0] and "accuracy 50.0 % vs float 90.0 %" in lines[0]
    assert lines[1] == "chip limit: layer 0: weight_exp reached the chip limit +-7"   # the delay note is no warning
    quiet = {"prediction": {"accuracy": 0.88, "float_accuracy": 0.9, "engine_name": "emulator"}, "run": None}
    assert deploy_warnings(quiet, SimpleNamespace(binding_limits=[])) == []


def test_long_runs_show_an_estimate_and_progress_and_give_the_same_spikes(monkeypatch):
    """The chunked path of a long run (forced here: threshold 0 s) logs an estimate and progress and
    returns exactly what one run over all samples returns (the real Xylo emulator)."""
    import numpy as np

    from fpsnn import backends, datasets, deploy
    from fpsnn.train import init_network

    spec = datasets.spec("yinyang")
    net = init_network(spec.hyper.replace(hidden=(12,)), 5, 3, np.random.default_rng(0))
    x, _ = datasets.load("yinyang", "test")
    x = spec.encoder(spec.hyper)(x[:40])
    backend = backends.get("xylo-audio2")
    program, _ = backend.compile(net)
    whole = backend.run(program, x, engine="emulator", t_max=net.t_max)
    monkeypatch.setattr(deploy, "PROGRESS_AFTER_S", 0.0)
    lines = []
    chunked = deploy._run_chunked(backend, program, x, net.t_max, "emulator", lines.append)
    assert lines[0].startswith("fpsnn: running 40 samples on") and "s more" in lines[0]
    assert lines[-1].startswith("fpsnn: 40/40 samples")
    for a, b in zip(whole.times, chunked.times):
        k = max(a.shape[2], b.shape[2])
        pad = lambda t: np.pad(t, ((0, 0), (0, 0), (0, k - t.shape[2])), constant_values=np.inf)  # noqa: E731
        np.testing.assert_array_equal(pad(a), pad(b))
    for a, b in zip(whole.rasters, chunked.rasters):
        np.testing.assert_array_equal(a, b)
