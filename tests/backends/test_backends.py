"""Backend registry and the digital adapters (Xylo, Loihi) up to the board boundary, with the real
vendor software (xylosim, Lava fixed_pt). Nothing here imports samna."""
import json
import subprocess
import sys

import numpy as np
import pytest

import fpsnn
from fpsnn import backends
from fpsnn.backends import chips
from fpsnn.pytest_plugin import assert_spikes_equal

XYLO = ["xylo-audio2", "xylo-imu", "xylo-audio3"]


def _net(rng, n_in=5, n_hid=12, n_out=3, rec=False, t_max=2.0):
    w_rec = None
    if rec:
        w_rec = rng.normal(0.0, 0.3, (n_hid, n_hid))
        np.fill_diagonal(w_rec, 0.0)
    return fpsnn.Network(weights=[rng.normal(1.5, 0.8, (n_in, n_hid)), rng.normal(0.6, 0.6, (n_hid, n_out))],
                         alpha=1.0, beta=1.0, theta=1.0, t_max=t_max, recurrent=[w_rec, None])


def _inputs(rng, batch, n_in=5, t_max=2.0):
    return rng.uniform(0.1, 0.9 * t_max, (batch, n_in))


# ------------------------------------------------------------------------------------------- registry
def test_registry_names_are_the_chip_files_and_unknown_names_are_listed():
    assert backends.list() == chips.available()
    for name in backends.list():
        assert backends.get(name).name == name
    with pytest.raises(ValueError, match="target: unknown 'xylo9'.*xylo-audio2"):
        backends.get("xylo9")


