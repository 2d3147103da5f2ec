"""Example: keep a trained network deployable in your own CI, without a board.

Copy this file into your repository's tests, point ``FPSNN_MODEL`` at your model file (written by
``fpsnn train``) or edit ``MODEL`` below, and run ``pytest``. The fpsnn pytest plugin is active as soon
as fpsnn is installed (entry point ``pytest11``); its helpers run fpsnn's bit-accurate chip emulators.

    FPSNN_MODEL=runs/yinyang-seed0/model.fpsnn pytest tools/example_user_test.py
"""
import os
from pathlib import Path

import pytest

from fpsnn.pytest_plugin import assert_accuracy_within, assert_fits

MODEL = Path(os.environ.get("FPSNN_MODEL", "model.fpsnn"))
TARGET = os.environ.get("FPSNN_TARGET", "xylo-audio2")
DATA = os.environ.get("FPSNN_DATA", "yinyang:test")        # a data set name, or name:split
MAX_LOSS_POINTS = float(os.environ.get("FPSNN_MAX_LOSS", "0.5"))
SUBSET = int(os.environ["FPSNN_SUBSET"]) if "FPSNN_SUBSET" in os.environ else None

if not MODEL.is_file():
    pytest.skip(f"no model file at {MODEL} (set FPSNN_MODEL)", allow_module_level=True)


def test_model_still_fits_the_chip():
    program, report = assert_fits(MODEL, TARGET)
    assert report.chip == TARGET


def test_model_loses_at_most_the_allowed_points_on_the_chip():
    result = assert_accuracy_within(MODEL, TARGET, DATA, points=MAX_LOSS_POINTS, subset=SUBSET)
    print(f"{TARGET}: {100 * result['accuracy']:.2f} % on {result['engine_name']} "
          f"(float {100 * result['float_accuracy']:.2f} %)")


def test_every_digital_chip_accepts_it(fpsnn_target):
    """Runs once per target with a bit-accurate emulator (restrict with --fpsnn-target NAME)."""
    assert_fits(MODEL, fpsnn_target)
