"""Fixtures of the fine-tuning tests: one small trained Yin-Yang network, its data, and its model file."""
import pytest

from fpsnn import datasets, io
from fpsnn.training import Trainer


@pytest.fixture(scope="session")
def problem():
    """A small trained Yin-Yang network (12 hidden) and its data: the tests' common starting point."""
    spec = datasets.spec("yinyang")
    hyper = spec.paper.replace(hidden=(12,), lr=0.01, batch_size=40, epochs=6)
    enc = spec.encoder(hyper)
    x, y = datasets.load("yinyang", "train")
    xt, yt = datasets.load("yinyang", "test")
    train, test = (enc(x[:120]), y[:120]), (enc(xt[:80]), yt[:80])
    net = Trainer(hyper, train, test, n_classes=3, seed=1, progress=False).fit().net
    return net, hyper, train, test


@pytest.fixture
def model_file(problem, tmp_path):
    """The problem's network saved as a model file, as `fpsnn train yinyang` writes it."""
    net, hyper, _, _ = problem
    enc = datasets.spec("yinyang").encoder(hyper)
    return io.save_model(tmp_path / "m.fpsnn", net, {"dataset": "yinyang", "hyper": hyper.to_dict(),
                                                      "encoder": enc.to_dict()})


@pytest.fixture(scope="session")
def membrane_problem():
    """A small Yin-Yang network with a mean-potential read-out (12 hidden, output theta = inf), its data:
    the default read-out of the temporal data sets, on a problem small enough for a unit test."""
    spec = datasets.spec("yinyang")
    hyper = spec.paper.replace(hidden=(12,), lr=0.01, batch_size=40, epochs=6, readout="mean_membrane",
                               count_scale=4.0)
    enc = spec.encoder(hyper)
    x, y = datasets.load("yinyang", "train")
    xt, yt = datasets.load("yinyang", "test")
    train, test = (enc(x[:120]), y[:120]), (enc(xt[:80]), yt[:80])
    net = Trainer(hyper, train, test, n_classes=3, seed=1, progress=False).fit().net
    assert net.readout
    return net, hyper, train, test
