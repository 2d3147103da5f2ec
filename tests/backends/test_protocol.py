"""The Backend protocol: every family-specific operation is a method, and the registry names the families."""
import dataclasses
import importlib
import warnings

import numpy as np
import pytest

import fpsnn
from fpsnn import backends
from fpsnn.backends import chips, registry
from fpsnn.backends.dynapse.mapping import quantize_dynapse
from fpsnn.backends.loihi.program import LoihiDense, LoihiLayer, LoihiProgram
from fpsnn.backends.mismatch import MismatchTarget

DIGITAL = ["xylo-audio2", "xylo-audio3", "xylo-imu", "loihi2"]


def _net(n_in=4, sizes=(20, 3), seed=0, t_max=2.0):
    rng = np.random.default_rng(seed)
    weights, prev = [], n_in
    for n in sizes:
        weights.append(rng.normal(0.5, 0.5, (prev, n)))
        prev = n
    return fpsnn.Network(weights=weights, alpha=2.0, beta=1.0, theta=1.5, t_max=t_max)


def _programs_equal(a, b) -> bool:
    """Every array field (and nested layer field) of two programs of one family equal."""
    def flat(p):
        out = []
        for f in dataclasses.fields(p):
            v = getattr(p, f.name)
            items = v if isinstance(v, tuple) and f.name in ("layers", "recurrent") else (v,)
            for item in items:
                out += flat(item) if dataclasses.is_dataclass(item) else [np.asarray(item if item is not None else -1)]
        return out
    return all(np.array_equal(x, y) for x, y in zip(flat(a), flat(b)))


def test_registry_lists_the_five_targets_and_is_the_only_family_table():
    names = ["dynapse2", "loihi2", "xylo-audio2", "xylo-audio3", "xylo-imu"]
    assert backends.available_targets() == names
    assert backends.list() == names                     # deprecated alias of available_targets
    assert registry.families() == ("xylo", "loihi", "dynapse")
    for name in names:
        assert backends.get(name).family == chips.load(name).family
    with pytest.raises(ValueError, match="family: unknown 'tpu'; expected one of xylo, loihi, dynapse"):
        registry.backend_class("tpu")


def test_a_chip_file_with_an_unregistered_family_is_rejected(tmp_path):
    text = (chips.config_dir() / "loihi2.toml").read_text().replace('family = "loihi"', 'family = "spinnaker"')
    path = tmp_path / "spinnaker.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"family = 'spinnaker': must be one of \('xylo', 'loihi', 'dynapse'\)"):
        chips.load(path)


def test_default_dt_is_the_family_step_count():
    net = _net(t_max=2.0)
    assert backends.get("xylo-imu").default_dt(net) == 2.0 / 64
    assert backends.get("loihi2").default_dt(net) == 2.0 / 128
    assert backends.get("dynapse2").default_dt(net) == 2.0 / 128


@pytest.mark.parametrize("target", DIGITAL)
def test_dequantize_of_compile_is_close_to_the_float_network(target):
    b = backends.get(target)
    net = _net()
    program, _ = b.compile(net)
    chip_net = b.dequantize(program, like=net)
    assert chip_net.sizes == net.sizes and chip_net.t_max == net.t_max and chip_net.max_spikes == net.max_spikes
    for l in range(net.n_layers):
        np.testing.assert_array_equal(chip_net.theta[l], net.theta[l])
        rel = np.max(np.abs(chip_net.weights[l] - net.weights[l])) / np.max(np.abs(net.weights[l]))
        assert rel < 0.02, (target, l, rel)
        # the effective time constants of the decay codes: within one code of the float ones
        np.testing.assert_allclose(1 / chip_net.alpha[l], 1 / net.alpha[l], rtol=0.05)
        np.testing.assert_allclose(1 / chip_net.beta[l], 1 / net.beta[l], rtol=0.05)


def test_dequantize_inverts_the_dynapse_mapping_gains_included():
    b = backends.get("dynapse2")
    net = _net(sizes=(12, 3))
    for gains in (None, [2.0, 0.5]):
        program, _ = quantize_dynapse(net, b.chip, b.default_dt(net), gains=gains)
        chip_net = b.dequantize(program, like=net)
        for l in range(net.n_layers):
            # 4-bit weight codes: at most half a code (1/30 of the layer's largest weight) off
            err = np.max(np.abs(chip_net.weights[l] - net.weights[l])) / np.max(np.abs(net.weights[l]))
            assert err <= 1 / 30 + 1e-9, (gains, l, err)
            np.testing.assert_allclose(1 / chip_net.alpha[l], 1 / net.alpha[l], rtol=1e-9)
            np.testing.assert_allclose(1 / chip_net.beta[l], 1 / net.beta[l], rtol=1e-9)


def test_dequantize_rejects_a_program_of_other_sizes():
    b = backends.get("loihi2")
    program, _ = b.compile(_net())
    with pytest.raises(ValueError, match=r"layer sizes \(20, 3\) differ from like's \(20, 4\)"):
        b.dequantize(program, like=_net(sizes=(20, 4)))


