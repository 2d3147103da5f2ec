"""Fine-tuning a membrane read-out (output theta = inf) with the chip in the loop: exact gradients of the
read-out loss at the chip's hidden spike times, the chip's answer scored from its output potential."""
import json

import numpy as np
import pytest

from fpsnn import backends, datasets, io
from fpsnn import finetune as ft
from fpsnn.backends.readout import chip_accuracy, readout_range
from fpsnn.finetune.policy import clean_times
from fpsnn.losses import FirstSpikeCrossEntropy, classifier_loss, predict_scores
from fpsnn.training import gradient_list

CHIP = "xylo-imu"
MEMBRANE_KEYS = ("train_accuracy_at_chip_times", "readout_events", "readout_saturated", "test_accuracy_at_chip_times",
                 "test_readout_saturated")


def _chip_run(net, x, record):
    """What the fine-tuner's minibatch should see, computed here without it: the program compiled as
    ``fpsnn deploy`` compiles it for ``x``, its chip network, and the cleaned times of an emulator run."""
    backend = backends.get(CHIP)
    kwargs = {"readout_range": readout_range(net, x)} if net.readout else {}
    program, report = backend.compile(net, backend.default_dt(net), **kwargs)
    chip_net = backend.dequantize(program, like=net)
    run = backend.run(program, x, engine="emulator", t_max=net.t_max, record=record)
    times, _ = clean_times(run.times, chip_net, len(x), program.dt)
    return backend, program, report, chip_net, run, times


def _first_minibatch(tuner, n):
    state = tuner.fresh_state()
    state.sums = tuner.zero_sums()
    return tuner.minibatch(state, np.arange(n), tuner.hyper.lr)


def test_membrane_gradient_is_value_and_grad_at_the_chips_hidden_times(membrane_problem):
    net, hyper, (x, y), _ = membrane_problem
    x, y = x[:40], y[:40]
    got = _first_minibatch(ft.FineTuner(net, hyper, (x, y), CHIP, engine="emulator"), 40)

    _, _, _, chip_net, _, times = _chip_run(net, x, record=True)
    assert times[-1].shape == (40, 3, 0)                     # the read-out layer: no spikes, as simulated
    assert not np.array_equal(times[0], net.simulate(x).times[0])   # the chip's hidden times, not the float's
    loss = classifier_loss(hyper, y)
    value, grads = chip_net.value_and_grad(x, loss, times=times)
    assert got.value == value
    for a, b in zip(got.grads, gradient_list(chip_net, grads)):
        np.testing.assert_array_equal(a, b)
    assert np.any(got.grads[0]) and np.any(got.grads[1])   # hidden weights (via the times) and read-out weights
    # the forward mode accepts the read-out layer's empty times too and agrees to rounding
    _, fwd = chip_net.value_and_grad(x, loss, mode="forward", times=times)
    for a, b in zip(grads["weights"], fwd["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_first_spike_gradient_and_rows_are_unchanged(problem):
    net, hyper, (x, y), test = problem
    x, y = x[:40], y[:40]
    got = _first_minibatch(ft.FineTuner(net, hyper, (x, y), CHIP, engine="emulator"), 40)
    _, _, _, chip_net, _, times = _chip_run(net, x, record=False)
    loss = FirstSpikeCrossEntropy(y, tau0=hyper.tau0, tau1=hyper.tau1, gamma=hyper.gamma)
    value, grads = chip_net.value_and_grad(x, loss, times=times)
    assert got.value == value
    for a, b in zip(got.grads, gradient_list(chip_net, grads)):
        np.testing.assert_array_equal(a, b)
    rows = ft.FineTuner(net, hyper.replace(epochs=1), (x, y), CHIP, test=test, engine="emulator").fit().history
    assert not any(k in row for row in rows for k in MEMBRANE_KEYS + ("accuracy_at_chip_times",))


def test_membrane_read_out_fine_tunes_in_the_loop_and_its_loss_at_the_chip_times_decreases(membrane_problem):
    net, hyper, train, test = membrane_problem
    x, y = train
    before = ft.evaluate_on(CHIP, net, x, y, hyper, engine="emulator")
    res = ft.FineTuner(net, hyper.replace(epochs=3, lr=0.02), train, CHIP, test=test, engine="emulator").fit()
    losses = [row["loss"] for row in res.history]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] - 0.03
    after = ft.evaluate_on(CHIP, res.net, x, y, hyper, engine="emulator")
    assert after["loss"] < before["loss"] - 0.03
    assert all(np.all(np.isfinite(w)) for w in res.net.weights) and np.all(np.isinf(res.net.theta[-1]))
    for row in res.history:
        assert all(k in row for k in MEMBRANE_KEYS) and row["silent_outputs"] == 0 and row["skipped_updates"] == 0
    # the reported test accuracy is the chip's read-out, scored as fpsnn deploy scores it
    xt, yt = test
    backend, program, report, _, run, _ = _chip_run(res.net, xt, record=True)
    deployed = chip_accuracy(backend, program, report, run, yt, hyper, res.net.t_max)
    assert res.final["test_accuracy"] == deployed["accuracy"]
    assert res.final["test_readout_saturated"] == deployed["readout_saturated"]
    assert res.final["test_accuracy_at_chip_times"] == _accuracy_at_chip_times(res.net, hyper, xt, yt)


def _accuracy_at_chip_times(net, hyper, x, y):
    """The float read-out of the chip network at the chip's hidden times (the loss's view of the chip)."""
    _, _, _, chip_net, _, times = _chip_run(net, x, record=True)
    return float(np.mean(predict_scores(classifier_loss(hyper, y).scores(chip_net, x, times)) == y))


def test_membrane_fine_tuning_resumes_bit_identically(membrane_problem, tmp_path):
    net, hyper, train, test = membrane_problem
    hyper = hyper.replace(epochs=2, lr=0.02)
    ref = ft.FineTuner(net, hyper, train, CHIP, test=test, engine="emulator").fit()
    ft.FineTuner(net, hyper, train, CHIP, test=test, engine="emulator", out_dir=tmp_path).fit(stop_after=1)
    resumed = ft.FineTuner(net, hyper, train, CHIP, test=test, engine="emulator", out_dir=tmp_path).fit(resume=True)
    for a, b in zip(resumed.net.weights, ref.net.weights):
        np.testing.assert_array_equal(a, b)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]  # noqa: E731
    assert strip(resumed.history) == strip(ref.history)


