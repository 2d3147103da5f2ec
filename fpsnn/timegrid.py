"""Deprecated alias of :mod:`fpsnn.backends.timegrid` (kept for one release)."""
from .backends._deprecated import alias

alias(__name__, "fpsnn.backends.timegrid")
