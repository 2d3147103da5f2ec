"""Trainer (fpsnn.training.trainer): initialisation, reproducibility, exact resumption, real training runs."""
import numpy as np
import pytest

from fpsnn import datasets, io
from fpsnn import training as train


# ------------------------------------------------------------------------------------ initialisation
def test_init_network_uses_the_spec_distribution():
    h = datasets.spec("yinyang").hyper.replace(hidden=(400,))
    net = train.init_network(h, 5, 3, np.random.default_rng(0))
    assert net.sizes == (400, 3) and net.t_max == h.t_input_max
    assert abs(net.weights[0].mean() - 1.5) < 0.05 and abs(net.weights[0].std() - 0.8) < 0.05
    assert abs(net.weights[1].mean() - 2.0) < 0.02 and abs(net.weights[1].std() - 0.1) < 0.02
    assert float(net.alpha[0][0]) == 0.999 and float(net.beta[1][0]) == 1.0


# ------------------------------------------------------------------------------------ training runs
def test_xor_reaches_full_training_accuracy():
    r = train.fit_dataset("xor", seed=0, until_accuracy=1.0)
    assert r.stopped_early and r.final["train_accuracy"] == 1.0
    assert r.history[0]["train_accuracy"] < 1.0 and r.epochs <= 100


def test_iris_with_a_reference_spike_learns_beyond_the_shift_invariant_limit():
    # Table 2 does not reach the paper's 100 % (see fpsnn/datasets/iris.py): with tau1 = T/2 it plateaus at
    # ~83 % train / 90 % test. The reference-spike variant must beat the ~88 % ceiling of any classifier
    # that sees only feature differences; measured 100 % test, 97.5 % train at seed 0 (9 of seeds 0-9 at
    # 100 % test).
    from fpsnn.datasets.iris import REFERENCE_SPIKE_HYPERPARAMETERS

    r = train.fit_dataset("iris", REFERENCE_SPIKE_HYPERPARAMETERS, seed=0)
    assert r.history[0]["test_accuracy"] < 0.5
    assert r.final["test_accuracy"] >= 0.95, [h["test_accuracy"] for h in r.history[::10]]
    assert r.final["train_accuracy"] >= 0.95
    assert r.final["dead_hidden"] == [0] and r.history[0]["dead_hidden"] == [0]


def test_iris_table2_penalty_swamps_the_cross_entropy_and_tau1_of_half_t_fixes_it():
    # Table 2 as printed (tau1 = 1, T = 16): gamma e^{f/tau1} dominates the gradient (~1e4 x the cross
    # entropy's) and training ends at 33 % for seed 0; tau1 = T/2 trains to the 90 % shift-equivariant
    # plateau with no silent output (fpsnn/datasets/iris.py).
    from fpsnn.datasets.iris import HYPERPARAMETERS, PENALTY_SCALED_HYPERPARAMETERS
    from fpsnn.losses import FirstSpikeCrossEntropy

    x, y = datasets.load("iris", "train")
    t = datasets.encoder("iris", HYPERPARAMETERS)(x)
    net = train.Trainer(HYPERPARAMETERS, (t, y), seed=0, progress=False).initial_network()
    grads = {}
    for gamma in (HYPERPARAMETERS.gamma, 0.0):
        _, g = net.value_and_grad(t, FirstSpikeCrossEntropy(y, tau0=1.0, tau1=1.0, gamma=gamma))
        grads[gamma] = np.concatenate([w.ravel() for w in g["weights"]])
    ratio = np.linalg.norm(grads[HYPERPARAMETERS.gamma] - grads[0.0]) / np.linalg.norm(grads[0.0])
    assert ratio > 1e3

    assert PENALTY_SCALED_HYPERPARAMETERS.tau1 == 8.0
    r = train.fit_dataset("iris", PENALTY_SCALED_HYPERPARAMETERS, seed=0)
    assert r.final["test_accuracy"] >= 0.85 and r.final["train_accuracy"] >= 0.8
    assert r.final["silent_outputs"] == 0.0


def test_yinyang_short_run_on_a_subset_improves_accuracy():
    h = datasets.spec("yinyang").hyper.replace(epochs=3, batch_size=50, lr=0.01)
    r = train.fit_dataset("yinyang", h, seed=1, train_subset=500, test_subset=300)
    before, after = r.history[0], r.history[-1]
    assert after["train_accuracy"] > before["train_accuracy"] + 0.1
    assert after["test_accuracy"] > before["test_accuracy"] + 0.1
    assert after["loss"] < r.history[1]["loss"]


