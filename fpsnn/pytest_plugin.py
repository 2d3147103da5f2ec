"""pytest plugin shipped with fpsnn (registered through the ``pytest11`` entry point).

For a user's own CI: check that a trained network still deploys to a chip and still scores, on
fpsnn's bit-accurate emulators, without a board::

    from fpsnn.pytest_plugin import assert_fits, assert_accuracy_within

    def test_my_model_still_deploys():
        assert_fits("model.fpsnn", "xylo-audio2")
        assert_accuracy_within("model.fpsnn", "xylo-audio2", "yinyang", points=0.5)

    def test_on_every_chip(fpsnn_emulator):          # one test per digital target (see --fpsnn-target)
        program, _ = fpsnn_emulator.compile(net)
        result = fpsnn_emulator.run(program, x, t_max=net.t_max)

Helpers: :func:`assert_fits`, :func:`assert_accuracy_within`, :func:`assert_spikes_equal`.
Fixtures: ``fpsnn_target`` (a target name; tests using it run once per target given with
``--fpsnn-target NAME`` (repeatable), default every target with a bit-accurate emulator) and
``fpsnn_emulator`` (a :class:`TargetEmulator` for that target). Only numpy is imported when pytest
loads the plugin; fpsnn's backends load when a helper runs.
"""
from __future__ import annotations

import numpy as np
import pytest

__all__ = ["assert_spikes_equal", "assert_fits", "assert_accuracy_within", "lost_points", "TargetEmulator",
           "emulated_targets"]


