"""Test-suite settings: every simulation checks Theorem 4 (positive diagonal, firing equations hold)."""
import os

os.environ.setdefault("FPSNN_DEBUG", "1")
