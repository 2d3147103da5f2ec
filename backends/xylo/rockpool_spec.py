"""Deprecated alias of :mod:`fpsnn.backends.xylo.spec` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.xylo.spec")
