"""The epoch loop (fpsnn.training.loop): mid-epoch checkpoints, Ctrl-C, bit-identical resumption."""
import os
import signal

import numpy as np
import pytest

from fpsnn import datasets, io
from fpsnn.training import CHECKPOINT_NAME, EpochLoop, Trainer, fit_dataset
from fpsnn.training.loop import _uninterrupted


def _data(n=90, seed=0):
    x, y = datasets.load("yinyang", "train")
    hyper = datasets.spec("yinyang").hyper.replace(hidden=(10,), batch_size=20, lr=0.01, epochs=3,
                                                   schedule="cosine")
    return hyper, (datasets.encoder("yinyang", hyper)(x[:n]), y[:n])


class CtrlC(Trainer):
    """A trainer whose user presses Ctrl-C while minibatch number ``at`` (1-based, over the run) is computed."""

    at = calls = 0

    def minibatch(self, state, idx, lr):
        type(self).calls += 1
        if type(self).calls == self.at:
            raise KeyboardInterrupt
        return super().minibatch(state, idx, lr)


def test_ctrl_c_mid_epoch_checkpoints_and_resume_is_bit_identical(tmp_path):
    hyper, train = _data()
    full = Trainer(hyper, train, seed=2, progress=False, out_dir=tmp_path / "full").fit()
    CtrlC.at, CtrlC.calls = 8, 0                       # 5 minibatches per epoch: the 3rd of epoch 2
    with pytest.raises(KeyboardInterrupt):
        CtrlC(hyper, train, seed=2, progress=False, out_dir=tmp_path / "cut").fit()
    ck = io.load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)
    assert (ck.metadata["epoch"], ck.metadata["batch"]) == (1, 2) and "order" in ck.arrays
    resumed = Trainer(hyper, train, seed=2, progress=False, out_dir=tmp_path / "cut").fit(resume=True)
    for a, b in zip(full.net.weights, resumed.net.weights):
        np.testing.assert_array_equal(a, b)
    strip = lambda hist: [{k: v for k, v in row.items() if k != "wall_s"} for row in hist]  # noqa: E731
    assert strip(resumed.history) == strip(full.history) and resumed.epochs == 3


def test_checkpoint_every_n_minibatches(tmp_path):
    hyper, train = _data()
    trainer = Trainer(hyper.replace(epochs=1), train, seed=1, progress=False, out_dir=tmp_path, checkpoint_every=2)
    saved = []
    original = EpochLoop.save
    trainer.loop.save = lambda state: (saved.append((state.epoch, state.batch)), original(trainer.loop, state))
    trainer.fit()
    assert saved == [(0, 2), (0, 4), (1, 0)]           # after minibatches 2 and 4 of 5, then the epoch's end
    with pytest.raises(ValueError, match="checkpoint_every = 0"):
        Trainer(hyper, train, checkpoint_every=0)


def test_a_ctrl_c_during_an_update_waits_until_the_update_is_whole():
    # the process's own handler comes back afterwards (Python's default, or SIG_IGN in a process started
    # as a background job of a non-interactive shell, or another library's)
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with _uninterrupted():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("the rest of the update ran")
        assert done and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_resume_names_every_setting_that_differs(tmp_path):
    h = datasets.spec("yinyang").hyper.replace(hidden=(8,), epochs=2, batch_size=40)
    fit_dataset("yinyang", h, seed=3, train_subset=80, test_subset=20, out_dir=tmp_path, stop_after=1)
    with pytest.raises(ValueError, match=r"cannot resume, settings differ: \['hyper.lr', 'hyper.tau0', 'seed'\]"):
        fit_dataset("yinyang", h.replace(lr=0.5, tau0=0.3), seed=4, train_subset=80, test_subset=20, out_dir=tmp_path,
                    resume=True)
    r = fit_dataset("yinyang", h.replace(epochs=3), seed=3, train_subset=80, test_subset=20, out_dir=tmp_path,
                    resume=True)                        # a larger epoch budget is no difference
    assert r.epochs == 3 and len(r.history) == 4


def test_a_checkpoint_written_before_a_new_hyper_parameter_still_resumes():
    """A hyper-parameter added later with a default that keeps the old behaviour (silent_bump = 0) is
    read as that default from an older checkpoint, which therefore resumes; another value is refused."""
    from fpsnn.training.runfiles import config_differences

    old = {"seed": 0, "hyper": {"lr": 0.1}}
    assert config_differences({"seed": 0, "hyper": {"lr": 0.1, "silent_bump": 0.0}}, old,
                              defaults={"hyper": {"silent_bump": 0.0}}) == []
    assert config_differences({"seed": 0, "hyper": {"lr": 0.1, "silent_bump": 0.5}}, old,
                              defaults={"hyper": {"silent_bump": 0.0}}) == ["hyper.silent_bump"]
