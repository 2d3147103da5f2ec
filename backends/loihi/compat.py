"""Import Lava (lava-nc 0.10) on Python 3.11+ without touching its installed files.

Why this exists: ``lava/magma/compiler/var_model.py`` declares dataclasses whose field defaults are
``ByteEncoder()`` instances. ``ByteEncoder`` is a plain ``@dataclass`` and therefore unhashable, and
Python 3.11 rejects unhashable field defaults as "mutable default" at class-definition time, so
``import lava.magma.compiler.var_model`` (imported by every Lava run) raises ``ValueError``.

The workaround (checked on Python 3.11 with lava-nc 0.10.0, see docs/hardware.md): while -- and only while -- that one module is
first imported, ``dataclasses.dataclass`` is replaced by a wrapper that adds ``unsafe_hash=True`` to
the class named ``ByteEncoder`` of that module and is transparent for every other class; the
original decorator is put back right after. A hash on ``ByteEncoder`` is harmless: its instances are
never mutated after creation in Lava's code paths that fpsnn uses, and nothing relies on it being
unhashable.

A second, independent obstacle: ``lava/magma/runtime/message_infrastructure/multiprocessing.py``
calls ``multiprocessing.set_start_method('fork')`` at import, which raises "context has already
been set" once anything in the process has fixed the start method -- numba does so the first time
a ``parallel=True`` function runs (fpsnn's simulator), so a Lava run after a simulation failed.
When the method already is ``'fork'`` that call would change nothing, so it is skipped (again only
during that one import); any other method is reported as an error, since Lava's runtime needs fork.

Every fpsnn module that needs Lava calls :func:`import_lava` (or :func:`require_lava`) before its
first ``import lava...``; it is a no-op on Python 3.10 (Lava's supported version), when the module
is already imported, and when a future Lava no longer needs it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import multiprocessing
import sys
import threading

__all__ = ["import_lava", "lava_available", "LAVA_INSTALL_HINT", "LAVA_MISSING"]

_VAR_MODEL = "lava.magma.compiler.var_model"
_MP_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"
_PATCHED_CLASS = "ByteEncoder"

LAVA_INSTALL_HINT = (
    "lava-nc is not installed. Lava 0.10 declares Requires-Python <3.11, so on Python 3.11 install it "
    "without its dependency resolution and add its pins by hand:\n"
    "    pip install --no-deps --ignore-requires-python lava-nc==0.10.0\n"
    "    pip install 'numpy>=1.24.4,<2' 'scipy>=1.10.1,<1.18' 'networkx<=2.8.7' 'asteval>=0.9.31,<0.10' "
    "'scikit-learn>=1.5,<1.6'\n"
    "(on Python 3.10 a plain `pip install lava-nc==0.10.0` works)."
)

#: The same advice in one line (LAVA_INSTALL_HINT has the full recipe for Python 3.11).
LAVA_MISSING = ("lava-nc is not installed: pip install --no-deps --ignore-requires-python lava-nc==0.10.0 "
                "plus its pins (numpy<2, scipy<1.18, networkx<=2.8.7, asteval<0.10, scikit-learn<1.6)")

# The patch swaps a module attribute of the stdlib, which is process-global: serialise it so two
# threads importing Lava at once cannot restore each other's wrapper.
_lock = threading.Lock()


def lava_available() -> bool:
    """True when the ``lava`` package (lava-nc) can be found, without importing it."""
    return importlib.util.find_spec("lava") is not None


@contextlib.contextmanager
def _hashable_byte_encoder():
    """While active, ``dataclasses.dataclass`` hashes Lava's ``ByteEncoder`` and nothing else."""
    # Python < 3.11 accepts unhashable dataclass defaults (it only rejects list/dict/set).
    if sys.version_info < (3, 11) or _VAR_MODEL in sys.modules:
        yield
        return
    original = dataclasses.dataclass
    dataclasses.dataclass = _hashing_dataclass(original)
    try:
        yield
    finally:
        dataclasses.dataclass = original


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


@contextlib.contextmanager
def _fork_already_set_is_fine():
    """While active, Lava's ``set_start_method('fork')`` is a no-op when fork is already the method."""
    current = multiprocessing.get_start_method(allow_none=True)
    if _MP_MODULE in sys.modules or current is None or sys.platform == "win32":
        yield
        return
    if current != "fork":
        raise RuntimeError(f"Lava's runtime needs the 'fork' start method, but this process already uses "
                           f"{current!r} (multiprocessing.set_start_method was called before Lava was imported)")
    original = multiprocessing.set_start_method

    def keep_fork(method, force=False):
        # Lava asks for what is already set: nothing to do. Anything else goes to the real call.
        if method != "fork" or force:
            original(method, force=force)

    multiprocessing.set_start_method = keep_fork
    try:
        yield
    finally:
        multiprocessing.set_start_method = original


def import_lava():
    """Import Lava's core so that every later ``import lava...`` works on this interpreter.

    Returns:
        The imported ``lava.magma.compiler.var_model`` module.

    Raises:
        ImportError: when lava-nc is not installed (the message says how to install it on 3.11).
        RuntimeError: when the process already uses a multiprocessing start method other than fork.
    """
    if not lava_available():
        raise ImportError(LAVA_INSTALL_HINT)
    with _lock, _hashable_byte_encoder(), _fork_already_set_is_fine():
        # Both modules are imported under both patches: each one's import chain may pull in the other.
        importlib.import_module(_MP_MODULE)
        return importlib.import_module(_VAR_MODEL)
