"""Deprecated alias of :mod:`fpsnn.backends.xylo.program` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.xylo.program")
