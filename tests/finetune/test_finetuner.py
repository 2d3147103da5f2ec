"""The fine-tuner (fpsnn.finetune.FineTuner): in the loop and offline, losing the target, resuming."""
import numpy as np
import pytest

from fpsnn import Network, backends
from fpsnn import finetune as ft
from fpsnn.training import EpochLoop, Trainer

CHIP = "xylo-audio2"


class FlakyTarget:
    """The chip's backend, whose board 'disconnects' on its ``fail_at``-th run call (1-based)."""

    def __init__(self, fail_at=None):
        self.inner = backends.get(CHIP)
        self.name, self.chip = self.inner.name, self.inner.chip
        self.fail_at, self.runs = fail_at, 0

    def compile(self, net, dt, **kw):
        return self.inner.compile(net, dt, **kw)

    def run(self, program, x, **kw):
        kw["engine"] = "emulator"
        self.runs += 1
        if self.fail_at is not None and self.runs >= self.fail_at:
            raise ConnectionError("USB device disconnected")
        return self.inner.run(program, x, **kw)


class GarbageTarget(FlakyTarget):
    """Returns inconsistent measurements: NaN, negative and late times, unsorted rows, silent outputs."""

    def run(self, program, x, **kw):
        res = self.inner.run(program, x, engine="emulator", t_max=kw["t_max"])
        hidden, out = res.times
        hidden = np.concatenate([hidden, np.full(hidden.shape[:2] + (2,), np.inf)], axis=2)
        hidden[0, 0, :3] = [np.nan, 0.5, 0.25]        # NaN and an unsorted row
        hidden[1, 1, -1] = -1.0                        # negative
        hidden[2, 2, -2] = 99.0                        # far outside the window
        out = out.copy()
        out[::2] = np.inf                              # every other sample: no output spike at all
        res.times = [hidden, out]
        return res


def test_inconsistent_measurements_never_crash_a_run_and_are_counted(problem):
    net, hyper, train, test = problem
    res = ft.FineTuner(net, hyper.replace(epochs=1), train, GarbageTarget(), test=test).fit()
    row = res.final
    assert row["nan"] > 0 and row["out_of_window"] > 0 and row["reordered"] > 0
    assert row["silent_outputs"] >= 0.5  # every other sample had no output spike
    assert all(np.all(np.isfinite(w)) for w in res.net.weights)


def test_chip_network_is_the_dequantized_program_in_shadow_units(problem):
    net = problem[0]
    shadow = net.with_parameters([w * 1.0 for w in net.weights])
    shadow.theta = [t * 2.0 for t in shadow.theta]          # thresholds of 2: weights must scale with them
    prog, report = backends.get(CHIP).compile(shadow, dt=shadow.t_max / 128)
    chip = ft.chip_network(prog, shadow, CHIP)
    for w_chip, w in zip(chip.weights, shadow.weights):
        step = np.abs(w).max(axis=0) / 127                   # one int8 step per channel
        assert np.all(np.abs(w_chip - w) <= 0.51 * step + 1e-3 * np.abs(w))
    np.testing.assert_allclose(1 / chip.alpha[0], report.effective_tau_syn[0])
    np.testing.assert_allclose(1 / chip.beta[1], report.effective_tau_mem[1])
    assert all(np.all(t == 2.0) for t in chip.theta)


def test_board_lost_mid_epoch_stops_clearly_and_resume_matches_an_uninterrupted_run(problem, tmp_path):
    net, hyper, train, test = problem
    hyper = hyper.replace(epochs=2, lr=0.005)
    # 3 minibatches per epoch; run calls: epoch 0 metrics (train, test) = 2, epoch 1: 3 batches + test.
    # Failing at call 8 is the 2nd minibatch of epoch 2.
    ref = ft.FineTuner(net, hyper, train, FlakyTarget(), test=test, out_dir=tmp_path / "ref").fit()
    flaky = FlakyTarget(fail_at=8)
    tuner = ft.FineTuner(net, hyper, train, flaky, test=test, out_dir=tmp_path / "run")
    with pytest.raises(ft.TargetLost, match=r"failed at epoch 2, after 1 completed minibatch.*"
                                             r"ConnectionError: USB device disconnected.*checkpoint.fpsnn.*--resume"):
        tuner.fit()
    resumed = ft.FineTuner(net, hyper, train, FlakyTarget(), test=test, out_dir=tmp_path / "run").fit(resume=True)
    for a, b in zip(resumed.net.weights, ref.net.weights):
        np.testing.assert_array_equal(a, b)
    assert [r["test_accuracy"] for r in resumed.history] == [r["test_accuracy"] for r in ref.history]
    # the interrupted run made two more target calls: the failed step's compile and its failed run
    assert resumed.final["target_calls"] == ref.final["target_calls"] + 2


def test_resume_refuses_other_settings(problem, tmp_path):
    net, hyper, train, test = problem
    ft.FineTuner(net, hyper.replace(epochs=1), train, CHIP, engine="emulator", out_dir=tmp_path).fit()
    with pytest.raises(ValueError, match=r"cannot resume, settings differ: \['mismatch'"):
        ft.FineTuner(net, hyper.replace(epochs=2), train, CHIP, mismatch=0.1, out_dir=tmp_path).fit(resume=True)


