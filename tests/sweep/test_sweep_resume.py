"""Kill-and-resume: a trial whose worker or whole sweep is SIGKILLed resumes from its last epoch's
checkpoint and ends bit-identical to an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fpsnn import io
from fpsnn.sweep import run_trial, run_trials, seed_tasks
from fpsnn.train import CHECKPOINT_NAME, MODEL_NAME

EPOCHS = 8


def _task(out_dir):
    from fpsnn import datasets

    hyper = datasets.spec("yinyang").hyper.replace(epochs=EPOCHS, batch_size=50, hidden=(20,),
                                                   init_mean=(1.5, 0.5), init_std=(0.8, 0.8))
    return seed_tasks("yinyang", [4], hyper, out_dir, train_subset=600, test_subset=100)[0]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    task = _task(tmp_path_factory.mktemp("reference"))
    row = run_trial(task)
    return row, io.load_model(Path(task["run_dir"]) / MODEL_NAME)


def _kill_after_first_checkpoint(run_dir: Path, pid_of, timeout: float = 600.0) -> dict:
    """SIGKILL ``pid_of()`` once an epoch's checkpoint exists and the final model does not."""
    seen = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / CHECKPOINT_NAME).is_file() and not (run_dir / MODEL_NAME).is_file():
            pid = pid_of()
            if pid:
                seen["epoch"] = int(io.load_checkpoint(run_dir / CHECKPOINT_NAME).metadata["epoch"])
                os.kill(pid, signal.SIGKILL)
                seen["pid"] = pid
                return seen
        time.sleep(0.02)
    return seen


def _assert_same_model(run_dir: Path, uninterrupted):
    row, (net_ref, md_ref) = uninterrupted
    net, md = io.load_model(run_dir / MODEL_NAME)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, net_ref.weights))
    strip = lambda h: [{k: v for k, v in r.items() if k != "wall_s"} for r in h]
    assert strip(md["history"]) == strip(md_ref["history"]) and len(md["history"]) == EPOCHS + 1


def test_killed_ray_worker_retries_and_resumes(tmp_path, ray_local, uninterrupted):
    task = _task(tmp_path)
    run_dir = Path(task["run_dir"])
    pid_file = run_dir / "worker.pid"
    killed = {}
    watcher = threading.Thread(target=lambda: killed.update(_kill_after_first_checkpoint(
        run_dir, lambda: int(pid_file.read_text()) if pid_file.is_file() else None)))
    watcher.start()
    (row,) = run_trials([task], backend="ray", max_retries=2)
    watcher.join()
    assert killed.get("epoch", 0) >= 1, "the worker was not killed mid-trial"
    assert int(pid_file.read_text()) != killed["pid"]  # a new worker ran the retry
    assert row["resumed_from_epoch"] >= killed["epoch"] and row["epochs"] == EPOCHS
    _assert_same_model(run_dir, uninterrupted)


def test_killed_sweep_resumes_on_rerun(tmp_path, uninterrupted):
    task = _task(tmp_path)
    run_dir = Path(task["run_dir"])
    code = "import json, sys; from fpsnn.sweep import run_trials; run_trials([json.loads(sys.argv[1])], backend='sequential')"
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(task)])
    killed = _kill_after_first_checkpoint(run_dir, lambda: proc.pid)
    proc.wait()
    assert killed.get("epoch", 0) >= 1 and proc.returncode == -signal.SIGKILL
    assert not (run_dir / MODEL_NAME).exists()
    row = run_trial(task)  # what rerunning the sweep does for an unfinished trial
    assert row["resumed_from_epoch"] >= killed["epoch"] >= 1  # a later checkpoint may land before the kill
    _assert_same_model(run_dir, uninterrupted)
    assert run_trial(task) == row  # a finished trial is read back, not retrained
