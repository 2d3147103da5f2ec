"""Deprecated alias of :mod:`fpsnn.backends.mismatch` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.mismatch")