def _short_yinyang(**changes):
    settings = dict(epochs=4, batch_size=40, lr=0.01, hidden=(20,))
    settings.update(changes)
    return datasets.spec("yinyang").hyper.replace(**settings)


def test_same_seed_same_run_other_seed_other_run():
    h = _short_yinyang(epochs=1)
    a = train.fit_dataset("yinyang", h, seed=5, train_subset=120, test_subset=50)
    b = train.fit_dataset("yinyang", h, seed=5, train_subset=120, test_subset=50)
    c = train.fit_dataset("yinyang", h, seed=6, train_subset=120, test_subset=50)
    for wa, wb in zip(a.net.weights, b.net.weights):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.initial_weights[0], c.initial_weights[0])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_after_a_kill_gives_bit_identical_weights(tmp_path, optimizer):
    h = _short_yinyang(optimizer=optimizer, momentum=0.9, schedule="step", lr_step=2, lr_decay=0.5)
    full = train.fit_dataset("yinyang", h, seed=3, train_subset=160, test_subset=100, out_dir=tmp_path / "full")
    killed = train.fit_dataset("yinyang", h, seed=3, train_subset=160, test_subset=100, out_dir=tmp_path / "cut", stop_after=2)
    assert killed.epochs == 2 and killed.model_path is None
    assert not (tmp_path / "cut" / train.MODEL_NAME).exists()
    resumed = train.fit_dataset("yinyang", h, seed=3, train_subset=160, test_subset=100, out_dir=tmp_path / "cut", resume=True)
    assert resumed.epochs == 4
    for wa, wb in zip(full.net.weights, resumed.net.weights):
        np.testing.assert_array_equal(wa, wb)
    strip = lambda hist: [{k: v for k, v in row.items() if k != "wall_s"} for row in hist]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)
    # And the weights actually moved during the resumed part (the test can fail).
    assert not np.array_equal(killed.net.weights[0], resumed.net.weights[0])


def test_resume_refuses_other_hyperparameters_or_seed(tmp_path):
    h = _short_yinyang(epochs=2)
    train.fit_dataset("yinyang", h, seed=3, train_subset=80, test_subset=50, out_dir=tmp_path, stop_after=1)
    with pytest.raises(ValueError, match="cannot resume.*lr"):
        train.fit_dataset("yinyang", h.replace(lr=0.02), seed=3, train_subset=80, test_subset=50, out_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="cannot resume.*seed"):
        train.fit_dataset("yinyang", h, seed=4, train_subset=80, test_subset=50, out_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="cannot resume.*data"):
        train.fit_dataset("yinyang", h, seed=3, train_subset=81, test_subset=50, out_dir=tmp_path, resume=True)


def test_model_file_holds_everything_to_evaluate_again(tmp_path):
    r = train.fit_dataset("xor", seed=0, out_dir=tmp_path, until_accuracy=1.0)
    f = io.read_file(r.model_path)
    md = f.metadata
    assert md["dataset"] == "xor" and md["hyper"]["lr"] == 0.1 and md["metrics"]["train_accuracy"] == 1.0
    assert len(md["history"]) == r.epochs + 1 and md["encoder"]["t_max"] == 2.0
    np.testing.assert_array_equal(f.arrays["initial/weights/0"], r.initial_weights[0])
    from fpsnn.encoding import LatencyEncoder

    x, y = datasets.load("xor", "test")
    m = train.evaluate(f.net, LatencyEncoder.from_dict(md["encoder"])(x), y)
    assert m["accuracy"] == 1.0
    assert (tmp_path / train.CHECKPOINT_NAME).exists()


def test_trainer_input_validation():
    h = datasets.spec("xor").hyper
    with pytest.raises(ValueError, match="train"):
        train.Trainer(h, (np.zeros((3, 2)), np.zeros(4, dtype=int)))
    with pytest.raises(ValueError, match="until_accuracy"):
        train.Trainer(h, (np.zeros((4, 2)), np.zeros(4, dtype=int)), until_accuracy=1.5)
    with pytest.raises(ValueError, match="resume"):
        train.Trainer(h, (np.zeros((4, 2)), np.zeros(4, dtype=int)), progress=False).fit(resume=True)
