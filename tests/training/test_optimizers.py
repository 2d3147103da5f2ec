"""Optimizers and learning-rate schedules (fpsnn.training.optimizers)."""
import numpy as np
import pytest

from fpsnn import datasets
from fpsnn.training import SGD, Adam, learning_rate, make_optimizer


def test_adam_first_step_moves_each_weight_by_lr_against_the_gradient_sign():
    opt = Adam([(2, 2)])
    p = [np.zeros((2, 2))]
    g = [np.array([[3.0, -0.5], [1e-3, -20.0]])]
    new = opt.step(p, g, lr=0.1)[0]
    np.testing.assert_allclose(new, -0.1 * np.sign(g[0]), rtol=1e-5)
    assert opt.t == 1 and np.all(p[0] == 0)  # inputs untouched


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_optimizer_state_round_trip_continues_identically(name):
    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=(3,))] for _ in range(6)]
    hyper = datasets.spec("xor").hyper.replace(optimizer=name, momentum=0.9)
    a = make_optimizer(hyper, [(3,)])
    pa = [np.zeros(3)]
    for g in grads[:3]:
        pa = a.step(pa, g, 0.01)
    arrays, scalars = a.state()
    b = make_optimizer(hyper, [(3,)])
    assert type(b) is (Adam if name == "adam" else SGD)
    b.load_state(arrays, scalars)
    pb = [p.copy() for p in pa]
    for g in grads[3:]:
        pa = a.step(pa, g, 0.01)
        pb = b.step(pb, g, 0.01)
    np.testing.assert_array_equal(pa[0], pb[0])
    assert not np.array_equal(pa[0], np.zeros(3))


def test_sgd_with_momentum():
    opt = SGD([(1,)], momentum=0.5)
    p = opt.step([np.array([1.0])], [np.array([2.0])], lr=0.1)
    p = opt.step(p, [np.array([2.0])], lr=0.1)
    np.testing.assert_allclose(p[0], [1.0 - 0.2 - 0.1 * (0.5 * 2 + 2)])


def test_learning_rate_schedules():
    h = datasets.spec("xor").hyper
    assert learning_rate(h, 57) == h.lr  # the paper: constant
    step = h.replace(schedule="step", lr_step=10, lr_decay=0.5)
    assert [learning_rate(step, e) for e in (0, 9, 10, 25)] == [0.1, 0.1, 0.05, 0.025]
    cos = h.replace(schedule="cosine", lr_decay=0.01, epochs=100)
    assert learning_rate(cos, 0) == pytest.approx(0.1)
    assert learning_rate(cos, 50) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert learning_rate(cos, 100) == pytest.approx(0.001)
    assert learning_rate(cos, 10, epochs=20) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))  # the run's own length
