"""The wheel ships every package of the source tree: pyproject's explicit package list cannot drift.

``[tool.setuptools] packages`` is written out by hand (backends/ and hw_configs/ are mapped into the
fpsnn package with ``package-dir``), so a new sub-package that is not added there works in the
editable install of a checkout and is missing from a user's install. This test compares the list
with the folders that hold an ``__init__.py``.
"""
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _tree_packages() -> set:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package,) + rel))
    return found


def test_every_source_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    missing = _tree_packages() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    stale = listed - _tree_packages()
    assert not stale, f"listed in pyproject.toml but not in the tree: {sorted(stale)}"
