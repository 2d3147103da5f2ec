"""Test-suite settings: every simulation checks Theorem 4 (positive diagonal, firing equations hold).

``tests/core/reference.py`` (the independent brute-force reference simulator) is importable as
``reference`` from every test folder; the ``fidelity_tool`` fixture is ``tools/fidelity.py`` loaded as a
module (tools are scripts, not a package).
"""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("FPSNN_DEBUG", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "core"))


@pytest.fixture(scope="session")
def fidelity_tool():
    path = Path(__file__).resolve().parents[1] / "tools" / "fidelity.py"
    spec = importlib.util.spec_from_file_location("fidelity_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
