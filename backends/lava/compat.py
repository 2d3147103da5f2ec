"""Deprecated alias of :mod:`fpsnn.backends.loihi.compat` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.loihi.compat")