def test_qat_fine_tunes_a_membrane_read_out_on_the_simulated_chip_network(membrane_problem):
    net, hyper, train, test = membrane_problem
    res = ft.FineTuner(net, hyper.replace(epochs=2, lr=0.02), train, CHIP, mode="qat", test=test).fit()
    assert res.final["loss"] < res.history[0]["loss"]
    for row in res.history:   # no chip potential offline: the answer is the read-out at the simulated times
        assert row["test_accuracy"] == row["test_accuracy_at_chip_times"] and row["test_readout_saturated"] == 0


def test_read_out_events_are_dropped_and_counted(membrane_problem, problem):
    net, _, (x, _), _ = membrane_problem
    hidden = net.simulate(x[:4]).times[0]
    out = np.full((4, 3, 2), np.inf)
    out[1, 2, 0] = 0.5                          # Xylo: the read-out's state hit its limit and 'fired'
    times, counts = clean_times([hidden, out], net, 4, 0.05)
    assert times[1].shape == (4, 3, 0) and counts["readout_events"] == 1
    np.testing.assert_array_equal(times[0], hidden)
    firing = problem[0]                         # a firing output layer: the counters are the policy's only
    assert set(clean_times(firing.simulate(x[:4]).times, firing, 4, 0.05)[1]) == set(ft.POLICY_COUNTS)


def test_membrane_refusals_name_the_reason(membrane_problem, problem):
    net, hyper, train, _ = membrane_problem
    with pytest.raises(ValueError, match="never fires"):
        ft.FineTuner(net, hyper, train, CHIP, calibrate=True)
    with pytest.raises(ValueError, match="membrane read-out .* scores output spikes"):
        ft.FineTuner(net, hyper.replace(readout="first_spike"), train, CHIP)
    with pytest.raises(ValueError, match="this network's output layer fires"):
        ft.FineTuner(problem[0], hyper, problem[2], CHIP)
    with pytest.raises(ValueError, match="dynapse2 neurons always fire"):
        ft.FineTuner(net, hyper, train, "dynapse2")
    with pytest.raises(RuntimeError, match="engine 'board': cannot fine-tune a membrane read-out.*vmem"):
        ft.FineTuner(net, hyper, train, CHIP, engine="board")


def test_cli_hil_fine_tunes_a_membrane_model_file(membrane_problem, tmp_path, capsys):
    from fpsnn.cli import main

    net, hyper, _, _ = membrane_problem
    enc = datasets.spec("yinyang").encoder(hyper)
    model = io.save_model(tmp_path / "m.fpsnn", net, {"dataset": "yinyang", "hyper": hyper.to_dict(),
                                                       "encoder": enc.to_dict()})
    assert main(["hil", str(model), "--target", CHIP, "--engine", "emulator", "--epochs", "1", "--train-subset",
                 "60", "--test-subset", "40", "--out", str(tmp_path / "run"), "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["test_accuracy"] <= 1 and "test_accuracy_at_chip_times" in out["history"][-1]
    assert io.read_file(out["model"]).net.readout
