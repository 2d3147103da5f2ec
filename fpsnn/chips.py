"""Deprecated alias of :mod:`fpsnn.backends.chips` (kept for one release)."""
from .backends._deprecated import alias

alias(__name__, "fpsnn.backends.chips")
