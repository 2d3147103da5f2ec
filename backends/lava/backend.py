"""Deprecated alias of :mod:`fpsnn.backends.loihi.backend` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.loihi.backend")