@pytest.mark.parametrize("target", DIGITAL)
def test_perturb_with_spread_0_is_identity_and_a_seed_is_one_device(target):
    b = backends.get(target)
    program, _ = b.compile(_net())
    assert _programs_equal(b.perturb(program, 0.0, seed=5), program)
    d1, d1_again, d2 = b.perturb(program, 0.2, seed=1), b.perturb(program, 0.2, seed=1), b.perturb(program, 0.2, seed=2)
    assert type(d1) is type(program)
    assert _programs_equal(d1, d1_again) and not _programs_equal(d1, program) and not _programs_equal(d1, d2)
    with pytest.raises(ValueError, match=r"spread = 2.0: must be in \[0, 1\]"):
        b.perturb(program, 2.0)


def test_dynapse_perturb_records_dynapsim_mismatch_on_the_program():
    b = backends.get("dynapse2")
    net = _net(sizes=(12, 3))
    program, _ = quantize_dynapse(net, b.chip, b.default_dt(net))
    assert program.mismatch is None
    device = b.perturb(program, 0.1, seed=7)
    assert (device.mismatch, device.mismatch_seed) == (0.1, 7) and program.mismatch is None
    nominal = b.perturb(device, 0.0)
    assert nominal.mismatch is None and nominal.mismatch_seed is None
    with pytest.raises(ValueError, match=r"spread = 1.0: must be a fraction in \[0, 1\)"):
        b.perturb(program, 1.0)


def test_mismatch_target_runs_the_backend_perturbed_program():
    b = backends.get("xylo-audio2")
    net = _net()
    program, _ = b.compile(net)
    x = np.random.default_rng(3).uniform(0, 1.0, (6, 4))
    device = MismatchTarget(b, 0.3, seed=4)
    got = device.run(program, x, engine="emulator", t_max=net.t_max)
    want = b.run(b.perturb(program, 0.3, 4), x, engine="emulator", t_max=net.t_max)
    for g, w in zip(got.rasters, want.rasters):
        np.testing.assert_array_equal(g, w)


def test_check_fits_names_the_limit_and_what_to_pass_instead():
    with pytest.raises(ValueError) as exc:
        backends.get("xylo-imu").check_fits(_net(sizes=(150, 3)))
    assert str(exc.value) == ("hidden = 150 > 128 neurons reachable from the inputs on xylo-imu: "
                              "train with --hidden 128 or fewer")
    with pytest.raises(ValueError, match=r"hidden = 1500 > 1000 allowed on xylo-audio2: train with --hidden 1000"):
        backends.get("xylo-audio2").check_fits(_net(sizes=(1500, 3)))
    with pytest.raises(ValueError, match=r"outputs = 9 > 8 allowed on xylo-audio2: .*at most 8 classes"):
        backends.get("xylo-audio2").check_fits(_net(sizes=(20, 9)))
    with pytest.raises(ValueError, match=r"layers = 3 > 2 on xylo-audio2: train with at most 1 hidden layer"):
        backends.get("xylo-audio2").check_fits(_net(sizes=(10, 10, 3)))
    with pytest.raises(ValueError, match=r"layers = 1, but a program on xylo-audio2 has exactly one hidden and one output"):
        backends.get("xylo-audio2").check_fits(_net(sizes=(3,)))
    with pytest.raises(ValueError, match=r"max_fan_in = 80 > 64 allowed on dynapse2: .*more than 64"):
        backends.get("dynapse2").check_fits(_net(n_in=80, sizes=(10, 3)))
    with pytest.raises(ValueError, match=r"layers = 17 > 16 on loihi2: train with at most 15 hidden layer"):
        backends.get("loihi2").check_fits(_net(sizes=(4,) * 16 + (3,)))
    with pytest.raises(ValueError, match="net: expected an fpsnn.Network"):
        backends.get("loihi2").check_fits("model.npz")
    for target in backends.available_targets():
        backends.get(target).check_fits(_net())        # fits: no error


def test_resources_count_the_network_and_the_placement():
    net = _net(sizes=(12, 3))
    res = backends.get("xylo-audio2").resources(net)
    assert res == {"inputs": [4, 16], "hidden_neurons": [12, 1000], "output_neurons": [3, 8],
                   "synapses": [4 * 12 + 12 * 3, None], "max_fan_in": [12, 1016], "max_fan_out": [3, 64],
                   "layers": [2, 2]}
    b = backends.get("dynapse2")
    program, _ = quantize_dynapse(net, b.chip, b.default_dt(net))
    res = b.resources(net, program)
    assert res["cores"] == [2, 16] and res["max_fan_out"] == [1, 4]     # fan-out in destination cores