def assert_spikes_equal(a, b, what: str = "spikes") -> None:
    """Assert two spike rasters / spike-time arrays (or lists of them, one per layer) are identical.

    Integer rasters must be equal entry for entry; float spike times must be equal including the
    +inf padding. The message names the first differing layer, sample, step/neuron.
    """
    la = a if isinstance(a, (list, tuple)) else [a]
    lb = b if isinstance(b, (list, tuple)) else [b]
    assert len(la) == len(lb), f"{what}: {len(la)} layers vs {len(lb)}"
    for l, (x, y) in enumerate(zip(la, lb)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape, f"{what}[{l}]: shape {x.shape} vs {y.shape}"
        diff = ~((x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" else (x == y))
        if np.any(diff):
            first = tuple(int(i) for i in np.argwhere(diff)[0])
            raise AssertionError(f"{what}[{l}] differ at {first}: {x[first]} vs {y[first]} "
                                 f"({int(diff.sum())} entries differ)")


def emulated_targets() -> list:
    """Targets with a bit-accurate emulator (the digital chips), by name."""
    from .deploy import emulated_targets as targets

    return targets()


def assert_fits(model, target: str, dt: float | None = None):
    """Assert ``model`` (a Network or a model file) maps onto ``target``; returns ``(program, report)``.

    The failure message is the mapper's: it names the chip limit and the numbers.
    """
    from . import backends
    from .finetune.chipaware import recorded_dt
    from .resolve import read_model

    net, metadata, _ = read_model(model)
    dt = recorded_dt(metadata, target) if dt is None else dt   # a chip-aware model knows its step
    try:
        return backends.get(target).compile(net, dt=dt)
    except ValueError as exc:
        raise AssertionError(f"{target}: the network does not fit: {exc}") from None


def lost_points(ref: float, acc: float, samples: int) -> float:
    """Percentage points from accuracy ``ref`` down to ``acc`` on ``samples`` samples, from whole sample
    counts: 974 against 964 correct of 1000 is exactly 1 point (``100 * (0.974 - 0.964)`` is not)."""
    lost = int(round(ref * samples)) - int(round(acc * samples))
    return 100.0 * lost / samples


def assert_accuracy_within(model, target: str, data, points: float, engine: str = "emulator",
                           dt: float | None = None, subset: int | None = None) -> dict:
    """Assert the accuracy on ``target`` is at most ``points`` percentage points below the float model's.

    Args:
        model: a Network or a model file.
        target: a chip name (:func:`fpsnn.backends.available_targets`).
        data: data set name / ``"name:split"`` (default split test), or ``(x, y)`` encoded spike times
            and labels (see :func:`fpsnn.deploy.load_data`).
        points: allowed loss in percentage points (0.5 = half a point), >= 0.
        engine: ``"emulator"`` (default, bit-accurate, no vendor software needed), ``"vendor"`` or ``"auto"``.
        subset: first ``subset`` samples only.

    Both accuracies follow the model's read-out (:func:`fpsnn.deploy.model_readout`); a membrane
    read-out is compiled with the potential range of ``data`` and scored on the recorded output
    potential (:func:`fpsnn.backends.readout.chip_accuracy`).

    Returns:
        ``{"accuracy", "float_accuracy", "loss_points", "engine_name", "samples"}``.
    """
    from . import backends
    from .backends.readout import chip_accuracy, needs_potential, readout_range
    from .deploy import float_accuracy, load_data, model_readout
    from .resolve import read_model

    if not (np.isfinite(points) and points >= 0):
        raise ValueError(f"points = {points}: must be finite and >= 0 (percentage points)")
    from .finetune.chipaware import recorded_dt

    net, metadata, _ = read_model(model)
    hyper = model_readout(net, metadata)
    backend = backends.get(target)
    dt = recorded_dt(metadata, target) if dt is None else dt
    program, report = assert_fits(net, target, dt)
    x, y, name = load_data(data, metadata, subset, net=net)
    record = needs_potential(hyper)
    if record:
        program, report = backend.compile(net, dt=dt, readout_range=readout_range(net, x))
    res = backend.run(program, x, engine=engine, t_max=net.t_max, record=record)
    acc = chip_accuracy(backend, program, report, res, y, hyper, net.t_max)["accuracy"]
    ref = float_accuracy(net, x, y, hyper)
    loss = lost_points(ref, acc, len(y))
    out = {"accuracy": acc, "float_accuracy": ref, "loss_points": loss, "engine_name": res.engine_name,
           "samples": int(len(y))}
    assert loss <= points, (f"{target} ({res.engine_name}) on {name}: accuracy {100 * acc:.2f} % vs float "
                            f"{100 * ref:.2f} %: loses {loss:.2f} points, more than the allowed {points}")
    return out


class TargetEmulator:
    """The bit-accurate emulator of one target: ``compile(model)`` then ``run(program, x, t_max)``."""

    def __init__(self, target: str):
        from . import backends

        self.target = target
        self.backend = backends.get(target)
        ok, why = self.backend.available("emulator")
        if not ok:
            raise ValueError(f"target: {target} has no bit-accurate emulator ({why})")

    def compile(self, model, dt: float | None = None):
        """``(program, report)``; AssertionError naming the limit when the model does not fit."""
        return assert_fits(model, self.target, dt)

    def run(self, program, x, t_max: float):
        """:class:`fpsnn.backends.RunResult` of the emulator on input spike times ``x``."""
        return self.backend.run(program, x, engine="emulator", t_max=t_max)


# ------------------------------------------------------------------------------------------ pytest hooks
def pytest_addoption(parser):
    group = parser.getgroup("fpsnn")
    group.addoption("--fpsnn-target", action="append", default=None, metavar="NAME",
                    help="chip target for tests using the fpsnn_target / fpsnn_emulator fixtures "
                         "(repeatable; default: every target with a bit-accurate emulator)")


def pytest_generate_tests(metafunc):
    if "fpsnn_target" in metafunc.fixturenames:
        targets = metafunc.config.getoption("fpsnn_target") or emulated_targets()
        metafunc.parametrize("fpsnn_target", targets)


@pytest.fixture
def fpsnn_emulator(fpsnn_target) -> TargetEmulator:
    """The emulator of the current ``fpsnn_target``."""
    return TargetEmulator(fpsnn_target)
