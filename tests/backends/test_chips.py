"""Chip description files and their loader."""
import dataclasses

import pytest

from fpsnn.backends import chips

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
import tomli_w

SHIPPED = ["dynapse2", "loihi2", "xylo-audio2", "xylo-audio3", "xylo-imu"]


def test_every_shipped_chip_loads():
    assert chips.available() == SHIPPED
    for name in SHIPPED:
        d = chips.load(name)
        assert d.name == name and d.source.endswith(f"{name}.toml")


def test_shipped_values_follow_hardware_notes():
    a2, imu, a3 = chips.load("xylo-audio2"), chips.load("xylo-imu"), chips.load("xylo-audio3")
    assert (a2.n_inputs, a2.n_hidden, a2.n_outputs, a2.syn_per_hidden) == (16, 1000, 8, 2)
    assert (imu.n_inputs, imu.n_hidden, imu.n_outputs, imu.syn_per_hidden) == (16, 496, 16, 1)
    assert (a3.n_hidden, a3.n_outputs, a3.input_targets, a3.output_sources) == (992, 32, 128, 128)
    assert a2.part == "SYNS61201" and imu.part == "SYNS63300" and a3.part == "SYNS65302"
    for d in (a2, imu, a3):
        assert d.family == "xylo" and d.version == 2 and d.reset == "subtract" and d.spike_condition == ">="
        assert (d.max_input_events, d.max_hidden_events, d.max_output_events) == (15, 31, 1)
        assert d.weight_range == (-128, 127) and d.state_range == (-32768, 32767)
    loihi = chips.load("loihi2")
    assert loihi.scalings["vth_shift"] == 6 and loihi.scalings["activation_shift"] == 6
    assert loihi.reset == "to_zero" and loihi.spike_condition == ">" and loihi.decay_max == 4095
    assert chips.load("dynapse2").decay_encoding == "analog"


def test_load_accepts_a_path_and_a_description(tmp_path):
    d = chips.load("xylo-imu")
    assert chips.load(d) is d
    assert chips.load(d.source) == d


def _write(tmp_path, edit):
    """Copy xylo-audio2.toml with ``edit(table)`` applied; return its path."""
    with open(chips.config_dir() / "xylo-audio2.toml", "rb") as fh:
        data = tomllib.load(fh)
    edit(data)
    path = tmp_path / "chip.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["neurons"].pop("hidden"), ["missing key neurons.hidden"]),
    (lambda d: d.pop("bits"), ["missing table [bits]"]),
    (lambda d: d["neurons"].update(hidden="many"), ["neurons.hidden", "expected int"]),
    (lambda d: d["neurons"].update(hidden=0), ["neurons.hidden", ">= 1"]),
    (lambda d: d["connectivity"].update(recurrent=1), ["connectivity.recurrent", "expected bool"]),
    (lambda d: d.update(family="tpu"), ["family", "'tpu'"]),
    (lambda d: d["decay"].update(encoding="exp"), ["decay.encoding"]),
    (lambda d: d["decay"].update(min=5, max=2), ["decay.max"]),
    (lambda d: d["reset"].update(rule="hold"), ["reset.rule"]),
    (lambda d: d["time"].update(dt=-1.0), ["time.dt", "> 0"]),
    (lambda d: d["time"].update(unit="hours"), ["time.unit"]),
    (lambda d: d["bits"].update(weight=40), ["bits.weight", "0..32"]),
    (lambda d: d["neurons"].update(input_targets=5000), ["neurons.input_targets", "<= hidden"]),
    (lambda d: d["events"].update(max_hidden_per_step=0), ["events.max_hidden_per_step"]),
    (lambda d: d["scalings"].update(x=1.5), ["scalings.x", "integer"]),
    (lambda d: d["neurons"].update(extra=1), ["unknown key neurons.extra"]),
    (lambda d: d.update(schema=2), ["schema"]),
])
def test_loader_names_file_and_key(tmp_path, edit, words):
    path = _write(tmp_path, edit)
    with pytest.raises(ValueError) as exc:
        chips.load(path)
    msg = str(exc.value)
    assert str(path) in msg and all(w in msg for w in words), msg


def test_loader_rejects_bad_toml_and_unknown_names(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        chips.load(bad)
    with pytest.raises(ValueError, match="unknown chip 'xylo-audio9'.*xylo-audio2"):
        chips.load("xylo-audio9")


def test_dataclass_checks_values_built_in_code():
    d = chips.load("xylo-audio2")
    with pytest.raises(ValueError, match="n_hidden"):
        dataclasses.replace(d, n_hidden=-1, source="")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.n_hidden = 5
