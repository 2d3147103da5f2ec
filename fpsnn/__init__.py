"""fpsnn: exact-gradient (Forward Propagation) training of spiking networks, deployed to chips.

The maths lives in modules of its own (``fpsnn.simulate``, ``fpsnn.gradients``, ``fpsnn.losses``);
:class:`Network` is the convenience over them (``net.simulate``, ``net.value_and_grad``,
``net.jacobian``).
"""
from . import gradients, losses, simulate
from .gradients import Jacobian
from .network import Network
from .simulate import SimulationResult

__version__ = "0.1.0"
__all__ = ["Network", "SimulationResult", "Jacobian", "losses", "simulate", "gradients"]
