"""Hyperparameters.t_input_max (formerly t_max): the new name, and every way the old one still comes in."""
import pytest

from fpsnn import datasets
from fpsnn.datasets import FORMER_NAMES, Hyperparameters, current_names


def test_the_encoders_last_input_time_is_t_input_max_and_the_window_is_separate():
    h = datasets.spec("xor").hyper
    assert h.t_input_max == 2.0 and h.simulation_window == 4.0      # XOR: inputs up to 2, simulated to 4
    assert "t_input_max" in h.to_dict() and "t_max" not in h.to_dict()
    assert h.t_max == h.t_input_max                                   # the former name reads the same value
    with pytest.raises(ValueError, match=r"t_early = 3.0: must be in \[0, t_input_max = 2.0\)"):
        h.replace(t_early=3.0)


def test_former_name_is_accepted_by_the_constructor_replace_and_from_dict():
    h = datasets.spec("yinyang").hyper
    old = h.to_dict()
    old["t_max"] = old.pop("t_input_max")                             # a model file written before the rename
    assert Hyperparameters.from_dict(old) == h and Hyperparameters(**old) == h
    assert h.replace(t_max=3.0).t_input_max == 3.0                    # TOML configs and --t-max go through replace
    with pytest.raises(ValueError, match="'t_max' is the former name of 't_input_max'"):
        h.replace(t_max=3.0, t_input_max=2.5)
    assert current_names({"t_max": 1.0, "lr": 0.1}) == {"t_input_max": 1.0, "lr": 0.1}
    assert set(FORMER_NAMES.values()) <= set(datasets.field_names())