def test_programs_share_one_attribute_name_per_concept():
    net = _net(sizes=(12, 3))
    progs = [backends.get(t).compile(net)[0] for t in ("xylo-audio2", "loihi2")]
    b = backends.get("dynapse2")
    progs.append(quantize_dynapse(net, b.chip, b.default_dt(net))[0])
    for p in progs:
        assert (p.n_inputs, p.n_outputs, tuple(p.sizes)) == (4, 3, (12, 3)) and p.dt > 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.dt = 1.0
    assert progs[0].n_in == 4 and progs[2].n_in == 4      # deprecated spelling kept


def test_loihi_layers_are_typed_and_rebuild_from_their_fields():
    program, _ = backends.get("loihi2").compile(_net())
    layer = program.layers[0]
    assert isinstance(layer, LoihiLayer) and isinstance(program.layers, tuple)
    assert layer.weights.dtype == np.int64 and layer.vth.shape == (20,)
    assert layer["vth"] is layer.vth                      # deprecated dict-style access
    assert isinstance(layer.dense, LoihiDense)
    again = LoihiProgram(layers=[l.to_dict() for l in program.layers], recurrent=list(program.recurrent),
                         dt=program.dt)
    assert _programs_equal(again, program)


@pytest.mark.parametrize("old, new, name", [
    ("fpsnn.backends.emulator", "fpsnn.backends.xylo.program", "XyloProgram"),
    ("fpsnn.backends.emulator", "fpsnn.backends.loihi.program", "LoihiProgram"),
    ("fpsnn.backends.emulator", "fpsnn.backends.result", "EmulatorResult"),
    ("fpsnn.backends.emulator.mismatch", "fpsnn.backends.mismatch", "MismatchTarget"),
    ("fpsnn.backends.emulator.mismatch", "fpsnn.backends.mismatch", "factors"),
    ("fpsnn.backends.lava.mapping", "fpsnn.backends.loihi.mapping", "quantize_loihi"),
    ("fpsnn.backends.lava.sim", "fpsnn.backends.loihi.vendor", "run_lava_fixed_pt"),
    ("fpsnn.backends.lava.compat", "fpsnn.backends.loihi.compat", "import_lava"),
    ("fpsnn.backends.xylo.xylosim_ref", "fpsnn.backends.xylo.vendor", "run_xylosim"),
    ("fpsnn.backends.xylo.rockpool_spec", "fpsnn.backends.xylo.spec", "save_spec"),
    ("fpsnn.backends.dynapse.sim", "fpsnn.backends.dynapse.vendor", "run_dynapsim"),
    ("fpsnn.backends.dynapse.spec_file", "fpsnn.backends.dynapse.spec", "load_spec"),
    ("fpsnn.chips", "fpsnn.backends.chips", "load"),
    ("fpsnn.timegrid", "fpsnn.backends.timegrid", "encode"),
    ("fpsnn.quantize", "fpsnn.backends.report", "QuantizationReport"),
])
def test_deprecated_paths_give_the_objects_of_the_new_ones(old, new, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_deprecated_module_level_perturb_and_run_dispatch_through_the_registry():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fpsnn.backends import emulator
        from fpsnn.backends.emulator.mismatch import perturb
    for target in ("xylo-imu", "loihi2"):
        b = backends.get(target)
        program, _ = b.compile(_net())
        assert _programs_equal(perturb(program, 0.1, 3), b.perturb(program, 0.1, 3))
        raster = np.zeros((1, 8, 4), np.int64)
        raster[0, 0] = 1
        for a, c in zip(emulator.run(program, raster).spikes, program.run(raster).spikes):
            np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="program: no mismatch model for dict"):
        perturb({}, 0.1)


def test_quantize_alias_compiles_through_the_backend():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fpsnn.quantize import quantize
    net = _net()
    program, report = quantize(net, "loihi2", dt=2.0 / 128)
    want, _ = backends.get("loihi2").compile(net, dt=2.0 / 128)
    assert _programs_equal(program, want) and report.chip == "loihi2"


@pytest.mark.vendor
def test_dynapse_device_seed_fixes_dynapsim_mismatch():
    pytest.importorskip("jax")
    pytest.importorskip("rockpool")
    from fpsnn.backends.dynapse.vendor import build_network, run_dynapsim

    b = backends.get("dynapse2")
    net = _net(n_in=4, sizes=(16, 3))
    program, _ = quantize_dynapse(net, b.chip, b.default_dt(net))
    raster = np.zeros((2, 60, 4), np.int64)
    raster[:, 2] = 1
    runs = [run_dynapsim(b.perturb(program, 0.3, seed=s), raster).spikes for s in (1, 1, 2)]
    assert all(np.array_equal(a, c) for a, c in zip(runs[0], runs[1]))
    assert not all(np.array_equal(a, c) for a, c in zip(runs[0], runs[2]))
    state = np.random.get_state()
    build_network(b.perturb(program, 0.3, seed=1), 0.3)       # the seeded draw leaves the caller's generator alone
    assert all(np.array_equal(a, c) for a, c in zip(state, np.random.get_state()))
