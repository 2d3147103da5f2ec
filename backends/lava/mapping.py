"""Deprecated alias of :mod:`fpsnn.backends.loihi.mapping` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.loihi.mapping")
