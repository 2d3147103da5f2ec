"""Deprecated alias of :mod:`fpsnn.backends.xylo.vendor` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.xylo.vendor")
