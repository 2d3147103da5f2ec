"""Deprecated alias of :mod:`fpsnn.backends.dynapse.vendor` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.dynapse.vendor")
