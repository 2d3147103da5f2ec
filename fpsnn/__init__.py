"""fpsnn: exact-gradient (Forward Propagation) training of spiking networks, deployed to chips.

The maths lives in modules of its own (``fpsnn.simulate``, ``fpsnn.gradients``, ``fpsnn.losses``);
:class:`Network` is the convenience over them (``net.simulate``, ``net.value_and_grad``,
``net.jacobian``). The names below are imported on first use, so ``import fpsnn`` (and with it
``fpsnn --help`` / ``--version``) compiles and imports nothing numerical.
"""
from importlib import import_module

__version__ = "0.1.0"
__all__ = ["Network", "SimulationResult", "Jacobian", "losses", "simulate", "gradients"]

#: public name -> (module, attribute or None for the module itself), imported on first use
_LAZY = {"Network": ("network", "Network"), "SimulationResult": ("simulate", "SimulationResult"),
         "Jacobian": ("gradients", "Jacobian"), "losses": ("losses", None), "simulate": ("simulate", None),
         "gradients": ("gradients", None)}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'fpsnn' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = import_module(f".{module}", __name__)
    return value if attr is None else getattr(value, attr)


def __dir__():
    return sorted(set(globals()) | set(__all__))