def test_qat_recovers_accuracy_lost_to_the_chips_time_constants(problem):
    net, hyper, train, _ = problem
    # A float model with tau = 1.45: Xylo's decay codes offer ~0.99 or ~1.99 at this dt, so the chip
    # runs a different network; QAT retrains the weights for the time constants the chip has.
    float_net = Network(weights=net.weights, alpha=1 / 1.45, beta=1 / 1.45, theta=1.0, t_max=net.t_max)
    x, y = train
    before = ft.evaluate_on(CHIP, float_net, x, y, hyper, mode="qat")
    tuned = ft.FineTuner(float_net, hyper.replace(epochs=4, lr=0.01), train, CHIP, mode="qat").fit().net
    after = ft.evaluate_on(CHIP, tuned, x, y, hyper, mode="qat")
    assert after["loss"] < before["loss"] and after["accuracy"] > before["accuracy"] + 0.02


def test_mismatch_opens_a_gap_that_in_the_loop_training_closes(problem):
    net, hyper, train, _ = problem
    x, y = train
    device = ft.resolve_target(CHIP, mismatch=0.3, mismatch_seed=5)
    before = ft.evaluate_on(device, net, x, y, hyper, engine="emulator")
    assert before["loss"] > ft.evaluate_on(CHIP, net, x, y, hyper, engine="emulator")["loss"]
    tuned = ft.FineTuner(net, hyper.replace(epochs=3, lr=0.01), train, CHIP, mismatch=0.3, mismatch_seed=5,
                           engine="emulator").fit()
    after = ft.evaluate_on(device, tuned.net, x, y, hyper, engine="emulator")
    assert after["loss"] < before["loss"]


def test_calibrated_in_the_loop_training_starts_closer_and_resumes(problem, tmp_path):
    net, hyper, train, _ = problem
    x, y = train
    hyper = hyper.replace(epochs=2, lr=0.01)
    device = ft.resolve_target(CHIP, mismatch=0.3, mismatch_seed=5)
    before = ft.evaluate_on(device, net, x, y, hyper, engine="emulator")
    kw = dict(mismatch=0.3, mismatch_seed=5, engine="emulator", calibrate=True)
    ref = ft.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "ref", **kw).fit()
    first = ref.history[0]
    assert first["device_model"]["source"] == "probe" and first["device_model"]["rms_log_weight_gain"] > 0.1
    assert first["loss"] < before["loss"]           # compensating the measured gains alone helps
    after = ft.evaluate_on(device, ref.net, x, y, hyper, engine="emulator")
    assert after["loss"] < before["loss"]
    # interrupted after epoch 1, resumed: same device model from the checkpoint, same result
    tuner = ft.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "run", **kw)
    tuner.fit(stop_after=1)
    resumed = ft.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "run", **kw).fit(resume=True)
    for a, b in zip(resumed.net.weights, ref.net.weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"settings differ: \['calibrate'\]"):
        ft.FineTuner(net, hyper, train, CHIP, out_dir=tmp_path / "run", mismatch=0.3, mismatch_seed=5,
                      engine="emulator").fit(resume=True)


# ------------------------------------------------------------------------------------ one loop
def test_trainer_and_fine_tuner_run_on_the_same_epoch_loop(problem, monkeypatch, tmp_path):
    net, hyper, train, test = problem
    runs = []
    real_fit = EpochLoop.fit

    def counting_fit(loop, *args, **kwargs):
        runs.append(type(loop.task).__name__)
        return real_fit(loop, *args, **kwargs)

    monkeypatch.setattr(EpochLoop, "fit", counting_fit)
    trainer = Trainer(hyper.replace(epochs=1), train, progress=False, out_dir=tmp_path / "train")
    tuner = ft.FineTuner(net, hyper.replace(epochs=1), train, CHIP, mode="qat", out_dir=tmp_path / "tune")
    assert type(trainer.loop) is type(tuner.loop) is EpochLoop
    trainer.fit()
    tuner.fit()
    assert runs == ["Trainer", "FineTuner"]
    # a checkpoint of one kind of run does not resume the other
    (tmp_path / "tune" / "checkpoint.fpsnn").replace(tmp_path / "train" / "checkpoint.fpsnn")
    with pytest.raises(ValueError, match="cannot resume, it is a fine-tune checkpoint and this is a train run"):
        Trainer(hyper.replace(epochs=2), train, progress=False, out_dir=tmp_path / "train").fit(resume=True)


def test_hil_is_a_deprecated_alias_of_finetune():
    import importlib
    import sys

    sys.modules.pop("fpsnn.hil", None)
    with pytest.warns(DeprecationWarning, match="fpsnn.hil is deprecated: import fpsnn.finetune"):
        old = importlib.import_module("fpsnn.hil")
    assert old.FineTuner is ft.FineTuner and old.calibrate_device is ft.calibrate_device
