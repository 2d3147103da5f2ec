"""Numba's compiled-code cache never stops the program (issue: ``fpsnn --help`` crashed for a user whose
home is not writable with "cannot cache function 'is_event': no locator available").

Root ignores file permissions, so every unwritable place is made by putting it under, or replacing
it with, a regular *file* (no process can create a directory there): the subprocess imports a copy of
the package whose ``__pycache__`` folders are files, with HOME, XDG_CACHE_HOME and NUMBA_CACHE_DIR
pointing under a file.
"""
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from fpsnn import kernels


def test_choose_cache_dir_order(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    bad = blocker / "sub"                              # under a regular file: never writable
    good = tmp_path / "cache"
    assert kernels.choose_cache_dir(str(good), bad, []) == ("user", str(good))
    assert kernels.choose_cache_dir(str(bad), tmp_path / "pyc", []) == ("in-tree", str(tmp_path / "pyc"))
    assert kernels.choose_cache_dir(str(bad), bad, [bad / "x", good]) == ("fallback", str(good))
    assert kernels.choose_cache_dir("", bad, [bad / "y"]) == (None, None)


def _unwritable_package_copy(tmp_path):
    """A copy of the fpsnn package whose every ``__pycache__`` is a regular file."""
    src = os.path.dirname(kernels.__file__)
    dst = tmp_path / "site" / "fpsnn"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder, dirs, _ in os.walk(dst):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        (Path(folder) / "__pycache__").write_text("not a directory")
    return tmp_path / "site"


@pytest.mark.parametrize("writable_tmp", [True, False])
def test_import_works_without_a_writable_cache_location(tmp_path, writable_tmp):
    blocker = tmp_path / "file"
    blocker.write_text("")
    site = _unwritable_package_copy(tmp_path)
    env = dict(os.environ, HOME=str(blocker), XDG_CACHE_HOME=str(blocker / "xdg"),
               NUMBA_CACHE_DIR=str(blocker / "numba"), PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    # without a writable temp dir either, the only way out is running uncached with one warning
    prelude = "" if writable_tmp else f"import tempfile; tempfile.gettempdir = lambda: {str(blocker / 'tmp')!r}; "
    code = (prelude + "import warnings; warnings.simplefilter('always'); import fpsnn, numpy as np; "
            "from fpsnn import kernels; assert kernels.__file__.startswith(" + repr(str(site)) + "); "
            "print(kernels.CACHE, kernels.numba.config.CACHE_DIR); "
            "print(kernels.psp_causal(np.array([1.0]), 1.0, 2.0)[0])")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no locator available" not in proc.stderr
    first, second = proc.stdout.split("\n")[:2]
    cached, where = first.split(" ", 1)
    assert abs(float(second) - 0.23254415793482963) < 1e-12  # (e^-1 - e^-2) / (2 - 1)
    if writable_tmp:
        assert cached == "True" and os.path.basename(where).startswith("fpsnn-numba-")
        assert os.path.isdir(where)
        assert "running uncached" not in proc.stderr
    else:
        assert cached == "False"
        assert proc.stderr.count("running uncached") == 1


def test_configure_reports_cache_state():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.configure_numba_cache() is True  # this checkout is writable: no warning