def test_registry_imports_no_vendor_package():
    code = ("import sys, fpsnn, fpsnn.backends as b\n"
            "[b.get(n).available('emulator') for n in b.list()]\n"
            "[b.get(n).available('board') for n in b.list() if n != 'loihi2']\n"
            "print([m for m in ('lava', 'rockpool', 'xylosim', 'jax', 'samna') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------- Xylo
@pytest.mark.vendor
@pytest.mark.parametrize("target", XYLO)
def test_xylo_emulator_and_xylosim_give_identical_spikes(target):
    rng = np.random.default_rng(1)
    net = _net(rng, rec=target != "xylo-imu")       # IMU: recurrence allowed, keep one plain case
    b = backends.get(target)
    program, report = b.compile(net)
    x = _inputs(rng, 24)
    emu = b.run(program, x, engine="emulator", t_max=net.t_max)
    ven = b.run(program, x, engine="auto", t_max=net.t_max)
    assert ven.engine == "vendor" and ven.note == "" and ven.engine_name.startswith("xylosim 0.1.3")
    assert emu.engine == "emulator"
    assert_spikes_equal(emu.rasters, ven.rasters)
    assert_spikes_equal(emu.times, ven.times)
    assert sum(int(np.sum(r)) for r in emu.rasters) > 0     # the comparison is not between silences
    assert report.chip == target


def test_xylo_falls_back_to_the_emulator_when_xylosim_is_missing(monkeypatch):
    rng = np.random.default_rng(2)
    net = _net(rng)
    b = backends.get("xylo-audio2")
    program, _ = b.compile(net)
    for mod in ("xylosim", "xylosim.v1", "xylosim.v2"):
        monkeypatch.setitem(sys.modules, mod, None)     # as if not installed
    ok, why = b.available("vendor")
    assert not ok and "pip install xylosim==0.1.3" in why
    res = b.run(program, _inputs(rng, 4), t_max=net.t_max)
    assert res.engine == "emulator" and "vendor unavailable" in res.note and "xylosim" in res.note
    with pytest.raises(RuntimeError, match="engine 'vendor' unavailable"):
        b.run(program, _inputs(rng, 4), engine="vendor", t_max=net.t_max)


def test_board_engines_say_what_is_missing_and_never_import_samna():
    rng = np.random.default_rng(3)
    net = _net(rng)
    for target in XYLO + ["dynapse2"]:
        ok, why = backends.get(target).available("board")
        assert not ok and "samna" in why
    b = backends.get("xylo-audio2")
    program, _ = b.compile(net)
    with pytest.raises(RuntimeError, match="samna is not installed"):
        b.run(program, _inputs(rng, 2), engine="board", t_max=net.t_max)
    assert "samna" not in sys.modules


def test_xylo_network_that_does_not_fit_names_the_limit():
    rng = np.random.default_rng(4)
    net = _net(rng, n_hid=150)
    with pytest.raises(ValueError, match="hidden = 150 > 128 neurons reachable from the inputs on xylo-imu"):
        backends.get("xylo-imu").compile(net)
    with pytest.raises(ValueError, match="inputs = 17 > 16 allowed on xylo-audio2: encode the data with 16"):
        backends.get("xylo-audio2").compile(_net(rng, n_in=17))


def test_run_checks_its_arguments():
    rng = np.random.default_rng(5)
    net = _net(rng)
    b = backends.get("xylo-audio2")
    program, _ = b.compile(net)
    with pytest.raises(ValueError, match="t_max: required"):
        b.run(program, _inputs(rng, 2), engine="emulator")
    with pytest.raises(ValueError, match=r"x: expected spike times of shape \(batch, 5\)"):
        b.run(program, _inputs(rng, 2, n_in=4), engine="emulator", t_max=2.0)
    with pytest.raises(ValueError, match="engine: expected one of"):
        b.run(program, _inputs(rng, 2), engine="gpu", t_max=2.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        b.run(program, -_inputs(rng, 2), engine="emulator", t_max=2.0)


def test_rockpool_spec_file_spells_keys_for_each_consumer_and_round_trips(tmp_path):
    from fpsnn.backends.xylo.spec import load_spec, program_from_spec

    rng = np.random.default_rng(6)
    net = _net(rng, rec=True)
    b = backends.get("xylo-audio2")
    program, _ = b.compile(net)
    (path,) = b.write_artifacts(program, tmp_path)
    doc = json.loads(path.read_text())
    assert doc["fpsnn"]["rockpool_module"] == "rockpool.devices.xylo.syns61201"
    config, sim = load_spec(path, "config"), load_spec(path, "sim")
    assert "bias_hidden" in config and "bias" not in config and "dt" not in config
    assert "bias" in sim and "bias_hidden" not in sim and sim["dt"] == program.dt
    assert config["weights_in"].dtype == np.int8 and config["threshold"].dtype == np.int16
    assert config["weight_shift_in"] == program.weight_shift_inp
    np.testing.assert_array_equal(config["weights_rec"], program.weights_rec)
    back = program_from_spec(path)
    x = _inputs(rng, 8)
    assert_spikes_equal(b.run(back, x, engine="emulator", t_max=2.0).rasters,
                        b.run(program, x, engine="emulator", t_max=2.0).rasters)
    with pytest.raises(ValueError, match="target = 'samna'"):
        load_spec(path, "samna")


# ------------------------------------------------------------------------------------------- Loihi
@pytest.mark.vendor
def test_loihi_emulator_and_lava_fixed_pt_give_identical_spikes_with_recurrence():
    rng = np.random.default_rng(7)
    net = _net(rng, n_hid=10, rec=True)
    b = backends.get("loihi2")
    program, _ = b.compile(net)
    assert program.recurrent[0] is not None
    x = _inputs(rng, 6)
    emu = b.run(program, x, engine="emulator", t_max=net.t_max)
    lava = b.run(program, x, engine="vendor", t_max=net.t_max)
    assert "fixed_pt" in lava.engine_name
    assert_spikes_equal(emu.rasters, lava.rasters)
    assert int(np.sum(emu.rasters[-1])) > 0


def test_loihi_board_path_names_lava_loihi_and_binary_inputs_are_enforced():
    rng = np.random.default_rng(8)
    b = backends.get("loihi2")
    ok, why = b.available("board")
    assert not ok and "lava-loihi" in why
    net = _net(rng)
    program, _ = b.compile(net, dt=0.5)
    two_in_one_step = np.array([[[0.1, 0.2]] + [[1.0, np.inf]] * 4])
    with pytest.raises(ValueError, match="binary"):
        b.run(program, two_in_one_step, engine="emulator", t_max=2.0)


def test_loihi_without_lava_says_so_and_runs_the_emulator(monkeypatch):
    rng = np.random.default_rng(9)
    net = _net(rng)
    b = backends.get("loihi2")
    program, _ = b.compile(net)
    monkeypatch.setitem(sys.modules, "lava", None)        # as if lava-nc were not installed
    ok, why = b.available("vendor")
    assert not ok and "lava-nc is not installed" in why and "\n" not in why
    res = b.run(program, _inputs(rng, 3), t_max=net.t_max)
    assert res.engine == "emulator" and "lava-nc is not installed" in res.note
    assert not b.available("board")[0]
