"""Test-suite settings: every simulation checks Theorem 4 (positive diagonal, firing equations hold).

``tests/core/reference.py`` (the independent brute-force reference simulator) is importable as
``reference`` from every test folder.
"""
import os
import sys

os.environ.setdefault("FPSNN_DEBUG", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "core"))
