"""Import Lava (lava-nc 0.10) on Python 3.11+ without touching its installed files.

Why this exists: ``lava/magma/compiler/var_model.py`` declares dataclasses whose field defaults are
``ByteEncoder()`` instances. ``ByteEncoder`` is a plain ``@dataclass`` and therefore unhashable, and
Python 3.11 rejects unhashable field defaults as "mutable default" at class-definition time, so
``import lava.magma.compiler.var_model`` (imported by every Lava run) raises ``ValueError``.

The workaround (checked in /work/shared/env-notes.md): while -- and only while -- that one module is
first imported, ``dataclasses.dataclass`` is replaced by a wrapper that adds ``unsafe_hash=True`` to
the class named ``ByteEncoder`` of that module and is transparent for every other class; the
original decorator is put back right after. A hash on ``ByteEncoder`` is harmless: its instances are
never mutated after creation in Lava's code paths that fpsnn uses, and nothing relies on it being
unhashable.

Every fpsnn module that needs Lava calls :func:`import_lava` (or :func:`require_lava`) before its
first ``import lava...``; it is a no-op on Python 3.10 (Lava's supported version), when the module
is already imported, and when a future Lava no longer needs it.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
import threading

__all__ = ["import_lava", "lava_available", "LAVA_INSTALL_HINT"]

_VAR_MODEL = "lava.magma.compiler.var_model"
_PATCHED_CLASS = "ByteEncoder"

LAVA_INSTALL_HINT = (
    "lava-nc is not installed. Lava 0.10 declares Requires-Python <3.11, so on Python 3.11 install it "
    "without its dependency resolution and add its pins by hand:\n"
    "    pip install --no-deps --ignore-requires-python lava-nc==0.10.0\n"
    "    pip install 'numpy>=1.24.4,<2' 'scipy>=1.10.1,<1.18' 'networkx<=2.8.7' 'asteval>=0.9.31,<0.10' "
    "'scikit-learn>=1.5,<1.6'\n"
    "(on Python 3.10 a plain `pip install lava-nc==0.10.0` works)."
)

# The patch swaps a module attribute of the stdlib, which is process-global: serialise it so two
# threads importing Lava at once cannot restore each other's wrapper.
_lock = threading.Lock()


def lava_available() -> bool:
    """True when the ``lava`` package (lava-nc) can be found, without importing it."""
    return importlib.util.find_spec("lava") is not None


def _needs_patch() -> bool:
    # Python < 3.11 accepts unhashable dataclass defaults (it only rejects list/dict/set).
    return sys.version_info >= (3, 11) and _VAR_MODEL not in sys.modules


def _hashing_dataclass(original):
    """A stand-in for ``dataclasses.dataclass`` that hashes Lava's ``ByteEncoder`` and nothing else."""

    def wrapper(cls=None, /, **kwargs):
        def decorate(c):
            if c.__module__ == _VAR_MODEL and c.__qualname__ == _PATCHED_CLASS:
                return original(c, **{**kwargs, "unsafe_hash": True})
            return original(c, **kwargs)

        # Same two call forms as the real decorator: @dataclass and @dataclass(...).
        return decorate if cls is None else decorate(cls)

    return wrapper


def import_lava():
    """Import Lava's core so that every later ``import lava...`` works on this interpreter.

    Returns:
        The imported ``lava.magma.compiler.var_model`` module.

    Raises:
        ImportError: when lava-nc is not installed (the message says how to install it on 3.11).
    """
    if not lava_available():
        raise ImportError(LAVA_INSTALL_HINT)
    with _lock:
        if not _needs_patch():
            return importlib.import_module(_VAR_MODEL)
        original = dataclasses.dataclass
        dataclasses.dataclass = _hashing_dataclass(original)
        try:
            # var_model does `from dataclasses import dataclass` at its top, so it binds the wrapper;
            # modules it imports on the way bind it too, which is harmless (transparent for them).
            return importlib.import_module(_VAR_MODEL)
        finally:
            dataclasses.dataclass = original
