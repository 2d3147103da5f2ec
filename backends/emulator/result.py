"""Deprecated alias of :mod:`fpsnn.backends.result` (kept for one release)."""
from .._deprecated import alias

alias(__name__, "fpsnn.backends.result")
