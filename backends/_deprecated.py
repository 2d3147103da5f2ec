"""Deprecation aliases: an old module path that resolves to the module that replaced it (one release).

An alias module is two lines, ``from <...>._deprecated import alias`` and ``alias(__name__, "<new>")``:
it warns once (DeprecationWarning naming the new path) and puts the new module in ``sys.modules`` under
the old name, so ``from old.path import name`` returns the very objects of the new module (private
helpers and monkeypatching included).
"""
from __future__ import annotations

import importlib
import sys
import warnings

__all__ = ["alias"]


def alias(old: str, new: str):
    """Make module ``old`` (``__name__`` of the caller) an alias of module ``new``; returns ``new``."""
    module = importlib.import_module(new)
    warnings.warn(f"{old} is deprecated: import {new} instead", DeprecationWarning, stacklevel=3)
    sys.modules[old] = module
    return module
